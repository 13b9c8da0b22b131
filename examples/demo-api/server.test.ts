import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Account, Order, User } from './data.js';
import { type DemoApi, startDemoApi } from './server.js';

let api: DemoApi;

beforeEach(async () => {
  api = await startDemoApi();
});

afterEach(async () => {
  await api.close();
});

async function call<T = unknown>(path: string, init?: RequestInit): Promise<{ res: Response; body: T }> {
  const res = await fetch(`${api.url}${path}`, init);
  const text = await res.text();
  return { res, body: (text ? JSON.parse(text) : undefined) as T };
}

const sendJson = (method: string, body: unknown): RequestInit => ({
  method,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const luhnValid = (digits: string): boolean =>
  [...digits].reverse().reduce((sum, ch, i) => {
    const d = Number(ch) * (i % 2 === 1 ? 2 : 1);
    return sum + (d > 9 ? d - 9 : d);
  }, 0) %
    10 ===
  0;

// ISO 13616: move the first four characters to the end, letters -> 10..35, the number mod 97 must be 1.
const ibanValid = (iban: string): boolean =>
  BigInt(
    [...(iban.slice(4) + iban.slice(0, 4))].map((c) => (/[A-Z]/.test(c) ? String(c.charCodeAt(0) - 55) : c)).join(''),
  ) %
    97n ===
  1n;

describe('demo-api basics', () => {
  it('listens on a random 127.0.0.1 port and answers /health with fingerprinting headers', async () => {
    expect(api.url).toBe(`http://127.0.0.1:${api.port}`);
    expect(api.port).toBeGreaterThan(0);
    const { res, body } = await call('/health');
    expect(res.status).toBe(200);
    expect(body).toEqual({ status: 'ok' });
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('x-powered-by')).toBe('demo-api');
    expect(res.headers.get('server')).toBe('demo-api/1.0');
  });

  it('returns JSON 404 for unknown paths and 405 with Allow for unknown methods', async () => {
    const missing = await call('/nope');
    expect(missing.res.status).toBe(404);
    expect(missing.res.headers.get('content-type')).toBe('application/json');
    expect(missing.body).toEqual({ error: 'not found' });

    const wrongMethod = await call('/users', { method: 'PUT', body: '{}' });
    expect(wrongMethod.res.status).toBe(405);
    expect(wrongMethod.res.headers.get('allow')).toBe('GET, POST');
    expect(wrongMethod.body).toEqual({ error: 'method not allowed' });
  });

  it('rejects malformed and non-object JSON bodies with 400', async () => {
    const bad = await call('/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":',
    });
    expect(bad.res.status).toBe(400);
    expect(bad.body).toEqual({ error: 'malformed JSON body' });

    const array = await call('/users', sendJson('POST', [1, 2]));
    expect(array.res.status).toBe(400);
    expect(array.body).toEqual({ error: 'JSON body must be an object' });
  });

  it('refuses bodies over 1 MiB with 413 and closes the connection', async () => {
    const socket = connect(api.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2000000\r\n\r\n');
    let raw = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      raw += chunk;
    });
    await once(socket, 'close');
    expect(raw).toMatch(/^HTTP\/1\.1 413 /);
    expect(raw.toLowerCase()).toContain('connection: close');
    expect(raw).toContain('{"error":"request body too large"}');
  });
});

