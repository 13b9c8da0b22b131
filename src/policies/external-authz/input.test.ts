import { describe, expect, it } from 'vitest';
import { makeCtx } from '../../../test/unit-helpers.js';
import type { Identity } from '../../core/identity.js';
import { DecisionCache, type Verdict } from './cache.js';
import { authzenVerdict, opaVerdict, PdpFailure } from './client.js';
import { authzenBody, inputBuilder, opaBody, queryJson } from './input.js';

/** The question as a document (throws when there is none). */
const doc = (q: string | null) => JSON.parse(q as string);

import { schema } from './schema.js';

/** Input building, both protocols' answer parsing, and the decision cache, in process. */

const alice: Identity = {
  kind: 'jwt',
  consumerId: 'c-1',
  subject: 'alice',
  credentialId: 'jti-1',
  roles: ['staff'],
  scopes: ['orders:read'],
  attributes: { tier: 'gold' },
  claims: { sub: 'alice', tenant: 'acme', org: { id: 'o-7', name: 'Acme' }, secret_stuff: 'x' },
  clientId: 'app',
  expiresAt: 2_000_000_000,
};

function ctxFor(
  url: string,
  opts: {
    identity?: Identity | null;
    headers?: Record<string, string>;
    method?: string;
    params?: Record<string, string>;
  } = {},
) {
  const ctx = makeCtx({ url, method: opts.method ?? 'GET', headers: opts.headers ?? {}, clientIp: '203.0.113.9' });
  ctx.route = { name: 'orders', upstream: 'app', public: false };
  ctx.params = opts.params ?? { id: '42' };
  ctx.identity = opts.identity === undefined ? alice : opts.identity;
  return ctx;
}

const opaCfg = (extra: Record<string, unknown> = {}) =>
  schema.parse({ protocol: 'opa', url: 'http://127.0.0.1:8181', opa: { path: 'httpapi/authz' }, ...extra });
const azCfg = (extra: Record<string, unknown> = {}) =>
  schema.parse({ protocol: 'authzen', url: 'http://127.0.0.1:8181', ...extra });

describe('OPA input', () => {
  const b = inputBuilder(
    opaCfg({ headers: ['x-tenant', 'x-absent'], claims: ['tenant', 'org.id', 'nope'], query: 'all' }),
  );

  it('sends method, path, route, params, parsed query, allowlisted headers, client ip, identity', () => {
    const ctx = ctxFor('/orders/42?b=2&a=1&a=3&api_key=SECRET&flag', {
      headers: { 'x-tenant': 'acme', authorization: 'Bearer SECRET', cookie: 's=SECRET', 'x-api-key': 'SECRET' },
    });
    const q = b.build(ctx);
    expect(q).not.toBeNull();
    const body = JSON.parse(opaBody(q as string, new Date('2030-01-02T03:04:05.000Z')));
    expect(body).toEqual({
      input: {
        request: {
          method: 'GET',
          path: '/orders/42',
          route: 'orders',
          params: { id: '42' },
          query: { a: ['1', '3'], b: ['2'], flag: [''] },
          headers: { 'x-tenant': 'acme' },
          client_ip: '203.0.113.9',
        },
        identity: {
          kind: 'jwt',
          id: 'c-1',
          subject: 'alice',
          roles: ['staff'],
          scopes: ['orders:read'],
          attributes: { tier: 'gold' },
          client_id: 'app',
          claims: { tenant: 'acme', 'org.id': 'o-7' },
          expires_at: 2_000_000_000,
        },
        time: '2030-01-02T03:04:05.000Z',
      },
    });
    expect(JSON.stringify(body)).not.toContain('SECRET');
  });

  it('leaves the time out of the question; the body adds it', () => {
    const q = b.build(ctxFor('/orders/42')) as string;
    expect(q).not.toContain('time');
    expect(b.build(ctxFor('/orders/42'))).toBe(q);
    expect(doc(opaBody(q, new Date(0)))).toEqual({ input: { ...doc(q), time: '1970-01-01T00:00:00.000Z' } });
  });

  it('keys the same parameters in another order alike, and other identities, params or headers apart', () => {
    const key = (url: string, o: Parameters<typeof ctxFor>[1] = {}) => b.build(ctxFor(url, o));
    expect(key('/orders/42?a=1&b=2')).toBe(key('/orders/42?b=2&a=1'));
    expect(key('/orders/42')).not.toBe(key('/orders/42', { identity: { ...alice, subject: 'bob' } }));
    expect(key('/orders/42')).not.toBe(key('/orders/42', { identity: { ...alice, roles: ['admin'] } }));
    expect(key('/orders/42')).not.toBe(key('/orders/42', { params: { id: '43' } }));
    expect(key('/orders/42')).not.toBe(key('/orders/42', { headers: { 'x-tenant': 'other' } }));
    expect(key('/orders/42')).not.toBe(key('/orders/42', { method: 'DELETE' }));
    // A header that is not sent does not split the cache.
    expect(key('/orders/42')).toBe(key('/orders/42', { headers: { 'x-other': 'y' } }));
  });

  it('sends identity null for an anonymous caller, and honours query none / a list / client_ip false', () => {
    const none = inputBuilder(opaCfg({ query: 'none', client_ip: false }));
    const d = doc(none.build(ctxFor('/orders/42?a=1', { identity: null })));
    expect(d.identity).toBeNull();
    expect(d.request.query).toBeUndefined();
    expect(d.request.client_ip).toBeUndefined();
    const list = inputBuilder(opaCfg({ query: ['a'] }));
    expect(doc(list.build(ctxFor('/x?a=1&b=2'))).request.query).toEqual({ a: ['1'] });
  });
});

