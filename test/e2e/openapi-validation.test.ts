import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoApi } from '../../examples/demo-api/server.js';
import { seedConsumers } from '../../examples/seed.js';
import { ServiceRegistry } from '../../src/core/shared.js';
import { createKeyFile, FileKeySource } from '../../src/crypto/file-key-source.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { CREDENTIAL_MAC_PURPOSE } from '../../src/services.js';
import { openStore, STORE_PURPOSE, type Store } from '../../src/store/index.js';
import { type SentResponse, send, startGateway, startUpstream } from '../helpers.js';

/**
 * Request validation through a real gateway: the demo API behind its OpenAPI document (examples/openapi.yaml) with
 * json-limits on every route, and the GitHub REST API description in front of an echo upstream.
 */
let api: Awaited<ReturnType<typeof startDemoApi>>;
let echo: Awaited<ReturnType<typeof startUpstream>>;
let gw: Awaited<ReturnType<typeof startGateway>>;
let echoed = 0;

const CONFIG = `
listeners: [{ port: 0 }]
upstreams:
  demo-api:
    targets: [{ url: "\${env:DEMO_URL}" }]
    policies:
      request-validation: { spec: examples/openapi.yaml }
  echo:
    targets: [{ url: "\${env:ECHO_URL}" }]
policies:
  request-limits: { max_body_bytes: 65536 }
  json-limits: { max_depth: 16 }
routes:
  - { name: demo, public: true, paths: ["/api/*"], upstream: demo-api, strip_prefix: /api }
  - name: github
    public: true
    paths: ["/gh/*"]
    upstream: echo
    strip_prefix: /gh
    policies:
      request-validation: { spec: node_modules/@octokit/openapi/generated/api.github.com.json }
`;

