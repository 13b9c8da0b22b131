import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { makeCtx, policyEnv } from '../../../test/unit-helpers.js';
import { parseConfig } from '../../config/load.js';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import type { PolicyInstance } from '../../core/policy.js';
import { ServiceRegistry } from '../../core/shared.js';
import { Activation, compileCondition, parseQuery } from './cel.js';
import def from './policy.js';
import { schema } from './schema.js';

function identity(o: Partial<Identity> = {}): Identity {
  return {
    kind: 'api-key',
    consumerId: 'c-alice',
    subject: 'alice',
    credentialId: 'cred-1',
    roles: [],
    scopes: [],
    attributes: {},
    claims: null,
    clientId: null,
    expiresAt: null,
    ...o,
  };
}

interface Req {
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  params?: Record<string, string>;
  ip?: string;
  id?: Identity | null;
  public?: boolean;
}

function req(r: Req = {}): RequestContext {
  const ctx = makeCtx({
    method: r.method ?? 'GET',
    url: r.url ?? '/orders/1',
    headers: r.headers ?? {},
    clientIp: r.ip,
  });
  ctx.params = r.params ?? {};
  ctx.route = { name: 'orders', upstream: 'app', public: r.public ?? false };
  ctx.identity = r.id === undefined ? identity() : r.id;
  return ctx;
}

function policy(cfg: unknown, logger = pino({ level: 'silent' })): PolicyInstance {
  return def.create(schema.parse(cfg), { ...policyEnv(), logger });
}

/** Runs the request phase: 'allow' or the error code, plus what was recorded. */
function decide(p: PolicyInstance, ctx: RequestContext): string {
  try {
    p.request?.(ctx);
    return 'allow';
  } catch (e) {
    if (e instanceof GatewayError) return e.code;
    throw e;
  }
}