describe('AuthZEN input', () => {
  it('maps the request to subject, resource, action and context', () => {
    const b = inputBuilder(
      azCfg({
        headers: ['x-tenant'],
        authzen: { subject_type: 'consumer', resource: { type: 'order', id: 'param:id' }, action: 'crud' },
      }),
    );
    const q = b.build(ctxFor('/orders/42?x=1', { method: 'PATCH', headers: { 'x-tenant': 'acme' } }));
    const body = JSON.parse(authzenBody(q as string, new Date('2030-01-02T03:04:05.000Z')));
    expect(body).toEqual({
      subject: {
        type: 'consumer',
        id: 'alice',
        properties: {
          kind: 'jwt',
          id: 'c-1',
          subject: 'alice',
          roles: ['staff'],
          scopes: ['orders:read'],
          attributes: { tier: 'gold' },
          client_id: 'app',
          expires_at: 2_000_000_000,
        },
      },
      resource: { type: 'order', id: '42', properties: { route: 'orders', path: '/orders/42', params: { id: '42' } } },
      action: { name: 'can_update', properties: { method: 'PATCH' } },
      context: {
        query: { x: ['1'] },
        headers: { 'x-tenant': 'acme' },
        client_ip: '203.0.113.9',
        time: '2030-01-02T03:04:05.000Z',
      },
    });
  });

  it('names actions by method or by the common CRUD names', () => {
    const crud = inputBuilder(azCfg({ authzen: { action: 'crud' } }));
    const method = inputBuilder(azCfg());
    const name = (b: typeof crud, m: string) => doc(b.build(ctxFor('/o', { method: m }))).action.name;
    expect(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'].map((m) => name(crud, m))).toEqual([
      'can_read',
      'can_read',
      'can_create',
      'can_update',
      'can_delete',
      'can_access',
    ]);
    expect(name(method, 'DELETE')).toBe('DELETE');
  });

  it('reads the resource id from the first source present, and gives no question without one', () => {
    const b = inputBuilder(
      azCfg({ authzen: { resource: { id: ['param:orderId', 'query:order', 'header:x-order'] } } }),
    );
    const id = (url: string, o: Parameters<typeof ctxFor>[1]) => {
      const q = b.build(ctxFor(url, o));
      return q && doc(q).resource.id;
    };
    expect(id('/o', { params: { orderId: 'p1' } })).toBe('p1');
    expect(id('/o?order=q1', { params: {} })).toBe('q1');
    expect(id('/o?order=q1&order=q2', { params: {}, headers: { 'x-order': 'h1' } })).toBe('h1'); // repeated: not guessed
    expect(id('/o', { params: {} })).toBeNull();
    // The default: the route's name.
    expect(doc(inputBuilder(azCfg()).build(ctxFor('/o'))).resource).toMatchObject({
      type: 'route',
      id: 'orders',
    });
  });

  it('sends an anonymous subject for a caller without identity', () => {
    const q = inputBuilder(azCfg()).build(ctxFor('/o', { identity: null }));
    expect(doc(q).subject).toEqual({ type: 'anonymous', id: 'anonymous' });
  });
});

describe('queryJson', () => {
  it('decodes, sorts names, keeps repeats in order, drops credential-like names', () => {
    const raw = '?n%C3%A4me=J%C3%BCrgen+X&__proto__=1&token=T&b=2&access_token=T&x=%ZZ&b=1&flag';
    const q = JSON.parse(queryJson(raw, 'all')) as Record<string, string[]>;
    expect(Object.keys(q)).toEqual(['__proto__', 'b', 'flag', 'näme', 'x']);
    expect(q).toEqual(JSON.parse('{"__proto__":["1"],"b":["2","1"],"flag":[""],"näme":["Jürgen X"],"x":["%ZZ"]}'));
    expect(queryJson('', 'all')).toBe('{}');
    expect(queryJson('?', 'all')).toBe('{}');
    expect(queryJson('?token=x&&', 'all')).toBe('{}');
    expect(queryJson('?a=1&b=2&c=3', new Set(['c', 'a']))).toBe('{"a":["1"],"c":["3"]}');
  });
});

