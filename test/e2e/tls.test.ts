import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import http2 from 'node:http2';
import { Agent, createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type ConnectionOptions, type PeerCertificate, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { type Issued, selfSigned } from '../../src/tls/certs.js';
import { ROOT, spawnRampart, startGateway, startUpstream, tmpFile } from '../helpers.js';
import { makePki, type Pki } from '../tls-helpers.js';

type Gw = Awaited<ReturnType<typeof startGateway>>;
type Leaf = Issued & { certFile: string; keyFile: string };

interface Handshake {
  ok: boolean;
  protocol?: string | null;
  subject?: string;
  serial?: string;
  alpn?: string | false | null;
  error?: string;
}

/** One TLS handshake, then close. Old protocol versions are allowed on the client (SECLEVEL=0), so a refusal is the server's. */
function handshake(
  port: number,
  o: {
    servername?: string;
    minVersion?: 'TLSv1' | 'TLSv1.2';
    maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
    ca: string;
    ALPNProtocols?: string[];
  },
): Promise<Handshake> {
  return new Promise((resolve) => {
    const s = tlsConnect(
      {
        host: '127.0.0.1',
        port,
        ca: o.ca,
        servername: o.servername,
        minVersion: o.minVersion ?? 'TLSv1',
        maxVersion: o.maxVersion ?? 'TLSv1.3',
        ciphers: 'DEFAULT:@SECLEVEL=0',
        ALPNProtocols: o.ALPNProtocols,
        // Checked by hand below: the point is which certificate the server chose.
        rejectUnauthorized: false,
      },
      () => {
        const c = s.getPeerX509Certificate();
        resolve({
          ok: true,
          protocol: s.getProtocol(),
          subject: c?.subject,
          serial: c?.serialNumber,
          alpn: s.alpnProtocol,
        });
        s.end();
      },
    );
    s.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, error: e.code ?? e.message }));
  });
}

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  httpVersion: string;
  socket: TLSSocket;
  /** Serial number of the certificate the server presented on this connection. */
  serial: string | undefined;
  reused: boolean;
}

/** HTTP/1.1 over TLS. Rejects when the connection is refused or cut before an answer. */
function h1(
  port: number,
  path: string,
  o: { ca: string; cert?: string; key?: string; servername?: string; agent?: Agent; host?: string },
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        ca: o.ca,
        cert: o.cert,
        key: o.key,
        servername: o.servername ?? 'localhost',
        headers: o.host ? { host: o.host } : {},
        agent: o.agent ?? false,
      },
      (res) => {
        // Taken now: a keep-alive agent detaches the socket from the response once it ends.
        const socket = res.socket as TLSSocket;
        const serial = socket.getPeerX509Certificate()?.serialNumber;
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            httpVersion: res.httpVersion,
            socket,
            serial,
            reused: req.reusedSocket,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** One HTTP/2 request on a session. */
function h2(
  session: http2.ClientHttp2Session,
  path: string,
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const r = session.request({ ':path': path });
    let body = '';
    let headers: http2.IncomingHttpHeaders = {};
    r.on('response', (h) => {
      headers = h;
    });
    r.on('data', (c: Buffer) => {
      body += c.toString();
    });
    r.on('end', () => resolve({ status: Number(headers[':status']), headers, body }));
    r.on('error', reject);
    r.end();
  });
}

function h2connect(port: number, o: { ca: string; cert?: string; key?: string }): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://localhost:${port}`, { ca: o.ca, cert: o.cert, key: o.key });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

interface Echo {
  url: string;
  headers: Record<string, string>;
  clientCn?: string;
}

let pki: Pki;
let localhost: Leaf;
let aTest: Leaf;
let bTest: Leaf;
let alice: Leaf;
let mallory: Leaf;
let eve: Leaf;
let up: Awaited<ReturnType<typeof startUpstream>>;
let upCount = 0;