beforeAll(async () => {
  api = await startDemoApi();
  echo = await startUpstream((req, res) => {
    echoed++;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  gw = await startGateway(CONFIG, { DEMO_URL: api.url, ECHO_URL: echo.url });
}, 60_000);
afterAll(async () => {
  await gw?.close();
  await api?.close();
  await echo?.close();
});

const json = (r: SentResponse) => JSON.parse(r.body) as Record<string, unknown>;
const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  send(gw.port, path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });

describe('the demo API behind its OpenAPI document', () => {
  it("the demo's normal requests (smoke and BOLA flows) validate and reach the upstream", async () => {
    expect((await call('GET', '/api/health')).status).toBe(200);
    expect((await call('GET', '/api/users')).status).toBe(200);
    expect((await call('GET', '/api/users/u_1001')).status).toBe(200);
    expect((await call('HEAD', '/api/users/u_1001')).status).toBe(200);
    expect((await call('GET', '/api/users/u_1001/accounts')).status).toBe(200);
    expect((await call('GET', '/api/accounts/acc_2001')).status).toBe(200);
    expect((await call('GET', '/api/orders?user_id=u_1002')).status).toBe(200);
    expect((await call('GET', '/api/orders?id=ord_3001')).status).toBe(200);
    expect((await call('GET', '/api/orders/ord_3001')).status).toBe(200);
    expect((await call('GET', '/api/admin/stats')).status).toBe(200);
    expect((await call('GET', '/api/admin/users')).status).toBe(200);
    expect((await call('PATCH', '/api/users/u_1001', { phone: '+1-202-555-0199' })).status).toBe(200);
    const order = await call('POST', '/api/orders', {
      user_id: 'u_1001',
      card_number: '4111111111111111',
      items: [{ sku: 'LAMP-220', qty: 1, price: 49.9 }],
    });
    expect(order.status).toBe(201);
    const id = json(order).id as string;
    expect((await call('PATCH', `/api/orders/${id}`, { status: 'paid' })).status).toBe(200);
    expect((await call('DELETE', `/api/orders/${id}`)).status).toBe(204);
    const t = await call('POST', '/api/transfers', { from_account: 'acc_2001', to_account: 'acc_2002', amount: 50 });
    expect(t.status).toBe(201);
    const user = await call('POST', '/api/users', {
      name: 'Eve',
      email: 'eve@example.com',
      password: 'correct horse battery',
    });
    expect(user.status).toBe(201);
  });

  it('refuses mass assignment (role is read-only) before the upstream sees it', async () => {
    const before = (json(await call('GET', '/api/admin/stats')).admins as number) ?? 0;
    const r = await call('POST', '/api/users', { name: 'Mallory', email: 'm@example.com', role: 'admin' });
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('application/problem+json');
    const p = json(r);
    expect(p).toMatchObject({ code: 'REQUEST_INVALID', status: 400, instance: '/api/users' });
    expect(p.errors).toEqual([{ in: 'body', pointer: '/role', message: 'is read-only' }]);
    expect(json(await call('GET', '/api/admin/stats')).admins).toBe(before);
  });

  it('points at the failing field without echoing the value', async () => {
    const r = await call('POST', '/api/transfers', {
      from_account: '<img src=x onerror=alert(1)>',
      to_account: 'acc_2002',
      amount: 5,
    });
    expect(r.status).toBe(400);
    expect(json(r).errors).toEqual([
      { in: 'body', pointer: '/from_account', message: 'does not match the required pattern' },
    ]);
    expect(r.body).not.toContain('onerror');
    const q = await call('GET', '/api/orders?user_id=%27%20OR%201%3D1--');
    expect(json(q).errors).toEqual([
      { in: 'query', name: 'user_id', pointer: '', message: 'does not match the required pattern' },
    ]);
    expect(q.body).not.toContain('OR');
    const unknown = await call('GET', '/api/orders?debug=true');
    expect(json(unknown).errors).toEqual([
      { in: 'query', name: 'debug', pointer: '', message: 'is not a parameter of this operation' },
    ]);
  });

  it('415 for another media type; 404/405 for operations the document does not have', async () => {
    const text = await call('POST', '/api/transfers', '{"from_account":"acc_2001"}', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(json(text).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const nope = await call('GET', '/api/internal/debug');
    expect(nope.status).toBe(404);
    expect(json(nope).code).toBe('OPERATION_NOT_FOUND');
    const put = await call('PUT', '/api/users/u_1001', { name: 'x' });
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe('GET, HEAD, DELETE, PATCH');
  });

  it('a chunked JSON body is validated as it is buffered, then sent on', async () => {
    // send() writes the body without Content-Length: node sends it chunked.
    const r = await call('POST', '/api/transfers', { from_account: 'acc_2003', to_account: 'acc_2004', amount: 1 });
    expect(r.status).toBe(201);
    expect(json(r).from_account).toBe('acc_2003');
  });
});

describe('json-limits on every JSON body', () => {
  it('413 past the depth limit, with where', async () => {
    const deep = `${'{"a":'.repeat(20)}1${'}'.repeat(20)}`;
    const r = await call('POST', '/api/transfers', deep);
    expect(r.status).toBe(413);
    expect(json(r)).toMatchObject({ code: 'JSON_LIMIT_EXCEEDED' });
    expect((json(r).errors as { pointer: string }[])[0]?.pointer).toBe('/a'.repeat(16));
  });

  it('400 for duplicate keys, __proto__, constructor.prototype, NUL, invalid UTF-8 and lone surrogates', async () => {
    const bodies: (string | Buffer)[] = [
      '{"amount":1,"amount":100000,"from_account":"acc_2001","to_account":"acc_2002"}',
      '{"__proto__":{"admin":true}}',
      '{"constructor":{"prototype":{"admin":true}}}',
      '{"from_account":"acc_2001\\u0000"}',
      '{"name":"\\ud800"}',
    ];
    for (const b of bodies) {
      const r = await call('POST', '/api/transfers', b);
      expect(r.status, String(b)).toBe(400);
      expect(json(r).code, String(b)).toBe('JSON_UNSAFE');
    }
    const raw = await new Promise<SentResponse>((resolve, reject) => {
      import('node:http').then(({ request }) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: gw.port,
            path: '/api/transfers',
            method: 'POST',
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => {
              body += c.toString();
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
          },
        );
        req.on('error', reject);
        req.end(Buffer.concat([Buffer.from('{"from_account":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]));
      }, reject);
    });
    expect(raw.status).toBe(400);
    expect(json(raw).code).toBe('JSON_UNSAFE');
  });

  it('400 JSON_MALFORMED for a broken JSON body', async () => {
    const r = await call('POST', '/api/transfers', '{"from_account":');
    expect(r.status).toBe(400);
    expect(json(r).code).toBe('JSON_MALFORMED');
  });
});

describe('the GitHub REST API description (large) in front of an upstream', () => {
  it('valid requests reach the upstream; invalid ones do not', async () => {
    const before = echoed;
    expect((await call('GET', '/gh/repos/octocat/hello-world/issues?state=open&per_page=50')).status).toBe(200);
    expect((await call('POST', '/gh/repos/octocat/hello-world/issues', { title: 'Bug', labels: ['bug'] })).status).toBe(
      200,
    );
    expect(echoed).toBe(before + 2);
    const bad = await call('GET', '/gh/repos/octocat/hello-world/issues?state=weird');
    expect(bad.status).toBe(400);
    expect(json(bad).errors).toEqual([
      { in: 'query', name: 'state', pointer: '', message: 'must be one of the allowed values' },
    ]);
    const noTitle = await call('POST', '/gh/repos/octocat/hello-world/issues', { body: 'x' });
    expect(json(noTitle).errors).toEqual([{ in: 'body', pointer: '/title', message: 'is required' }]);
    expect((await call('GET', '/gh/definitely/not/github')).status).toBe(404);
    expect(echoed).toBe(before + 2);
  });

  it('keeps validating after a config reload (the compiled document is shared)', async () => {
    gw.reload(CONFIG.replace('max_depth: 16', 'max_depth: 17'));
    expect((await call('GET', '/gh/users/octocat')).status).toBe(200);
    expect((await call('GET', '/gh/repos/o/r/issues/abc')).status).toBe(400);
    expect((await call('POST', '/api/users', { name: 'M', email: 'm@example.com', role: 'admin' })).status).toBe(400);
  });
});

/**
 * With identity and object-level authorization in front, as in the demo config: API keys of the seeded consumers
 * (real SQLite store and keyring), object-access on the routes, request-validation on the upstream. Validation runs
 * after authorization (order 2600): an unauthenticated caller learns nothing about the API's contract.
 */
describe('with API keys and object-access, as the demo config binds it', () => {
  let dir: string;
  let store: Store;
  let demo: Awaited<ReturnType<typeof startDemoApi>>;
  let gw2: Awaited<ReturnType<typeof startGateway>>;
  let keys: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rampart-openapi-'));
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
    demo = await startDemoApi();
    gw2 = await startGateway(
      `listeners: [{ port: 0 }]
metrics: { enabled: false }
upstreams:
  demo-api:
    targets: ["${demo.url}"]
    policies:
      request-validation: { spec: examples/openapi.yaml }
policies:
  request-id: {}
  api-key: {}
  json-limits: {}
routes:
  - name: users
    paths: ["/api/users", "/api/users/{id}"]
    methods: [GET, POST, PATCH, DELETE]
    upstream: demo-api
    strip_prefix: /api
    policies:
      object-access:
        bindings: [{ name: own-user, from: { param: id }, equals: identity.attributes.user_id }]
        bypass_roles: [admin]
        deny_as: not_found
  - name: transfers
    paths: ["/api/transfers"]
    methods: [POST]
    upstream: demo-api
    strip_prefix: /api
    policies:
      object-access:
        bindings: [{ name: from-own-account, from: { body: /from_account }, in: identity.attributes.accounts }]
        bypass_roles: [admin]
`,
      {},
      { services: new ServiceRegistry(store, ring) },
    );
  }, 60_000);
  afterAll(async () => {
    await gw2?.close();
    await demo?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const as = (who: string, method: string, path: string, body?: unknown) =>
    send(gw2.port, path, {
      method,
      headers: {
        'x-api-key': keys[who] as string,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });

  it('the owner passes both; another caller is stopped by object-access first (404, no contract leaked)', async () => {
    expect((await as('alice', 'PATCH', '/api/users/u_1001', { phone: '+1-202-555-0199' })).status).toBe(200);
    const bob = await as('bob', 'PATCH', '/api/users/u_1001', { role: 'admin' });
    expect(bob.status).toBe(404);
    expect(json(bob).code).toBe('OBJECT_NOT_FOUND');
    const anon = await send(gw2.port, '/api/users/u_1001', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"role":"admin"}',
    });
    expect(anon.status).toBe(401);
  });

  it('an authorized caller still cannot make herself admin, nor move money with a malformed amount', async () => {
    const r = await as('alice', 'PATCH', '/api/users/u_1001', { role: 'admin' });
    expect(r.status).toBe(400);
    expect(json(r).errors).toEqual([{ in: 'body', pointer: '/role', message: 'is read-only' }]);
    expect(json(await as('ops', 'GET', '/api/users/u_1001')).role).toBe('customer');
    const t = await as('alice', 'POST', '/api/transfers', {
      from_account: 'acc_2001',
      to_account: 'acc_2002',
      amount: -50,
    });
    expect(t.status).toBe(400);
    expect(json(t).errors).toEqual([{ in: 'body', pointer: '/amount', message: 'must be > 0' }]);
    const ok = await as('alice', 'POST', '/api/transfers', {
      from_account: 'acc_2001',
      to_account: 'acc_2002',
      amount: 5,
    });
    expect(ok.status).toBe(201);
  });
});
