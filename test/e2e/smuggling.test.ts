import http2 from 'node:http2';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startGateway } from '../helpers.js';
import { h2Frame, hpackLiteral, openRecording } from '../raw-http.js';
import { makePki, type Pki } from '../tls-helpers.js';

type Gw = Awaited<ReturnType<typeof startGateway>>;

/** One request as the upstream received it, byte for byte. */
interface Captured {
  head: string;
  headers: [string, string][];
  /** The body bytes exactly as framed on the wire (chunk sizes included when chunked). */
  rawBody: string;
  /** The body decoded from that framing. */
  body: string;
}

/**
 * A raw TCP upstream that records every byte it receives, delimits requests itself (Content-Length or chunked,
 * strictly) and answers each with 200 "ok". Incomplete requests stay in `partial`.
 */
class RawUpstream {
  readonly requests: Captured[] = [];
  /** Every byte received since the last reset, complete requests or not. */
  bytes = 0;
  /** Bytes received on connections that never completed a request. */
  partial = '';
  private server: Server;
  port = 0;
  constructor() {
    this.server = createServer((s) => this.serve(s));
  }
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
  }
  reset(): void {
    this.requests.length = 0;
    this.partial = '';
    this.bytes = 0;
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
  private serve(s: Socket): void {
    let buf = '';
    s.setEncoding('latin1');
    s.on('error', () => {});
    s.on('close', () => {
      if (buf) this.partial += buf;
    });
    s.on('data', (d: string) => {
      this.bytes += d.length;
      buf += d;
      for (;;) {
        const got = parseOne(buf);
        if (!got) return;
        buf = buf.slice(got.used);
        this.requests.push(got.req);
        s.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok');
      }
    });
  }
}

function parseOne(buf: string): { req: Captured; used: number } | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const head = buf.slice(0, end);
  const headers = head
    .split('\r\n')
    .slice(1)
    .map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()] as [string, string];
    });
  const start = end + 4;
  const cl = headers.find(([k]) => k === 'content-length');
  const te = headers.find(([k]) => k === 'transfer-encoding');
  if (te) {
    let at = start;
    let body = '';
    for (;;) {
      const le = buf.indexOf('\r\n', at);
      if (le === -1) return null;
      const size = Number.parseInt(buf.slice(at, le), 16);
      if (size === 0) {
        const fin = buf.indexOf('\r\n\r\n', le);
        if (fin === -1) return null;
        return { req: { head, headers, rawBody: buf.slice(start, fin + 4), body }, used: fin + 4 };
      }
      if (buf.length < le + 2 + size + 2) return null;
      body += buf.slice(le + 2, le + 2 + size);
      at = le + 2 + size + 2;
    }
  }
  const n = cl ? Number(cl[1]) : 0;
  if (buf.length < start + n) return null;
  const body = buf.slice(start, start + n);
  return { req: { head, headers, rawBody: body, body }, used: start + n };
}

interface RawAnswer {
  text: string;
  /** The server closed the connection (we never close first before `waitMs`). */
  closed: boolean;
  statuses: number[];
}

/** Writes raw bytes on a fresh TCP connection and collects the answer until the server closes (or waitMs). */
function raw(port: number, bytes: string | Buffer, waitMs = 1500): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      text += d;
    });
    s.on('error', () => {});
    const done = () => {
      clearTimeout(t);
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ text, closed, statuses });
    };
    s.on('close', () => {
      closed = true;
      done();
    });
    const t = setTimeout(() => {
      s.destroy();
    }, waitMs);
    s.write(bytes);
  });
}

