import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { ServiceRegistry } from '../../src/core/shared.js';
import { createLogger } from '../../src/observability/logger.js';
import { openServices, type Services } from '../../src/services.js';
import type { Issued } from '../../src/tls/certs.js';
import { fingerprintOfPem } from '../../src/tls/fingerprint.js';
import { LogSink, ROOT, startGateway, startUpstream } from '../helpers.js';
import { makePki, type Pki } from '../tls-helpers.js';

/**
 * mtls-identity behind a real TLS listener that asks for client certificates, on a real SQLite store with a real
 * keyring; bindings are made and revoked with the CLI (`rampart certs bind/unbind`, a separate process on the same
 * database), as an operator would. Needs `npx tsc -p tsconfig.build.json` first (the CLI runs from dist/).
 */

type Leaf = Issued & { certFile: string; keyFile: string };
type Gw = Awaited<ReturnType<typeof startGateway>>;

const run = promisify(execFile);

let dir: string;
let configFile: string;
let services: Services;
let pki: Pki;
let alice: Leaf;
let bob: Leaf;
let orders: Leaf;
let devSvc: Leaf;
let gw: Gw;
let up: Awaited<ReturnType<typeof startUpstream>>;
let upstreamHits = 0;

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on its own TLS connection, with a client certificate or none. */
function get(path: string, client?: Leaf): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: gw.port,
        path,
        ca: pki.ca.cert,
        servername: 'localhost',
        agent: false,
        ...(client && { cert: client.cert, key: client.key }),
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
    req.end();
  });
}

/** Runs `rampart ARGS -c CONFIG` (the built CLI) to its end. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), ...args, '-c', configFile], {
      cwd: dir,
    });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? 1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-mtls-e2e-'));
  configFile = join(dir, 'rampart.yaml');
  writeFileSync(configFile, `environment: development\ndata_dir: ${dir}\nstore: {}\nlisteners: [{ port: 0 }]\n`);
  const { config, file } = loadConfigFile(configFile);
  const opened = await openServices(config, file, createLogger('warn', new LogSink()));
  if (!opened) throw new Error('no store');
  services = opened;
  await services.store.consumers.create({ name: 'alice', groups: ['ops'] });
  await services.store.consumers.create({ name: 'orders-svc' });

  pki = await makePki('rampart-mtls-e2e-');
  const server = await pki.leaf('localhost', { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
  alice = await pki.leaf('alice', { commonName: 'alice', usage: 'client' });
  bob = await pki.leaf('bob', { commonName: 'bob', usage: 'client' });
  orders = await pki.leaf('orders', {
    commonName: 'orders',
    altNames: ['orders.svc.acme.example', 'spiffe://acme.example/ns/prod/sa/orders'],
    usage: 'client',
  });
  devSvc = await pki.leaf('dev', {
    commonName: 'dev',
    altNames: ['spiffe://acme.example/ns/dev/sa/orders'],
    usage: 'client',
  });
  up = await startUpstream((_req, res) => {
    upstreamHits++;
    res.end('upstream');
  });
  const mtls = `
      mtls-identity:
        require: true
        match:
          - { san_uri: "spiffe://acme.example/ns/prod/*", consumer: orders-svc }`;
  gw = await startGateway(
    `
listeners:
  - port: 0
    tls:
      certificates:
        - { cert_file: ${server.certFile}, key_file: ${server.keyFile} }
      client_auth:
        mode: request
        ca_file: ${pki.dir}/ca.pem
upstreams:
  app: { targets: ["${up.url}"] }
routes:
  - name: api
    paths: ["/api"]
    upstream: app
    policies:${mtls}
  - name: admin
    paths: ["/admin"]
    upstream: app
    policies:${mtls}
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

describe('mtls-identity behind a TLS listener', () => {
  it('refuses a client without a certificate (deny by default) and an unbound certificate (require)', async () => {
    const none = await get('/api');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('mTLS realm="rampart"');
    const unbound = await get('/api', bob);
    expect(unbound.status).toBe(401);
    expect(JSON.parse(unbound.body)).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(upstreamHits).toBe(0);
  });

  it('maps certificates by SAN URI rules', async () => {
    expect((await get('/api', orders)).status).toBe(200);
    expect((await get('/admin', orders)).status).toBe(200);
    expect((await get('/api', devSvc)).status).toBe(401);
    expect(upstreamHits).toBe(2);
  });

  it('binds a certificate with the CLI; the gateway maps it to the consumer, limited to its routes', async () => {
    const bound = await cli('certs', 'bind', 'alice', '--cert', alice.certFile, '--route', 'api');
    expect(bound.code, bound.err).toBe(0);
    const fp = fingerprintOfPem(alice.cert).fingerprint;
    expect(bound.out).toContain(`bound certificate ${fp}`);
    const cred = await services.store.credentials.getByKeyId(fp);
    expect(cred).toMatchObject({ kind: 'mtls', routes: ['api'], revoked_at: null });
    // The gateway's negative cache (≤ 500 ms) may still hold "unbound" from an earlier look: poll briefly.
    const t0 = Date.now();
    let r = await get('/api', alice);
    while (r.status !== 200 && Date.now() - t0 < 2000) r = await get('/api', alice);
    expect(r.status).toBe(200);
    expect(r.body).toBe('upstream');
    // Known, but not allowed on this route: 403, not 401.
    const admin = await get('/admin', alice);
    expect(admin.status).toBe(403);
    expect(JSON.parse(admin.body)).toMatchObject({ code: 'INSUFFICIENT_SCOPE' });

    const list = await cli('certs', 'bindings', '--json');
    expect(list.code, list.err).toBe(0);
    expect(JSON.parse(list.out)).toMatchObject([{ key_id: fp, consumer: 'alice', status: 'active' }]);
  });

  it('refuses a certificate within 1 s of its binding being revoked', async () => {
    expect((await get('/api', alice)).status).toBe(200);
    const unbound = await cli('certs', 'unbind', '--cert', alice.certFile);
    expect(unbound.code, unbound.err).toBe(0);
    const revokedAt = Date.now();
    let r = await get('/api', alice);
    while (r.status === 200 && Date.now() - revokedAt < 3000) {
      await new Promise((res) => setTimeout(res, 25));
      r = await get('/api', alice);
    }
    const took = Date.now() - revokedAt;
    expect(r.status).toBe(401);
    expect(took).toBeLessThan(1000);
    // A revoked binding refuses the certificate on every route, rules or not.
    expect((await get('/admin', alice)).status).toBe(401);
    // Binding it again replaces the revoked credential.
    const again = await cli('certs', 'bind', 'alice', '--cert', alice.certFile);
    expect(again.code, again.err).toBe(0);
    const t0 = Date.now();
    r = await get('/admin', alice);
    while (r.status !== 200 && Date.now() - t0 < 2000) r = await get('/admin', alice);
    expect(r.status).toBe(200);
  });
});
