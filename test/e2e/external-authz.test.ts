import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { ServiceRegistry } from '../../src/core/shared.js';
import { generateApiKey } from '../../src/identity/api-key.js';
import { createLogger } from '../../src/observability/logger.js';
import { CREDENTIAL_MAC_PURPOSE, openServices, type Services } from '../../src/services.js';
import { freePort, LogSink, send, startGateway, startUpstream } from '../helpers.js';
import { startPdp, type TestPdp } from '../pdp.js';

/**
 * external-authz behind a real gateway: API keys on a real SQLite store with a real keyring identify the callers,
 * and a small real HTTP policy service (test/pdp.ts: OPA's data API and the AuthZEN evaluation endpoint, one rule
 * table) decides. It counts its calls, and can stall, fail, or be taken down.
 */

type Gw = Awaited<ReturnType<typeof startGateway>>;

let dir: string;
let services: Services;
let registry: ServiceRegistry;
let pdp: TestPdp;
let gw: Gw;
let up: Awaited<ReturnType<typeof startUpstream>>;
let upstreamHits = 0;
const keys: Record<string, string> = {};

async function consumerWithKey(name: string, groups: string[]): Promise<string> {
  const c = await services.store.consumers.create({ name, groups, attributes: { tier: 'gold' } });
  const { key, keyId } = generateApiKey();
  await services.store.credentials.create({
    consumer_id: c.id,
    kind: 'api-key',
    key_id: keyId,
    secret_hash: services.keyring.mac(CREDENTIAL_MAC_PURPOSE, key),
    scopes: [],
    routes: [],
    expires_at: null,
  });
  return key;
}

const get = (path: string, who?: string, method = 'GET') =>
  send(gw.port, path, { method, headers: who ? { 'x-api-key': keys[who] as string } : {} });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-external-authz-'));
  const configFile = join(dir, 'rampart.yaml');
  writeFileSync(configFile, `environment: development\ndata_dir: ${dir}\nstore: {}\nlisteners: [{ port: 0 }]\n`);
  const { config, file } = loadConfigFile(configFile);
  const opened = await openServices(config, file, createLogger('warn', new LogSink()));
  if (!opened) throw new Error('no store');
  services = opened;
  keys.alice = await consumerWithKey('alice', ['staff']);
  keys.bob = await consumerWithKey('bob', ['staff']);
  keys.root = await consumerWithKey('root', ['admin']);

  pdp = await startPdp([
    { role: 'admin', allow: true, reason: 'admin' },
    { subject: 'alice', route: 'orders', method: 'GET', allow: true, reason: 'reader' },
    { subject: 'alice', route: 'docs', resource: 'doc-1', allow: true, reason: 'owner' },
    { subject: 'bob', allow: false, reason: 'bob is blocked' },
    { subject: null, route: 'catalog', method: 'GET', allow: true, reason: 'public read' },
  ]);
  up = await startUpstream((_req, res) => {
    upstreamHits++;
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  const down = await freePort(); // nothing listens there
  registry = new ServiceRegistry(services.store, services.keyring);
  gw = await startGateway(
    `
listeners: [{ port: 0 }]
upstreams:
  app: { targets: ["${up.url}"] }
policies:
  api-key: {}
routes:
  - name: orders
    paths: ["/orders/{id}"]
    upstream: app
    policies:
      external-authz: { protocol: opa, url: "${pdp.url}", opa: { path: rampart/authz }, timeout_ms: 3000 }
  - name: docs
    paths: ["/docs/{docId}"]
    upstream: app
    policies:
      external-authz:
        protocol: authzen
        url: "${pdp.url}"
        timeout_ms: 3000
        authzen: { resource: { type: document, id: "param:docId" }, action: crud }
  - name: reports
    paths: ["/reports/{id}"]
    upstream: app
    policies:
      external-authz: { protocol: opa, url: "${pdp.url}", opa: { path: rampart/authz }, timeout_ms: 300 }
  - name: down
    paths: ["/down/{id}"]
    upstream: app
    policies:
      external-authz: { protocol: authzen, url: "http://127.0.0.1:${down}", timeout_ms: 1000 }
  - name: catalog
    paths: ["/catalog"]
    public: true
    upstream: app
    policies:
      external-authz: { protocol: opa, url: "${pdp.url}", opa: { path: rampart/authz/allow }, anonymous: ask }
`,
    {},
    { services: registry },
  );
});

afterAll(async () => {
  await gw?.close();
  await registry?.close();
  await up?.close();
  await pdp?.close();
  await services?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  pdp.reset();
  upstreamHits = 0;
});