function problemCode(text: string): string | undefined {
  const i = text.indexOf('\r\n\r\n');
  try {
    return (JSON.parse(text.slice(i + 4)) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

const H = 'Host: gw.test\r\n';
const post = (headers: string, body: string) => `POST /echo HTTP/1.1\r\n${H}${headers}\r\n${body}`;

/** Requests that must be refused with 400 and the connection closed, with nothing reaching the upstream. */
const REFUSED: Record<string, string> = {
  'Content-Length and Transfer-Encoding': post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
  'Transfer-Encoding before Content-Length': post(
    'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n',
    '0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
  ),
  'Transfer-Encoding: chunked, identity': post('Transfer-Encoding: chunked, identity\r\n', '0\r\n\r\n'),
  'Transfer-Encoding: identity': post('Transfer-Encoding: identity\r\n', 'abc'),
  'Transfer-Encoding: xchunked': post('Transfer-Encoding: xchunked\r\n', '0\r\n\r\n'),
  'Transfer-Encoding: gzip, chunked': post('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n'),
  'Transfer-Encoding: chunked, chunked': post('Transfer-Encoding: chunked, chunked\r\n', '0\r\n\r\n'),
  'Transfer-Encoding twice': post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
  'Transfer-Encoding with a space before the name': post(' Transfer-Encoding: chunked\r\n', '0\r\n\r\n'),
  'Transfer-Encoding with a space before the colon': post('Transfer-Encoding : chunked\r\n', '0\r\n\r\n'),
  'Transfer-Encoding on HTTP/1.0': `POST /echo HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
  'duplicate Content-Length, equal': post('Content-Length: 3\r\nContent-Length: 3\r\n', 'abc'),
  'duplicate Content-Length, different': post('Content-Length: 3\r\nContent-Length: 4\r\n', 'abcd'),
  'Content-Length: +3': post('Content-Length: +3\r\n', 'abc'),
  'Content-Length: 3,3': post('Content-Length: 3,3\r\n', 'abc'),
  'Content-Length: -1': post('Content-Length: -1\r\n', 'abc'),
  'Content-Length: 0x3': post('Content-Length: 0x3\r\n', 'abc'),
  'Content-Length overflow': post('Content-Length: 99999999999999999999999\r\n', 'abc'),
  'Content-Length: 1 2': post('Content-Length: 1 2\r\n', 'abc'),
  'Content-Length with a space before the colon': post('Content-Length : 3\r\n', 'abc'),
  'head lines with bare LF': `POST /echo HTTP/1.1\n${H.trim()}\nContent-Length: 3\n\nabc`,
  'obs-fold': `GET /echo HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`,
  'obs-fold hiding Transfer-Encoding': post('Transfer-Encoding: identity\r\n chunked\r\n', '0\r\n\r\n'),
  'header name with a space before the colon': `GET /echo HTTP/1.1\r\n${H}X-A : b\r\n\r\n`,
  'NUL in a header value': `GET /echo HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`,
  'CR in a header value': `GET /echo HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`,
  'two Host headers': `GET /echo HTTP/1.1\r\n${H}Host: other.test\r\n\r\n`,
  'no Host on HTTP/1.1': 'GET /echo HTTP/1.1\r\n\r\n',
  'HTTP/0.9': 'GET /echo\r\n\r\n',
  'malformed version': `GET /echo HTTP/1.1x\r\n${H}\r\n`,
  'lower-case method': `get /echo HTTP/1.1\r\n${H}\r\n`,
};

/**
 * Errors in a chunked body, found once the head was accepted and the request may already be on its way upstream
 * (the body streams): refused with 400 and the connection closed; the upstream never gets a complete request (its
 * exchange is aborted mid-body).
 */
const REFUSED_IN_BODY: Record<string, string> = {
  'Content-Length in the trailer': post(
    'Transfer-Encoding: chunked\r\n',
    '3\r\nabc\r\n0\r\nContent-Length: 50\r\n\r\n',
  ),
  'chunk lines with bare LF': post('Transfer-Encoding: chunked\r\n', '3\nabc\n0\n\n'),
  'chunk data without its CRLF': post('Transfer-Encoding: chunked\r\n', '3\r\nabcX0\r\n\r\n'),
  'chunk extension with a control byte': post('Transfer-Encoding: chunked\r\n', '3;a\x01\r\nabc\r\n0\r\n\r\n'),
  'chunk size with trailing space': post('Transfer-Encoding: chunked\r\n', '3 \r\nabc\r\n0\r\n\r\n'),
  'chunk size 0x3': post('Transfer-Encoding: chunked\r\n', '0x3\r\nabc\r\n0\r\n\r\n'),
  'chunk size not hex': post('Transfer-Encoding: chunked\r\n', '3g\r\nabc\r\n0\r\n\r\n'),
  'chunk size overflow': post('Transfer-Encoding: chunked\r\n', 'ffffffffffffffffff\r\nabc\r\n0\r\n\r\n'),
};

describe('request smuggling defence (raw sockets)', () => {
  const up = new RawUpstream();
  let gw: Gw;
  beforeAll(async () => {
    await up.start();
    gw = await startGateway(`
listeners: [{ port: 0, headers_timeout_ms: 2000, request_timeout_ms: 4000 }]
metrics: { enabled: false }
upstreams:
  raw: { targets: ["http://127.0.0.1:${up.port}"] }
routes:
  - name: echo
    public: true
    paths: ["/echo", "/echo/*", "/second", "/smuggled"]
    upstream: raw
    policies:
      request-limits: { max_body_bytes: 1000 }
  - { name: ws, public: true, paths: ["/ws"], upstream: raw, websocket: true }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up.close();
  });
  beforeEach(() => up.reset());

  for (const [name, bytes] of Object.entries(REFUSED)) {
    it(`refuses ${name}: 400, connection closed, nothing upstream`, async () => {
      const r = await raw(gw.port, bytes);
      expect(r.statuses, r.text).toEqual([400]);
      expect(r.text.toLowerCase()).toContain('content-type: application/problem+json');
      expect(['BAD_FRAMING', 'BAD_REQUEST']).toContain(problemCode(r.text));
      expect(r.closed).toBe(true);
      await settle();
      expect(up.requests).toEqual([]);
      expect(up.bytes).toBe(0); // not one byte reached the upstream
    });
  }

  for (const [name, bytes] of Object.entries(REFUSED_IN_BODY)) {
    it(`refuses ${name}: 400, connection closed, no complete request upstream`, async () => {
      const r = await raw(gw.port, bytes);
      expect(r.statuses, r.text).toEqual([400]);
      expect(problemCode(r.text)).toBe('BAD_FRAMING');
      expect(r.closed).toBe(true);
      // Wait until an upstream exchange that had begun is torn down, so that nothing leaks into the next case.
      if (up.bytes > 0) await until(() => up.partial !== '');
      expect(up.requests).toEqual([]);
      if (up.partial) expect(parseOne(up.partial)).toBeNull();
    });
  }

  it('names framing errors BAD_FRAMING (both those node refuses and those the gateway adds)', async () => {
    const cl = await raw(gw.port, REFUSED['Content-Length and Transfer-Encoding'] as string);
    expect(problemCode(cl.text)).toBe('BAD_FRAMING');
    const te10 = await raw(gw.port, REFUSED['Transfer-Encoding on HTTP/1.0'] as string);
    expect(problemCode(te10.text)).toBe('BAD_FRAMING');
    const gz = await raw(gw.port, REFUSED['Transfer-Encoding: gzip, chunked'] as string);
    expect(problemCode(gz.text)).toBe('BAD_FRAMING');
    // The detail is a fixed sentence, never the client's bytes.
    expect(gz.text).not.toContain('gzip');
  });

  it('never serves a request pipelined behind a refused one, nor keeps the connection', async () => {
    const second = `GET /smuggled HTTP/1.1\r\n${H}\r\n`;
    for (const first of [
      post('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n'), // refused by the gateway
      `POST /echo HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, // refused by the gateway
      post('Content-Length: 3\r\nContent-Length: 4\r\n', 'abcd'), // refused by node's parser
      post('Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
    ]) {
      up.reset();
      const r = await raw(gw.port, first + second);
      expect(r.statuses, r.text).toEqual([400]);
      expect(r.closed).toBe(true);
      expect(up.requests).toEqual([]);
    }
  });

  it('serves pipelined well-framed requests one by one, each re-framed', async () => {
    const r = await raw(
      gw.port,
      `${post('Content-Length: 3\r\n', 'abc')}${post('Transfer-Encoding: chunked\r\n', '2\r\nde\r\n0\r\n\r\n')}GET /second HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    );
    expect(r.statuses).toEqual([200, 200, 200]);
    expect(up.requests.map((q) => q.body)).toEqual(['abc', 'de', '']);
    for (const q of up.requests) assertUnambiguous(q);
  });

  it('refuses absolute-form targets (a Host that disagrees with the target cannot steer routing)', async () => {
    for (const target of ['http://evil.example/echo', 'http://gw.test/echo']) {
      const r = await raw(gw.port, `GET ${target} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      expect(r.statuses).toEqual([400]);
      expect(problemCode(r.text)).toBe('BAD_PATH');
    }
    expect(up.requests).toEqual([]);
  });

  const upgrade = `GET /ws HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n`;

  it('WebSocket smuggling: an upstream that does not switch protocols never gets the bytes that follow', async () => {
    // The raw upstream answers every request 200: it never switches, so the connection is still HTTP to it.
    const { s, text, closed } = await openRecording(gw.port);
    s.write(`${upgrade}\r\nGET /smuggled-early HTTP/1.1\r\n${H}\r\n`);
    await until(() => text().includes('\r\n\r\nok'));
    if (!closed()) s.write(`GET /smuggled HTTP/1.1\r\n${H}\r\n`);
    await until(() => closed());
    s.destroy();
    await settle();
    expect(text()).toMatch(/^HTTP\/1\.1 200 OK/); // the upstream's own answer, passed on
    expect(up.requests.map((q) => q.head.split('\r\n')[0])).toEqual(['GET /ws HTTP/1.1']);
    expect(up.partial).toBe('');
  });

  it('refuses an upgrade request that carries a body', async () => {
    for (const framing of ['Content-Length: 30\r\n', 'Transfer-Encoding: chunked\r\n']) {
      up.reset();
      const r = await raw(gw.port, `${upgrade}${framing}\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`);
      expect(r.statuses).toEqual([400]);
      expect(problemCode(r.text)).toBe('BAD_FRAMING');
      expect(r.closed).toBe(true);
      await settle();
      expect(up.bytes).toBe(0);
    }
  });

  it('re-frames a Content-Length body: one Content-Length matching the bytes, no Transfer-Encoding', async () => {
    const r = await raw(gw.port, post('Content-Length: 5\r\nConnection: close\r\n', 'hello'));
    expect(r.statuses).toEqual([200]);
    expect(up.requests).toHaveLength(1);
    const q = up.requests[0] as Captured;
    assertUnambiguous(q);
    expect(q.headers.filter(([k]) => k === 'content-length')).toEqual([['content-length', '5']]);
    expect(q.rawBody).toBe('hello');
  });

  it('re-frames a chunked body that arrived whole: one Content-Length, no client extensions or trailers', async () => {
    const body = '5;ext=evil\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: sneaky\r\n\r\n';
    const r = await raw(gw.port, post('Transfer-Encoding: chunked\r\nTE: trailers\r\nConnection: close\r\n', body));
    expect(r.statuses).toEqual([200]);
    expect(up.requests).toHaveLength(1);
    const q = up.requests[0] as Captured;
    assertUnambiguous(q);
    expect(q.body).toBe('hello world');
    expect(q.rawBody).not.toContain('ext=evil');
    expect(q.rawBody).not.toContain('sneaky');
    expect(q.headers.find(([k]) => k === 'te' || k === 'trailer' || k === 'x-trailer')).toBeUndefined();
  });

  it('re-frames a chunked body still streaming: fresh chunks, never a Content-Length too', async () => {
    const s = connect(gw.port, '127.0.0.1');
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      text += d;
    });
    s.write(post('Transfer-Encoding: chunked\r\nConnection: close\r\n', '5;ext=evil\r\nhello\r\n'));
    await until(() => up.bytes > 0); // the upstream request has started before the body is complete
    s.write('6\r\n world\r\n0\r\nX-Trailer: sneaky\r\n\r\n');
    await until(() => text.includes('\r\n\r\nok'));
    s.destroy();
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(up.requests).toHaveLength(1);
    const q = up.requests[0] as Captured;
    assertUnambiguous(q);
    expect(q.body).toBe('hello world');
    expect(q.headers.filter(([k]) => k === 'transfer-encoding')).toEqual([['transfer-encoding', 'chunked']]);
    expect(q.rawBody).not.toContain('ext=evil');
    expect(q.rawBody).not.toContain('sneaky');
  });

  it('a GET without a body reaches the upstream with no framing headers at all', async () => {
    const r = await raw(gw.port, `GET /echo HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    expect(r.statuses).toEqual([200]);
    const q = up.requests[0] as Captured;
    expect(q.headers.some(([k]) => k === 'transfer-encoding')).toBe(false);
    expect(q.rawBody).toBe('');
  });

  it('Expect: 100-continue: 100 only once the body is wanted; an oversize one gets 413 and no 100', async () => {
    const ok = await raw(gw.port, post('Content-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n', 'abc'));
    expect(ok.statuses).toEqual([100, 200]);
    expect(ok.text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')).toBe(true);
    expect(up.requests).toHaveLength(1);
    expect(up.requests[0]?.headers.some(([k]) => k === 'expect')).toBe(false);
    up.reset();
    // Head only: the client waits for 100 before sending 5000 bytes; it must get the final 413 instead.
    const big = await raw(gw.port, `POST /echo HTTP/1.1\r\n${H}Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n`);
    expect(big.statuses).toEqual([413]);
    expect(big.text).not.toContain('100 Continue');
    expect(problemCode(big.text)).toBe('PAYLOAD_TOO_LARGE');
    expect(up.requests).toEqual([]);
    expect(up.partial).toBe('');
  });

  it('any other expectation: 417 problem+json, nothing upstream, connection closed', async () => {
    const r = await raw(gw.port, post('Content-Length: 3\r\nExpect: 200-ok\r\n', 'abc'));
    expect(r.statuses).toEqual([417]);
    expect(problemCode(r.text)).toBe('EXPECTATION_FAILED');
    expect(r.closed).toBe(true);
    await settle();
    expect(up.bytes).toBe(0);
  });

  it('an oversize Content-Length is refused (413) from the head alone, before any body byte is sent', async () => {
    const r = await raw(gw.port, `POST /echo HTTP/1.1\r\n${H}Content-Length: 10000000\r\n\r\n`);
    expect(r.statuses).toEqual([413]);
    expect(up.requests).toEqual([]);
    expect(up.partial).toBe('');
  });

  it('a chunked body is refused (413) as soon as it passes the cap, while the client is still sending', async () => {
    const s = connect(gw.port, '127.0.0.1');
    s.setEncoding('latin1');
    let text = '';
    s.on('data', (d: string) => {
      text += d;
    });
    s.on('error', () => {});
    s.write(`POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`);
    const chunk = `${(400).toString(16)}\r\n${'x'.repeat(400)}\r\n`;
    // Up to 20 chunks (8000 bytes) one by one; the answer must come before the end of the body (no 0-chunk sent).
    for (let i = 0; i < 20 && !text.includes('HTTP/1.1'); i++) {
      if (!s.destroyed) s.write(chunk);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200));
    s.destroy();
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(problemCode(text)).toBe('PAYLOAD_TOO_LARGE');
    expect(up.requests).toEqual([]); // the upstream never got a complete request
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Gives an upstream exchange that might have started a moment to show up (there must be none). */
const settle = () => sleep(100);
async function until(ok: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await sleep(20);
}

/** Exactly one of Content-Length or Transfer-Encoding: chunked, agreeing with the bytes; never both. */
function assertUnambiguous(q: Captured): void {
  const cl = q.headers.filter(([k]) => k === 'content-length');
  const te = q.headers.filter(([k]) => k === 'transfer-encoding');
  expect(cl.length + te.length, q.head).toBeLessThanOrEqual(1);
  if (cl.length) expect(Number(cl[0]?.[1])).toBe(Buffer.byteLength(q.rawBody, 'latin1'));
  if (te.length) expect(te[0]?.[1]).toBe('chunked');
  if (!cl.length && !te.length) expect(q.rawBody).toBe('');
}

/**
 * One HTTP/2 request written frame by frame (node's client refuses to send connection-specific headers), and the
 * frame types the server sent back: 1 HEADERS, 3 RST_STREAM, 7 GOAWAY. Also the :status if HEADERS came back.
 */
function rawH2(port: number, ca: string, fields: [string, string][], body?: string): Promise<number[]> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
      const block = Buffer.concat(fields.map(([k, v]) => hpackLiteral(k, v)));
      s.write(
        Buffer.concat([
          Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
          h2Frame(4, 0, 0, Buffer.alloc(0)), // SETTINGS
          h2Frame(1, body === undefined ? 0x5 : 0x4, 1, block), // HEADERS, END_HEADERS (+ END_STREAM)
          ...(body === undefined ? [] : [h2Frame(0, 0x1, 1, Buffer.from(body))]), // DATA, END_STREAM
        ]),
      );
    });
    let buf = Buffer.alloc(0);
    const types: number[] = [];
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3] as number;
        const stream = buf.readUInt32BE(5);
        if (type === 4 && !((buf[4] as number) & 0x1)) s.write(h2Frame(4, 0x1, 0, Buffer.alloc(0))); // ACK their SETTINGS
        if (stream === 1 || type === 7) types.push(type);
        buf = buf.subarray(9 + len);
      }
    });
    s.on('error', () => {});
    const t = setTimeout(() => s.destroy(), 1500);
    s.on('close', () => {
      clearTimeout(t);
      resolve(types);
    });
  });
}

