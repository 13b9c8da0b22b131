import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { POLICIES } from '../policies/index.js';
import { ConfigError, type ConfigIssue, formatIssue, loadConfigFile, parseConfig, suggest } from './load.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIR = mkdtempSync(join(tmpdir(), 'rampart-load-'));
writeFileSync(join(DIR, 'client.key'), '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n');

/** One YAML line per argument, so that a test reads its own line numbers: line N is argument N. */
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

/** The smallest valid config; tests append lines 6 and on. */
const BASE = [
  'listeners:', // 1
  '  - port: 8080', // 2
  'upstreams:', // 3
  '  api:', // 4
  '    targets: [http://127.0.0.1:3000]', // 5
];

function issuesOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigIssue[] {
  try {
    parseConfig(text, 'test.yaml', DIR, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  throw new Error('expected the config to be refused');
}

/** The one issue a broken config must produce (more would be noise). */
function only(text: string, env: NodeJS.ProcessEnv = {}): ConfigIssue {
  const issues = issuesOf(text, env);
  expect(issues.map(formatIssue)).toHaveLength(1);
  return issues[0]!;
}

const ok = (text: string, env: NodeJS.ProcessEnv = {}) => parseConfig(text, 'test.yaml', DIR, env);

describe('parseConfig: broken YAML', () => {
  it('reports a syntax error at the offending text with a field path and an indentation hint', () => {
    const i = only(yaml('listeners:', '  - port: 8080', '   host: 127.0.0.1'));
    expect(i).toMatchObject({ file: 'test.yaml', line: 3, column: 4, path: 'listeners[1].host', severity: 'error' });
    expect(i.message).toMatch(/Sequence item without - indicator.*check the indentation/);
  });

  it('reports a tab used for indentation', () => {
    const i = only(yaml('listeners:', '\t- port: 8080'));
    expect(i).toMatchObject({ line: 2, column: 1, path: 'listeners' });
    expect(i.message).toMatch(/Tabs are not allowed/);
  });

  it('explains that /users/{id} must be quoted inside a flow sequence', () => {
    const issues = issuesOf(yaml(...BASE, 'routes:', '  - name: users', '    paths: [/users/{id}]'));
    expect(issues[0]).toMatchObject({ line: 8, column: 20, path: 'routes[0].paths' });
    expect(issues[0]?.message).toContain('quote values holding { }');
    expect(issues[0]?.message).toContain('"/users/{id}"');
  });

  it('names a duplicate key, its field and where it first appeared', () => {
    const i = only(yaml('listeners:', '  - port: 8080', '    port: 8081'));
    expect(i).toMatchObject({ line: 3, column: 5, path: 'listeners[0].port' });
    expect(i.message).toBe('duplicate key "port" (first on line 2)');
  });

  it('names a duplicate top-level section', () => {
    const i = only(yaml(...BASE, 'listeners: []'));
    expect(i).toMatchObject({
      line: 6,
      column: 1,
      path: 'listeners',
      message: 'duplicate key "listeners" (first on line 1)',
    });
  });
});

describe('parseConfig: unknown fields', () => {
  it('suggests the near top-level field for a typo', () => {
    const i = only(yaml(...BASE, 'listner: {}'));
    expect(i).toMatchObject({ line: 6, column: 1, path: 'listner' });
    expect(i.message).toBe('unknown field "listner" (did you mean "listeners"?)');
  });

  it('suggests "upstreams" for a misspelt or singular section', () => {
    const typo = only(yaml('listeners:', '  - port: 8080', 'upstrems:', '  api:', '    targets: [http://127.0.0.1:1]'));
    expect(typo).toMatchObject({ line: 3, column: 1, path: 'upstrems' });
    expect(typo.message).toContain('(did you mean "upstreams"?)');
    const singular = only(yaml('listeners:', '  - port: 8080', 'upstream: {}'));
    expect(singular.message).toBe('unknown field "upstream" (did you mean "upstreams"?)');
  });

  it('lists the known fields when nothing is close', () => {
    const i = only(yaml(...BASE, 'frobnicate: 1'));
    expect(i.path).toBe('frobnicate');
    expect(i.message).toMatch(/^unknown field "frobnicate" \(fields: .*listeners.*upstreams.*routes.*policies/);
  });

  it('points at an unknown field inside a route, suggesting from that route’s own fields', () => {
    const i = only(yaml(...BASE, 'routes:', '  - name: a', '    paths: [/a]', '    upstrem: api'));
    expect(i).toMatchObject({ line: 9, column: 5, path: 'routes[0].upstrem' });
    expect(i.message).toBe('unknown field "upstrem" (did you mean "upstream"?)');
  });

  it('suggests within a policy block', () => {
    const i = only(yaml(...BASE, 'policies:', '  cors: { origins: ["http://a.test"], credentals: true }'));
    expect(i).toMatchObject({ line: 7, column: 39, path: 'policies.cors.credentals' });
    expect(i.message).toBe('unknown field "credentals" (did you mean "credentials"?)');
  });

  it('names an unknown policy and lists the registered ones', () => {
    const i = only(yaml(...BASE, 'policies:', '  geo-fence: {}'));
    expect(i).toMatchObject({ line: 7, column: 3, path: 'policies.geo-fence' });
    expect(i.message).toBe(`unknown policy "geo-fence" (policies: ${POLICIES.map((p) => p.name).join(', ')})`);
  });

  it('suggests a policy for a typo at upstream level', () => {
    const i = only(yaml(...BASE, '    policies:', '      cros: {}'));
    expect(i).toMatchObject({ line: 7, column: 7, path: 'upstreams.api.policies.cros' });
    expect(i.message).toBe('unknown policy "cros" (did you mean "cors"?)');
  });
});

describe('parseConfig: types, ranges and required fields', () => {
  it('refuses a port given as a word', () => {
    const i = only(yaml('listeners:', '  - port: eighty'));
    expect(i).toMatchObject({ line: 2, column: 11, path: 'listeners[0].port', message: 'expected an integer' });
  });

  it('refuses a port out of range', () => {
    const i = only(yaml('listeners:', '  - port: 70000'));
    expect(i).toMatchObject({ line: 2, column: 11, path: 'listeners[0].port', message: 'must be at most 65535' });
  });

  it('says a field with no value is empty, not missing', () => {
    const i = only(yaml('listeners:', '  - port:'));
    expect(i).toMatchObject({ line: 2, column: 10, path: 'listeners[0].port' });
    expect(i.message).toBe('no value given: expected an integer');
  });

  it('reports a missing required field at the object that lacks it', () => {
    const i = only(yaml(...BASE, 'routes:', '  - name: users', '    upstream: api'));
    expect(i).toMatchObject({ line: 7, column: 5, path: 'routes[0].paths', message: 'required field is missing' });
  });

  it('reports missing listeners in an empty file at 1:1', () => {
    const i = only('');
    expect(i).toMatchObject({ line: 1, column: 1, path: 'listeners', message: 'required field is missing' });
  });

  it('says what the file itself must be when it is not a mapping', () => {
    const i = only(yaml('- listeners'));
    expect(i).toMatchObject({ line: 1, column: 1, path: '' });
    expect(i.message).toBe('the config must be a mapping of sections (listeners:, routes: ...), not a list');
    expect(only('hello\n').message).toMatch(/, not a text value$/);
  });

  it('reports a wrong shape (a map where a list belongs)', () => {
    const i = only(yaml('listeners:', '  port: 8080'));
    expect(i).toMatchObject({ line: 2, column: 3, path: 'listeners' });
    expect(i.message).toMatch(/expected array, received object/);
  });

  it('refuses an unknown balancer, listing the choices', () => {
    const i = only(yaml(...BASE, '    balancer: random'));
    expect(i).toMatchObject({ line: 6, column: 15, path: 'upstreams.api.balancer' });
    expect(i.message).toBe('"random" is not one of: round-robin, weighted, least-connections, consistent-hash');
  });

  it('suggests the near balancer for a typo', () => {
    const i = only(yaml(...BASE, '    balancer: round_robin'));
    expect(i.message).toMatch(/\(did you mean "round-robin"\?\)$/);
  });

  it('refuses a ratio above 1', () => {
    const i = only(yaml(...BASE, '    retries: { budget_ratio: 1.5 }'));
    expect(i).toMatchObject({
      line: 6,
      column: 30,
      path: 'upstreams.api.retries.budget_ratio',
      message: 'must be 0 to 1',
    });
  });

  it('refuses a trusted proxy that is not an address or CIDR', () => {
    const issues = issuesOf(yaml(...BASE, 'trusted_proxies: [10.0.0.0/8, nope, 10.0.0.0/33]'));
    expect(issues).toMatchObject([
      { line: 6, column: 31, path: 'trusted_proxies[1]', message: '"nope" is not an IP address or CIDR' },
      { line: 6, column: 37, path: 'trusted_proxies[2]', message: '"10.0.0.0/33" is not an IP address or CIDR' },
    ]);
  });

  it('points a bad header name in a headers policy at the key', () => {
    const i = only(yaml(...BASE, 'policies:', '  headers:', '    request: { set: { host: x } }'));
    expect(i).toMatchObject({ line: 8, column: 23, path: 'policies.headers.request.set.host' });
    expect(i.message).toBe('this header is managed by the proxy');
  });
});

describe('parseConfig: cross references and targets', () => {
  it('refuses a route naming an upstream that does not exist, listing those that do', () => {
    const i = only(yaml(...BASE, 'routes:', '  - name: a', '    paths: [/a]', '    upstream: nope'));
    expect(i).toMatchObject({ line: 9, column: 15, path: 'routes[0].upstream' });
    expect(i.message).toBe('no upstream named "nope" (upstreams: api)');
  });

  it('refuses duplicate route names at the second one', () => {
    const i = only(yaml(...BASE, 'routes:', '  - name: a', '    paths: [/a]', '  - name: a', '    paths: [/b]'));
    expect(i).toMatchObject({ line: 9, column: 11, path: 'routes[1].name' });
    expect(i.message).toBe('duplicate route name "a" (first used by routes[0])');
  });

  it('refuses a listener port used twice', () => {
    const i = only(yaml('listeners:', '  - port: 8080', '  - name: admin', '    port: 8080'));
    expect(i).toMatchObject({ line: 4, column: 11, path: 'listeners[1].port' });
    expect(i.message).toBe('port 8080 is used twice (also by listeners[0])');
  });

  it('refuses a target URL with a path', () => {
    const i = only(
      yaml('listeners:', '  - port: 8080', 'upstreams:', '  api:', '    targets: [http://127.0.0.1:3000/v1]'),
    );
    expect(i).toMatchObject({ line: 5, column: 15, path: 'upstreams.api.targets[0]' });
    expect(i.message).toMatch(/a target is an origin \(scheme:\/\/host:port\); put paths on the route/);
  });

  it('refuses a path in the object form of a target, at its url', () => {
    const i = only(
      yaml(
        'listeners:',
        '  - port: 8080',
        'upstreams:',
        '  api:',
        '    targets:',
        '      - { url: "http://a.test/x", weight: 2 }',
      ),
    );
    expect(i).toMatchObject({ line: 6, column: 16, path: 'upstreams.api.targets[0].url' });
  });

  it('refuses a non-http target scheme', () => {
    const i = only(
      yaml('listeners:', '  - port: 8080', 'upstreams:', '  api:', '    targets:', '      - ftp://127.0.0.1:21'),
    );
    expect(i).toMatchObject({
      line: 6,
      column: 9,
      path: 'upstreams.api.targets[0]',
      message: 'only http:// and https:// targets',
    });
  });

  it('refuses a target that is not a URL at all (without crashing)', () => {
    const i = only(yaml('listeners:', '  - port: 8080', 'upstreams:', '  api:', '    targets: [127.0.0.1:3000]'));
    expect(i).toMatchObject({ line: 5, column: 15, path: 'upstreams.api.targets[0]' });
    expect(i.message).toMatch(/^not a URL/);
  });

  it('refuses a wildcard that is not last', () => {
    const i = only(yaml(...BASE, 'routes:', '  - name: a', '    paths: ["/static/*/x"]'));
    expect(i).toMatchObject({
      line: 8,
      column: 13,
      path: 'routes[0].paths[0]',
      message: 'a wildcard "*" must be last',
    });
  });

  it('refuses strip_prefix together with rewrite', () => {
    const i = only(
      yaml(...BASE, 'routes:', '  - name: a', '    paths: [/a]', '    strip_prefix: /a', '    rewrite: /b'),
    );
    expect(i).toMatchObject({ line: 10, column: 14, path: 'routes[0].rewrite' });
  });
});

describe('parseConfig: references', () => {
  it('reports an unset ${env:X} once, at the value (not also as a type error)', () => {
    const i = only(yaml('listeners:', '  - port: ${env:RAMPART_TEST_UNSET}'));
    expect(i).toMatchObject({ line: 2, column: 11, path: 'listeners[0].port' });
    expect(i.message).toBe('environment variable RAMPART_TEST_UNSET is not set');
  });

  it('reports an unreadable ${file:...} once, with the resolved path', () => {
    const i = only(yaml(...BASE, '    tls:', '      key: ${file:missing.pem}'));
    expect(i).toMatchObject({ line: 7, column: 12, path: 'upstreams.api.tls.key' });
    expect(i.message).toBe(`cannot read ${join(DIR, 'missing.pem')}: no such file`);
  });

  it('reports a misspelt reference kind instead of passing it on as text', () => {
    const i = only(yaml(...BASE, '    tls:', '      key: ${evn:KEY}'));
    expect(i).toMatchObject({ line: 7, column: 12, path: 'upstreams.api.tls.key' });
    expect(i.message).toMatch(/^unknown reference "\$\{evn:KEY\}"/);
  });

  it('reports an unclosed reference', () => {
    const i = only(yaml(...BASE, '    tls:', '      key: "${env:KEY"'), { KEY: 'x' });
    expect(i).toMatchObject({ line: 7, column: 12, path: 'upstreams.api.tls.key' });
    expect(i.message).toBe('a reference is missing its closing "}"');
  });

  it('turns digits from ${env:PORT} into numbers', () => {
    const { config } = ok(yaml('listeners:', '  - port: ${env:PORT}', 'shutdown_timeout_ms: ${env:GRACE:-1500}'), {
      PORT: '8081',
    });
    expect(config.listeners[0]?.port).toBe(8081);
    expect(config.shutdown_timeout_ms).toBe(1500);
  });

  it('keeps $${ as a literal ${', () => {
    const { config } = ok(
      yaml(
        ...BASE,
        'routes:',
        '  - name: a',
        '    paths: [/a]',
        '    policies:',
        '      headers:',
        '        response: { set: { x-t: "$${env:X}" } }',
      ),
    );
    const headers = config.routes[0]?.policies.headers as unknown as { response: { set: Record<string, string> } };
    expect(headers.response.set['x-t']).toBe('${env:X}');
  });
});

describe('parseConfig: unsafe settings', () => {
  const inlineKey = [...BASE, '    tls:', '      key: "-----BEGIN PRIVATE KEY-----"'];
  const inlineAuth = [
    ...BASE,
    'policies:',
    '  headers:',
    '    request:',
    '      set:',
    '        Authorization: Bearer abc',
  ];

  it('refuses an inline upstream tls.key in production (the default)', () => {
    const i = only(yaml(...inlineKey));
    expect(i).toMatchObject({ line: 7, column: 12, path: 'upstreams.api.tls.key', severity: 'error' });
    expect(i.message).toBe('a secret written inline in the config: use ${env:NAME} or ${file:PATH}');
  });

  it('refuses an inline credential header in a headers policy in production', () => {
    const i = only(yaml(...inlineAuth));
    expect(i).toMatchObject({
      line: 10,
      column: 24,
      path: 'policies.headers.request.set.Authorization',
      severity: 'error',
    });
    expect(i.message).toMatch(/secret written inline/);
  });

  it('refuses an inline credential header on a route too', () => {
    const i = only(
      yaml(
        ...BASE,
        'routes:',
        '  - name: a',
        '    paths: [/a]',
        '    policies:',
        '      headers:',
        '        request: { set: { x-api-key: k1 } }',
      ),
    );
    expect(i).toMatchObject({ line: 11, column: 38, path: 'routes[0].policies.headers.request.set.x-api-key' });
  });

  it('only warns about inline secrets in development', () => {
    const dev = (lines: string[]) => ok(yaml('environment: development', ...lines));
    expect(dev(inlineKey).warnings).toMatchObject([
      { line: 8, column: 12, path: 'upstreams.api.tls.key', severity: 'warning' },
    ]);
    expect(dev(inlineAuth).warnings).toMatchObject([
      { line: 11, column: 24, path: 'policies.headers.request.set.Authorization', severity: 'warning' },
    ]);
  });

  it('refuses an inline master key even in development, and takes it from ${env:...}', () => {
    const master = ['keyring:', '  master_key: c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcy1sb25nISE='];
    const issues = issuesOf(yaml('environment: development', 'listeners: [{ port: 8080 }]', ...master));
    expect(issues).toMatchObject([{ path: 'keyring.master_key', severity: 'error', line: 4 }]);
    const viaEnv = ok(
      yaml('environment: development', 'listeners: [{ port: 8080 }]', 'keyring:', '  master_key: ${env:MK}'),
      {
        MK: 'x',
      },
    );
    expect(viaEnv.config.keyring?.master_key).toBe('x');
  });

  it('accepts the same secrets through ${env:...} and ${file:...} in production, without warnings', () => {
    const env = { KEY: 'k', TOKEN: 't0k3n' };
    expect(ok(yaml(...BASE, '    tls:', '      key: ${env:KEY}'), env).warnings).toEqual([]);
    expect(ok(yaml(...BASE, '    tls:', '      key: ${file:client.key}'), env).config.upstreams.api?.tls.key).toBe(
      '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----',
    );
    const viaEnv = inlineAuth.with(-1, '        Authorization: Bearer ${env:TOKEN}');
    expect(ok(yaml(...viaEnv), env).warnings).toEqual([]);
  });

  it('treats an escaped $${env:X} as inline text', () => {
    const i = only(yaml(...BASE, '    tls:', '      key: "$${env:KEY}"'));
    expect(i).toMatchObject({ path: 'upstreams.api.tls.key', severity: 'error' });
  });

  it('refuses tls.verify: false in production and warns in development', () => {
    const i = only(yaml(...BASE, '    tls: { verify: false }'));
    expect(i).toMatchObject({ line: 6, column: 20, path: 'upstreams.api.tls.verify', severity: 'error' });
    expect(i.message).toMatch(/^upstream TLS verification is off: refused in production/);
    const { warnings } = ok(yaml('environment: development', ...BASE, '    tls: { verify: "false" }'));
    expect(warnings).toMatchObject([{ line: 7, path: 'upstreams.api.tls.verify', severity: 'warning' }]);
  });

  it('refuses metrics on 0.0.0.0 without allow_remote, in any environment', () => {
    const i = only(yaml(...BASE, 'metrics:', '  host: 0.0.0.0'));
    expect(i).toMatchObject({ line: 7, column: 9, path: 'metrics.host', severity: 'error' });
    expect(i.message).toMatch(/allow_remote: true/);
    expect(issuesOf(yaml('environment: development', ...BASE, 'metrics: { host: 0.0.0.0 }'))).toHaveLength(1);
    expect(ok(yaml(...BASE, 'metrics: { host: 0.0.0.0, allow_remote: true }')).warnings).toEqual([]);
    expect(ok(yaml(...BASE, 'metrics: { host: 0.0.0.0, enabled: false }')).warnings).toEqual([]);
  });
});

describe('parseConfig: policy config', () => {
  it('refuses cors "*" with credentials', () => {
    const i = only(yaml(...BASE, 'policies:', '  cors:', '    origins: ["*"]', '    credentials: true'));
    expect(i).toMatchObject({ line: 8, column: 14, path: 'policies.cors.origins' });
    expect(i.message).toBe('"*" cannot be combined with credentials: true');
  });

  it('refuses an invalid cors origin regex at the origin', () => {
    const i = only(yaml(...BASE, 'policies:', '  cors:', '    origins: ["http://a.test", "~(unclosed"]'));
    expect(i).toMatchObject({ line: 8, column: 32, path: 'policies.cors.origins[1]' });
    expect(i.message).toMatch(/^invalid regex: .*Unterminated group/);
  });

  it('reports a required policy field missing (enabled: true is not enough)', () => {
    const i = only(yaml(...BASE, 'policies:', '  cors: { enabled: true }'));
    expect(i).toMatchObject({
      line: 7,
      column: 9,
      path: 'policies.cors.origins',
      message: 'required field is missing',
    });
  });

  it('accepts { enabled: false } alone for a policy with required fields', () => {
    const { config } = ok(
      yaml(...BASE, 'routes:', '  - name: a', '    paths: [/a]', '    policies:', '      cors: { enabled: false }'),
    );
    expect(config.routes[0]?.policies.cors).toEqual({ enabled: false });
  });
});

describe('parseConfig: many problems at once', () => {
  it('reports every error in one run, sorted by line', () => {
    const issues = issuesOf(
      yaml(
        'listeners:', // 1
        '  - port: eighty', // 2
        'upstreams:', // 3
        '  api:', // 4
        '    targets: [http://127.0.0.1:3000/x]', // 5
        '    balancer: random', // 6
        '    tls: { key: inline, verify: false }', // 7
        'metrics: { host: 0.0.0.0 }', // 8
        'routes:', // 9
        '  - name: b', // 10
        '  - name: a', // 11
        '    paths: [/a]', // 12
        '    upstream: nope', // 13
        '    upstrem: api', // 14
      ),
    );
    expect(issues.map((i) => [i.line, i.path])).toEqual([
      [2, 'listeners[0].port'],
      [5, 'upstreams.api.targets[0]'],
      [6, 'upstreams.api.balancer'],
      [7, 'upstreams.api.tls.key'],
      [7, 'upstreams.api.tls.verify'],
      [8, 'metrics.host'],
      [10, 'routes[0].paths'],
      [13, 'routes[1].upstream'],
      [14, 'routes[1].upstrem'],
    ]);
    expect(issues.every((i) => i.severity === 'error')).toBe(true);
  });
});

describe('parseConfig: valid configs', () => {
  it('validates the shipped rampart.yaml with the demo variables', () => {
    const text = readFileSync(join(ROOT, 'rampart.yaml'), 'utf8');
    const { config, warnings } = parseConfig(text, 'rampart.yaml', ROOT, {
      RAMPART_PORT: '18080',
      DEMO_API_URL: 'http://127.0.0.1:13001',
    });
    expect(warnings).toEqual([]);
    expect(config.listeners[0]?.port).toBe(18080);
    expect(config.upstreams['demo-api']?.targets).toEqual([{ url: 'http://127.0.0.1:13001', weight: 1 }]);
    expect(config.routes.map((r) => r.name)).toContain('users');
  });

  it('validates the shipped rampart.yaml with its defaults', () => {
    const { config } = loadConfigFile(join(ROOT, 'rampart.yaml'), {});
    expect(config.listeners[0]?.port).toBe(8080);
  });

  it('keeps only the route timeouts that are set, so the upstream’s others still apply', () => {
    const { config } = ok(
      yaml(
        ...BASE,
        '    timeouts: { total_ms: 15000 }',
        'routes:',
        '  - name: a',
        '    paths: [/a]',
        '    upstream: api',
        '    timeouts: { header_ms: 100 }',
      ),
    );
    expect(config.routes[0]?.timeouts).toEqual({ header_ms: 100 });
    expect(config.upstreams.api?.timeouts).toEqual({
      connect_ms: 5000,
      header_ms: 30000,
      body_ms: 30000,
      total_ms: 15000,
    });
  });

  it('loadConfigFile reports a missing file as one issue', () => {
    expect(() => loadConfigFile(join(DIR, 'nope.yaml'))).toThrow(ConfigError);
  });
});

describe('suggest', () => {
  it('finds near names and ignores far ones', () => {
    expect(suggest('listner', ['listeners', 'routes'])).toBe('listeners');
    expect(suggest('Max-Age', ['max_age', 'methods'])).toBe('max_age');
    expect(suggest('FETCH', ['GET', 'PATCH'])).toBeUndefined();
    expect(suggest('xyz', ['routes'])).toBeUndefined();
  });
});
