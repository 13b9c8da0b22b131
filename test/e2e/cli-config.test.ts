import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { POLICIES } from '../../src/policies/index.js';
import { freePort, ROOT, type Spawned, spawnRampart, tmpFile } from '../helpers.js';

/** Runs the built CLI to completion: exit code, stdout and stderr. */
async function run(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string; err: string }> {
  const sp: Spawned = spawnRampart(args, env);
  const code = await sp.exited;
  // stdout is parsed line by line; non-JSON lines are kept as { raw }.
  const out = sp.logs.map((l) => (typeof l.raw === 'string' ? l.raw : JSON.stringify(l))).join('\n');
  return { code, out, err: sp.stderr.join('') };
}

const BROKEN = [
  'listeners:', // 1
  '  - port: eighty', // 2
  'listner: {}', // 3
  'upstreams:', // 4
  '  api:', // 5
  '    targets: [http://127.0.0.1:3000]', // 6
  '    balancer: random', // 7
  'routes:', // 8
  '  - name: a', // 9
  '    paths: [/a]', // 10
  '    upstream: nope', // 11
].join('\n');

const ISSUE_LINE = /^(.+):(\d+):(\d+) (error|warning) (\S+): (.+)$/;

describe('rampart validate', () => {
  it('prints every problem as file:line:col error field: message on stderr and exits 1', async () => {
    const file = tmpFile('broken.yaml', BROKEN);
    const { code, out, err } = await run(['validate', file]);
    expect(code).toBe(1);
    expect(out).toBe('');
    const lines = err.trim().split('\n');
    expect(lines.slice(0, -1)).toEqual([
      `${file}:2:11 error listeners[0].port: expected an integer`,
      `${file}:3:1 error listner: unknown field "listner" (did you mean "listeners"?)`,
      `${file}:7:15 error upstreams.api.balancer: "random" is not one of: round-robin, weighted, least-connections, consistent-hash`,
      `${file}:11:15 error routes[0].upstream: no upstream named "nope" (upstreams: api)`,
    ]);
    for (const l of lines.slice(0, -1)) expect(l).toMatch(ISSUE_LINE);
    expect(lines.at(-1)).toBe(`${file}: 4 error(s)`);
  });

  it('reports a YAML syntax error with its position', async () => {
    const file = tmpFile('syntax.yaml', 'listeners:\n  - port: 8080\nroutes:\n  - name: a\n    paths: [/users/{id}]\n');
    const { code, err } = await run(['validate', file]);
    expect(code).toBe(1);
    expect(err).toContain(`${file}:5:20 error routes[0].paths: Missing , or : between flow sequence items`);
    expect(err).toContain('"/users/{id}"');
  });

  it('exits 0 on a valid file', async () => {
    const { code, out, err } = await run(['validate', 'rampart.yaml']);
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(out).toBe('rampart.yaml: valid');
  });

  it('exits 0 and prints warnings for unsafe settings in development', async () => {
    const file = tmpFile(
      'dev.yaml',
      'environment: development\nlisteners:\n  - port: 8080\nupstreams:\n  api:\n    targets: [http://127.0.0.1:1]\n    tls: { verify: false }\n',
    );
    const { code, out } = await run(['validate', file]);
    expect(code).toBe(0);
    expect(out.split('\n')).toEqual([
      `${file}:7:20 warning upstreams.api.tls.verify: upstream TLS verification is off: anyone on the network path can impersonate this upstream`,
      `${file}: valid (1 warning(s))`,
    ]);
  });

  it('resolves ${env:...} from the environment', async () => {
    const file = tmpFile('env.yaml', 'listeners:\n  - port: ${env:RAMPART_TEST_PORT}\n');
    expect((await run(['validate', file], { RAMPART_TEST_PORT: '8089' })).code).toBe(0);
    const unset = await run(['validate', file], { RAMPART_TEST_PORT: undefined });
    expect(unset.code).toBe(1);
    expect(unset.err).toContain(
      `${file}:2:11 error listeners[0].port: environment variable RAMPART_TEST_PORT is not set`,
    );
  });

  it('--json prints the issues as JSON', async () => {
    const file = tmpFile('broken.yaml', BROKEN);
    const bad = await run(['validate', '--json', file]);
    expect(bad.code).toBe(1);
    const parsed = JSON.parse(bad.out) as { valid: boolean; issues: Record<string, unknown>[] };
    expect(parsed.valid).toBe(false);
    expect(parsed.issues).toHaveLength(4);
    expect(parsed.issues[0]).toEqual({
      file,
      line: 2,
      column: 11,
      path: 'listeners[0].port',
      message: 'expected an integer',
      severity: 'error',
    });
    const good = await run(['validate', '--json', 'rampart.yaml']);
    expect(good.code).toBe(0);
    expect(JSON.parse(good.out)).toEqual({ valid: true, issues: [] });
  });

  it('reports a file it cannot read', async () => {
    const { code, err } = await run(['validate', join(ROOT, 'no-such-config.yaml')]);
    expect(code).toBe(1);
    expect(err).toContain('no-such-config.yaml:0:0 error (root): cannot read the config file: no such file');
  });
});