function issues(cfg: unknown): { path: string; message: string }[] {
  const r = schema.safeParse(cfg);
  return r.success ? [] : r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

describe('authorize schema', () => {
  it('takes the shorthand or rules, not both, not neither', () => {
    expect(issues({ roles: ['admin'] })).toEqual([]);
    expect(issues({ scopes: { all: ['a', 'b'] } })).toEqual([]);
    expect(issues({ rules: [{ roles: ['admin'] }] })).toEqual([]);
    expect(issues({ roles: ['admin'], rules: [{ roles: ['x'] }] })[0]?.path).toBe('rules');
    expect(issues({})[0]?.message).toMatch(/give roles:, scopes: or rules:/);
    expect(issues({ rules: [] }).length).toBeGreaterThan(0);
  });
  it('checks role sets, methods, names and effects', () => {
    expect(issues({ roles: { any: [] } }).length).toBeGreaterThan(0);
    expect(issues({ roles: {} }).length).toBeGreaterThan(0);
    expect(issues({ roles: { some: ['a'] } }).length).toBeGreaterThan(0);
    expect(issues({ rules: [{ methods: ['FETCH'] }] })[0]?.path).toBe('rules.0.methods.0');
    expect(schema.parse({ rules: [{ methods: ['get'] }] }).rules?.[0]?.methods).toEqual(['GET']);
    expect(issues({ rules: [{ effect: 'maybe' }] })[0]?.path).toBe('rules.0.effect');
    expect(issues({ rules: [{ name: 'a b' }] })[0]?.path).toBe('rules.0.name');
    expect(issues({ rules: [{ name: 'a' }, { name: 'a' }] })).toEqual([
      { path: 'rules.1.name', message: 'rule name "a" used twice' },
    ]);
    expect(issues({ rules: [{ roles: ['a'], bogus: 1 }] }).length).toBeGreaterThan(0);
  });
  it('compiles every condition at load against the declared types', () => {
    const bad = (when: string) => issues({ rules: [{ name: 'ok', roles: ['a'] }, { when }] });
    expect(bad('request.params.id == identity.attributes.user_id')).toEqual([]);
    expect(bad('request.params.id ==')).toEqual([
      { path: 'rules.1.when', message: 'CEL syntax error at column 21 of the expression: Unexpected token: EOF' },
    ]);
    expect(bad('user.id == "1"')[0]?.message).toBe(
      'CEL type error at column 1 of the expression: Unknown variable: user',
    );
    expect(bad('request.method > 3')[0]?.message).toMatch(/^CEL type error .*no such overload: string > int/);
    expect(bad('request.nope == "x"')[0]?.message).toMatch(/No such key: nope/);
    expect(bad('identity.roles == "admin"')[0]?.message).toMatch(/list<string> == string/);
    expect(bad('request.path')[0]?.message).toBe('a condition must be a bool, this one is a string');
    expect(bad('request.path.matches("(")')[0]?.message).toMatch(/^invalid regular expression "\("/);
    expect(bad('request.path.matches("^/orders/[0-9]+$")')).toEqual([]);
    expect(bad('request.method == "GET" &&\n  request.ip.startsWith(1)')[0]?.message).toMatch(
      /^CEL type error at line 2, column 3 of the expression: /,
    );
    // Bounded: a condition cannot be made arbitrarily large.
    expect(bad(Array.from({ length: 300 }, () => 'true').join(' && '))[0]?.message).toMatch(/maxAstNodes/);
  });
});

describe('authorize: RBAC and scope matrix', () => {
  const roleIds = {
    none: identity({ roles: [] }),
    admin: identity({ roles: ['admin'] }),
    ops: identity({ roles: ['ops'] }),
    both: identity({ roles: ['admin', 'ops'] }),
  };
  it.each([
    [
      'shorthand list (any)',
      { roles: ['admin', 'ops'] },
      { none: 'FORBIDDEN', admin: 'allow', ops: 'allow', both: 'allow' },
    ],
    [
      'shorthand all',
      { roles: { all: ['admin', 'ops'] } },
      { none: 'FORBIDDEN', admin: 'FORBIDDEN', ops: 'FORBIDDEN', both: 'allow' },
    ],
    [
      'rule any',
      { rules: [{ roles: { any: ['ops'] } }] },
      { none: 'FORBIDDEN', admin: 'FORBIDDEN', ops: 'allow', both: 'allow' },
    ],
    [
      'rule any + all',
      { rules: [{ roles: { any: ['admin', 'x'], all: ['ops'] } }] },
      { none: 'FORBIDDEN', admin: 'FORBIDDEN', ops: 'FORBIDDEN', both: 'allow' },
    ],
  ] as const)('roles: %s', (_name, cfg, want) => {
    const p = policy(cfg);
    for (const [who, id] of Object.entries(roleIds))
      expect([who, decide(p, req({ id }))]).toEqual([who, want[who as keyof typeof want]]);
  });

  const scopeIds = {
    none: identity({ scopes: [] }),
    read: identity({ scopes: ['orders:read'] }),
    write: identity({ scopes: ['orders:write'] }),
    rw: identity({ scopes: ['orders:read', 'orders:write'] }),
  };
  it.each([
    [
      'shorthand any',
      { scopes: ['orders:read', 'orders:write'] },
      { none: 'FORBIDDEN', read: 'allow', write: 'allow', rw: 'allow' },
    ],
    [
      'shorthand all',
      { scopes: { all: ['orders:read', 'orders:write'] } },
      { none: 'FORBIDDEN', read: 'FORBIDDEN', write: 'FORBIDDEN', rw: 'allow' },
    ],
    [
      'rule all',
      { rules: [{ scopes: { all: ['orders:write'] } }] },
      { none: 'FORBIDDEN', read: 'FORBIDDEN', write: 'allow', rw: 'allow' },
    ],
  ] as const)('scopes: %s', (_name, cfg, want) => {
    const p = policy(cfg);
    for (const [who, id] of Object.entries(scopeIds))
      expect([who, decide(p, req({ id }))]).toEqual([who, want[who as keyof typeof want]]);
  });

  it('method-level rules: reads for readers, writes for writers, deletes for admins only', () => {
    const p = policy({
      rules: [
        { name: 'read', methods: ['GET', 'HEAD'], scopes: ['orders:read'] },
        { name: 'write', methods: ['POST', 'PUT', 'PATCH'], scopes: ['orders:write'] },
        { name: 'admin-delete', methods: ['DELETE'], roles: ['admin'] },
      ],
    });
    const reader = identity({ scopes: ['orders:read'] });
    const writer = identity({ scopes: ['orders:read', 'orders:write'] });
    const admin = identity({ roles: ['admin'], scopes: ['orders:read'] });
    const table: [Identity, string, string][] = [
      [reader, 'GET', 'allow'],
      [reader, 'HEAD', 'allow'],
      [reader, 'POST', 'FORBIDDEN'],
      [reader, 'DELETE', 'FORBIDDEN'],
      [writer, 'PUT', 'allow'],
      [writer, 'DELETE', 'FORBIDDEN'],
      [admin, 'DELETE', 'allow'],
      [admin, 'PATCH', 'FORBIDDEN'],
      [admin, 'OPTIONS', 'FORBIDDEN'],
    ];
    for (const [id, method, want] of table)
      expect([id.roles, id.scopes, method, decide(p, req({ id, method }))]).toEqual([
        id.roles,
        id.scopes,
        method,
        want,
      ]);
  });

  it('a rule for GET holds for HEAD too: a GET-only deny cannot be skipped with HEAD', () => {
    const p = policy({
      rules: [
        { name: 'no-guest-reads', effect: 'deny', methods: ['GET'], roles: ['guest'] },
        { name: 'all', roles: ['guest', 'user'] },
      ],
    });
    const guest = identity({ roles: ['guest'] });
    expect(decide(p, req({ id: guest, method: 'GET' }))).toBe('FORBIDDEN');
    expect(decide(p, req({ id: guest, method: 'HEAD' }))).toBe('FORBIDDEN');
    expect(decide(p, req({ id: identity({ roles: ['user'] }), method: 'HEAD' }))).toBe('allow');
  });

  it('deny rules win over allow rules whatever their order; no match denies by default; every decision recorded', () => {
    const p = policy({
      rules: [
        { name: 'admins', roles: ['admin'] },
        { name: 'no-deletes-for-contractors', effect: 'deny', methods: ['DELETE'], roles: ['contractor'] },
      ],
    });
    const admin = req({ method: 'DELETE', id: identity({ roles: ['admin'] }) });
    expect(decide(p, admin)).toBe('allow');
    expect(admin.decisions).toEqual([{ effect: 'allow', policy: 'authorize', rule: 'admins' }]);

    const contractor = req({ method: 'DELETE', id: identity({ roles: ['admin', 'contractor'] }) });
    expect(decide(p, contractor)).toBe('FORBIDDEN');
    expect(contractor.decisions).toEqual([
      { effect: 'deny', policy: 'authorize', rule: 'no-deletes-for-contractors', reason: 'deny rule' },
    ]);

    const nobody = req({ id: identity({ roles: ['guest'] }) });
    expect(decide(p, nobody)).toBe('FORBIDDEN');
    expect(nobody.decisions).toEqual([
      { effect: 'deny', policy: 'authorize', rule: 'default', reason: 'no rule matched' },
    ]);
  });

  it('names rules by their place when unnamed, and the shorthand after what it checks', () => {
    const ctx = req({ id: identity({ roles: ['b'] }) });
    decide(policy({ rules: [{ roles: ['a'] }, { roles: ['b'] }] }), ctx);
    expect(ctx.decisions?.[0]?.rule).toBe('rules[1]');
    const s = req({ id: identity({ roles: ['a'], scopes: ['s'] }) });
    decide(policy({ roles: ['a'], scopes: ['s'] }), s);
    expect(s.decisions?.[0]?.rule).toBe('roles+scopes');
  });

  it('a 403 never says which rule decided', () => {
    const ctx = req({ id: identity({ roles: [] }) });
    try {
      policy({ rules: [{ name: 'secret-rule-name', roles: ['admin'] }] }).request?.(ctx);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(GatewayError);
      expect(JSON.stringify(e)).not.toContain('secret-rule-name');
      expect((e as GatewayError).message).not.toContain('secret-rule-name');
    }
  });

  it('anonymous callers on a public route: denied unless anonymous: true, and even then only by rules that need no role', () => {
    const cfg = {
      rules: [
        { name: 'public-reads', methods: ['GET'] },
        { name: 'admins', roles: ['admin'] },
      ],
    };
    const anon = () => req({ id: null, public: true });
    const off = anon();
    expect(decide(policy(cfg), off)).toBe('FORBIDDEN');
    expect(off.decisions).toEqual([{ effect: 'deny', policy: 'authorize', rule: 'default', reason: 'anonymous' }]);

    const on = policy({ ...cfg, anonymous: true });
    const get = anon();
    expect(decide(on, get)).toBe('allow');
    expect(get.decisions?.[0]?.rule).toBe('public-reads');
    expect(decide(on, req({ id: null, public: true, method: 'POST' }))).toBe('FORBIDDEN');
    expect(decide(policy({ roles: ['admin'], anonymous: true }), anon())).toBe('FORBIDDEN');
    // CEL sees an empty identity of kind "anonymous".
    const kind = policy({
      rules: [{ when: 'identity.kind == "anonymous" && size(identity.roles) == 0' }],
      anonymous: true,
    });
    expect(decide(kind, anon())).toBe('allow');
  });
});

describe('authorize: CEL over every attribute source', () => {
  const t = (when: string, r: Req = {}) => decide(policy({ rules: [{ when }] }), req(r));
  it('path params against identity attributes', () => {
    const id = identity({ attributes: { user_id: 'u-7' } });
    const when = 'request.params.id == identity.attributes.user_id';
    expect(t(when, { params: { id: 'u-7' }, id })).toBe('allow');
    expect(t(when, { params: { id: 'u-8' }, id })).toBe('FORBIDDEN');
  });
  it('list membership in attributes, and numbers and nested objects from JSON', () => {
    const id = identity({ attributes: { accounts: ['a1', 'a2'], level: 3, org: { tier: 'gold' } } });
    expect(t('request.params.account in identity.attributes.accounts', { params: { account: 'a2' }, id })).toBe(
      'allow',
    );
    expect(t('request.params.account in identity.attributes.accounts', { params: { account: 'a3' }, id })).toBe(
      'FORBIDDEN',
    );
    expect(t('identity.attributes.level >= 3 && identity.attributes.org.tier == "gold"', { id })).toBe('allow');
  });
  it('method, path, query (decoded; a parameter repeated with different values fails closed) and headers', () => {
    expect(t('request.method == "PUT" && request.path.startsWith("/orders/")', { method: 'PUT' })).toBe('allow');
    expect(
      t('request.query.view == "full view" && request.query.page == "1"', { url: '/o?view=full+view&page=1&page=1' }),
    ).toBe('allow');
    // The upstream may read the last (or every) value: a rule on the first must not pass.
    expect(t('request.query.page == "1"', { url: '/o?page=1&page=2' })).toBe('FORBIDDEN');
    expect(t('request.query.view == "x"', { url: '/o?view=y' })).toBe('FORBIDDEN');
    expect(t('request.headers["x-tenant"] == "acme"', { headers: { 'x-tenant': 'acme' } })).toBe('allow');
  });
  it('never shows credentials: authorization, cookie and API key headers are absent', () => {
    const headers = {
      authorization: 'Bearer secret',
      cookie: 'sid=secret',
      'x-api-key': 'rmpk_secret',
      'x-other': 'v',
    };
    expect(t('"x-other" in request.headers', { headers })).toBe('allow');
    for (const h of ['authorization', 'cookie', 'x-api-key'])
      expect([h, t(`"${h}" in request.headers`, { headers })]).toEqual([h, 'FORBIDDEN']);
    expect(t('request.headers.exists(k, request.headers[k].contains("secret"))', { headers })).toBe('FORBIDDEN');
  });
  it('client address and time', () => {
    expect(t('request.ip.startsWith("10.")', { ip: '10.1.2.3' })).toBe('allow');
    expect(t('request.ip.startsWith("10.")', { ip: '192.0.2.9' })).toBe('FORBIDDEN');
    expect(t('request.time > timestamp("2024-01-01T00:00:00Z") && request.time.getHours() >= 0')).toBe('allow');
    const hour = new Date().getUTCHours();
    expect(t(`request.time.getHours("UTC") == ${hour} || request.time.getHours("UTC") == ${(hour + 1) % 24}`)).toBe(
      'allow',
    );
  });
  it('identity fields, roles, scopes and claims', () => {
    const id = identity({
      kind: 'jwt',
      subject: 'alice@example.com',
      roles: ['ops'],
      scopes: ['orders:read'],
      clientId: 'web',
      claims: { sub: 'alice@example.com', tenant: 't1', groups: ['g1', 'g2'], exp: 2_000_000_000 },
    });
    const when =
      'identity.kind == "jwt" && identity.id == "c-alice" && identity.subject == claims.sub && "ops" in identity.roles && ' +
      '"orders:read" in identity.scopes && identity.client_id == "web" && claims.tenant == "t1" && "g2" in claims.groups && ' +
      'claims.exp > 1700000000';
    expect(t(when, { id })).toBe('allow');
    // API keys have no claims: an empty map, not an error.
    expect(t('size(claims) == 0 && !has(claims.sub)')).toBe('allow');
  });
});

describe('authorize: evaluation errors fail closed', () => {
  function logged() {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        cb();
      },
    });
    return { lines, logger: pino({ level: 'info' }, sink) };
  }
  it('a missing key is no match for an allow rule, and a match for a deny rule; logged at most once per 5 s', () => {
    const { lines, logger } = logged();
    const allow = policy(
      { rules: [{ name: 'own', when: 'request.params.id == identity.attributes.user_id' }] },
      logger,
    );
    const ctx = req({ params: { id: 'u-1' }, id: identity({ attributes: {} }) });
    expect(decide(allow, ctx)).toBe('FORBIDDEN');
    expect(ctx.decisions?.[0]?.rule).toBe('default');
    const deny = policy(
      {
        rules: [
          { name: 'all', roles: ['staff'] },
          { name: 'blocked', effect: 'deny', when: 'identity.attributes.blocked' },
        ],
      },
      logger,
    );
    const d = req({ id: identity({ roles: ['staff'], attributes: {} }) });
    expect(decide(deny, d)).toBe('FORBIDDEN');
    expect(d.decisions?.[0]).toMatchObject({ effect: 'deny', rule: 'blocked' });
    // A non-bool result is an error too: denied.
    expect(decide(deny, req({ id: identity({ roles: ['staff'], attributes: { blocked: 'yes' } }) }))).toBe('FORBIDDEN');
    expect(decide(deny, req({ id: identity({ roles: ['staff'], attributes: { blocked: false } }) }))).toBe('allow');
    for (let i = 0; i < 50; i++) decide(allow, req({ params: { id: 'u-1' }, id: identity({ attributes: {} }) }));
    // One line per policy instance (two here), not one per request; no values, only names.
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 40, rule: 'own', effect: 'allow', error: 'No such key: user_id' });
    expect(lines[1]).toMatchObject({ rule: 'blocked', effect: 'deny' });
    expect(JSON.stringify(lines)).not.toContain('u-1');
  });
  it('warns at load about slow time-zone arguments', () => {
    const { lines, logger } = logged();
    policy({ rules: [{ name: 'night', when: 'request.time.getHours("Europe/Paris") < 6' }] }, logger);
    policy({ rules: [{ name: 'utc', when: 'request.time.getHours() < 6' }] }, logger);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, rule: 'night' });
  });
});

