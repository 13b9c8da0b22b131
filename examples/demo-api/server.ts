// Demo upstream API for Rampart. It is deliberately naive: it returns whole records (SSNs, password hashes,
// IBANs, card numbers), never checks who owns an object and accepts any known field on writes (including
// `role`). Protecting it is the gateway's job, so those gaps are what the gateway demos show being closed.
import { randomBytes, scryptSync } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import {
  type Address,
  createSeedData,
  type DemoData,
  type Order,
  type OrderItem,
  type OrderStatus,
  orderTotal,
  type User,
} from './data.js';

export interface DemoApiOptions {
  host?: string;
  port?: number;
  quiet?: boolean;
}

export interface DemoApi {
  url: string;
  port: number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Ctx {
  req: IncomingMessage;
  /** First capture group of the route pattern, percent-decoded. */
  id: string;
  query: URLSearchParams;
  body: string;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

type Route = readonly [method: string, pattern: RegExp, handler: (ctx: Ctx) => Reply];

const ok = (body: unknown): Reply => ({ status: 200, body });
const created = (location: string, body: unknown): Reply => ({ status: 201, body, headers: { location } });

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJsonObject(body: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new HttpError(400, 'malformed JSON body');
  }
  if (!isRecord(value)) throw new HttpError(400, 'JSON body must be an object');
  return value;
}

// Shaped like bcrypt ($2b$, cost, 53 chars of [./A-Za-z0-9]) so the gateway's redaction patterns match it.
const fakeBcrypt = (password: string): string =>
  `$2b$10$${scryptSync(password, randomBytes(16), 40).toString('base64').replaceAll('+', '.').slice(0, 53)}`;

const ORDER_STATUSES: readonly OrderStatus[] = ['pending', 'paid', 'shipped', 'delivered', 'cancelled'];

const USER_STRING_FIELDS = ['name', 'email', 'phone', 'ssn', 'date_of_birth', 'tenant_id', 'internal_notes'] as const;
const ADDRESS_FIELDS = ['street', 'city', 'postal_code', 'country'] as const;

/** Type-checks the writable user fields. No authorization: a caller may set its own `role` (mass assignment). */
function userFields(input: Record<string, unknown>): Partial<User> {
  const out: Partial<User> = {};
  for (const key of USER_STRING_FIELDS) {
    const v = input[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new HttpError(400, `${key} must be a string`);
    out[key] = v;
  }
  if (input.role !== undefined) {
    if (input.role !== 'customer' && input.role !== 'admin') throw new HttpError(400, 'role must be customer or admin');
    out.role = input.role;
  }
  const addr = input.address;
  if (addr !== undefined) {
    if (!isRecord(addr) || !ADDRESS_FIELDS.every((k) => typeof addr[k] === 'string')) {
      throw new HttpError(400, `address must have string ${ADDRESS_FIELDS.join(', ')}`);
    }
    out.address = Object.fromEntries(ADDRESS_FIELDS.map((k) => [k, addr[k]])) as unknown as Address;
  }
  if (input.password !== undefined) {
    if (typeof input.password !== 'string') throw new HttpError(400, 'password must be a string');
    out.password_hash = fakeBcrypt(input.password);
  }
  return out;
}

function orderItems(input: unknown): OrderItem[] {
  const valid = (i: unknown): i is OrderItem =>
    isRecord(i) &&
    typeof i.sku === 'string' &&
    Number.isInteger(i.qty) &&
    (i.qty as number) > 0 &&
    typeof i.price === 'number' &&
    Number.isFinite(i.price) &&
    i.price >= 0;
  if (!Array.isArray(input) || input.length === 0 || !input.every(valid)) {
    throw new HttpError(400, 'items must be a non-empty array of {sku, qty (positive integer), price (>= 0)}');
  }
  return input.map(({ sku, qty, price }) => ({ sku, qty, price }));
}

/** Ids continue from the highest seeded number, so a deleted id is never handed out again. */
function idSequence(prefix: string, existing: readonly { id: string }[]): () => string {
  let last = Math.max(0, ...existing.map((r) => Number(r.id.slice(prefix.length))));
  return () => `${prefix}${++last}`;
}

function buildRoutes(db: DemoData): Route[] {
  const nextUserId = idSequence('u_', db.users);
  const nextOrderId = idSequence('ord_', db.orders);
  const findUser = (id: string): User => {
    const user = db.users.find((u) => u.id === id);
    if (!user) throw new HttpError(404, 'user not found');
    return user;
  };
  const ordersOf = (userId: string): Order[] => db.orders.filter((o) => o.user_id === userId);
  const findOrder = (id: string): Order => {
    const order = db.orders.find((o) => o.id === id);
    if (!order) throw new HttpError(404, 'order not found');
    return order;
  };

  return [
    ['GET', /^\/health$/, () => ok({ status: 'ok' })],

    ['GET', /^\/users$/, () => ok(db.users)],
    [
      'POST',
      /^\/users$/,
      ({ body }) => {
        const fields = userFields(parseJsonObject(body));
        if (!fields.name || !fields.email) throw new HttpError(400, 'name and email are required');
        const user: User = {
          id: nextUserId(),
          name: fields.name,
          email: fields.email,
          phone: '',
          ssn: '',
          date_of_birth: '',
          address: { street: '', city: '', postal_code: '', country: '' },
          password_hash: '',
          role: 'customer',
          tenant_id: 't_acme',
          internal_notes: '',
          ...fields,
        };
        db.users.push(user);
        return created(`/users/${user.id}`, user);
      },
    ],
    ['GET', /^\/users\/([^/]+)$/, ({ id }) => ok(findUser(id))],
    [
      'PATCH',
      /^\/users\/([^/]+)$/,
      ({ id, body }) => ok(Object.assign(findUser(id), userFields(parseJsonObject(body)))),
    ],
    [
      'DELETE',
      /^\/users\/([^/]+)$/,
      ({ id }) => {
        db.users.splice(db.users.indexOf(findUser(id)), 1);
        return { status: 204 };
      },
    ],
    ['GET', /^\/users\/([^/]+)\/accounts$/, ({ id }) => ok(db.accounts.filter((a) => a.owner_id === findUser(id).id))],

    [
      'GET',
      /^\/accounts\/([^/]+)$/,
      ({ id }) => {
        const account = db.accounts.find((a) => a.id === id);
        if (!account) throw new HttpError(404, 'account not found');
        return ok(account);
      },
    ],

    [
      'GET',
      /^\/orders$/,
      ({ query }) => {
        // Filters: ?user_id= (a user's orders), ?id= (one order, as a list). Neither: every order.
        const userId = query.get('user_id');
        const id = query.get('id');
        let orders = userId === null ? db.orders : ordersOf(userId);
        if (id !== null) orders = orders.filter((o) => o.id === id);
        return ok(orders);
      },
    ],
    [
      'POST',
      /^\/orders$/,
      ({ body }) => {
        const input = parseJsonObject(body);
        if (typeof input.user_id !== 'string' || !db.users.some((u) => u.id === input.user_id)) {
          throw new HttpError(400, 'user_id must reference an existing user');
        }
        if (typeof input.card_number !== 'string') throw new HttpError(400, 'card_number must be a string');
        const items = orderItems(input.items);
        const order: Order = {
          id: nextOrderId(),
          user_id: input.user_id,
          items,
          total: orderTotal(items),
          status: 'pending',
          card_number: input.card_number,
          created_at: new Date().toISOString(),
        };
        db.orders.push(order);
        return created(`/orders/${order.id}`, order);
      },
    ],
    ['GET', /^\/orders\/([^/]+)$/, ({ id }) => ok(findOrder(id))],
    [
      'PATCH',
      /^\/orders\/([^/]+)$/,
      ({ id, body }) => {
        const order = findOrder(id);
        const input = parseJsonObject(body);
        if (input.status !== undefined) {
          if (typeof input.status !== 'string' || !ORDER_STATUSES.includes(input.status as OrderStatus))
            throw new HttpError(400, `status must be one of ${ORDER_STATUSES.join(', ')}`);
          order.status = input.status as OrderStatus;
        }
        if (input.items !== undefined) {
          order.items = orderItems(input.items);
          order.total = orderTotal(order.items);
        }
        return ok(order);
      },
    ],
    [
      'DELETE',
      /^\/orders\/([^/]+)$/,
      ({ id }) => {
        db.orders.splice(db.orders.indexOf(findOrder(id)), 1);
        return { status: 204 };
      },
    ],

    // Moves money between any two accounts: whoever asks, from whichever account the body names.
    [
      'POST',
      /^\/transfers$/,
      ({ body }) => {
        const input = parseJsonObject(body);
        const from = db.accounts.find((a) => a.id === input.from_account);
        const to = db.accounts.find((a) => a.id === input.to_account);
        if (!from || !to) throw new HttpError(400, 'from_account and to_account must reference existing accounts');
        const amount = input.amount;
        if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0)
          throw new HttpError(400, 'amount must be a positive number');
        from.balance = Math.round((from.balance - amount) * 100) / 100;
        to.balance = Math.round((to.balance + amount) * 100) / 100;
        return {
          status: 201,
          body: { from_account: from.id, to_account: to.id, amount, from_balance: from.balance },
        };
      },
    ],

    [
      'GET',
      /^\/admin\/stats$/,
      () => {
        const ordersByStatus: Record<string, number> = {};
        for (const o of db.orders) ordersByStatus[o.status] = (ordersByStatus[o.status] ?? 0) + 1;
        return ok({
          users: db.users.length,
          admins: db.users.filter((u) => u.role === 'admin').length,
          accounts: db.accounts.length,
          orders: db.orders.length,
          orders_by_status: ordersByStatus,
        });
      },
    ],
    [
      'GET',
      /^\/admin\/users$/,
      () =>
        ok(
          db.users.map((u) => ({
            ...u,
            accounts: db.accounts.filter((a) => a.owner_id === u.id),
            orders: ordersOf(u.id),
          })),
        ),
    ],

    // Plain GET on the WebSocket path: tell the client it must upgrade (real upgrades never reach routing).
    ['GET', /^\/ws$/, () => ({ status: 426, body: { error: 'upgrade required' }, headers: { upgrade: 'websocket' } })],

    [
      '*',
      /^\/echo(?:\/.*)?$/,
      ({ req, body }) => ok({ method: req.method, path: req.url, headers: req.headers, ...(body ? { body } : {}) }),
    ],
  ];
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    // Refuse early when the declared length is already too big; chunked bodies are counted as they stream.
    if (Number(req.headers['content-length']) > MAX_BODY_BYTES) {
      reject(new HttpError(413, 'request body too large'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) {
        chunks.push(chunk);
        return;
      }
      // Stop buffering; the 413 reply closes the connection instead of draining an unbounded body.
      req.off('data', onData);
      req.pause();
      reject(new HttpError(413, 'request body too large'));
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const pathOf = (url: string): string => url.split('?', 1)[0] ?? url;

async function dispatch(routes: readonly Route[], req: IncomingMessage): Promise<Reply> {
  const url = req.url ?? '/';
  const path = pathOf(url);
  // HEAD is served by the GET handler; node drops the body on HEAD responses.
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  const allowed: string[] = [];
  for (const [routeMethod, pattern, handler] of routes) {
    const match = pattern.exec(path);
    if (!match) continue;
    if (routeMethod !== '*' && routeMethod !== method) {
      allowed.push(routeMethod);
      continue;
    }
    let id = '';
    try {
      id = decodeURIComponent(match[1] ?? '');
    } catch {
      throw new HttpError(400, 'malformed percent-encoding in path');
    }
    const query = new URLSearchParams(url.slice(path.length + 1));
    return handler({ req, id, query, body: await readBody(req) });
  }
  if (allowed.length > 0) {
    return { status: 405, body: { error: 'method not allowed' }, headers: { allow: allowed.join(', ') } };
  }
  throw new HttpError(404, 'not found');
}

function send(res: ServerResponse, { status, body, headers = {} }: Reply): void {
  if (status === 413) headers.connection = 'close';
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const payload = JSON.stringify(body);
  res
    .writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(payload)),
      ...headers,
    })
    .end(payload);
}

export async function startDemoApi(opts: DemoApiOptions = {}): Promise<DemoApi> {
  const { host = '127.0.0.1', port = 0, quiet = true } = opts;
  const routes = buildRoutes(createSeedData());
  const log = (method: string | undefined, url: string | undefined, status: number) => {
    if (!quiet) console.log(`demo-api ${method} ${url} ${status}`);
  };

  const server = createServer((req, res) => {
    // Fingerprinting headers a real framework would leak; the gateway demo shows them being stripped.
    res.setHeader('x-powered-by', 'demo-api');
    res.setHeader('server', 'demo-api/1.0');
    res.on('finish', () => log(req.method, req.url, res.statusCode));
    dispatch(routes, req).then(
      (reply) => send(res, reply),
      (err: unknown) => {
        if (err instanceof HttpError) return send(res, { status: err.status, body: { error: err.message } });
        console.error('demo-api: unhandled error', err);
        send(res, { status: 500, body: { error: 'internal error' } });
      },
    );
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  server.on('upgrade', (req, socket, head) => {
    if (pathOf(req.url ?? '/') !== '/ws') {
      log(req.method, req.url, 404);
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      log(req.method, req.url, 101);
      wss.emit('connection', ws, req);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`,
    port: actualPort,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        // Upgraded sockets are no longer tracked by the HTTP server, so terminate them explicitly.
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
