import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCtx, silentLogger } from '../../../test/unit-helpers.js';
import { ConfigError, parseConfig } from '../../config/load.js';
import type { HeaderMap, RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import type { PolicyInstance } from '../../core/policy.js';
import { ServiceRegistry } from '../../core/shared.js';
import { createKeyFile, FileKeySource } from '../../crypto/file-key-source.js';
import { Keyring } from '../../crypto/keyring.js';
import { CREDENTIAL_MAC_PURPOSE } from '../../services.js';
import { openStore, STORE_PURPOSE, type Store } from '../../store/index.js';
import { TestCipher } from '../../store/test-cipher.js';
import { OwnershipCache } from './ownership.js';
import def from './policy.js';
import { schema } from './schema.js';

/** Unreachable means failed, not skipped (as the store's own PostgreSQL suite). */
const PG_URL = process.env.RAMPART_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PG_SCHEMA = `rampart_oa_${randomBytes(6).toString('hex')}`;

// A real SQLite store in a tmp dir, as the gateway opens it.
let dir: string;
let store: Store;
let keyring: Keyring;

async function openSqlite(name: string): Promise<Store> {
  let ring: Keyring | null = null;
  const s = await openStore({ kind: 'sqlite', dataDir: join(dir, name) }, async (state) => {
    ring = await Keyring.open({
      source: await FileKeySource.open(join(dir, 'master.keys')),
      state,
      purposes: [STORE_PURPOSE, CREDENTIAL_MAC_PURPOSE],
    });
    return ring;
  });
  keyring = ring as unknown as Keyring;
  return s;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-object-access-'));
  await createKeyFile(join(dir, 'master.keys'));
  store = await openSqlite('data');
});
afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function who(name: string, o: Partial<Identity> = {}): Identity {
  return {
    kind: 'api-key',
    consumerId: `c_${name}`,
    subject: name,
    credentialId: null,
    roles: ['customer'],
    scopes: [],
    attributes: {},
    claims: null,
    clientId: null,
    expiresAt: null,
    ...o,
  };
}
const alice = who('alice', { attributes: { user_id: 'u_1001', accounts: ['acc_1', 'acc_2'], tenant: 't_acme' } });
const bob = who('bob', { attributes: { user_id: 'u_1002', accounts: ['acc_3'], tenant: 't_acme' } });
const carla = who('carla', { attributes: { user_id: 'u_1003', tenant: 't_globex' } });
const ops = who('ops', { roles: ['admin'] });

function policy(cfg: Record<string, unknown>, services = new ServiceRegistry(store, keyring)): PolicyInstance {
  return def.create(schema.parse(cfg), { logger: silentLogger, scope: 'route:test', services });
}

function request(
  identity: Identity | null,
  method: string,
  url: string,
  o: { params?: Record<string, string>; headers?: Record<string, string>; body?: unknown } = {},
): RequestContext {
  const ctx = makeCtx({ method, url, headers: o.headers ?? {} });
  ctx.route = { name: 'test', upstream: 'app', public: false };
  ctx.identity = identity;
  ctx.params = o.params ?? {};
  ctx.upstreamHeaders = { ...o.headers };
  if (o.body !== undefined) ctx.requestBody = Buffer.from(typeof o.body === 'string' ? o.body : JSON.stringify(o.body));
  return ctx;
}