beforeAll(async () => {
  pki = await makePki();
  localhost = await pki.leaf('localhost', { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
  aTest = await pki.leaf('a', { commonName: 'a.test', altNames: ['a.test', '*.a.test'] });
  bTest = await pki.leaf('b', { commonName: 'b.test', altNames: ['b.test'] });
  alice = await pki.leaf('alice', { commonName: 'alice', usage: 'client' });
  mallory = await pki.leaf('mallory', { commonName: 'mallory', usage: 'client' });
  const other = await makePki('rampart-tls-other-');
  eve = await other.leaf('eve', { commonName: 'eve', usage: 'client' });
  await pki.crl([mallory.serial]);
  up = await startUpstream((req, res) => {
    upCount++;
    if (req.url === '/upload') {
      // Answers once the whole body is in, as an upstream that needs the body does.
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
      });
      req.on('end', () => res.end(`uploaded ${n} bytes`));
      return;
    }
    if (req.url === '/slow') {
      setTimeout(() => res.end('slow done'), 300);
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url, headers: req.headers }));
  });
});

afterAll(async () => {
  await up?.close();
});

const base = () => `
metrics: { enabled: false }
logging: { level: debug }
upstreams:
  echo: { targets: ["${up.url}"] }
routes:
  - { name: all, public: true, paths: ["/*"], upstream: echo, websocket: true }
`;