describe('OPA data API', () => {
  it('lets through what the PDP allows, and refuses what it denies before the upstream', async () => {
    const ok = await get('/orders/1', 'alice');
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('{"ok":true}');
    expect(upstreamHits).toBe(1);
    const denied = await get('/orders/1', 'bob');
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body)).toMatchObject({ code: 'FORBIDDEN', status: 403 });
    expect(denied.body).not.toContain('blocked'); // the PDP's reason is recorded, never sent
    expect(upstreamHits).toBe(1);
    expect((await get('/orders/1', 'alice', 'DELETE')).status).toBe(403);
    expect((await get('/orders/1', 'root', 'DELETE')).status).toBe(200);
    expect(pdp.count('opa')).toBe(4);
    const input = (pdp.calls[0]?.body.input ?? {}) as Record<string, Record<string, unknown>>;
    expect(input.request).toMatchObject({ method: 'GET', path: '/orders/1', route: 'orders', params: { id: '1' } });
    expect(input.identity).toMatchObject({ kind: 'api-key', subject: 'alice', roles: ['staff'] });
    // The caller's API key never reaches the PDP.
    expect(JSON.stringify(pdp.calls)).not.toContain(keys.alice);
  });

  it('answers a repeated request from the cache: no second PDP call', async () => {
    expect((await get('/orders/7', 'alice')).status).toBe(200);
    expect(pdp.count()).toBe(1);
    for (let i = 0; i < 3; i++) expect((await get('/orders/7', 'alice')).status).toBe(200);
    expect(pdp.count()).toBe(1);
    expect(upstreamHits).toBe(4);
    // A deny is cached too (deny_ttl_s), and another caller or object is another question.
    expect((await get('/orders/7', 'bob')).status).toBe(403);
    expect((await get('/orders/7', 'bob')).status).toBe(403);
    expect((await get('/orders/8', 'alice')).status).toBe(200);
    expect(pdp.count()).toBe(3);
  });

  it('coalesces concurrent identical requests into one PDP call', async () => {
    pdp.mode = 'delay';
    pdp.delayMs = 150;
    const all = await Promise.all(Array.from({ length: 6 }, () => get('/orders/99', 'alice')));
    expect(all.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(pdp.count()).toBe(1);
  });

  it('puts anonymous callers of a public route to the PDP when the route says so', async () => {
    expect((await get('/catalog')).status).toBe(200);
    expect((await get('/catalog', undefined, 'POST')).status).toBe(403);
    expect((pdp.calls[0]?.body.input ?? {}) as Record<string, unknown>).toMatchObject({ identity: null });
    expect(pdp.calls[0]?.url).toBe('/v1/data/rampart/authz/allow');
  });
});

describe('AuthZEN evaluation', () => {
  it('allows and denies per resource id from the path', async () => {
    expect((await get('/docs/doc-1', 'alice')).status).toBe(200);
    expect((await get('/docs/doc-2', 'alice')).status).toBe(403);
    expect((await get('/docs/doc-2', 'root', 'DELETE')).status).toBe(200);
    expect(pdp.count('authzen')).toBe(3);
    expect(pdp.calls[0]?.body).toMatchObject({
      subject: { type: 'user', id: 'alice', properties: { kind: 'api-key', roles: ['staff'] } },
      resource: { type: 'document', id: 'doc-1', properties: { route: 'docs' } },
      action: { name: 'can_read', properties: { method: 'GET' } },
    });
    expect(pdp.calls[2]?.body.action).toMatchObject({ name: 'can_delete' });
    // Cached like OPA's answers.
    expect((await get('/docs/doc-1', 'alice')).status).toBe(200);
    expect(pdp.count('authzen')).toBe(3);
    expect(upstreamHits).toBe(3);
  });
});

describe('fails closed', () => {
  it('denies when the PDP does not answer within timeout_ms', async () => {
    pdp.mode = 'stall';
    const r = await get('/reports/1', 'alice');
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'FORBIDDEN' });
    // Even an admin: no decision is no access.
    expect((await get('/reports/1', 'root')).status).toBe(403);
    expect(upstreamHits).toBe(0);
    expect(
      gw.logs.lines.some((l) => l.reason === 'timeout' && String(l.msg).includes('external-authz: no decision')),
    ).toBe(true);
  });

  it('denies when the PDP is down', async () => {
    expect((await get('/down/1', 'root')).status).toBe(403);
    expect((await get('/down/1', 'alice')).status).toBe(403);
    expect(upstreamHits).toBe(0);
  });

  it('denies on an error answer, and decides again once the PDP is back', async () => {
    pdp.mode = 'status500';
    expect((await get('/orders/55', 'root')).status).toBe(403);
    pdp.mode = 'malformed';
    expect((await get('/orders/55', 'root')).status).toBe(403);
    pdp.mode = 'normal';
    expect((await get('/orders/55', 'root')).status).toBe(200);
    expect(pdp.count()).toBe(3);
  });
});