describe('users', () => {
  it('lists all users with their sensitive fields (the API is naive on purpose)', async () => {
    const { res, body } = await call<User[]>('/users');
    expect(res.status).toBe(200);
    expect(body.map((u) => u.id)).toEqual(['u_1001', 'u_1002', 'u_1003', 'u_1004', 'u_1005']);
    const alice = body[0]!;
    expect(alice.ssn).toBe('123-45-6789');
    expect(alice.password_hash).toMatch(/^\$2b\$10\$[./A-Za-z0-9]{53}$/);
    expect(body.filter((u) => u.role === 'admin').map((u) => u.id)).toEqual(['u_1005']);
    expect(new Set(body.map((u) => u.tenant_id))).toEqual(new Set(['t_acme', 't_globex']));
  });

  it('gets one user by id and 404s an unknown one', async () => {
    const { res, body } = await call<User>('/users/u_1003');
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ id: 'u_1003', name: 'Carla Rossi', tenant_id: 't_globex', role: 'customer' });
    expect(body.address.city).toBe('Capital City');

    const missing = await call('/users/u_9999');
    expect(missing.res.status).toBe(404);
    expect(missing.body).toEqual({ error: 'user not found' });
  });

  it('creates a user with 201 + Location, hashing the password and accepting any role', async () => {
    const { res, body } = await call<User>(
      '/users',
      sendJson('POST', { name: 'Frank Li', email: 'frank@example.com', password: 'hunter2', role: 'admin' }),
    );
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/users/u_1006');
    expect(body).toMatchObject({ id: 'u_1006', name: 'Frank Li', email: 'frank@example.com', role: 'admin' });
    expect(body.password_hash).toMatch(/^\$2b\$10\$[./A-Za-z0-9]{53}$/);
    expect(body).not.toHaveProperty('password');

    const fetched = await call<User>('/users/u_1006');
    expect(fetched.body).toEqual(body);
    expect((await call<User[]>('/users')).body).toHaveLength(6);
  });

  it('validates created users', async () => {
    const noEmail = await call('/users', sendJson('POST', { name: 'Nobody' }));
    expect(noEmail.res.status).toBe(400);
    expect(noEmail.body).toEqual({ error: 'name and email are required' });

    const badRole = await call('/users', sendJson('POST', { name: 'X', email: 'x@example.com', role: 'root' }));
    expect(badRole.res.status).toBe(400);
    expect(badRole.body).toEqual({ error: 'role must be customer or admin' });
  });

  it('patches a user and keeps the change', async () => {
    const { res, body } = await call<User>('/users/u_1002', sendJson('PATCH', { email: 'bob@new.example.com' }));
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ id: 'u_1002', name: 'Bob Nguyen', email: 'bob@new.example.com' });
    expect((await call<User>('/users/u_1002')).body.email).toBe('bob@new.example.com');

    const badType = await call('/users/u_1002', sendJson('PATCH', { phone: 5550102 }));
    expect(badType.res.status).toBe(400);
    expect(badType.body).toEqual({ error: 'phone must be a string' });
  });

  it('deletes a user with 204, then 404s it; ids are not reused', async () => {
    const del = await fetch(`${api.url}/users/u_1004`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(await del.text()).toBe('');
    expect((await call('/users/u_1004')).res.status).toBe(404);
    expect((await call('/users/u_1004', { method: 'DELETE' })).res.status).toBe(404);

    const res = await fetch(`${api.url}/users/u_1005`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    const created = await call('/users', sendJson('POST', { name: 'New', email: 'new@example.com' }));
    expect(created.res.headers.get('location')).toBe('/users/u_1006');
  });

  it('gives every server its own copy of the data', async () => {
    await fetch(`${api.url}/users/u_1001`, { method: 'DELETE' });
    const other = await startDemoApi();
    try {
      const res = await fetch(`${other.url}/users`);
      expect((await res.json()) as User[]).toHaveLength(5);
    } finally {
      await other.close();
    }
    expect((await call<User[]>('/users')).body).toHaveLength(4);
  });
});

describe('accounts', () => {
  it("lists a user's accounts with valid IBANs", async () => {
    const { res, body } = await call<Account[]>('/users/u_1001/accounts');
    expect(res.status).toBe(200);
    expect(body).toEqual([
      { id: 'acc_2001', owner_id: 'u_1001', iban: 'GB82WEST12345698765432', balance: 2450.75, currency: 'GBP' },
      { id: 'acc_2002', owner_id: 'u_1001', iban: 'DE89370400440532013000', balance: 10200, currency: 'EUR' },
    ]);
    expect((await call('/users/u_9999/accounts')).res.status).toBe(404);
  });

  it('gets any account by id without an ownership check', async () => {
    const { res, body } = await call<Account>('/accounts/acc_2004');
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ owner_id: 'u_1003', iban: 'NL91ABNA0417164300', balance: 98000.12 });

    const missing = await call('/accounts/acc_0');
    expect(missing.res.status).toBe(404);
    expect(missing.body).toEqual({ error: 'account not found' });
  });

  it('seeds only mod-97-valid IBANs', async () => {
    const { body } = await call<{ accounts: Account[] }[]>('/admin/users');
    const ibans = body.flatMap((u) => u.accounts.map((a) => a.iban));
    expect(ibans).toHaveLength(6);
    for (const iban of ibans) expect(ibanValid(iban), iban).toBe(true);
  });
});