describe('HTTPS listener', () => {
  let gw: Gw;
  beforeAll(async () => {
    gw = await startGateway(`
listeners:
  - port: 0
    tls:
      certificates:
        - { cert_file: ${localhost.certFile}, key_file: ${localhost.keyFile} }
        - { cert_file: ${aTest.certFile}, key_file: ${aTest.keyFile} }
        - { cert_file: ${bTest.certFile}, key_file: ${bTest.keyFile}, hosts: [b.test, other.example] }
policies:
  security-headers: {}
${base()}`);
  });
  afterAll(() => gw?.close());

  it('refuses TLS 1.0 and 1.1, accepts 1.2 and prefers 1.3', async () => {
    for (const v of ['TLSv1', 'TLSv1.1'] as const) {
      const r = await handshake(gw.port, { ca: pki.ca.cert, maxVersion: v });
      expect(r.ok, v).toBe(false);
      expect(r.error).toMatch(/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/);
    }
    expect((await handshake(gw.port, { ca: pki.ca.cert, maxVersion: 'TLSv1.2' })).protocol).toBe('TLSv1.2');
    expect((await handshake(gw.port, { ca: pki.ca.cert })).protocol).toBe('TLSv1.3');
  });

  it('serves HTTP/2 and HTTP/1.1 on one port, both proxied, with HSTS', async () => {
    const session = await h2connect(gw.port, { ca: pki.ca.cert });
    const r2 = await h2(session, '/two?x=1');
    session.close();
    expect(r2.status).toBe(200);
    expect(r2.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    const e2 = JSON.parse(r2.body) as Echo;
    expect(e2.url).toBe('/two?x=1');
    // :authority became the forwarded host; no pseudo-header went upstream.
    expect(e2.headers['x-forwarded-host']).toBe(`localhost:${gw.port}`);
    expect(e2.headers['x-forwarded-proto']).toBe('https');
    expect(Object.keys(e2.headers).filter((k) => k.startsWith(':'))).toEqual([]);

    const r1 = await h1(gw.port, '/one', { ca: pki.ca.cert });
    expect(r1.httpVersion).toBe('1.1');
    expect(r1.status).toBe(200);
    expect(r1.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect((JSON.parse(r1.body) as Echo).headers['x-forwarded-proto']).toBe('https');

    expect((await handshake(gw.port, { ca: pki.ca.cert, ALPNProtocols: ['h2', 'http/1.1'] })).alpn).toBe('h2');
    expect((await handshake(gw.port, { ca: pki.ca.cert, ALPNProtocols: ['http/1.1'] })).alpn).toBe('http/1.1');
  });

  it('picks the certificate by SNI: SAN names, wildcards, hosts, and the first as default', async () => {
    const cn = async (servername?: string) => (await handshake(gw.port, { ca: pki.ca.cert, servername })).subject;
    expect(await cn('a.test')).toBe('CN=a.test');
    expect(await cn('API.A.TEST')).toBe('CN=a.test');
    expect(await cn('b.test')).toBe('CN=b.test');
    expect(await cn('other.example')).toBe('CN=b.test');
    expect(await cn('unknown.test')).toBe('CN=localhost');
    expect(await cn(undefined)).toBe('CN=localhost');
    // A name only in the SAN of a certificate with explicit hosts is not used for selection.
    const r = await h1(gw.port, '/', { ca: pki.ca.cert, servername: 'b.test', host: 'b.test' });
    expect(r.status).toBe(200);
  });

  it('passes WebSocket upgrades over TLS (HTTP/1.1 on the HTTP/2 port)', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${m.toString()}`)));
    const wsPort = (wss.address() as AddressInfo).port;
    const g = await startGateway(`
listeners:
  - port: 0
    tls:
      certificates: [{ cert_file: ${localhost.certFile}, key_file: ${localhost.keyFile} }]
metrics: { enabled: false }
upstreams: { ws: { targets: ["http://127.0.0.1:${wsPort}"] } }
routes: [{ name: ws, public: true, paths: ["/*"], upstream: ws, websocket: true }]
`);
    try {
      const ws = new WebSocket(`wss://localhost:${g.port}/chat`, { ca: pki.ca.cert });
      const got = await new Promise<string>((resolve, reject) => {
        ws.on('open', () => ws.send('hi'));
        ws.on('message', (m) => resolve(m.toString()));
        ws.on('error', reject);
      });
      expect(got).toBe('echo:hi');
      ws.close();
    } finally {
      await g.close();
      wss.close();
    }
  });

  it('streams an HTTP/2 request body without Content-Length to the upstream', async () => {
    const session = await h2connect(gw.port, { ca: pki.ca.cert });
    try {
      const got = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const r = session.request({ ':path': '/upload', ':method': 'POST' });
        let status = 0;
        let body = '';
        r.on('response', (h) => {
          status = Number(h[':status']);
        });
        r.on('data', (c: Buffer) => {
          body += c.toString();
        });
        r.on('end', () => resolve({ status, body }));
        r.on('error', reject);
        r.write('part one, ');
        setTimeout(() => r.end('part two'), 50);
      });
      expect(got).toEqual({ status: 200, body: 'uploaded 18 bytes' });
    } finally {
      session.close();
    }
  });

  it('drains HTTP/2 on shutdown: the request in flight finishes, sessions get GOAWAY', async () => {
    const g = await startGateway(`
listeners:
  - port: 0
    tls:
      certificates: [{ cert_file: ${localhost.certFile}, key_file: ${localhost.keyFile} }]
${base()}`);
    const busy = await h2connect(g.port, { ca: pki.ca.cert });
    const idle = await h2connect(g.port, { ca: pki.ca.cert });
    const goaway = new Promise<void>((r) => idle.once('goaway', () => r()));
    const slow = h2(busy, '/slow');
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await g.close();
    expect(Date.now() - t0).toBeLessThan(900);
    expect(await slow).toMatchObject({ status: 200, body: 'slow done' });
    await goaway;
    busy.close();
    idle.close();
  });

  it('cuts an HTTP/2 request whose body does not arrive within request_timeout_ms', async () => {
    const g = await startGateway(`
listeners:
  - port: 0
    request_timeout_ms: 300
    tls:
      certificates: [{ cert_file: ${localhost.certFile}, key_file: ${localhost.keyFile} }]
${base()}`);
    const session = await h2connect(g.port, { ca: pki.ca.cert });
    try {
      const r = session.request({ ':path': '/upload', ':method': 'POST' });
      r.write('partial');
      const t0 = Date.now();
      const code = await new Promise<number>((resolve) => {
        r.on('close', () => resolve(r.rstCode));
        r.on('error', () => {});
        r.resume();
      });
      expect(code).toBe(http2.constants.NGHTTP2_CANCEL);
      expect(Date.now() - t0).toBeLessThan(2000);
      // The session itself stays usable.
      expect((await h2(session, '/after')).status).toBe(200);
    } finally {
      session.close();
      await g.close();
    }
  });

  it('http2: false serves HTTP/1.1 only', async () => {
    const g = await startGateway(`
listeners:
  - port: 0
    tls:
      http2: false
      certificates: [{ cert_file: ${localhost.certFile}, key_file: ${localhost.keyFile} }]
${base()}`);
    try {
      expect((await handshake(g.port, { ca: pki.ca.cert, ALPNProtocols: ['h2', 'http/1.1'] })).alpn).toBe('http/1.1');
      const r = await h1(g.port, '/plain-https', { ca: pki.ca.cert });
      expect(r.status).toBe(200);
      expect((JSON.parse(r.body) as Echo).headers['x-forwarded-proto']).toBe('https');
    } finally {
      await g.close();
    }
  });

  it('only allows min_version TLSv1.3 when set', async () => {
    const g = await startGateway(`
listeners:
  - port: 0
    tls:
      min_version: TLSv1.3
      certificates: [{ cert_file: ${localhost.certFile}, key_file: ${localhost.keyFile} }]
${base()}`);
    try {
      expect((await handshake(g.port, { ca: pki.ca.cert, maxVersion: 'TLSv1.2' })).ok).toBe(false);
      expect((await handshake(g.port, { ca: pki.ca.cert })).protocol).toBe('TLSv1.3');
    } finally {
      await g.close();
    }
  });
});

