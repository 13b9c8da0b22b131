import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics, register } from '../../src/observability/metrics.js';
import { Gateway } from '../../src/server.js';
import { LogSink, ROOT, send, startGateway, startUpstream } from '../helpers.js';
import { h2Frame, hpackLiteral, openRecording, type RecordingSocket, record } from '../raw-http.js';
import { makePki, type Pki } from '../tls-helpers.js';

type Gw = Awaited<ReturnType<typeof startGateway>>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes `bytes` one byte every `everyMs` until the server closes; returns how many bytes were written. */
async function dribble(c: RecordingSocket, bytes: string, everyMs: number): Promise<number> {
  let i = 0;
  for (; i < bytes.length && !c.closed(); i++) {
    c.s.write(bytes[i] as string);
    await sleep(everyMs);
  }
  return i;
}

describe('protocol limits: slowloris, slow bodies, connections per IP', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let gw: Gw;
  let upstreamHits = 0;
  /** Requests whose body the upstream received to the end. */
  let upstreamCompleted = 0;
  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      upstreamHits++;
      req.resume();
      req.on('end', () => {
        upstreamCompleted++;
        res.end('ok');
      });
    });
    gw = await startGateway(`
listeners: [{ port: 0, headers_timeout_ms: 1000, request_timeout_ms: 2000, max_connections_per_ip: 4, max_header_bytes: 4096 }]
metrics: { enabled: false }
policies:
  request-limits: { max_url_length: 300, max_body_bytes: 1000 }
upstreams:
  echo: { targets: ["${up.url}"] }
routes:
  - { name: echo, public: true, paths: ["/echo"], upstream: echo }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('slowloris: a head dribbled a byte every 200 ms is cut off with 408 before it ends', async () => {
    upstreamHits = 0;
    const c = await openRecording(gw.port);
    const head = `GET /echo HTTP/1.1\r\nHost: gw.test\r\nX-Pad: ${'a'.repeat(200)}\r\n\r\n`;
    const sent = await dribble(c, head, 200);
    await sleep(100);
    expect(sent).toBeLessThan(head.length);
    expect(c.text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(c.text()).toContain('"code":"REQUEST_TIMEOUT"');
    expect(c.closed()).toBe(true);
    expect(upstreamHits).toBe(0);
  });

  it('a slow body is cut off at the request deadline (408), the upstream never gets it whole', async () => {
    upstreamCompleted = 0;
    const c = await openRecording(gw.port);
    c.s.write('POST /echo HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 200\r\n\r\n');
    const sent = await dribble(c, 'b'.repeat(200), 200);
    await sleep(100);
    expect(sent).toBeLessThan(200);
    expect(c.text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(c.closed()).toBe(true);
    // The upstream saw the start of the request at most, never its end.
    await sleep(100);
    expect(upstreamCompleted).toBe(0);
  });

  it('connections per client IP: the one past max_connections_per_ip is closed at once, logged, counted', async () => {
    // A gateway of its own with metrics on, as \`rampart start\` builds it.
    const logs = new LogSink();
    const loaded = parseConfig(
      `
listeners: [{ port: 0, max_connections_per_ip: 4 }]
upstreams:
  echo: { targets: ["${up.url}"] }
routes:
  - { name: echo, public: true, paths: ["/echo"], upstream: echo }
`,
      'test.yaml',
      ROOT,
      {},
    );
    const g = new Gateway({ logger: createLogger('info', logs), metrics: new Metrics(() => g.current) });
    g.apply(loaded);
    const [bound] = await g.listen(loaded.config.listeners);
    const port = bound?.port ?? 0;
    const held = await Promise.all([1, 2, 3, 4].map(() => openRecording(port)));
    // The held connections work.
    held[0]?.s.write('GET /echo HTTP/1.1\r\nHost: gw.test\r\n\r\n');
    for (let i = 0; i < 50 && !held[0]?.text().includes('ok'); i++) await sleep(20);
    expect(held[0]?.text()).toMatch(/^HTTP\/1\.1 200 /);
    const extra = await openRecording(port);
    extra.s.write('GET /echo HTTP/1.1\r\nHost: gw.test\r\n\r\n');
    for (let i = 0; i < 100 && !extra.closed(); i++) await sleep(20);
    expect(extra.closed()).toBe(true);
    expect(extra.text()).toBe('');
    expect(
      logs.lines.some(
        (l) => String(l.msg).startsWith('connection refused') && l.listener === 'public' && l.peer === '127.0.0.1',
      ),
    ).toBe(true);
    // One closes: a new connection is accepted again.
    held[1]?.s.destroy();
    for (let i = 0; i < 50 && !held[1]?.closed(); i++) await sleep(20);
    await sleep(50);
    const metric = await register.getSingleMetricAsString('rampart_connections_refused_total');
    expect(metric).toContain('rampart_connections_refused_total{listener="public",reason="per_ip_limit"} 1');
    const again = await openRecording(port);
    again.s.write('GET /echo HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n');
    for (let i = 0; i < 100 && !again.closed(); i++) await sleep(20);
    expect(again.text()).toMatch(/^HTTP\/1\.1 200 /);
    for (const h of held) h.s.destroy();
    await g.shutdown(1000);
  });

  it('a long URL is 414 (request-limits), one past the listener head size 431 (the parser), both problem+json', async () => {
    const long = await send(gw.port, `/echo?q=${'a'.repeat(400)}`);
    expect(long.status).toBe(414);
    expect(JSON.parse(long.body).code).toBe('URI_TOO_LONG');
    const huge = await send(gw.port, `/echo?q=${'a'.repeat(5000)}`);
    expect(huge.status).toBe(431);
    expect(huge.headers['content-type']).toContain('application/problem+json');
    expect(JSON.parse(huge.body).code).toBe('HEADERS_TOO_LARGE');
  });

  it('a head deadline longer than the request deadline is capped by it, not a start-up crash', async () => {
    const g = await startGateway(`
listeners: [{ port: 0, headers_timeout_ms: 60000, request_timeout_ms: 1000 }]
metrics: { enabled: false }
routes: [{ name: r, public: true, paths: ["/"] }]
`);
    try {
      const c = await openRecording(g.port);
      const head = `GET / HTTP/1.1\r\nHost: gw.test\r\nX-Pad: ${'a'.repeat(200)}\r\n\r\n`;
      const sent = await dribble(c, head, 200);
      expect(sent).toBeLessThan(head.length);
      expect(c.text()).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await g.close();
    }
  });

  it('ordinary requests are unaffected', async () => {
    const r = await send(gw.port, '/echo');
    expect(r.status).toBe(200);
  });
});

describe('protocol limits on an HTTPS listener (HTTP/2 enabled)', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let gw: Gw;
  let pki: Pki;
  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    pki = await makePki();
    const leaf = await pki.leaf('localhost', { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
    gw = await startGateway(`
listeners:
  - port: 0
    headers_timeout_ms: 1000
    request_timeout_ms: 2000
    keep_alive_timeout_ms: 2500
    tls: { certificates: [{ cert_file: ${leaf.certFile}, key_file: ${leaf.keyFile} }] }
metrics: { enabled: false }
upstreams:
  echo: { targets: ["${up.url}"] }
routes:
  - { name: echo, public: true, paths: ["/echo"], upstream: echo }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('a TLS handshake dribbled or never finished is cut off at the head deadline', async () => {
    const c = await openRecording(gw.port);
    // A ClientHello record header promising 512 bytes, then a byte every 200 ms.
    c.s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
    let sent = 0;
    for (; sent < 60 && !c.closed(); sent++) {
      c.s.write(Buffer.from([0x01]));
      await sleep(200);
    }
    expect(c.closed()).toBe(true);
    expect(sent).toBeLessThan(60);
  });

  it('a finished handshake is not cut by that deadline: a kept-alive TLS connection serves on after it', async () => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: gw.port,
      ca: pki.ca.cert,
      servername: 'localhost',
      ALPNProtocols: ['http/1.1'],
    });
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      text += d;
    });
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    const get = 'GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n';
    s.write(get);
    for (let i = 0; i < 100 && !text.endsWith('ok'); i++) await sleep(20);
    await sleep(1500); // past headers_timeout_ms (1000), within keep_alive_timeout_ms (5000)
    s.write(get);
    for (let i = 0; i < 100 && (text.match(/ 200 OK/g) ?? []).length < 2; i++) await sleep(20);
    s.destroy();
    expect((text.match(/HTTP\/1\.1 200 OK/g) ?? []).length).toBe(2);
  });

  it('HTTP/2 slowloris: a header block dribbled in CONTINUATION frames does not hold the session', async () => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: gw.port,
      ca: pki.ca.cert,
      servername: 'localhost',
      ALPNProtocols: ['h2'],
    });
    let closed = false;
    s.on('close', () => {
      closed = true;
    });
    s.on('error', () => {});
    s.on('data', () => {});
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    const block = Buffer.concat([
      hpackLiteral(':method', 'GET'),
      hpackLiteral(':scheme', 'https'),
      hpackLiteral(':authority', 'localhost'),
      hpackLiteral(':path', '/echo'),
      hpackLiteral('x-pad', 'a'.repeat(100)),
    ]);
    // Preface, SETTINGS, then HEADERS without END_HEADERS carrying the first byte of the block.
    s.write(
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        h2Frame(4, 0, 0, Buffer.alloc(0)),
        h2Frame(1, 0x1, 1, block.subarray(0, 1)),
      ]),
    );
    let i = 1;
    for (; i < block.length && !closed; i++) {
      await sleep(200);
      // CONTINUATION, one byte; END_HEADERS on the last (never reached if the session is cut).
      if (!closed) s.write(h2Frame(9, i === block.length - 1 ? 0x4 : 0, 1, block.subarray(i, i + 1)));
    }
    await sleep(100);
    s.destroy();
    expect(closed).toBe(true);
    expect(i).toBeLessThan(block.length);
  });

  it('HTTP/2: a session kept busy with PINGs but no request is closed after the keep-alive time', async () => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: gw.port,
      ca: pki.ca.cert,
      servername: 'localhost',
      ALPNProtocols: ['h2'],
    });
    let closed = false;
    s.on('close', () => {
      closed = true;
    });
    s.on('error', () => {});
    s.on('data', () => {});
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2Frame(4, 0, 0, Buffer.alloc(0))]));
    let pings = 0;
    for (; pings < 100 && !closed; pings++) {
      s.write(h2Frame(6, 0, 0, Buffer.alloc(8, pings))); // PING
      await sleep(200);
    }
    s.destroy();
    expect(closed).toBe(true);
    expect(pings).toBeLessThan(100);
  });

  it('slowloris over TLS (HTTP/1.1 on the HTTP/2 port): 408 before the head ends', async () => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: gw.port,
      ca: pki.ca.cert,
      servername: 'localhost',
      ALPNProtocols: ['http/1.1'],
    });
    const rec = record(s);
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    const head = `GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${'a'.repeat(200)}\r\n\r\n`;
    let i = 0;
    for (; i < head.length && !rec.closed(); i++) {
      s.write(head[i] as string);
      await sleep(200);
    }
    await sleep(100);
    s.destroy();
    expect(i).toBeLessThan(head.length);
    expect(rec.text()).toMatch(/^HTTP\/1\.1 408 /);
  });
});