describe('authorize: per-request cost', () => {
  it('builds the CEL variables once per request and only what a condition reads', () => {
    const ctx = req({ url: '/orders/1?a=1', params: { id: '1' } });
    let queryReads = 0;
    const raw = ctx.query;
    Object.defineProperty(ctx, 'query', {
      get: () => {
        queryReads++;
        return raw;
      },
    });
    const act = new Activation(ctx);
    expect(act.request).toBe(act.request);
    const c = compileCondition('request.method == "GET" && request.params.id == "1"');
    if (!c.ok) throw new Error(c.message);
    expect(c.condition.test(act)).toBe(true);
    expect(queryReads).toBe(0);
    const q = compileCondition('request.query.a == "1" && request.query.a != "2"');
    if (!q.ok) throw new Error(q.message);
    expect(q.condition.test(act)).toBe(true);
    expect(queryReads).toBe(1);
    expect(parseQuery('?a=1&a=1&b&c=%ZZ&d=%C3%A9')).toEqual({ a: '1', b: '', c: '%ZZ', d: 'é' });
    expect(() => parseQuery('?a=1&a=2')).toThrow(/repeats with different values/);
  });

  it('measures µs per request with compiled rules (CPU time printed, not asserted)', () => {
    const id = identity({ roles: ['ops'], scopes: ['orders:read'], attributes: { user_id: 'u-1' } });
    const cases: [string, unknown, Req][] = [
      ['roles shorthand', { roles: ['admin', 'ops'] }, { id }],
      ['method + scopes rule', { rules: [{ methods: ['GET'], scopes: ['orders:read'] }] }, { id }],
      [
        'CEL param == attribute',
        { rules: [{ when: 'request.params.id == identity.attributes.user_id' }] },
        { id, params: { id: 'u-1' } },
      ],
      [
        '4 rules, deny + CEL',
        {
          rules: [
            { name: 'no-night-deletes', effect: 'deny', methods: ['DELETE'], when: 'request.time.getHours() < 6' },
            { name: 'admins', roles: ['admin'] },
            { name: 'read', methods: ['GET'], scopes: ['orders:write'] },
            { name: 'own', when: 'request.params.id == identity.attributes.user_id && "ops" in identity.roles' },
          ],
        },
        { id, params: { id: 'u-1' } },
      ],
    ];
    const out: string[] = [];
    for (const [name, cfg, r] of cases) {
      const p = policy(cfg);
      const ctxs = Array.from({ length: 1000 }, () => req(r));
      for (const c of ctxs) expect(decide(p, c)).toBe('allow');
      const rounds = 20;
      const cpu = process.cpuUsage();
      for (let k = 0; k < rounds; k++)
        for (const c of ctxs) {
          c.decisions = null;
          p.request?.(c);
        }
      const used = process.cpuUsage(cpu);
      out.push(`${name}: ${((used.user + used.system) / (rounds * ctxs.length)).toFixed(2)} µs`);
    }
    console.log(`authorize per request (CPU): ${out.join('; ')}`);
  });
});