describe('certificate rotation', () => {
  it('new connections get the new certificate; an open connection and an HTTP/2 session keep working', async () => {
    const rot = await makePki('rampart-rot-');
    const first = await rot.leaf('site', { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
    // The CA of `rot` signs both, so the client trusts the old and the new.
    const g = await startGateway(`
listeners:
  - port: 0
    keep_alive_timeout_ms: 60000
    tls:
      certificates: [{ cert_file: ${first.certFile}, key_file: ${first.keyFile} }]
${base()}`);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await h1(g.port, '/before', { ca: rot.ca.cert, agent });
      expect(before.status).toBe(200);
      expect(before.serial).toBe(serialOf(first.cert));
      const session = await h2connect(g.port, { ca: rot.ca.cert });
      expect((await h2(session, '/h2-before')).status).toBe(200);

      // Rotate: new key and certificate renamed over the old files, as cert-manager or certbot do.
      const second = await rot.leaf('site', { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
      const seen = await until(
        () => handshake(g.port, { ca: rot.ca.cert, servername: 'localhost' }),
        (h) => h.serial === serialOf(second.cert),
      );
      expect(seen.serial).toBe(serialOf(second.cert));
      // Clients without SNI get the server's default context, replaced too.
      expect((await handshake(g.port, { ca: rot.ca.cert })).serial).toBe(serialOf(second.cert));
      expect(g.logs.lines.some((l) => l.msg === 'TLS certificates reloaded')).toBe(true);

      const after = await h1(g.port, '/after', { ca: rot.ca.cert, agent });
      expect(after.status).toBe(200);
      expect(after.reused).toBe(true);
      // The very connection made before the rotation (so with the first certificate), still serving.
      expect(after.socket).toBe(before.socket);
      expect((await h2(session, '/h2-after')).status).toBe(200);
      session.close();

      // A broken rotation (a key of another certificate) is refused; the current certificate keeps serving.
      const stray = await rot.leaf('stray', { commonName: 'stray' });
      rot.write('site-key.pem', stray.key);
      await until(
        async () => g.logs.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('TLS files changed but')),
        (v) => v,
      );
      const err = g.logs.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('TLS files changed but'));
      expect(err?.err).toMatch(/certificates\[0\]\.key_file: the key in .* does not match the certificate/);
      expect((await handshake(g.port, { ca: rot.ca.cert, servername: 'localhost' })).serial).toBe(
        serialOf(second.cert),
      );
    } finally {
      agent.destroy();
      await g.close();
    }
  });
});

describe('client certificates (mTLS)', () => {
  let required: Gw;
  let optional: Gw;
  beforeAll(async () => {
    const tls = (mode: string, crl: boolean) => `
    tls:
      certificates:
        - { cert_file: ${localhost.certFile}, key_file: ${localhost.keyFile} }
        - { cert_file: ${aTest.certFile}, key_file: ${aTest.keyFile} }
      client_auth:
        mode: ${mode}
        ca_file: ${pki.dir}/ca.pem
${crl ? `        crl_file: ${pki.dir}/crl.pem` : ''}`;
    required = await startGateway(`listeners:\n  - port: 0${tls('require', true)}\n${base()}`);
    optional = await startGateway(`listeners:\n  - port: 0${tls('request', false)}\n${base()}`);
  });
  afterAll(async () => {
    await required?.close();
    await optional?.close();
  });

  it('require: refuses no certificate, an untrusted one and a revoked one; lets a valid one through', async () => {
    const ca = pki.ca.cert;
    await expect(h1(required.port, '/none', { ca })).rejects.toThrow();
    await expect(h1(required.port, '/eve', { ca, cert: eve.cert, key: eve.key })).rejects.toThrow();
    await expect(h1(required.port, '/mallory', { ca, cert: mallory.cert, key: mallory.key })).rejects.toThrow();
    const before = upCount;
    const ok = await h1(required.port, '/alice', { ca, cert: alice.cert, key: alice.key });
    expect(ok.status).toBe(200);
    expect(upCount).toBe(before + 1);
    // The same checks on a certificate chosen by SNI (each context carries the client CA and the CRL).
    const sni = { ca, servername: 'a.test' };
    await expect(h1(required.port, '/sni-none', sni)).rejects.toThrow();
    await expect(h1(required.port, '/sni-mallory', { ...sni, cert: mallory.cert, key: mallory.key })).rejects.toThrow();
    expect((await h1(required.port, '/sni-alice', { ...sni, cert: alice.cert, key: alice.key })).status).toBe(200);
    const session = await h2connect(required.port, { ca, cert: alice.cert, key: alice.key });
    expect((await h2(session, '/alice-h2')).status).toBe(200);
    session.close();
    await until(
      async () => required.logs.lines.filter((l) => l.type === 'access').map((l) => l.path),
      (p) => p.includes('/alice-h2'),
    );
    const paths = required.logs.lines.filter((l) => l.type === 'access').map((l) => l.path);
    expect(paths).toEqual(['/alice', '/sni-alice', '/alice-h2']);
    const refused = required.logs.lines.filter((l) => l.msg === 'client certificate refused');
    expect(refused.map((l) => (l.err as { code?: string }).code).sort()).toEqual([
      'CERT_REVOKED',
      'CERT_REVOKED',
      'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
      'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    ]);
  });

  it('request: lets a client without a certificate through, and one with a valid certificate', async () => {
    const ca = pki.ca.cert;
    expect((await h1(optional.port, '/anon', { ca })).status).toBe(200);
    expect((await h1(optional.port, '/alice', { ca, cert: alice.cert, key: alice.key })).status).toBe(200);
  });
});

describe('configuration checks at load', () => {
  const yaml = (cert: string, key: string) => `
listeners:
  - port: 0
    tls:
      certificates:
        - cert_file: ${cert}
          key_file: ${key}
`;
  const issues = (text: string, baseDir = ROOT) => {
    try {
      parseConfig(text, 'gw.yaml', baseDir, {});
      return [];
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return e.message.split('\n').slice(1);
    }
  };

  it('refuses an expired certificate with a clear message', async () => {
    const old = await pki.leaf('expired', {
      commonName: 'old.test',
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2021-01-01T00:00:00Z'),
    });
    expect(issues(yaml(old.certFile, old.keyFile))).toEqual([
      `gw.yaml:6:22 error listeners[0].tls.certificates[0].cert_file: the certificate in ${old.certFile} (CN=old.test) expired on 2021-01-01T00:00:00Z: renew it`,
    ]);
  });

  it('refuses a certificate that is not valid yet', async () => {
    const soon = await pki.leaf('future', { commonName: 'future.test', notBefore: new Date(Date.now() + 86_400_000) });
    expect(issues(yaml(soon.certFile, soon.keyFile))[0]).toMatch(/cert_file: .* is not valid before/);
  });

  it('refuses a key that does not belong to the certificate', async () => {
    expect(issues(yaml(localhost.certFile, aTest.keyFile))).toEqual([
      `gw.yaml:7:21 error listeners[0].tls.certificates[0].key_file: the key in ${aTest.keyFile} does not match the certificate in ${localhost.certFile} (CN=localhost)`,
    ]);
  });

  it('refuses missing files, resolving paths from the config folder', () => {
    expect(issues(yaml('nope.pem', 'localhost-key.pem'), pki.dir)).toEqual([
      `gw.yaml:6:22 error listeners[0].tls.certificates[0].cert_file: cannot read ${pki.dir}/nope.pem: no such file`,
    ]);
    expect(issues(yaml('localhost.pem', 'localhost-key.pem'), pki.dir)).toEqual([]);
  });

  it('rampart validate prints the problem with file:line:col and exits 1', async () => {
    const file = tmpFile('tls.yaml', yaml(localhost.certFile, bTest.keyFile));
    const sp = spawnRampart(['validate', file]);
    expect(await sp.exited).toBe(1);
    expect(sp.stderr.join('')).toContain(
      `${file}:7:21 error listeners[0].tls.certificates[0].key_file: the key in ${bTest.keyFile} does not match the certificate in ${localhost.certFile} (CN=localhost)`,
    );
  });
});

/** Plain HTTP with a chosen Host header. */
function plain(
  port: number,
  path: string,
  host: string,
  method = 'GET',
): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? 'x=1' : undefined);
  });
}

