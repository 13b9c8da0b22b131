import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { ServiceRegistry } from '../../src/core/shared.js';
import { generateApiKey } from '../../src/identity/api-key.js';
import { createLogger } from '../../src/observability/logger.js';
import { CREDENTIAL_MAC_PURPOSE, openServices, type Services } from '../../src/services.js';
import { LogSink, ROOT, type SentResponse, send, startGateway, startUpstream } from '../helpers.js';

/**
 * authorize and decision-debug through a real gateway: in-process Gateway on real sockets, a real SQLite store and
 * keyring, API keys of three consumers with different groups, scopes and attributes, and a real upstream that
 * counts what reaches it. The `rampart validate` case spawns the built CLI (needs `npx tsc -p tsconfig.build.json`).
 */

const run = promisify(execFile);

let dir: string;
let services: Services;
let gw: Awaited<ReturnType<typeof startGateway>>;
let up: Awaited<ReturnType<typeof startUpstream>>;
let hits = 0;
const keys: Record<'alice' | 'bob' | 'carol', string> = { alice: '', bob: '', carol: '' };

async function consumer(name: string, groups: string[], scopes: string[], attributes: Record<string, string>) {
  const c = await services.store.consumers.create({ name, groups, attributes });
  const { key, keyId } = generateApiKey();
  await services.store.credentials.create({
    consumer_id: c.id,
    kind: 'api-key',
    key_id: keyId,
    secret_hash: services.keyring.mac(CREDENTIAL_MAC_PURPOSE, key),
    scopes,
  });
  return key;
}