describe('authorize: load-time errors name file, line and field', () => {
  it('through the loader rampart validate uses', () => {
    const yaml = `listeners: [{ port: 8080 }]
routes:
  - name: orders
    paths: ["/orders/*"]
    policies:
      authorize:
        rules:
          - name: own
            when: 'request.params.id == identty.attributes.user_id'
          - name: bad-syntax
            when: request.method == "GET" &&
          - name: bad-type
            when: "request.method > 3"
`;
    let err: unknown;
    try {
      parseConfig(yaml, 'rampart.yaml', '/tmp');
    } catch (e) {
      err = e;
    }
    const found = (err as { issues: { line: number; column: number; path: string; message: string }[] }).issues;
    expect(found.map((i) => [i.line, i.column, i.path])).toEqual([
      [9, 19, 'routes[0].policies.authorize.rules[0].when'],
      [11, 19, 'routes[0].policies.authorize.rules[1].when'],
      [13, 19, 'routes[0].policies.authorize.rules[2].when'],
    ]);
    expect(found[0]?.message).toMatch(/Unknown variable: identty/);
    expect(found[1]?.message).toMatch(/CEL syntax error/);
    expect(found[2]?.message).toMatch(/no such overload: string > int/);
  });
});

describe('authorize create', () => {
  it('refuses a condition that did not pass the schema (create called directly)', () => {
    expect(() =>
      def.create(
        { rules: [{ effect: 'allow', when: 'nope ==' }], anonymous: false },
        {
          ...policyEnv(),
          services: new ServiceRegistry(),
        },
      ),
    ).toThrow(/rules\[0\]\.when: CEL syntax error/);
  });
});