describe('redirect_to_https', () => {
  it('answers 308 with the https Location, same host and path', async () => {
    const g = await startGateway(`
listeners:
  - port: 0
    redirect_to_https: { port: 8443 }
metrics: { enabled: false }
`);
    const g443 = await startGateway(`
listeners:
  - port: 0
    redirect_to_https: {}
metrics: { enabled: false }
`);
    try {
      const r = await plain(g.port, '/a/b?c=1', 'api.example.com:8080');
      expect(r.status).toBe(308);
      expect(r.location).toBe('https://api.example.com:8443/a/b?c=1');
      expect((await plain(g443.port, '/x', 'api.example.com')).location).toBe('https://api.example.com/x');
      expect((await plain(g.port, '/v6', '[::1]:80')).location).toBe('https://[::1]:8443/v6');
      const post = await plain(g.port, '/form', 'api.example.com', 'POST');
      expect(post.status).toBe(308);
      expect(post.location).toBe('https://api.example.com:8443/form');
      // A Host that is not a host name is not echoed into a Location.
      expect((await plain(g.port, '/x', 'evil.example/path@x')).status).toBe(400);
    } finally {
      await g.close();
      await g443.close();
    }
  });

  it('is refused together with tls on one listener', () => {
    expect(() =>
      parseConfig(
        `listeners:\n  - port: 0\n    redirect_to_https: {}\n    tls: { certificates: [{ cert_file: ${localhost.certFile}, key_file: ${localhost.keyFile} }] }\n`,
        'r.yaml',
        ROOT,
        {},
      ),
    ).toThrow(/redirect_to_https: a redirect listener is plain HTTP/);
  });
});