describe('orders', () => {
  it('lists all orders and filters by user_id', async () => {
    const all = await call<Order[]>('/orders');
    expect(all.body.map((o) => o.id)).toEqual(['ord_3001', 'ord_3002', 'ord_3003', 'ord_3004', 'ord_3005', 'ord_3006']);
    for (const o of all.body) expect(luhnValid(o.card_number), o.card_number).toBe(true);

    const carla = await call<Order[]>('/orders?user_id=u_1003');
    expect(carla.res.status).toBe(200);
    expect(carla.body.map((o) => o.id)).toEqual(['ord_3004', 'ord_3006']);
    expect((await call<Order[]>('/orders?user_id=u_9999')).body).toEqual([]);
  });

  it('gets one order with its computed total and card number', async () => {
    const { res, body } = await call<Order>('/orders/ord_3001');
    expect(res.status).toBe(200);
    expect(body).toEqual({
      id: 'ord_3001',
      user_id: 'u_1001',
      items: [
        { sku: 'BOOK-001', qty: 2, price: 12.5 },
        { sku: 'PEN-010', qty: 3, price: 1.99 },
      ],
      total: 30.97,
      status: 'delivered',
      card_number: '4111111111111111',
      created_at: '2024-03-01T10:15:00.000Z',
    });
    expect((await call('/orders/ord_1')).body).toEqual({ error: 'order not found' });
  });

  it('creates an order with 201 + Location and a server-computed total', async () => {
    const { res, body } = await call<Order>(
      '/orders',
      sendJson('POST', {
        user_id: 'u_1002',
        card_number: '5555555555554444',
        items: [
          { sku: 'MUG-003', qty: 3, price: 0.1 },
          { sku: 'PEN-010', qty: 1, price: 0.2 },
        ],
        total: 0.01, // ignored: the server computes totals
      }),
    );
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/orders/ord_3007');
    expect(body).toMatchObject({ id: 'ord_3007', user_id: 'u_1002', total: 0.5, status: 'pending' });
    expect(Date.parse(body.created_at)).not.toBeNaN();
    expect((await call<Order[]>('/orders?user_id=u_1002')).body.map((o) => o.id)).toEqual(['ord_3003', 'ord_3007']);
  });

  it('filters by id, patches and deletes any order without an ownership check', async () => {
    expect((await call<Order[]>('/orders?id=ord_3003')).body.map((o) => o.id)).toEqual(['ord_3003']);
    expect((await call<Order[]>('/orders?user_id=u_1001&id=ord_3003')).body).toEqual([]);

    const patched = await call<Order>('/orders/ord_3003', sendJson('PATCH', { status: 'cancelled' }));
    expect(patched.res.status).toBe(200);
    expect(patched.body).toMatchObject({ id: 'ord_3003', user_id: 'u_1002', status: 'cancelled', total: 29 });
    const items = await call<Order>('/orders/ord_3003', sendJson('PATCH', { items: [{ sku: 'X', qty: 2, price: 3 }] }));
    expect(items.body.total).toBe(6);
    expect((await call('/orders/ord_3003', sendJson('PATCH', { status: 'lost' }))).res.status).toBe(400);

    const del = await fetch(`${api.url}/orders/ord_3003`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect((await call('/orders/ord_3003')).res.status).toBe(404);
    expect((await call('/orders/ord_3003', { method: 'DELETE' })).res.status).toBe(404);
  });

  it('validates new orders', async () => {
    const unknownUser = await call('/orders', sendJson('POST', { user_id: 'u_9', card_number: '1', items: [] }));
    expect(unknownUser.res.status).toBe(400);
    expect(unknownUser.body).toEqual({ error: 'user_id must reference an existing user' });

    const badItems = await call(
      '/orders',
      sendJson('POST', { user_id: 'u_1001', card_number: '4111111111111111', items: [{ sku: 'A', qty: 0, price: 1 }] }),
    );
    expect(badItems.res.status).toBe(400);
    expect((badItems.body as { error: string }).error).toMatch(/^items must be/);
  });
});

describe('transfers', () => {
  it('moves money out of whichever account the body names (no ownership check)', async () => {
    const { res, body } = await call(
      '/transfers',
      sendJson('POST', { from_account: 'acc_2004', to_account: 'acc_2003', amount: 100.5 }),
    );
    expect(res.status).toBe(201);
    expect(body).toEqual({ from_account: 'acc_2004', to_account: 'acc_2003', amount: 100.5, from_balance: 97899.62 });
    expect((await call<Account>('/accounts/acc_2003')).body.balance).toBe(410.9);

    const bad = await call(
      '/transfers',
      sendJson('POST', { from_account: 'acc_0', to_account: 'acc_2003', amount: 1 }),
    );
    expect(bad.res.status).toBe(400);
    const negative = await call(
      '/transfers',
      sendJson('POST', { from_account: 'acc_2001', to_account: 'acc_2003', amount: -5 }),
    );
    expect(negative.body).toEqual({ error: 'amount must be a positive number' });
  });
});

describe('admin', () => {
  it('reports counts', async () => {
    const { res, body } = await call('/admin/stats');
    expect(res.status).toBe(200);
    expect(body).toEqual({
      users: 5,
      admins: 1,
      accounts: 6,
      orders: 6,
      orders_by_status: { delivered: 1, shipped: 1, paid: 2, pending: 1, cancelled: 1 },
    });
    await call('/users', sendJson('POST', { name: 'G', email: 'g@example.com' }));
    expect(((await call<{ users: number }>('/admin/stats')).body as { users: number }).users).toBe(6);
  });

  it('dumps users with their accounts and orders', async () => {
    const { body } = await call<(User & { accounts: Account[]; orders: Order[] })[]>('/admin/users');
    expect(body).toHaveLength(5);
    const carla = body.find((u) => u.id === 'u_1003')!;
    expect(carla.ssn).toBe('345-67-8901');
    expect(carla.internal_notes).toBe('KYC documents re-verified 2024-02.');
    expect(carla.accounts.map((a) => a.id)).toEqual(['acc_2004']);
    expect(carla.orders.map((o) => o.id)).toEqual(['ord_3004', 'ord_3006']);
  });
});

describe('echo', () => {
  it('reflects method, raw path with query, forwarded headers and body', async () => {
    const { res, body } = await call('/echo/a/b?x=1&y=two', {
      method: 'POST',
      headers: {
        'content-type': 'text/plain',
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        'x-request-id': 'req-123',
      },
      body: 'hello upstream',
    });
    expect(res.status).toBe(200);
    expect(body).toMatchObject({
      method: 'POST',
      path: '/echo/a/b?x=1&y=two',
      headers: {
        host: `127.0.0.1:${api.port}`,
        'content-type': 'text/plain',
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        'x-request-id': 'req-123',
      },
      body: 'hello upstream',
    });
  });

  it('answers any method on /echo and omits an empty body', async () => {
    const del = await call<Record<string, unknown>>('/echo', { method: 'DELETE' });
    expect(del.body).toMatchObject({ method: 'DELETE', path: '/echo' });
    expect(del.body).not.toHaveProperty('body');
    expect((await call('/echo/x', sendJson('PUT', { a: 1 }))).body).toMatchObject({ method: 'PUT', body: '{"a":1}' });
    expect((await call('/echoes')).res.status).toBe(404);
  });
});

describe('websocket', () => {
  it('echoes text and binary frames on /ws', async () => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/ws`);
    await once(ws, 'open');

    ws.send('ping over the gateway');
    const [text, textIsBinary] = await once(ws, 'message');
    expect(textIsBinary).toBe(false);
    expect(String(text)).toBe('ping over the gateway');

    ws.send(Buffer.from([1, 2, 3, 255]));
    const [bin, binIsBinary] = await once(ws, 'message');
    expect(binIsBinary).toBe(true);
    expect([...(bin as Buffer)]).toEqual([1, 2, 3, 255]);

    ws.close();
    await once(ws, 'close');
  });

  it('refuses upgrades on other paths and asks plain GET /ws to upgrade', async () => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/users`);
    const [err] = await once(ws, 'error');
    expect((err as Error).message).toBe('Unexpected server response: 404');

    const plain = await call('/ws');
    expect(plain.res.status).toBe(426);
    expect(plain.res.headers.get('upgrade')).toBe('websocket');
  });

  it('terminates open sockets on close()', async () => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/ws`);
    await once(ws, 'open');
    const closed = once(ws, 'close');
    await api.close();
    const [code] = await closed;
    expect(code).toBe(1006);
  });
});