async function run(p: PolicyInstance, ctx: RequestContext): Promise<GatewayError | undefined> {
  try {
    await p.request?.(ctx);
    return undefined;
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
}

/** The upstream's answer, then the response phase (after a request phase that let the request through). */
async function answer(
  p: PolicyInstance,
  ctx: RequestContext,
  status: number,
  body: unknown,
  headers: HeaderMap = {},
): Promise<GatewayError | undefined> {
  ctx.response = {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === null ? null : Buffer.from(JSON.stringify(body)),
  };
  try {
    await p.response?.(ctx);
    return undefined;
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
}

/** Creates an object through the policy as `identity` would: request phase, then a 201 carrying the id. */
async function create(p: PolicyInstance, identity: Identity, id: string, body: unknown = {}): Promise<RequestContext> {
  const ctx = request(identity, 'POST', '/orders', { body });
  expect(await run(p, ctx)).toBeUndefined();
  expect(await answer(p, ctx, 201, { id })).toBeUndefined();
  return ctx;
}

let seq = 0;
const newId = (prefix = 'ord') => `${prefix}_${process.pid}_${++seq}`;

const ORDERS = {
  track: { type: 'order', id_from: { json: '/id' } },
  protect: { type: 'order', id_from: { param: 'id' }, optional: true },
  bypass_roles: ['admin'],
};

const get = (identity: Identity | null, id: string) => request(identity, 'GET', `/orders/${id}`, { params: { id } });

describe('object-access schema', () => {
  it('parses the documented example and fills defaults', () => {
    const cfg = schema.parse({
      bindings: [
        { name: 'own-user', from: { param: 'id' }, equals: 'identity.attributes.user_id' },
        { name: 'own-accounts', from: { body: '/account_id' }, in: 'identity.attributes.accounts', methods: ['post'] },
      ],
      bypass_roles: ['admin'],
    });
    expect(cfg).toMatchObject({
      untracked: 'deny',
      deny_as: 'forbidden',
      cache: { ttl_ms: 60_000, negative_ttl_ms: 1000 },
    });
    expect(cfg.bindings[1]).toMatchObject({ methods: ['POST'], optional: false });
    const t = schema.parse(ORDERS);
    expect(t.track).toMatchObject({ on: ['POST'] });
    expect(t.protect).toMatchObject({ optional: true });
    expect(t.protect).not.toHaveProperty('methods');
  });

  it('reports bad selectors at the field that holds them', () => {
    const issues = (cfg: unknown) =>
      (schema.safeParse(cfg).error?.issues ?? []).map((i) => [i.path.join('.'), i.message] as const);
    expect(issues({ bindings: [{ from: { param: 'id' }, equals: 'identity.attribute.user_id' }] })).toEqual([
      ['bindings.0.equals', expect.stringMatching(/not an identity value/)],
    ]);
    expect(issues({ bindings: [{ from: { body: 'account_id' }, in: 'claims.accounts' }] })).toEqual([
      ['bindings.0.from.body', expect.stringMatching(/starts with "\/"/)],
    ]);
    expect(issues({ bindings: [{ from: { param: 'id', query: 'id' }, equals: 'identity.subject' }] })).toEqual([
      ['bindings.0.from', 'give exactly one of param, query, header or body'],
    ]);
    expect(issues({ bindings: [{ from: { param: 'id' }, equals: 'identity.subject', in: 'identity.roles' }] })).toEqual(
      [['bindings.0', 'give exactly one of equals or in']],
    );
    expect(issues({ track: { type: 'order', id_from: { json: '/id', location: true } } })).toEqual([
      ['track.id_from', 'give exactly one of json or location'],
    ]);
    expect(issues({ protect: [{ type: 'order', id_from: { param: 'id' }, tenant_from: 'claims.' }] })).toEqual([
      ['protect.0.tenant_from', expect.stringMatching(/dotted path/)],
    ]);
    expect(issues({})).toEqual([['bindings', 'no rules: give bindings, protect or track']]);
    expect(
      issues({
        bindings: [{ name: 'x', from: { param: 'id' }, equals: 'identity.subject' }],
        protect: { name: 'x', type: 'order', id_from: { param: 'id' } },
      }),
    ).toEqual([['protect.name', 'rule name "x" is used twice (also by bindings.0)']]);
  });

  it('fails `rampart validate` with file, line and field, also for a path parameter the route does not have', () => {
    const yaml = (binding: string) => `listeners: [{ port: 0 }]
upstreams:
  app: { targets: ["http://127.0.0.1:1"] }
routes:
  - name: users
    paths: ["/users/{id}", "/users/{id}/accounts"]
    upstream: app
    policies:
      object-access:
        bindings:
          - ${binding}
`;
    const fail = (text: string) => {
      try {
        parseConfig(text, 'rampart.yaml', dir, {});
      } catch (e) {
        if (e instanceof ConfigError) return e.issues;
        throw e;
      }
      throw new Error('expected a ConfigError');
    };
    const bad = fail(yaml('{ from: { param: id }, equals: identity.atributes.user_id }'));
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({
      file: 'rampart.yaml',
      line: 11,
      column: 44,
      path: 'routes[0].policies.object-access.bindings[0].equals',
      severity: 'error',
    });
    const param = fail(yaml('{ from: { param: user_id }, equals: identity.attributes.user_id }'));
    expect(param[0]).toMatchObject({
      line: 11,
      path: 'routes[0].policies.object-access.bindings[0].from.param',
      message: 'route "users" has no path parameter {user_id} (its parameters: id)',
    });
    expect(() =>
      parseConfig(yaml('{ from: { param: id }, equals: identity.attributes.user_id }'), 'r.yaml', dir, {}),
    ).not.toThrow();
  });

  it('needs a store for tracking and protection (bindings alone do not)', () => {
    const none = new ServiceRegistry();
    expect(() => policy(ORDERS, none)).toThrow(/needs `store:`/);
    expect(() => policy({ bindings: [{ from: { param: 'id' }, equals: 'identity.subject' }] }, none)).not.toThrow();
  });
});

describe('binding rules', () => {
  const users = policy({
    bindings: [{ name: 'own-user', from: { param: 'id' }, equals: 'identity.attributes.user_id' }],
    bypass_roles: ['admin'],
  });
  const user = (identity: Identity | null, id: string, method = 'GET') =>
    request(identity, method, `/users/${id}`, { params: { id } });

  it('let the caller whose identity holds the id through, and record why', async () => {
    const ctx = user(alice, 'u_1001');
    expect(await run(users, ctx)).toBeUndefined();
    expect(ctx.decisions).toEqual([
      {
        effect: 'allow',
        policy: 'object-access',
        rule: 'own-user',
        reason: 'param id matches identity.attributes.user_id',
      },
    ]);
  });

  it("deny another caller's id with 403 FORBIDDEN that names no rule, and record the deny", async () => {
    for (const method of ['GET', 'HEAD', 'PATCH', 'DELETE']) {
      const ctx = user(bob, 'u_1001', method);
      const e = await run(users, ctx);
      expect(e).toMatchObject({ code: 'FORBIDDEN', status: 403 });
      expect(e?.detail).toBeUndefined();
      expect(ctx.decisions).toEqual([
        {
          effect: 'deny',
          policy: 'object-access',
          rule: 'own-user',
          reason: 'param id does not match identity.attributes.user_id',
        },
      ]);
    }
  });

  it('deny when the id is missing, the identity lacks the value, or there is no identity at all', async () => {
    const list = request(alice, 'GET', '/users');
    expect(await run(users, list)).toMatchObject({ code: 'FORBIDDEN' });
    expect(list.decisions?.[0]).toMatchObject({ effect: 'deny', rule: 'own-user', reason: 'no param id' });
    const noAttr = user(who('dave'), 'u_1001');
    expect(await run(users, noAttr)).toMatchObject({ code: 'FORBIDDEN' });
    expect(noAttr.decisions?.[0]?.reason).toBe('the identity has no identity.attributes.user_id');
    const anonymous = user(null, 'u_1001');
    expect(await run(users, anonymous)).toMatchObject({ code: 'FORBIDDEN' });
    expect(anonymous.decisions?.[0]).toMatchObject({ rule: 'default', reason: 'no identity' });
  });

  it('let bypass roles through without checking, recorded as such', async () => {
    const ctx = user(ops, 'u_1001', 'DELETE');
    expect(await run(users, ctx)).toBeUndefined();
    expect(ctx.decisions).toEqual([
      { effect: 'allow', policy: 'object-access', rule: 'bypass_roles', reason: 'role admin' },
    ]);
  });

  it('check `in` against a list attribute, from a header, the query and the JSON body', async () => {
    const p = policy({
      bindings: [
        { name: 'hdr', from: { header: 'x-account' }, in: 'identity.attributes.accounts', methods: ['GET'] },
        { name: 'qry', from: { query: 'account' }, in: 'identity.attributes.accounts', methods: ['PUT'] },
        { name: 'bdy', from: { body: '/lines/*/account' }, in: 'identity.attributes.accounts', methods: ['POST'] },
      ],
    });
    expect(await run(p, request(alice, 'GET', '/t', { headers: { 'x-account': 'acc_2' } }))).toBeUndefined();
    expect(await run(p, request(bob, 'GET', '/t', { headers: { 'x-account': 'acc_2' } }))).toBeDefined();
    expect(await run(p, request(alice, 'PUT', '/t?account=acc_1'))).toBeUndefined();
    // Every occurrence counts: the upstream may read the first, the last or all of them.
    expect(await run(p, request(alice, 'PUT', '/t?account=acc_1&account=acc_3'))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await run(p, request(alice, 'PUT', '/t?account[]=acc_3'))).toMatchObject({ code: 'FORBIDDEN' });
    const lines = (...a: string[]) => ({ lines: a.map((account) => ({ account, amount: 1 })) });
    expect(await run(p, request(alice, 'POST', '/t', { body: lines('acc_1', 'acc_2') }))).toBeUndefined();
    const mixed = request(alice, 'POST', '/t', { body: lines('acc_1', 'acc_3') });
    expect(await run(p, mixed)).toMatchObject({ code: 'FORBIDDEN' });
    expect(mixed.decisions?.[0]?.reason).toBe('body /lines/*/account does not match identity.attributes.accounts');
  });

  it('apply a GET-only rule to HEAD too (routes answer HEAD for GET): no id probing by HEAD', async () => {
    const p = policy({
      bindings: [
        { name: 'any', from: { header: 'x-account' }, in: 'identity.attributes.accounts' },
        { name: 'qry', from: { query: 'account' }, in: 'identity.attributes.accounts', methods: ['GET'] },
      ],
    });
    const head = (q: string) => request(alice, 'HEAD', `/t?account=${q}`, { headers: { 'x-account': 'acc_1' } });
    expect(await run(p, head('acc_3'))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await run(p, head('acc_1'))).toBeUndefined();
  });

  it('deny a body that is not JSON, and ids that are not ids (objects, empty strings), even when optional', async () => {
    const p = policy({
      bindings: [{ name: 'b', from: { body: '/account_id' }, in: 'identity.attributes.accounts', optional: true }],
    });
    const form = request(alice, 'POST', '/t', { body: 'account_id=acc_3' });
    expect(await run(p, form)).toMatchObject({ code: 'FORBIDDEN' });
    expect(form.decisions?.[0]?.reason).toBe('body /account_id is not an identifier');
    expect(await run(p, request(alice, 'POST', '/t', { body: { account_id: { $ne: 'x' } } }))).toBeDefined();
    expect(await run(p, request(alice, 'POST', '/t', { body: { account_id: '' } }))).toBeDefined();
    expect(await run(p, request(alice, 'POST', '/t', { body: { account_id: 'acc_1' } }))).toBeUndefined();
  });

  it('skip an optional binding without its id; deny by default when no rule applies', async () => {
    const p = policy({
      bindings: [
        { name: 'mine', from: { query: 'user_id' }, equals: 'identity.attributes.user_id', optional: true },
        { name: 'writes', from: { body: '/user_id' }, equals: 'identity.attributes.user_id', methods: ['POST'] },
      ],
    });
    expect(await run(p, request(alice, 'GET', '/orders?user_id=u_1001'))).toBeUndefined();
    const all = request(alice, 'GET', '/orders');
    expect(await run(p, all)).toMatchObject({ code: 'FORBIDDEN' });
    expect(all.decisions).toEqual([
      { effect: 'deny', policy: 'object-access', rule: 'default', reason: 'no object rule applies to this request' },
    ]);
    expect(await run(p, request(alice, 'GET', '/orders?user_id='))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await run(p, request(alice, 'DELETE', '/orders'))).toMatchObject({ code: 'FORBIDDEN' });
    // Every applicable rule must allow.
    const swap = request(alice, 'POST', '/orders?user_id=u_1001', { body: { user_id: 'u_1002' } });
    expect(await run(p, swap)).toMatchObject({ code: 'FORBIDDEN' });
    expect(swap.decisions?.map((d) => [d.rule, d.effect])).toEqual([
      ['mine', 'allow'],
      ['writes', 'deny'],
    ]);
  });

  it('answer 404 OBJECT_NOT_FOUND with deny_as: not_found', async () => {
    const p = policy({
      bindings: [{ from: { param: 'id' }, equals: 'identity.attributes.user_id' }],
      deny_as: 'not_found',
    });
    const ctx = user(bob, 'u_1001');
    expect(await run(p, ctx)).toMatchObject({ code: 'OBJECT_NOT_FOUND', status: 404 });
    expect(ctx.decisions?.[0]).toMatchObject({ effect: 'deny', rule: 'bindings[0]' });
  });
});

describe('ownership tracking', () => {
  it("records the creator from the answer's JSON; then only the owner (or a bypass role) reaches the object", async () => {
    const p = policy(ORDERS);
    const id = newId();
    const ctx = request(alice, 'POST', '/orders', { headers: { 'accept-encoding': 'gzip' }, body: {} });
    expect(await run(p, ctx)).toBeUndefined();
    expect(ctx.decisions?.[0]).toMatchObject({ effect: 'allow', rule: 'track' });
    expect(ctx.upstreamHeaders['accept-encoding']).toBe('identity');
    expect(await answer(p, ctx, 201, { id, total: 1 })).toBeUndefined();
    expect(await store.ownership.get('order', id)).toMatchObject({ owner_id: 'c_alice', tenant: null });

    const mine = get(alice, id);
    expect(await run(p, mine)).toBeUndefined();
    expect(mine.decisions).toEqual([{ effect: 'allow', policy: 'object-access', rule: 'protect', reason: 'owner' }]);
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const theirs = request(bob, method, `/orders/${id}`, { params: { id } });
      expect(await run(p, theirs)).toMatchObject({ code: 'FORBIDDEN' });
      expect(theirs.decisions?.[0]).toMatchObject({ effect: 'deny', rule: 'protect', reason: 'not the owner' });
    }
    expect(await run(p, get(ops, id))).toBeUndefined();
    // Every method by default: an action on the object is protected too.
    const cancel = request(bob, 'POST', `/orders/${id}/cancel`, { params: { id } });
    expect(await run(p, cancel)).toMatchObject({ code: 'FORBIDDEN' });
    expect(await run(p, request(alice, 'POST', `/orders/${id}/cancel`, { params: { id } }))).toBeUndefined();
  });

  it('reads the id from Location, and owns by subject when the identity has no consumer', async () => {
    const p = policy({ ...ORDERS, track: { type: 'order', id_from: { location: true } } });
    const id = newId();
    const token = who('ext', { kind: 'jwt', consumerId: null, subject: 'idp|123' });
    const ctx = request(token, 'POST', '/orders', { body: {} });
    expect(await run(p, ctx)).toBeUndefined();
    expect(await answer(p, ctx, 201, null, { location: `/orders/${id}` })).toBeUndefined();
    expect(await store.ownership.get('order', id)).toMatchObject({ owner_id: 'idp|123' });
    expect(await run(p, get(token, id))).toBeUndefined();
  });

  it('claim race: two creates answered with one id give one owner; the other caller gets a deny, not the object', async () => {
    const p = policy(ORDERS);
    const id = newId();
    const a = request(alice, 'POST', '/orders', { body: {} });
    const b = request(bob, 'POST', '/orders', { body: {} });
    expect(await run(p, a)).toBeUndefined();
    expect(await run(p, b)).toBeUndefined();
    const results = await Promise.all([answer(p, a, 201, { id }), answer(p, b, 201, { id })]);
    const record = await store.ownership.get('order', id);
    const winner = record?.owner_id === 'c_alice' ? 0 : 1;
    expect(['c_alice', 'c_bob']).toContain(record?.owner_id);
    expect(results[winner]).toBeUndefined();
    expect(results[1 - winner]).toMatchObject({ code: 'FORBIDDEN' });
    expect((winner === 0 ? b : a).decisions?.at(-1)).toMatchObject({
      effect: 'deny',
      rule: 'track',
      reason: 'the id is already owned by another caller',
    });
  });

  it('a create that reuses an existing id cannot take the object; the owner may repeat a create', async () => {
    const p = policy(ORDERS);
    const id = newId();
    await create(p, alice, id);
    const steal = request(bob, 'POST', '/orders', { body: {} });
    await run(p, steal);
    expect(await answer(p, steal, 200, { id, secret: 'alice data' })).toMatchObject({ code: 'FORBIDDEN' });
    expect((await store.ownership.get('order', id))?.owner_id).toBe('c_alice');
    await create(p, alice, id);
  });

  it('answers 502 when a create answer lacks the id; ignores failures and statuses it was not told to track', async () => {
    const p = policy({ ...ORDERS, track: { type: 'order', id_from: { json: '/id' }, status: [201] } });
    const ctx = request(alice, 'POST', '/orders', { body: {} });
    await run(p, ctx);
    expect(await answer(p, ctx, 201, { no: 'id' })).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', status: 502 });
    const id = newId();
    for (const status of [200, 400, 500]) {
      const c = request(alice, 'POST', '/orders', { body: {} });
      await run(p, c);
      expect(await answer(p, c, status, { id })).toBeUndefined();
    }
    expect(await store.ownership.get('order', id)).toBeNull();
    const notJson = request(alice, 'POST', '/orders', { body: {} });
    await run(p, notJson);
    notJson.response = { status: 201, headers: {}, body: Buffer.from('<html>created</html>') };
    await expect(p.response?.(notJson)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });

  it('claims every id of a bulk create (json pointer with *)', async () => {
    const p = policy({ ...ORDERS, track: { type: 'order', id_from: { json: '/created/*/id' } } });
    const [x, y] = [newId(), newId()];
    const ctx = request(bob, 'POST', '/orders', { body: [] });
    await run(p, ctx);
    expect(await answer(p, ctx, 201, { created: [{ id: x }, { id: y }] })).toBeUndefined();
    expect((await store.ownership.get('order', x))?.owner_id).toBe('c_bob');
    expect((await store.ownership.get('order', y))?.owner_id).toBe('c_bob');
  });

  it("records the creator's tenant; protect then lets the owner's tenant in, and only with tenant tracking on", async () => {
    const withTenant = policy({
      ...ORDERS,
      track: { type: 'order', id_from: { json: '/id' }, tenant_from: 'identity.attributes.tenant' },
    });
    const id = newId();
    await create(withTenant, alice, id);
    expect(await store.ownership.get('order', id)).toMatchObject({ owner_id: 'c_alice', tenant: 't_acme' });
    const mate = get(bob, id);
    expect(await run(withTenant, mate)).toBeUndefined();
    expect(mate.decisions?.[0]).toMatchObject({ effect: 'allow', rule: 'protect', reason: "the owner's tenant" });
    expect(await run(withTenant, get(carla, id))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await run(policy(ORDERS), get(bob, id))).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('protects ids from the query and the JSON body as well, each one of several', async () => {
    const p = policy({
      protect: [
        { name: 'by-query', type: 'order', id_from: { query: 'id' }, methods: ['GET'] },
        { name: 'by-body', type: 'order', id_from: { body: '/order_ids' }, methods: ['POST'] },
      ],
      track: { type: 'order', id_from: { json: '/id' }, on: ['PUT'] },
    });
    const [a1, a2] = [newId(), newId()];
    for (const id of [a1, a2]) {
      const c = request(alice, 'PUT', '/orders', { body: {} });
      await run(p, c);
      await answer(p, c, 201, { id });
    }
    expect(await run(p, request(alice, 'GET', `/orders?id=${a1}`))).toBeUndefined();
    expect(await run(p, request(bob, 'GET', `/orders?id=${a1}`))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await run(p, request(alice, 'POST', '/orders/cancel', { body: { order_ids: [a1, a2] } }))).toBeUndefined();
    const mixed = request(bob, 'POST', '/orders/cancel', { body: { order_ids: [a1] } });
    expect(await run(p, mixed)).toMatchObject({ code: 'FORBIDDEN' });
    expect(mixed.decisions?.[0]).toMatchObject({ rule: 'by-body', reason: 'not the owner' });
  });
});

describe('objects not created through the gateway', () => {
  it('are denied by default, to their real owner too (import their ownership, or choose allow or external)', async () => {
    const p = policy(ORDERS);
    const ctx = get(alice, 'ord_legacy');
    expect(await run(p, ctx)).toMatchObject({ code: 'FORBIDDEN' });
    expect(ctx.decisions?.[0]).toMatchObject({ rule: 'protect', reason: 'untracked object: denied by default' });
  });

  it('untracked: allow lets them through, recorded as such', async () => {
    const ctx = get(bob, 'ord_legacy');
    expect(await run(policy({ ...ORDERS, untracked: 'allow' }), ctx)).toBeUndefined();
    expect(ctx.decisions?.[0]).toMatchObject({ effect: 'allow', reason: 'untracked object: allowed by default' });
  });

  it('untracked: external records no allow and leaves the decision to external-authz; without its allow, denied', async () => {
    const p = policy({
      ...ORDERS,
      bindings: [{ name: 'mine', from: { query: 'user_id' }, equals: 'identity.attributes.user_id', optional: true }],
      untracked: 'external',
    });
    expect(p.upstream).toBeTypeOf('function');
    const ctx = request(alice, 'GET', '/orders/ord_legacy?user_id=u_1001', { params: { id: 'ord_legacy' } });
    ctx.decide({ effect: 'allow', policy: 'authorize', rule: 'customers' });
    expect(await run(p, ctx)).toBeUndefined();
    // The binding's allow is dropped too: object-access has not decided this request.
    expect(ctx.decisions).toEqual([{ effect: 'allow', policy: 'authorize', rule: 'customers' }]);
    // No external-authz on the route: refused before going upstream.
    await expect(Promise.resolve().then(() => p.upstream?.(ctx))).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(ctx.decisions?.at(-1)).toMatchObject({ effect: 'deny', rule: 'untracked' });

    const asked = request(alice, 'GET', '/orders/ord_legacy', { params: { id: 'ord_legacy' } });
    expect(await run(p, asked)).toBeUndefined();
    asked.decide({ effect: 'allow', policy: 'external-authz', rule: 'opa' });
    expect(p.upstream?.(asked)).toBeUndefined();

    // A tracked object is decided here as usual, and the upstream check passes it.
    const id = newId();
    await create(p, bob, id);
    const own = get(bob, id);
    expect(await run(p, own)).toBeUndefined();
    expect(own.decisions).toEqual([{ effect: 'allow', policy: 'object-access', rule: 'protect', reason: 'owner' }]);
    expect(p.upstream?.(own)).toBeUndefined();
    expect(await run(p, get(alice, id))).toMatchObject({ code: 'FORBIDDEN' });
  });
});

describe('ownership cache', () => {
  /** The real store, counting ownership lookups. */
  function counting(s: Store): { store: Store; gets: () => number } {
    let n = 0;
    const ownership = {
      ...s.ownership,
      get: (type: string, id: string) => {
        n++;
        return s.ownership.get(type, id);
      },
    };
    return {
      store: new Proxy(s, { get: (t, k) => (k === 'ownership' ? ownership : Reflect.get(t, k)) }),
      gets: () => n,
    };
  }

  it('serves repeated checks from the cache, and shares one store lookup between concurrent misses', async () => {
    const c = counting(store);
    const p = policy(ORDERS, new ServiceRegistry(c.store, keyring));
    const id = newId();
    await store.ownership.upsert({ resource_type: 'order', resource_id: id, owner_id: 'c_alice' });
    const results = await Promise.all(Array.from({ length: 20 }, () => run(p, get(alice, id))));
    expect(results.every((r) => r === undefined)).toBe(true);
    expect(c.gets()).toBe(1);
    // A cache hit decides synchronously: no promise, no store.
    const hit = get(alice, id);
    expect(p.request?.(hit)).toBeUndefined();
    expect(hit.decisions?.[0]).toMatchObject({ effect: 'allow', reason: 'owner' });
    expect(c.gets()).toBe(1);
  });

  it('keeps a found owner for ttl_ms and "no owner" for negative_ttl_ms, then asks the store again', async () => {
    const services = new ServiceRegistry(store, keyring);
    const long = policy({ ...ORDERS, cache: { ttl_ms: 60_000, negative_ttl_ms: 10_000 } }, services);
    const none = policy({ ...ORDERS, cache: { ttl_ms: 0, negative_ttl_ms: 0 } }, services);
    const id = newId();
    expect(await run(long, get(alice, id))).toMatchObject({ code: 'FORBIDDEN' });
    await store.ownership.upsert({ resource_type: 'order', resource_id: id, owner_id: 'c_alice' });
    // Within the negative TTL the cached "untracked" still stands (same process-wide cache)...
    expect(await run(long, get(alice, id))).toMatchObject({ code: 'FORBIDDEN' });
    // ...an instance with no TTL asks again, and its answer refreshes the shared entry.
    expect(await run(none, get(alice, id))).toBeUndefined();
    expect(await run(long, get(alice, id))).toBeUndefined();
    // A transfer made elsewhere shows after ttl_ms (here: at once for the no-TTL instance).
    await store.ownership.upsert({ resource_type: 'order', resource_id: id, owner_id: 'c_bob' });
    expect(await run(long, get(alice, id))).toBeUndefined();
    expect(await run(none, get(bob, id))).toBeUndefined();
  });

  it('learns a claim at once, so the creator is never refused by a cached "no owner"', async () => {
    const p = policy({ ...ORDERS, cache: { ttl_ms: 60_000, negative_ttl_ms: 10_000 } });
    const id = newId();
    expect(await run(p, get(alice, id))).toMatchObject({ code: 'FORBIDDEN' });
    await create(p, alice, id);
    expect(await run(p, get(alice, id))).toBeUndefined();
  });

  it('is bounded, shared across policy instances (reloads) of one process, and keeps the newer of two answers', async () => {
    const small = new OwnershipCache(store, 3);
    for (let i = 0; i < 10; i++) await small.load('order', `x${i}`, OwnershipCache.key('order', `x${i}`), Date.now());
    expect(small.size).toBe(3);

    const services = new ServiceRegistry(store, keyring);
    policy(ORDERS, services);
    const cache = services.shared('object-access/ownership', () => null as unknown as OwnershipCache);
    expect(cache).toBeInstanceOf(OwnershipCache);
    const id = newId();
    const key = OwnershipCache.key('order', id);
    // A lookup sent before a claim answers after it: the claim's knowledge stays.
    const stale = cache.load('order', id, key, Date.now() - 5);
    await cache.claim({ resource_type: 'order', resource_id: id, owner_id: 'c_alice' });
    expect((await stale).value).toBeNull();
    expect(cache.fresh(key, Date.now(), 60_000, 1000)?.value).toEqual({ owner: 'c_alice', tenant: null });
  });

  it('refuses with 503 AUTH_UNAVAILABLE when the store fails (fail closed), on lookups and on claims', async () => {
    const broken = await openSqlite('broken');
    await broken.close();
    const p = policy(ORDERS, new ServiceRegistry(broken, keyring));
    const ctx = get(alice, newId());
    const e = await run(p, ctx);
    expect(e).toMatchObject({ code: 'AUTH_UNAVAILABLE', status: 503, headers: { 'retry-after': '1' } });
    expect(ctx.decisions?.[0]).toMatchObject({
      effect: 'deny',
      rule: 'protect',
      reason: 'ownership store unavailable',
    });
    const post = request(alice, 'POST', '/orders', { body: {} });
    expect(await run(p, post)).toBeUndefined();
    expect(await answer(p, post, 201, { id: newId() })).toMatchObject({ code: 'AUTH_UNAVAILABLE' });
  });
});

describe.each([
  ['sqlite', () => Promise.resolve(store), async () => {}],
  [
    'postgres',
    async () => openStore({ kind: 'postgres', url: PG_URL, schema: PG_SCHEMA }, new TestCipher()),
    async (s: Store) => {
      await s.close();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`drop schema if exists ${PG_SCHEMA} cascade`);
      } finally {
        await client.end();
      }
    },
  ],
] as const)('claim race on %s', (_kind, open, close) => {
  it('ten callers create under one id at once: exactly one owns it, every other answer is a deny', async () => {
    const s = await open();
    try {
      const p = policy(ORDERS, new ServiceRegistry(s, keyring));
      const id = newId();
      const callers = Array.from({ length: 10 }, (_, i) => who(`racer${i}`));
      const ctxs = callers.map((c) => request(c, 'POST', '/orders', { body: {} }));
      for (const ctx of ctxs) expect(await run(p, ctx)).toBeUndefined();
      const results = await Promise.all(ctxs.map((ctx) => answer(p, ctx, 201, { id })));
      const owner = (await s.ownership.get('order', id))?.owner_id;
      const winners = results.flatMap((r, i) => (r === undefined ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(owner).toBe(`c_racer${winners[0]}`);
      expect(results.filter((r) => r instanceof GatewayError && r.code === 'FORBIDDEN')).toHaveLength(9);
    } finally {
      await close(s);
    }
  });
});