describe('OCSP stapling', () => {
  it('staples the response file to handshakes that ask, and reloads it when it changes', async () => {
    const staple = Buffer.from('3003020100', 'hex'); // any DER: the client does not check it here
    const stapleFile = pki.write('ocsp.der', staple);
    const g = await startGateway(`
listeners:
  - port: 0
    tls:
      certificates: [{ cert_file: ${localhost.certFile}, key_file: ${localhost.keyFile}, ocsp_staple_file: ${stapleFile} }]
${base()}`);
    const ask = () =>
      new Promise<Buffer | null>((resolve, reject) => {
        let got: Buffer | null = null;
        const s = tlsConnect({
          host: '127.0.0.1',
          port: g.port,
          ca: pki.ca.cert,
          servername: 'localhost',
          requestOCSP: true,
        } as ConnectionOptions);
        s.on('OCSPResponse', (r: Buffer) => {
          got = r;
        });
        s.on('secureConnect', () => {
          resolve(got);
          s.end();
        });
        s.on('error', reject);
      });
    try {
      expect(await ask()).toEqual(staple);
      const next = Buffer.from('3003020101', 'hex');
      pki.write('ocsp.der', next);
      expect(await until(ask, (b) => b?.equals(next) ?? false)).toEqual(next);
    } finally {
      await g.close();
    }
  });
});

