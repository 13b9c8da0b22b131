import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BUFFERED_BODY, RequestContext } from './context.js';
import type { GatewayError } from './errors.js';

/** A real server whose handler builds a RequestContext and runs `fn` on it; the answer says what happened. */
let server: Server;
let port = 0;
let fn: (ctx: RequestContext) => Promise<unknown> = async () => null;
beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const ctx = new RequestContext(req, res, {
      path: req.url ?? '/',
      query: '',
      clientIp: '127.0.0.1',
      peerIp: '127.0.0.1',
      secure: false,
      websocket: false,
    });
    const cap = req.headers['x-cap'];
    if (cap) ctx.maxBodyBytes = Number(cap);
    fn(ctx).then(
      (v) => res.end(JSON.stringify({ ok: v, bytesIn: ctx.bytesIn })),
      (e: GatewayError) => {
        res.writeHead(e.status ?? 500, { connection: 'close' });
        res.end(JSON.stringify({ code: e.code }));
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function post(
  chunks: string[],
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => {
        b += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(b) as Record<string, unknown> }));
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e),
    );
    for (const c of chunks) req.write(c);
    req.end();
  });
}

describe('RequestContext.readBody', () => {
  it('buffers a chunked body once and returns the same buffer again', async () => {
    fn = async (ctx) => {
      const a = await ctx.readBody();
      const b = await ctx.readBody();
      return { text: a.toString(), same: a === b, kept: ctx.requestBody === a };
    };
    const r = await post(['{"a":', '1}']);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: { text: '{"a":1}', same: true, kept: true }, bytesIn: 7 });
  });

  it('refuses a declared length over the cap before reading', async () => {
    fn = async (ctx) => (await ctx.readBody()).length;
    const r = await post(['x'.repeat(20)], { 'x-cap': '10', 'content-length': '20' });
    expect(r).toEqual({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('stops a chunked body at the cap with 413, and the connection can still carry the answer', async () => {
    fn = async (ctx) => (await ctx.readBody()).length;
    const r = await post(['x'.repeat(8), 'y'.repeat(8)], { 'x-cap': '10' });
    expect(r).toEqual({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('is bounded even when no cap is configured', async () => {
    fn = async (ctx) => {
      expect(ctx.maxBodyBytes).toBe(Number.POSITIVE_INFINITY);
      return (await ctx.readBody()).length;
    };
    const chunk = 'z'.repeat(1024 * 1024);
    const r = await post(Array.from({ length: MAX_BUFFERED_BODY / chunk.length + 1 }, () => chunk));
    expect(r).toEqual({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE' } });
  });
});

describe('RequestContext.readBody of a body the parser has read whole', () => {
  const settle = () => new Promise((r) => setTimeout(r, 30));
  it('takes it from the stream at once, whole, as its own buffer', async () => {
    fn = async (ctx) => {
      await settle();
      const complete = ctx.req.complete;
      const a = await ctx.readBody();
      const b = await ctx.readBody();
      // Written over: the copy is the policy's to change.
      const text = a.toString();
      a.fill(0x78);
      return { complete, text, same: a === b };
    };
    const r = await post(['{"a":', '1,', '"b":"x"}']);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: { complete: true, text: '{"a":1,"b":"x"}', same: true }, bytesIn: 15 });
  });

  it('refuses a whole chunked body over the cap with 413', async () => {
    fn = async (ctx) => {
      await settle();
      return (await ctx.readBody()).length;
    };
    const r = await post(['x'.repeat(8), 'y'.repeat(8)], { 'x-cap': '10' });
    expect(r).toEqual({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('reads a declared length as soon as it is all there, and the stream still ends (keep-alive goes on)', async () => {
    // No wait: the parser has handed over the body but not yet the message's end when readBody looks.
    fn = async (ctx) => {
      const body = await ctx.readBody();
      // Taken before the stream's end (collect waits for it).
      const early = !ctx.req.readableEnded;
      const ended = await new Promise<boolean>((r) => {
        if (ctx.req.readableEnded) r(true);
        else ctx.req.once('end', () => r(true));
      });
      return { text: body.toString(), early, ended };
    };
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
    try {
      for (const body of ['{"n":1}', '', 'x'.repeat(5000)]) {
        const res = await pool.request({ path: '/', method: 'POST', body });
        expect(res.statusCode).toBe(200);
        expect(await res.body.json()).toEqual({ ok: { text: body, early: true, ended: true }, bytesIn: body.length });
      }
    } finally {
      await pool.close();
    }
  });

  it('reads an empty body, and the stream still ends (keep-alive carries the next request)', async () => {
    fn = async (ctx) => {
      await settle();
      const body = await ctx.readBody();
      const ended = await new Promise<boolean>((r) => {
        if (ctx.req.readableEnded) r(true);
        else ctx.req.once('end', () => r(true));
      });
      return { length: body.length, ended };
    };
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
    try {
      for (const body of ['', '{"n":2}']) {
        const res = await pool.request({ path: '/', method: 'POST', body });
        expect(res.statusCode).toBe(200);
        expect(await res.body.json()).toEqual({ ok: { length: body.length, ended: true }, bytesIn: body.length });
      }
    } finally {
      await pool.close();
    }
  });
});

describe('RequestContext.readResponseBody', () => {
  let upstream: Server;
  let pool: Pool;
  beforeAll(async () => {
    upstream = createServer((req, res) => {
      if (req.url === '/big') {
        const chunk = Buffer.alloc(1024 * 1024, 'b');
        let n = 0;
        const more = () => {
          while (n < 9) {
            n++;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      } else res.end('{"user":"alice"}');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    pool = new Pool(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  });
  afterAll(async () => {
    await pool.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it('replaces the upstream stream by the whole answer, without a stale content-length', async () => {
    fn = async (ctx) => {
      const r = await pool.request({ method: 'GET', path: '/small' });
      ctx.response = { status: r.statusCode, headers: { 'content-length': '16' }, body: r.body };
      const buf = await ctx.readResponseBody();
      return {
        text: buf.toString(),
        isBuffer: Buffer.isBuffer(ctx.response.body),
        cl: ctx.response.headers['content-length'] ?? null,
      };
    };
    const r = await post([]);
    expect(r.body.ok).toEqual({ text: '{"user":"alice"}', isBuffer: true, cl: null });
  });

  it('refuses to buffer an answer over the cap (502 RESPONSE_TOO_LARGE) and frees the stream', async () => {
    let destroyed = false;
    fn = async (ctx) => {
      const r = await pool.request({ method: 'GET', path: '/big' });
      r.body.once('close', () => {
        destroyed = true;
      });
      ctx.response = { status: r.statusCode, headers: {}, body: r.body };
      return (await ctx.readResponseBody()).length;
    };
    const r = await post([]);
    expect(r).toEqual({ status: 502, body: { code: 'RESPONSE_TOO_LARGE' } });
    for (let i = 0; i < 100 && !destroyed; i++) await new Promise((res) => setTimeout(res, 10));
    expect(destroyed).toBe(true);
  });
});