describe('rampart schema', () => {
  it('prints a draft 2020-12 JSON Schema of the whole config, with every registered policy', async () => {
    const { code, out } = await run(['schema']);
    expect(code).toBe(0);
    const s = JSON.parse(out) as {
      $schema: string;
      properties: Record<string, { properties?: Record<string, unknown> }>;
      required: string[];
    };
    expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    for (const k of ['listeners', 'upstreams', 'routes', 'policies']) expect(s.properties).toHaveProperty(k);
    expect(s.required).toContain('listeners');
    expect(Object.keys(s.properties.policies?.properties ?? {}).sort()).toEqual(POLICIES.map((p) => p.name).sort());
    // The committed editor schema (docs/rampart.schema.json) is this one.
    expect(JSON.parse(readFileSync(join(ROOT, 'docs/rampart.schema.json'), 'utf8'))).toEqual(s);
  });
});

describe('rampart start with an invalid config', () => {
  it('exits 1 printing the issues and never listens', async () => {
    const port = await freePort();
    const file = tmpFile(
      'start.yaml',
      `listeners:\n  - port: ${port}\nmetrics: { enabled: false }\nroutes:\n  - name: a\n    paths: [/a]\n    upstream: nope\n`,
    );
    const sp = spawnRampart(['start', '--config', file, '--workers', '1', '--no-watch']);
    const code = await sp.exited;
    expect(code).toBe(1);
    const err = sp.stderr.join('');
    expect(err).toContain(`${file}:7:15 error routes[0].upstream: no upstream named "nope" (no upstreams are defined)`);
    expect(err).toContain(`rampart: ${file} is invalid; not starting`);
    expect(sp.logs).toEqual([]);
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });
});

describe('rampart policies', () => {
  it('prints the policy order', async () => {
    const { code, out } = await run(['policies']);
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^order\s+policy\s+description$/);
    const names = lines.slice(1).map((l) => l.trim().split(/\s+/));
    expect(names.map(([order, name]) => [Number(order), name])).toEqual(POLICIES.map((p) => [p.order, p.name]));
  });

  it('with --config prints each route’s pipeline', async () => {
    const { code, out } = await run(['policies', '--config', 'rampart.yaml']);
    expect(code).toBe(0);
    const text = readFileSync(join(ROOT, 'rampart.yaml'), 'utf8');
    const routes = [...text.slice(text.indexOf('\nroutes:')).matchAll(/^ {2}- name: (\S+)$/gm)].map((m) => m[1]);
    expect(routes.length).toBeGreaterThan(0);
    const pipeline = (name: string) => out.split('\n').find((l) => l.startsWith(`${name} `));
    for (const r of routes) expect(pipeline(r!)).toMatch(/request-id@global → .* → upstream:demo-api$/);
    expect(pipeline('admin')).toContain('headers@route:admin');
    // The health route switches the global cors off with { enabled: false }.
    expect(pipeline('health')).not.toContain('cors');
    expect(pipeline('users')).toContain('cors@global');
    expect(pipeline('(no route)')).toMatch(/→ 404$/);
  });

  it('with an invalid --config exits 1 naming the problem', async () => {
    const file = tmpFile('broken.yaml', BROKEN);
    const { code, err } = await run(['policies', '--config', file]);
    expect(code).toBe(1);
    expect(err).toContain(`${file}:2:11 error listeners[0].port: expected an integer`);
  });
});