describe('upstream TLS', () => {
  let selfSignedUp: Server;
  let mtlsUp: Server;
  let ssCert: Issued;
  let gwClient: Leaf;
  const listen = async (s: Server) => {
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    return (s.address() as AddressInfo).port;
  };
  let ssPort = 0;
  let mtlsPort = 0;
  let internalPort = 0;
  let internal: Server;

  beforeAll(async () => {
    ssCert = await selfSigned({ commonName: 'upstream', altNames: ['127.0.0.1'] });
    pki.write('upstream-self-signed.pem', ssCert.cert);
    selfSignedUp = createHttpsServer({ cert: ssCert.cert, key: ssCert.key }, (_req, res) => res.end('self-signed ok'));
    ssPort = await listen(selfSignedUp);

    // An upstream that requires a client certificate from the test CA.
    const upCert = await pki.leaf('upstream-mtls', { commonName: 'upstream', altNames: ['127.0.0.1'] });
    gwClient = await pki.leaf('gateway-client', { commonName: 'rampart-gateway', usage: 'client' });
    mtlsUp = createHttpsServer(
      { cert: upCert.cert, key: upCert.key, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: true },
      (req, res) => res.end(`hello ${((req.socket as TLSSocket).getPeerCertificate() as PeerCertificate).subject.CN}`),
    );
    mtlsPort = await listen(mtlsUp);

    // An upstream known by a name only (no IP in its certificate): reached by address, verified by servername.
    const named = await pki.leaf('internal', { commonName: 'api.internal', altNames: ['api.internal'] });
    internal = createHttpsServer({ cert: named.cert, key: named.key }, (req, res) =>
      res.end(`sni=${(req.socket as TLSSocket & { servername?: string }).servername}`),
    );
    internalPort = await listen(internal);
  });
  afterAll(async () => {
    for (const s of [selfSignedUp, mtlsUp, internal]) {
      s?.closeAllConnections();
      s?.close();
    }
  });

  it('refuses an upstream with a self-signed certificate (502) unless tls.ca names it', async () => {
    const g = await startGateway(`
listeners: [{ port: 0 }]
metrics: { enabled: false }
upstreams:
  unknown: { targets: ["https://127.0.0.1:${ssPort}"], retries: { attempts: 0 } }
  trusted:
    targets: ["https://127.0.0.1:${ssPort}"]
    tls: { ca: "\${file:${pki.dir}/upstream-self-signed.pem}" }
routes:
  - { name: unknown, public: true, paths: ["/unknown"], upstream: unknown }
  - { name: trusted, public: true, paths: ["/trusted"], upstream: trusted }
`);
    try {
      const bad = await fetch(`${g.url}/unknown`);
      expect(bad.status).toBe(502);
      await bad.text();
      const good = await fetch(`${g.url}/trusted`);
      expect(good.status).toBe(200);
      expect(await good.text()).toBe('self-signed ok');
    } finally {
      await g.close();
    }
  });

  it('presents a client certificate to an upstream that requires one (mTLS)', async () => {
    const g = await startGateway(`
listeners: [{ port: 0 }]
metrics: { enabled: false }
upstreams:
  mtls:
    targets: ["https://127.0.0.1:${mtlsPort}"]
    tls:
      ca: "\${file:${pki.dir}/ca.pem}"
      cert: "\${file:${gwClient.certFile}}"
      key: "\${file:${gwClient.keyFile}}"
  nocert:
    targets: ["https://127.0.0.1:${mtlsPort}"]
    retries: { attempts: 0 }
    tls: { ca: "\${file:${pki.dir}/ca.pem}" }
routes:
  - { name: mtls, public: true, paths: ["/mtls"], upstream: mtls }
  - { name: nocert, public: true, paths: ["/nocert"], upstream: nocert }
`);
    try {
      const ok = await fetch(`${g.url}/mtls`);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe('hello rampart-gateway');
      const refused = await fetch(`${g.url}/nocert`);
      expect(refused.status).toBe(502);
      await refused.text();
    } finally {
      await g.close();
    }
  });

  it('verifies the upstream by tls.servername (SNI) when targets are addresses', async () => {
    const g = await startGateway(`
listeners: [{ port: 0 }]
metrics: { enabled: false }
upstreams:
  named:
    targets: ["https://127.0.0.1:${internalPort}"]
    tls: { ca: "\${file:${pki.dir}/ca.pem}", servername: api.internal }
  unnamed:
    targets: ["https://127.0.0.1:${internalPort}"]
    retries: { attempts: 0 }
    tls: { ca: "\${file:${pki.dir}/ca.pem}" }
routes:
  - { name: named, public: true, paths: ["/named"], upstream: named }
  - { name: unnamed, public: true, paths: ["/unnamed"], upstream: unnamed }
`);
    try {
      const ok = await fetch(`${g.url}/named`);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe('sni=api.internal');
      const bad = await fetch(`${g.url}/unnamed`);
      expect(bad.status).toBe(502);
      await bad.text();
    } finally {
      await g.close();
    }
  });

  it('verification off is refused in production and a warning in development', () => {
    const cfg = (env: string) =>
      `environment: ${env}\nlisteners: [{ port: 0 }]\nupstreams:\n  u: { targets: ["https://127.0.0.1:1"], tls: { verify: false } }\n`;
    expect(() => parseConfig(cfg('production'), 'p.yaml', ROOT, {})).toThrow(
      /p.yaml:4:57 error upstreams.u.tls.verify: upstream TLS verification is off: refused in production/,
    );
    const dev = parseConfig(cfg('development'), 'd.yaml', ROOT, {});
    expect(dev.warnings.map((w) => `${w.severity} ${w.path}: ${w.message}`)).toEqual([
      'warning upstreams.u.tls.verify: upstream TLS verification is off: anyone on the network path can impersonate this upstream',
    ]);
  });
});