describe('OPA answers', () => {
  const v = (a: Record<string, unknown>) => opaVerdict(a, 'allow', 'reason');
  it('reads a boolean result, or the configured field and reason of an object result', () => {
    expect(v({ result: true })).toEqual({ allow: true, reason: undefined });
    expect(v({ result: false, decision_id: 'd' })).toEqual({ allow: false, reason: undefined });
    expect(v({ result: { allow: true, reason: 'owner' } })).toEqual({ allow: true, reason: 'owner' });
    expect(v({ result: { allow: false, reason: 42 } })).toEqual({ allow: false, reason: undefined });
    expect(opaVerdict({ result: { ok: true } }, 'ok', 'why')).toEqual({ allow: true, reason: undefined });
  });
  it('takes an undefined document (no result, no field) as a deny', () => {
    expect(v({})).toEqual({ allow: false, reason: 'undefined' });
    expect(v({ result: {} })).toEqual({ allow: false, reason: 'undefined' });
  });
  it('refuses other shapes as malformed', () => {
    for (const a of [
      { result: 'yes' },
      { result: 1 },
      { result: [true] },
      { result: null },
      { result: { allow: 'true' } },
    ])
      expect(() => v(a)).toThrow(PdpFailure);
  });
});

describe('AuthZEN answers', () => {
  it('reads decision and a reason from the context', () => {
    expect(authzenVerdict({ decision: true })).toEqual({ allow: true, reason: undefined });
    expect(authzenVerdict({ decision: false, context: { reason: 'not owner' } })).toEqual({
      allow: false,
      reason: 'not owner',
    });
    expect(authzenVerdict({ decision: false, context: { reason_admin: { en: 'policy_denied' } } }).reason).toBe(
      'policy_denied',
    );
    expect(authzenVerdict({ decision: false, context: { reason: 'a\nb\u0000c'.padEnd(500, 'x') } }).reason).toMatch(
      /^a b cx+…$/,
    );
    expect(authzenVerdict({ decision: false, context: { reason: 'y'.repeat(500) } }).reason).toHaveLength(120);
  });
  it('refuses an answer without a boolean decision', () => {
    for (const a of [{}, { decision: 'true' }, { decision: 1 }, { allowed: true }])
      expect(() => authzenVerdict(a)).toThrow(PdpFailure);
  });
});

describe('DecisionCache', () => {
  const allow: Verdict = { allow: true, reason: undefined };

  it('serves an entry until its deadline, then forgets it', () => {
    let now = 1000;
    const c = new DecisionCache(10, () => now);
    c.set('k', allow, 2000);
    expect(c.get('k')).toBe(allow);
    now = 1999;
    expect(c.get('k')).toBe(allow);
    now = 2000;
    expect(c.get('k')).toBeUndefined();
    expect(c.size).toBe(0);
    c.set('late', allow, 2000); // already past: not kept
    expect(c.size).toBe(0);
  });

  it('is bounded (least recently used goes first), and off with max_entries 0', () => {
    const c = new DecisionCache(2, () => 0);
    c.set('a', allow, 10);
    c.set('b', allow, 10);
    c.get('a');
    c.set('c', allow, 10);
    expect([c.get('a'), c.get('b'), c.get('c')]).toEqual([allow, undefined, allow]);
    const off = new DecisionCache(0);
    off.set('a', allow, Date.now() + 10_000);
    expect(off.get('a')).toBeUndefined();
  });

  it('coalesces identical calls in flight into one, and forgets a call once settled', async () => {
    const c = new DecisionCache(10);
    let calls = 0;
    let release: (v: Verdict) => void = () => {};
    const call = () => {
      calls++;
      return new Promise<Verdict>((r) => {
        release = r;
      });
    };
    const first = c.coalesce('k', call);
    const rest = [c.coalesce('k', call), c.coalesce('k', call)];
    const other = c.coalesce('other', () => Promise.resolve(allow));
    expect(first.joined).toBe(false);
    expect(rest.every((r) => r.joined)).toBe(true);
    expect(calls).toBe(1);
    release(allow);
    expect(await Promise.all([first.promise, ...rest.map((r) => r.promise)])).toEqual([allow, allow, allow]);
    await other.promise;
    expect(c.inflight).toBe(0);
    // A failed call is shared too, and not kept.
    const failing = c.coalesce('k', () => Promise.reject(new Error('down')));
    const joined = c.coalesce('k', call);
    await expect(failing.promise).rejects.toThrow('down');
    await expect(joined.promise).rejects.toThrow('down');
    expect(c.inflight).toBe(0);
    expect(calls).toBe(1);
  });
});
