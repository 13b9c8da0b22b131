import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoApi, startDemoApi } from '../../examples/demo-api/server.js';
import { seedConsumers } from '../../examples/seed.js';
import { ServiceRegistry } from '../../src/core/shared.js';
import { createKeyFile, FileKeySource } from '../../src/crypto/file-key-source.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { CREDENTIAL_MAC_PURPOSE } from '../../src/services.js';
import { openStore, STORE_PURPOSE, type Store } from '../../src/store/index.js';
import { type SentResponse, send, startGateway } from '../helpers.js';

/**
 * The BOLA scenario of issue 5 end to end: the naive demo API (it serves any object to anyone) behind a real
 * gateway, with a real SQLite store and keyring, the demo consumers and API keys made by the seed's own helper.
 * object-access alone stands between Bob and Alice's objects, whichever place the id is swapped in.
 */

/** The object-access part of the demo config (rampart.yaml's routes), with the upstream filled in. */
const routes = `
routes:
  - name: users
    paths: ["/api/users", "/api/users/{id}", "/api/users/{id}/accounts"]
    methods: [GET, POST, PATCH, DELETE]
    upstream: demo-api
    strip_prefix: /api
    policies:
      object-access:
        bindings:
          - { name: own-user, from: { param: id }, equals: identity.attributes.user_id }
        bypass_roles: [admin]
        deny_as: not_found
  - name: accounts
    paths: ["/api/accounts/{id}"]
    methods: [GET]
    upstream: demo-api
    strip_prefix: /api
    policies:
      object-access:
        bindings:
          - { name: own-account, from: { param: id }, in: identity.attributes.accounts }
        bypass_roles: [admin]
        deny_as: not_found
  - name: transfers
    paths: ["/api/transfers"]
    methods: [POST]
    upstream: demo-api
    strip_prefix: /api
    policies:
      object-access:
        bindings:
          - { name: from-own-account, from: { body: /from_account }, in: identity.attributes.accounts }
        bypass_roles: [admin]
  - name: orders
    paths: ["/api/orders", "/api/orders/{id}"]
    methods: [GET, POST, PATCH, DELETE]
    upstream: demo-api
    strip_prefix: /api
    policies:
      object-access:
        bindings:
          - { name: own-orders, from: { query: user_id }, equals: identity.attributes.user_id, methods: [GET], optional: true }
          - { name: order-for-self, from: { body: /user_id }, equals: identity.attributes.user_id, methods: [POST] }
        track: { type: order, id_from: { json: /id }, on: [POST], status: [201] }
        protect:
          - { name: order-by-path, type: order, id_from: { param: id }, optional: true }
          - { name: order-by-query, type: order, id_from: { query: id }, methods: [GET], optional: true }
        untracked: deny
        bypass_roles: [admin]
        deny_as: not_found
`;

let dir: string;
let store: Store;
let api: DemoApi;
let gw: Awaited<ReturnType<typeof startGateway>>;
let keys: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-bola-'));
  await createKeyFile(join(dir, 'master.keys'));
  let keyring: Keyring | null = null;
  store = await openStore({ kind: 'sqlite', dataDir: join(dir, 'data') }, async (state) => {
    keyring = await Keyring.open({
      source: await FileKeySource.open(join(dir, 'master.keys')),
      state,
      purposes: [STORE_PURPOSE, CREDENTIAL_MAC_PURPOSE],
    });
    return keyring;
  });
  const ring = keyring as unknown as Keyring;
  keys = await seedConsumers(store, ring);
  api = await startDemoApi();
  gw = await startGateway(
    `listeners: [{ port: 0 }]
metrics: { enabled: false }
upstreams:
  demo-api: { targets: ["${api.url}"] }
policies:
  request-id: {}
  api-key: {}
${routes}`,
    {},
    { services: new ServiceRegistry(store, ring) },
  );
});