describe('rampart certs dev', () => {
  it('writes a CA and a localhost certificate (keys 0600) that a TLS listener serves', async () => {
    const out = `${pki.dir}/dev`;
    const sp = spawnRampart(['certs', 'dev', '--out', out]);
    expect(await sp.exited).toBe(0);
    const text = sp.logs.map((l) => l.raw).join('\n');
    expect(text).toContain('cert_file:');
    expect(text).toContain('curl --cacert');
    for (const k of ['ca-key.pem', 'localhost-key.pem']) expect(statSync(`${out}/${k}`).mode & 0o777).toBe(0o600);
    const ca = new X509Certificate(readFileSync(`${out}/ca.pem`));
    const leaf = new X509Certificate(readFileSync(`${out}/localhost.pem`));
    expect(ca.ca).toBe(true);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    const days = (new Date(leaf.validTo).getTime() - Date.now()) / 86_400_000;
    expect(Math.round(days)).toBe(90);
    expect(new Date(ca.validTo).getFullYear() - new Date().getFullYear()).toBeGreaterThanOrEqual(9);

    // Run again: the CA is kept (already trusted somewhere), the leaf is new.
    const again = spawnRampart(['certs', 'dev', '--out', out]);
    expect(await again.exited).toBe(0);
    expect(new X509Certificate(readFileSync(`${out}/ca.pem`)).serialNumber).toBe(ca.serialNumber);
    expect(new X509Certificate(readFileSync(`${out}/localhost.pem`)).serialNumber).not.toBe(leaf.serialNumber);

    const g = await startGateway(
      `
listeners:
  - port: 0
    tls: { certificates: [{ cert_file: dev/localhost.pem, key_file: dev/localhost-key.pem }] }
metrics: { enabled: false }
`.replace(/dev\//g, `${out}/`),
    );
    try {
      const r = await h1(g.port, '/', { ca: readFileSync(`${out}/ca.pem`, 'utf8') });
      expect(r.status).toBe(404);
    } finally {
      await g.close();
    }
  });
});