describe('request smuggling defence over HTTP/2', () => {
  const up = new RawUpstream();
  let pki: Pki;
  let gw: Gw;
  beforeAll(async () => {
    await up.start();
    pki = await makePki();
    const leaf = await pki.leaf('localhost', { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
    gw = await startGateway(`
listeners:
  - port: 0
    tls: { certificates: [{ cert_file: ${leaf.certFile}, key_file: ${leaf.keyFile} }] }
metrics: { enabled: false }
upstreams:
  raw: { targets: ["http://127.0.0.1:${up.port}"] }
routes:
  - { name: echo, public: true, paths: ["/echo"], upstream: raw }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up.close();
  });
  beforeEach(() => up.reset());

  const base: [string, string][] = [
    [':method', 'POST'],
    [':scheme', 'https'],
    [':authority', 'localhost'],
    [':path', '/echo'],
  ];

  it('a well-formed raw-frame request is answered (the frame writer works)', async () => {
    const types = await rawH2(gw.port, pki.ca.cert, [...base, ['content-length', '3']], 'abc');
    expect(types).toContain(1);
    expect(up.requests).toHaveLength(1);
    expect(up.requests[0]?.body).toBe('abc');
    assertUnambiguous(up.requests[0] as Captured);
  });

  for (const [name, field] of [
    ['connection', ['connection', 'keep-alive']],
    ['transfer-encoding', ['transfer-encoding', 'chunked']],
    ['keep-alive', ['keep-alive', 'timeout=5']],
    ['upgrade', ['upgrade', 'h2c']],
    ['te other than trailers', ['te', 'gzip']],
  ] as [string, [string, string]][]) {
    it(`refuses the connection-specific header ${name}: stream reset, nothing upstream`, async () => {
      const types = await rawH2(gw.port, pki.ca.cert, [...base, field], 'abc');
      expect(types.some((t) => t === 3 || t === 7)).toBe(true);
      expect(types).not.toContain(1);
      expect(up.requests).toEqual([]);
      expect(up.partial).toBe('');
    });
  }

  it('refuses a content-length that disagrees with the DATA frames', async () => {
    for (const [cl, body] of [
      ['10', 'abc'],
      ['1', 'abc'],
    ]) {
      up.reset();
      const types = await rawH2(gw.port, pki.ca.cert, [...base, ['content-length', cl as string]], body);
      expect(types.some((t) => t === 3 || t === 7)).toBe(true);
      // Whatever went upstream, no complete request did.
      expect(up.requests).toEqual([]);
    }
  });

  it("node's own client: content-length 10 with 3 bytes of DATA never completes upstream", async () => {
    const session = http2.connect(`https://localhost:${gw.port}`, { ca: pki.ca.cert });
    const outcome = await new Promise<string>((resolve) => {
      const r = session.request({ ':method': 'POST', ':path': '/echo', 'content-length': '10' });
      r.on('response', (h) => resolve(`status ${h[':status']}`));
      r.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      r.on('close', () => resolve(`closed ${r.rstCode}`));
      r.end('abc');
    });
    session.close();
    expect(outcome).not.toBe('status 200');
    expect(up.requests).toEqual([]);
  });
});