afterAll(async () => {
  await gw?.close();
  await api?.close();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

type Who = 'alice' | 'bob' | 'ops';

function call(who: Who, method: string, path: string, body?: unknown): Promise<SentResponse> {
  const headers: Record<string, string> = { 'x-api-key': keys[who] as string };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return send(gw.port, path, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
}

const json = <T = Record<string, unknown>>(r: SentResponse): T => JSON.parse(r.body) as T;

/** The gateway's own refusal (problem+json), not an answer of the upstream. */
function refused(r: SentResponse, status = 404): void {
  expect(r.status).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(json(r).code).toBe(status === 404 ? 'OBJECT_NOT_FOUND' : 'FORBIDDEN');
}

describe('ids swapped in the path', () => {
  it("Bob cannot read, update or delete Alice's user, nor list her accounts", async () => {
    refused(await call('bob', 'GET', '/api/users/u_1001'));
    refused(await call('bob', 'GET', '/api/users/u_1001/accounts'));
    refused(await call('bob', 'PATCH', '/api/users/u_1001', { email: 'owned@evil.example' }));
    refused(await call('bob', 'DELETE', '/api/users/u_1001'));
    // Listing everyone is not an object of his either.
    refused(await call('bob', 'GET', '/api/users'));
    const still = await call('ops', 'GET', '/api/users/u_1001');
    expect(still.status).toBe(200);
    expect(json(still).email).toBe('alice.martin@example.com');
  });

  it('Alice can read and update her own user and list her accounts', async () => {
    const me = await call('alice', 'GET', '/api/users/u_1001');
    expect(me.status).toBe(200);
    expect(json(me).name).toBe('Alice Martin');
    const accounts = await call('alice', 'GET', '/api/users/u_1001/accounts');
    expect(json<{ id: string }[]>(accounts).map((a) => a.id)).toEqual(['acc_2001', 'acc_2002']);
    const patched = await call('alice', 'PATCH', '/api/users/u_1001', { phone: '+1-202-555-0199' });
    expect(patched.status).toBe(200);
    expect(json(patched).phone).toBe('+1-202-555-0199');
  });

  it("Bob cannot read Alice's accounts; Alice can; an admin can read every account", async () => {
    refused(await call('bob', 'GET', '/api/accounts/acc_2001'));
    expect((await call('alice', 'GET', '/api/accounts/acc_2001')).status).toBe(200);
    expect((await call('bob', 'GET', '/api/accounts/acc_2003')).status).toBe(200);
    expect((await call('ops', 'GET', '/api/accounts/acc_2001')).status).toBe(200);
    expect((await call('ops', 'GET', '/api/users')).status).toBe(200);
  });

  it("a probe learns nothing: Alice's id and an id that does not exist get the same answer", async () => {
    const a = await call('bob', 'GET', '/api/users/u_1001');
    const b = await call('bob', 'GET', '/api/users/u_9999');
    expect([a.status, json(a).code, json(a).title]).toEqual([b.status, json(b).code, json(b).title]);
  });
});

describe('ids swapped in the query', () => {
  it("Bob cannot list Alice's orders by user_id, however he repeats or dresses the parameter", async () => {
    refused(await call('bob', 'GET', '/api/orders?user_id=u_1001'));
    refused(await call('bob', 'GET', '/api/orders?user_id=u_1002&user_id=u_1001'));
    refused(await call('bob', 'GET', '/api/orders?user%5Fid=u_1001'));
    refused(await call('bob', 'GET', '/api/orders?user_id[]=u_1001'));
    refused(await call('bob', 'GET', '/api/orders?user_id='));
    // No filter at all is every order: not his either.
    refused(await call('bob', 'GET', '/api/orders'));
    const own = await call('bob', 'GET', '/api/orders?user_id=u_1002');
    expect(own.status).toBe(200);
    expect(json<{ user_id: string }[]>(own).every((o) => o.user_id === 'u_1002')).toBe(true);
  });

  it("Bob cannot fetch Alice's order by ?id=; Alice can; an admin can list everything", async () => {
    refused(await call('bob', 'GET', '/api/orders?id=ord_3001'));
    refused(await call('bob', 'GET', '/api/orders?user_id=u_1002&id=ord_3001'));
    const mine = await call('alice', 'GET', '/api/orders?id=ord_3001');
    expect(json<{ id: string }[]>(mine).map((o) => o.id)).toEqual(['ord_3001']);
    const all = await call('ops', 'GET', '/api/orders');
    expect(json<unknown[]>(all).length).toBeGreaterThanOrEqual(6);
  });
});

describe('ids swapped in the JSON body', () => {
  const order = (user_id: string) => ({
    user_id,
    card_number: '4111111111111111',
    items: [{ sku: 'BOOK-001', qty: 1, price: 12.5 }],
  });

  it("Bob cannot move money out of Alice's account; Alice can; the balance shows who got through", async () => {
    const before = json<{ balance: number }>(await call('ops', 'GET', '/api/accounts/acc_2001')).balance;
    const steal = { from_account: 'acc_2001', to_account: 'acc_2003', amount: 100 };
    refused(await call('bob', 'POST', '/api/transfers', steal), 403);
    refused(await call('bob', 'POST', '/api/transfers', { ...steal, from_account: ['acc_2003', 'acc_2001'] }), 403);
    // A body the gateway cannot read as JSON is not let through to an upstream that might.
    const text = await send(gw.port, '/api/transfers', {
      method: 'POST',
      headers: { 'x-api-key': keys.bob as string, 'content-type': 'text/plain' },
      body: `{"from_account":"acc_2001","to_account":"acc_2003","amount":100`,
    });
    refused(text, 403);
    expect(json<{ balance: number }>(await call('ops', 'GET', '/api/accounts/acc_2001')).balance).toBe(before);

    const own = await call('alice', 'POST', '/api/transfers', {
      from_account: 'acc_2001',
      to_account: 'acc_2002',
      amount: 50,
    });
    expect(own.status).toBe(201);
    expect(json(own).from_balance).toBe(before - 50);
  });

  it("Bob cannot place an order on Alice's user (and her card) by naming her in the body", async () => {
    refused(await call('bob', 'POST', '/api/orders', order('u_1001')));
    const count = json<unknown[]>(await call('ops', 'GET', '/api/orders?user_id=u_1001')).length;
    expect(count).toBe(json<unknown[]>(await call('alice', 'GET', '/api/orders?user_id=u_1001')).length);
  });
});

describe('ownership tracking', () => {
  it('an order Alice creates through the gateway is hers with no per-object config: Bob gets 404, Alice 200', async () => {
    const created = await call('alice', 'POST', '/api/orders', {
      user_id: 'u_1001',
      card_number: '4111111111111111',
      items: [{ sku: 'LAMP-220', qty: 1, price: 49.9 }],
    });
    expect(created.status).toBe(201);
    const id = json<{ id: string }>(created).id;
    expect(await store.ownership.get('order', id)).toMatchObject({
      owner_id: (await store.consumers.getByName('alice'))?.id,
    });

    refused(await call('bob', 'GET', `/api/orders/${id}`));
    refused(await call('bob', 'GET', `/api/orders?id=${id}`));
    refused(await call('bob', 'PATCH', `/api/orders/${id}`, { status: 'cancelled' }));
    refused(await call('bob', 'DELETE', `/api/orders/${id}`));

    const read = await call('alice', 'GET', `/api/orders/${id}`);
    expect(read.status).toBe(200);
    expect(json(read)).toMatchObject({ id, status: 'pending' });
    expect((await call('ops', 'GET', `/api/orders/${id}`)).status).toBe(200);
    const paid = await call('alice', 'PATCH', `/api/orders/${id}`, { status: 'paid' });
    expect(json(paid).status).toBe('paid');
    expect((await call('alice', 'DELETE', `/api/orders/${id}`)).status).toBe(204);
    // Gone upstream; still Alice's for the gateway, so Bob's answer does not change.
    expect((await call('alice', 'GET', `/api/orders/${id}`)).status).toBe(404);
    refused(await call('bob', 'GET', `/api/orders/${id}`));
  });

  it('orders that predate the gateway: imported owners reach theirs, nobody else does, untracked ones only admins', async () => {
    expect((await call('alice', 'GET', '/api/orders/ord_3001')).status).toBe(200);
    refused(await call('bob', 'GET', '/api/orders/ord_3001'));
    expect((await call('bob', 'GET', '/api/orders/ord_3003')).status).toBe(200);
    refused(await call('alice', 'GET', '/api/orders/ord_3003'));
    // Carla's order has no owner record (she has no consumer): denied to customers, open to an admin.
    refused(await call('alice', 'GET', '/api/orders/ord_3004'));
    expect((await call('ops', 'GET', '/api/orders/ord_3004')).status).toBe(200);
  });
});
