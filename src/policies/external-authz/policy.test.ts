import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../../test/helpers.js';
import { startPdp, type TestPdp } from '../../../test/pdp.js';
import { makeCtx, runPhase, silentLogger } from '../../../test/unit-helpers.js';
import { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import type { PolicyInstance } from '../../core/policy.js';
import { ServiceRegistry } from '../../core/shared.js';
import def from './policy.js';
import { schema } from './schema.js';

/** The policy in process against a real HTTP policy service on 127.0.0.1 (test/pdp.ts). */

let pdp: TestPdp;
let services: ServiceRegistry;
/** Every registry made, closed at the end (their PDP pools). */
const registries: ServiceRegistry[] = [];

beforeAll(async () => {
  pdp = await startPdp([
    { role: 'admin', allow: true, reason: 'admin' },
    { subject: 'alice', method: 'GET', allow: true, reason: 'reader' },
    { subject: null, route: 'orders', method: 'GET', allow: true, reason: 'public read' },
    { subject: 'bob', allow: false, reason: 'bob is blocked' },
  ]);
});
afterAll(async () => {
  await Promise.all(registries.map((r) => r.close()));
  await pdp.close();
});
afterEach(() => {
  pdp.reset();
  vi.useRealTimers();
});

const who = (subject: string, extra: Partial<Identity> = {}): Identity => ({
  kind: 'api-key',
  consumerId: `c-${subject}`,
  subject,
  credentialId: `k-${subject}`,
  roles: [],
  scopes: [],
  attributes: {},
  claims: null,
  clientId: null,
  expiresAt: null,
  ...extra,
});

let n = 0;
/** A fresh instance on its own registry (so no decision cache carries over between tests). */
function policy(cfg: Record<string, unknown>, logger = silentLogger): PolicyInstance {
  services = new ServiceRegistry();
  registries.push(services);
  return def.create(schema.parse(cfg), { logger, scope: `route:t${++n}`, services });
}
// A generous timeout by default: a loaded test machine must not turn a slow answer into a flaky deny.
const opa = (extra: Record<string, unknown> = {}) =>
  policy({ protocol: 'opa', url: pdp.url, opa: { path: 'rampart/authz' }, timeout_ms: 5000, ...extra });
const authzen = (extra: Record<string, unknown> = {}) =>
  policy({ protocol: 'authzen', url: pdp.url, timeout_ms: 5000, ...extra });

function req(identity: Identity | null, method = 'GET', url = '/orders/42', headers: Record<string, string> = {}) {
  const ctx = makeCtx({ url, method, headers });
  ctx.route = { name: 'orders', upstream: 'app', public: identity === null };
  ctx.params = { id: '42' };
  ctx.identity = identity;
  return ctx;
}

/** OPA's `input` of the i-th PDP call. */
const inputOf = (i: number) => (pdp.calls[i]?.body.input ?? {}) as Record<string, unknown>;

/** Runs the request phase; returns the status (200 when it let the request through) and the decisions. */
async function run(inst: PolicyInstance, ctx = req(who('alice'))) {
  const e = await runPhase(inst, 'request', ctx);
  if (e !== undefined && !(e instanceof GatewayError)) throw e;
  return {
    status: e ? (e as GatewayError).status : 200,
    code: (e as GatewayError | undefined)?.code,
    decisions: ctx.decisions,
  };
}

describe('schema', () => {
  const issues = (cfg: Record<string, unknown>) => {
    const r = schema.safeParse(cfg);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  const base = { protocol: 'opa', url: 'http://127.0.0.1:8181', opa: { path: 'a/b' } };

  it('accepts both protocols with defaults', () => {
    const o = schema.parse(base);
    expect(o).toMatchObject({
      timeout_ms: 200,
      cache: { max_entries: 10_000, ttl_s: 10, deny_ttl_s: 1 },
      anonymous: 'deny',
    });
    expect(o.opa).toEqual({ path: 'a/b', result_field: 'allow', reason_field: 'reason' });
    expect(issues({ protocol: 'authzen', url: 'https://pdp.example/tenant-1' })).toEqual([]);
  });

  it('names the field of each mistake', () => {
    expect(issues({ protocol: 'opa', url: 'http://127.0.0.1:8181' })).toEqual([
      'opa: protocol opa needs opa.path (the document to evaluate)',
    ]);
    expect(issues({ ...base, url: 'ftp://127.0.0.1' })[0]).toMatch(/^url: /);
    expect(issues({ ...base, url: 'http://127.0.0.1/?x=1' })[0]).toMatch(/^url: a base URL without query/);
    expect(issues({ ...base, url: 'http://u:p@127.0.0.1/' })[0]).toMatch(/^url: /);
    for (const p of ['/a', 'a/../b', 'a b', 'a/', 'data.x', 'a%2Fb'])
      expect(issues({ ...base, opa: { path: p } })[0]).toMatch(/^opa.path: /);
    expect(issues({ ...base, headers: ['x-tenant', 'Authorization', 'cookie', 'x-api-key'] })).toEqual([
      'headers.1: "authorization" carries credentials: never sent to a PDP',
      'headers.2: "cookie" carries credentials: never sent to a PDP',
      'headers.3: "x-api-key" carries credentials: never sent to a PDP',
    ]);
    expect(issues({ ...base, query: ['page', 'api_key'] })).toEqual([
      'query.1: "api_key" looks like a credential: never sent',
    ]);
    expect(issues({ ...base, authzen: {} })).toEqual(['authzen: authzen: is for protocol authzen']);
    expect(issues({ protocol: 'authzen', url: 'http://x', opa: { path: 'a' } })).toEqual([
      'opa: opa: is for protocol opa',
    ]);
    expect(
      issues({ protocol: 'authzen', url: 'http://x', authzen: { resource: { id: ['param:id', 'header:cookie'] } } }),
    ).toEqual(['authzen.resource.id.1: "cookie" carries credentials: never sent to a PDP']);
    expect(issues({ protocol: 'authzen', url: 'http://x', authzen: { resource: { id: 'body:id' } } })[0]).toMatch(
      /^authzen.resource.id: /,
    );
    expect(issues({ ...base, timeout_ms: 5 })[0]).toMatch(/^timeout_ms: must be at least 10/);
    expect(issues({ ...base, extra: 1 })[0]).toMatch(/Unrecognized key/);
  });
});

describe('OPA protocol', () => {
  it('allows what the PDP allows, and records the decision', async () => {
    const r = await run(opa());
    expect(r).toMatchObject({ status: 200 });
    expect(r.decisions).toEqual([{ effect: 'allow', policy: 'external-authz', rule: 'pdp', reason: 'reader' }]);
    expect(pdp.calls).toHaveLength(1);
    expect(pdp.calls[0]?.url).toBe('/v1/data/rampart/authz');
    expect(pdp.calls[0]?.headers['content-type']).toBe('application/json');
    expect(pdp.calls[0]?.body.input).toMatchObject({
      request: { method: 'GET', path: '/orders/42', route: 'orders', params: { id: '42' } },
      identity: { subject: 'alice', id: 'c-alice' },
    });
    expect(typeof inputOf(0).time).toBe('string');
  });

  it('denies what the PDP denies (403 FORBIDDEN, reason recorded, not in the answer)', async () => {
    const r = await run(opa(), req(who('bob')));
    expect(r).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect(r.decisions).toEqual([{ effect: 'deny', policy: 'external-authz', rule: 'pdp', reason: 'bob is blocked' }]);
    const none = await run(opa(), req(who('carol')));
    expect(none.decisions?.[0]).toMatchObject({ effect: 'deny', rule: 'pdp', reason: 'no rule' });
  });

  it('reads a boolean document, and takes an undefined one as a deny', async () => {
    const inst = policy({ protocol: 'opa', url: pdp.url, opa: { path: 'rampart/authz/allow' }, timeout_ms: 5000 });
    expect((await run(inst)).decisions).toEqual([{ effect: 'allow', policy: 'external-authz', rule: 'pdp' }]);
    pdp.mode = 'undefined';
    const r = await run(inst, req(who('dave')));
    expect(r).toMatchObject({ status: 403 });
    expect(r.decisions?.[0]).toMatchObject({ rule: 'pdp', reason: 'undefined' });
  });

  it('keeps a path prefix of the base URL, and sends its credential to the PDP only', async () => {
    const inst = policy({
      protocol: 'opa',
      url: `${pdp.url}/tenant-1/`,
      opa: { path: 'rampart/authz' },
      auth: { token: 'pdp-token-123' },
    });
    await run(inst, req(who('alice'), 'GET', '/orders/42', { authorization: 'Bearer CLIENT-SECRET' }));
    expect(pdp.calls[0]?.url).toBe('/tenant-1/v1/data/rampart/authz');
    expect(pdp.calls[0]?.headers.authorization).toBe('Bearer pdp-token-123');
    expect(JSON.stringify(pdp.calls[0]?.body)).not.toContain('CLIENT-SECRET');
    const raw = policy({
      protocol: 'opa',
      url: pdp.url,
      opa: { path: 'rampart/authz' },
      auth: { header: 'x-pdp-key', scheme: '', token: 'k-1' },
    });
    await run(raw);
    expect(pdp.calls[1]?.headers['x-pdp-key']).toBe('k-1');
  });
});

describe('AuthZEN protocol', () => {
  it('allows and denies from the evaluation endpoint', async () => {
    const inst = authzen({ authzen: { resource: { type: 'order', id: 'param:id' } } });
    const ok = await run(inst);
    expect(ok.decisions).toEqual([{ effect: 'allow', policy: 'external-authz', rule: 'pdp', reason: 'reader' }]);
    expect(pdp.calls[0]?.url).toBe('/access/v1/evaluation');
    expect(pdp.calls[0]?.body).toMatchObject({
      subject: { type: 'user', id: 'alice' },
      resource: { type: 'order', id: '42' },
      action: { name: 'GET' },
    });
    const no = await run(inst, req(who('alice'), 'DELETE'));
    expect(no).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect(no.decisions?.[0]).toMatchObject({ effect: 'deny', rule: 'pdp', reason: 'no rule' });
  });

  it('denies without asking when the resource id is absent', async () => {
    const r = await run(authzen({ authzen: { resource: { id: 'param:missing' } } }));
    expect(r).toMatchObject({ status: 403 });
    expect(r.decisions?.[0]).toMatchObject({ rule: 'error', reason: 'no resource id' });
    expect(pdp.calls).toHaveLength(0);
  });
});

describe('anonymous callers', () => {
  it('are denied without a call by default (rule default)', async () => {
    const r = await run(opa(), req(null));
    expect(r).toMatchObject({ status: 403 });
    expect(r.decisions).toEqual([{ effect: 'deny', policy: 'external-authz', rule: 'default', reason: 'anonymous' }]);
    expect(pdp.calls).toHaveLength(0);
  });
  it('are put to the PDP with anonymous: ask', async () => {
    expect((await run(opa({ anonymous: 'ask' }), req(null))).status).toBe(200);
    expect(inputOf(0).identity).toBeNull();
    expect((await run(authzen({ anonymous: 'ask' }), req(null, 'POST'))).status).toBe(403);
    expect(pdp.calls[1]?.body.subject).toEqual({ type: 'anonymous', id: 'anonymous' });
  });
});

describe('decision cache', () => {
  it('answers a repeated question from the cache (rule cache), with no PDP call', async () => {
    const inst = opa();
    await run(inst);
    const again = await run(inst);
    expect(again.decisions).toEqual([{ effect: 'allow', policy: 'external-authz', rule: 'cache', reason: 'reader' }]);
    const deny = await run(inst, req(who('bob')));
    const denyAgain = await run(inst, req(who('bob')));
    expect(deny.decisions?.[0]?.rule).toBe('pdp');
    expect(denyAgain).toMatchObject({ status: 403 });
    expect(denyAgain.decisions?.[0]).toMatchObject({ effect: 'deny', rule: 'cache' });
    expect(pdp.calls).toHaveLength(2);
  });

  it('never reuses one caller’s decision for another, nor one route’s for another', async () => {
    const inst = opa();
    await run(inst, req(who('alice')));
    expect((await run(inst, req(who('bob')))).status).toBe(403);
    expect((await run(inst, req(who('alice', { roles: ['admin'] }), 'DELETE'))).status).toBe(200);
    const other = req(who('alice'));
    other.route = { name: 'invoices', upstream: 'app', public: false };
    await run(inst, other);
    expect(pdp.calls).toHaveLength(4);
  });

  it('keeps an allow ttl_s, a deny deny_ttl_s, and an allow never past the identity’s expiry', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = Date.parse('2030-01-01T00:00:00Z');
    vi.setSystemTime(t0);
    const inst = opa({ cache: { ttl_s: 10, deny_ttl_s: 2 } });
    const expiring = who('alice', { expiresAt: t0 / 1000 + 4 });
    await run(inst); // allow, until t0+10 s
    await run(inst, req(who('bob'))); // deny, until t0+2 s
    await run(inst, req(expiring)); // allow, until t0+4 s (the credential's expiry)
    expect(pdp.calls).toHaveLength(3);
    vi.setSystemTime(t0 + 1900);
    for (const w of [who('alice'), who('bob'), expiring]) await run(inst, req(w));
    expect(pdp.calls).toHaveLength(3);
    vi.setSystemTime(t0 + 2100);
    for (const w of [who('alice'), who('bob'), expiring]) await run(inst, req(w));
    expect(pdp.calls).toHaveLength(4); // bob asked again
    vi.setSystemTime(t0 + 4100);
    await run(inst, req(who('alice')));
    await run(inst, req(expiring));
    expect(pdp.calls).toHaveLength(5); // the expiring identity asked again, alice still cached
    vi.setSystemTime(t0 + 10_100);
    await run(inst);
    expect(pdp.calls).toHaveLength(6);
  });

  it('coalesces concurrent identical requests into one PDP call', async () => {
    const inst = opa();
    pdp.mode = 'delay';
    pdp.delayMs = 100;
    const same = await Promise.all(Array.from({ length: 8 }, () => run(inst)));
    expect(same.every((r) => r.status === 200 && r.decisions?.[0]?.rule === 'pdp')).toBe(true);
    expect(pdp.calls).toHaveLength(1);
    // Different questions in flight at once are not merged.
    await Promise.all([run(inst, req(who('carol'))), run(inst, req(who('dave')))]);
    expect(pdp.calls).toHaveLength(3);
  });

  it('caches nothing with max_entries 0 (but still coalesces)', async () => {
    const inst = opa({ cache: { max_entries: 0 } });
    await run(inst);
    await run(inst);
    expect(pdp.calls).toHaveLength(2);
  });

  it('is shared process-wide by instances asking the same PDP the same way (a reload keeps it)', async () => {
    services = new ServiceRegistry();
    registries.push(services);
    const cfg = schema.parse({ protocol: 'opa', url: pdp.url, opa: { path: 'rampart/authz' } });
    const a = def.create(cfg, { logger: silentLogger, scope: 'route:a', services });
    const b = def.create(cfg, { logger: silentLogger, scope: 'route:a', services });
    await run(a);
    expect((await run(b)).decisions?.[0]?.rule).toBe('cache');
    // Another credential towards the PDP does not read those answers.
    const c = def.create(
      schema.parse({ protocol: 'opa', url: pdp.url, opa: { path: 'rampart/authz' }, auth: { token: 't' } }),
      {
        logger: silentLogger,
        scope: 'route:a',
        services,
      },
    );
    expect((await run(c)).decisions?.[0]?.rule).toBe('pdp');
  });
});

describe('fails closed', () => {
  const cases: [string, () => Promise<PolicyInstance>, string][] = [
    [
      'timeout',
      async () => {
        pdp.mode = 'stall';
        return opa({ timeout_ms: 100 });
      },
      'timeout',
    ],
    [
      'PDP down (connection refused)',
      async () => policy({ protocol: 'opa', url: `http://127.0.0.1:${await freePort()}`, opa: { path: 'a' } }),
      'unreachable',
    ],
    [
      'non-200',
      async () => {
        pdp.mode = 'status500';
        return opa();
      },
      'status',
    ],
    [
      'not JSON',
      async () => {
        pdp.mode = 'not-json';
        return authzen();
      },
      'not_json',
    ],
    [
      'oversized answer',
      async () => {
        pdp.mode = 'huge';
        return opa({ max_response_bytes: 1024 });
      },
      'too_large',
    ],
    [
      'malformed OPA answer',
      async () => {
        pdp.mode = 'malformed';
        return opa();
      },
      'malformed',
    ],
    [
      'malformed AuthZEN answer',
      async () => {
        pdp.mode = 'malformed';
        return authzen();
      },
      'malformed',
    ],
  ];
  for (const [name, make, reason] of cases)
    it(`denies on ${name} (rule error, reason ${reason}) and caches no failure`, async () => {
      const inst = await make();
      for (let i = 0; i < 2; i++) {
        const r = await run(inst);
        expect(r).toMatchObject({ status: 403, code: 'FORBIDDEN' });
        expect(r.decisions).toEqual([{ effect: 'deny', policy: 'external-authz', rule: 'error', reason }]);
      }
      // Both went to the PDP (none answered from a cache); a timed-out call may not even have been sent.
      if (reason !== 'unreachable' && reason !== 'timeout') expect(pdp.calls).toHaveLength(2);
    });

  it('logs failures at most once a second, counting the suppressed ones', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    });
    const inst = policy({ protocol: 'opa', url: pdp.url, opa: { path: 'a' }, timeout_ms: 5000 }, pino(sink));
    pdp.mode = 'status500';
    for (let i = 0; i < 5; i++) await run(inst, req(who(`u${i}`)));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ reason: 'status', status: 500, pdp: pdp.url });
    expect(JSON.stringify(lines)).not.toContain('u1');
  });

  it('recovers by itself once the PDP answers again', async () => {
    const inst = opa({ timeout_ms: 500 });
    pdp.mode = 'stall';
    expect((await run(inst)).status).toBe(403);
    pdp.mode = 'normal';
    expect((await run(inst)).status).toBe(200);
  });
});