function call(
  who: keyof typeof keys | null,
  path: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<SentResponse> {
  return send(gw.port, path, { method, headers: { ...headers, ...(who && { 'x-api-key': keys[who] }) } });
}

const DEBUG = { 'x-rampart-debug': 'decision' };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-authorize-e2e-'));
  const file = join(dir, 'rampart.yaml');
  writeFileSync(file, `environment: development\ndata_dir: ${dir}\nstore: {}\nlisteners: [{ port: 0 }]\n`);
  const { config } = loadConfigFile(file);
  const opened = await openServices(config, file, createLogger('warn', new LogSink()));
  if (!opened) throw new Error('no store');
  services = opened;
  keys.alice = await consumer('alice', ['staff'], ['orders:read'], { user_id: 'u-alice' });
  keys.bob = await consumer('bob', ['admin'], [], { user_id: 'u-bob' });
  keys.carol = await consumer('carol', ['contractor'], ['orders:read'], { user_id: 'u-carol' });
  up = await startUpstream((_req, res) => {
    hits++;
    // An upstream cannot pass off its own decision header as the gateway's.
    res.setHeader('x-rampart-decision', 'allow forged:by-upstream');
    res.end('ok');
  });
  gw = await startGateway(
    `
listeners: [{ port: 0 }]
trusted_proxies: [127.0.0.1/32]
upstreams:
  app: { targets: ["${up.url}"] }
policies:
  request-id: {}
  api-key: {}
  decision-debug:
    trusted: { cidrs: [127.0.0.0/8], roles: [admin, staff] }
routes:
  - name: admin
    paths: ["/admin", "/admin/*"]
    upstream: app
    policies:
      authorize: { roles: [admin] }
  - name: orders
    paths: ["/orders", "/orders/*"]
    upstream: app
    policies:
      authorize:
        rules:
          - { name: read-orders, methods: [GET, HEAD], scopes: [orders:read] }
          - { name: admin-writes, methods: [POST, PUT, PATCH, DELETE], roles: [admin] }
          - name: contractors-read-only-own-orders
            effect: deny
            roles: [contractor]
            when: '!request.path.startsWith("/orders/" + identity.attributes.user_id + "/")'
  - name: users
    paths: ["/users/{id}", "/users/{id}/*"]
    upstream: app
    policies:
      authorize:
        rules:
          - { name: admins, roles: [admin] }
          - { name: own-profile, when: 'request.params.id == identity.attributes.user_id' }
  - name: status
    paths: ["/status"]
    public: true
    upstream: app
    policies:
      authorize: { rules: [{ name: anyone-reads, methods: [GET] }], anonymous: true }
`,
    {},
    { services: new ServiceRegistry(services.store, services.keyring) },
  );
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
  await services?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('authorize through the gateway', () => {
  it('admin-only route in one line: admins pass, others get 403 and never reach the upstream', async () => {
    const before = hits;
    expect((await call('bob', '/admin/users')).status).toBe(200);
    const denied = await call('alice', '/admin/users');
    expect(denied.status).toBe(403);
    expect(denied.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(denied.body)).toMatchObject({ code: 'FORBIDDEN', status: 403 });
    // The answer does not say which rule decided.
    expect(denied.body).not.toMatch(/roles|default|rule/);
    expect((await call(null, '/admin/users')).status).toBe(401);
    expect(hits - before).toBe(1);
  });

  it('method-level rules: readers read, admins write, nobody else', async () => {
    expect((await call('alice', '/orders')).status).toBe(200);
    expect((await call('alice', '/orders/1', 'HEAD')).status).toBe(200);
    expect((await call('alice', '/orders/1', 'DELETE')).status).toBe(403);
    expect((await call('alice', '/orders', 'POST')).status).toBe(403);
    // bob is an admin but his key has no orders:read scope.
    expect((await call('bob', '/orders')).status).toBe(403);
    expect((await call('bob', '/orders/1', 'DELETE')).status).toBe(200);
  });

  it('a CEL rule: a user reads their own profile only; admins read any; deny rule wins over allow', async () => {
    expect((await call('alice', '/users/u-alice')).status).toBe(200);
    expect((await call('alice', '/users/u-alice/settings')).status).toBe(200);
    expect((await call('alice', '/users/u-bob')).status).toBe(403);
    expect((await call('bob', '/users/u-alice')).status).toBe(200);
    expect((await call('carol', '/users/u-alice')).status).toBe(403);
    // carol holds orders:read (read-orders allows) but the contractor deny rule limits her to her own orders.
    expect((await call('carol', '/orders/u-carol/7')).status).toBe(200);
    expect((await call('carol', '/orders/u-alice/7')).status).toBe(403);
    expect((await call('alice', '/orders/u-carol/7')).status).toBe(200);
  });

  it('anonymous callers on a public route only where the policy allows them', async () => {
    expect((await call(null, '/status')).status).toBe(200);
    expect((await call(null, '/status', 'POST')).status).toBe(403);
  });
});

describe('decision debug header', () => {
  it('trusted callers who ask get each decision as effect policy:rule, on allows and denies alike', async () => {
    const allowed = await call('alice', '/users/u-alice', 'GET', DEBUG);
    expect(allowed.status).toBe(200);
    expect(allowed.headers['x-rampart-decision']).toBe('allow authorize:own-profile');
    expect(allowed.headers['cache-control']).toBe('no-store');
    const admin = await call('bob', '/admin', 'GET', DEBUG);
    expect(admin.headers['x-rampart-decision']).toBe('allow authorize:roles');
    const denied = await call('bob', '/orders', 'GET', DEBUG);
    expect(denied.status).toBe(403);
    expect(denied.headers['x-rampart-decision']).toBe('deny authorize:default');
    const deny = await call('alice', '/orders/1', 'DELETE', DEBUG);
    expect(deny.headers['x-rampart-decision']).toBe('deny authorize:default');
    // Reasons never travel in the header.
    expect(denied.headers['x-rampart-decision']).not.toMatch(/no rule matched/);
  });

  it('never for untrusted callers: a role outside the list, an address outside the CIDRs, or no identity', async () => {
    const carol = await call('carol', '/orders/u-alice/7', 'GET', DEBUG);
    expect(carol.status).toBe(403);
    expect(carol.headers['x-rampart-decision']).toBeUndefined();
    // bob is trusted by role, but this request comes (through a trusted proxy) from an outside address.
    const far = await call('bob', '/admin', 'GET', { ...DEBUG, 'x-forwarded-for': '203.0.113.9' });
    expect(far.status).toBe(200);
    expect(far.headers['x-rampart-decision']).toBeUndefined();
    expect((await call(null, '/status', 'GET', DEBUG)).headers['x-rampart-decision']).toBeUndefined();
    expect((await call(null, '/admin', 'GET', DEBUG)).headers['x-rampart-decision']).toBeUndefined();
  });

  it('not without the request header, and an upstream copy of the header is always dropped', async () => {
    const plain = await call('bob', '/admin');
    expect(plain.status).toBe(200);
    expect(plain.headers['x-rampart-decision']).toBeUndefined();
    expect(plain.headers['cache-control']).toBeUndefined();
  });
});

describe('rampart validate on a broken condition', () => {
  it('prints file:line:column and the field for syntax, unknown-variable and type errors, and exits 1', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(
      file,
      `listeners: [{ port: 8080 }]
routes:
  - name: users
    paths: ["/users/{id}"]
    policies:
      authorize:
        rules:
          - name: own
            when: 'request.params.id == identity.attributes.user_id &&'
          - name: typo
            when: 'request.params.id == identiy.attributes.user_id'
          - name: types
            when: 'request.method > 3'
`,
    );
    const r = await run(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'validate', file], { cwd: dir }).then(
      (o) => ({ code: 0, err: o.stderr }),
      (e: { code?: number; stderr?: string }) => ({ code: e.code ?? 1, err: e.stderr ?? '' }),
    );
    expect(r.code).toBe(1);
    const lines = r.err.trim().split('\n');
    expect(lines[0]).toBe(
      `${file}:9:19 error routes[0].policies.authorize.rules[0].when: CEL syntax error at column 52 of the expression: Unexpected token: EOF`,
    );
    expect(lines[1]).toBe(
      `${file}:11:19 error routes[0].policies.authorize.rules[1].when: CEL type error at column 22 of the expression: Unknown variable: identiy`,
    );
    expect(lines[2]).toBe(
      `${file}:13:19 error routes[0].policies.authorize.rules[2].when: CEL type error at column 1 of the expression: no such overload: string > int`,
    );
    expect(lines[3]).toBe(`${file}: 3 error(s)`);
  });
});
