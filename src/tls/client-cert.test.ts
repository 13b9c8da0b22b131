import type { IncomingMessage } from 'node:http';
import http2 from 'node:http2';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../test/helpers.js';
import { makePki, type Pki } from '../../test/tls-helpers.js';
import type { ClientCertificate, RequestContext } from '../core/context.js';
import { clientCertOf } from './client-cert.js';

let pki: Pki;
type Leaf = { cert: string; key: string; serial: string };
let server: Leaf;
let alice: Leaf;
let eve: Leaf;

beforeAll(async () => {
  pki = await makePki();
  server = await pki.leaf('server', { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
  alice = await pki.leaf('alice', {
    commonName: 'alice',
    altNames: ['alice.clients.test', '10.0.0.7'],
    usage: 'client',
  });
  eve = await (await makePki('rampart-other-')).leaf('eve', { commonName: 'eve', usage: 'client' });
});

/** GET / over HTTP/1.1 with an optional client certificate; resolves once answered. */
function get(port: number, cert?: Leaf, agent: false | import('node:https').Agent = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        ca: pki.ca.cert,
        cert: cert?.cert,
        key: cert?.key,
        agent,
        servername: 'localhost',
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('clientCertOf', () => {
  const seen: (ClientCertificate | null)[] = [];
  let port = 0;
  let h2port = 0;
  let h1: ReturnType<typeof createServer>;
  let h2: http2.Http2SecureServer;
  // `request` mode: every client connects, only verified certificates count.
  const opts = () => ({
    cert: server.cert,
    key: server.key,
    ca: pki.ca.cert,
    requestCert: true,
    rejectUnauthorized: false,
  });

  beforeAll(async () => {
    h1 = createServer(opts(), (req, res) => {
      seen.push(clientCertOf(req));
      res.end();
    });
    h2 = http2.createSecureServer(opts(), (req, res) => {
      seen.push(clientCertOf(req as unknown as IncomingMessage));
      res.end();
    });
    await new Promise<void>((r) => h1.listen(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', () => r()));
    port = (h1.address() as AddressInfo).port;
    h2port = (h2.address() as AddressInfo).port;
  });
  afterAll(() => {
    h1.closeAllConnections();
    h1.close();
    h2.close();
  });

  it('describes a verified certificate', async () => {
    seen.length = 0;
    await get(port, alice);
    const c = seen[0];
    expect(c).toMatchObject({
      subject: 'CN=alice',
      issuer: 'CN=Rampart Test CA',
      commonName: 'alice',
      subjectAltNames: ['DNS:alice.clients.test', 'IP Address:10.0.0.7'],
      serialNumber: alice.serial.toUpperCase(),
    });
    expect(c?.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(c?.validFrom).toBeInstanceOf(Date);
    expect(c?.validTo.getTime()).toBeGreaterThan(Date.now());
    expect(c?.raw.toString('base64')).toBe(alice.cert.replace(/-----[^-]+-----|\s/g, ''));
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('is null without a certificate, and for one that did not verify', async () => {
    seen.length = 0;
    await get(port);
    await get(port, eve);
    expect(seen).toEqual([null, null]);
  });

  it('is read once per connection (keep-alive requests share it)', async () => {
    seen.length = 0;
    const { Agent } = await import('node:https');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    await get(port, alice, agent);
    await get(port, alice, agent);
    agent.destroy();
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBe(seen[0]);
  });

  it('works on HTTP/2 streams (the certificate is on the session socket)', async () => {
    seen.length = 0;
    const session = http2.connect(`https://localhost:${h2port}`, { ca: pki.ca.cert, cert: alice.cert, key: alice.key });
    for (let i = 0; i < 2; i++) {
      await new Promise<void>((resolve, reject) => {
        const r = session.request({ ':path': '/' });
        r.on('response', () => r.resume());
        r.on('end', resolve);
        r.on('error', reject);
        r.end();
      });
    }
    session.close();
    expect(seen[0]?.commonName).toBe('alice');
    expect(seen[1]).toBe(seen[0]);
  });
});

describe('ctx.clientCert in the gateway', () => {
  it('is set from the verified certificate before the policies run, null otherwise', async () => {
    const gw = await startGateway(`
listeners:
  - port: 0
    tls:
      certificates: [{ cert_file: ${pki.dir}/server.pem, key_file: ${pki.dir}/server-key.pem }]
      client_auth: { mode: request, ca_file: ${pki.dir}/ca.pem }
metrics: { enabled: false }
`);
    // Requests that match no route run the global pipeline: watch what it is handed.
    const seen: (string | null)[] = [];
    const pl = gw.gw.current?.fallback;
    if (!pl) throw new Error('no generation');
    const run = pl.run.bind(pl);
    pl.run = (ctx: RequestContext, terminal) => {
      seen.push(ctx.clientCert?.commonName ?? null);
      return run(ctx, terminal);
    };
    try {
      expect(await get(gw.port, alice)).toBe(404);
      expect(await get(gw.port)).toBe(404);
      expect(await get(gw.port, eve)).toBe(404);
      expect(seen).toEqual(['alice', null, null]);
    } finally {
      await gw.close();
    }
  });
});
