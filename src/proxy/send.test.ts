import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstream as upstreamSchema } from '../config/schema.js';
import { RequestContext } from '../core/context.js';
import type { GatewayError } from '../core/errors.js';
import type { Exchange } from './exchange.js';
import { PoolRegistry } from './pools.js';
import { sendUpstream } from './send.js';
import { Upstream } from './upstream.js';

/** A buffered body (ctx.readBody) is what goes upstream, with a fresh content-length, and makes PUT retryable. */
describe('sendUpstream with a buffered body', () => {
  let live: Server;
  let front: Server;
  let frontPort = 0;
  const seen: { method: string; body: string; cl: string | undefined }[] = [];
  const pools = new PoolRegistry();
  let up: Upstream;

  beforeAll(async () => {
    live = createServer((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => {
        b += c.toString();
      });
      req.on('end', () => {
        seen.push({ method: req.method ?? '', body: b, cl: req.headers['content-length'] });
        res.end('stored');
      });
    });
    await new Promise<void>((r) => live.listen(0, '127.0.0.1', () => r()));
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    up = new Upstream(
      'svc',
      upstreamSchema.parse({
        targets: [`http://127.0.0.1:${deadPort}`, `http://127.0.0.1:${(live.address() as AddressInfo).port}`],
        balancer: 'round-robin',
      }),
      pools,
    );
    front = createServer((req: IncomingMessage, res: ServerResponse) => {
      const ctx = new RequestContext(req, res, {
        path: '/items/1',
        query: '',
        clientIp: '127.0.0.1',
        peerIp: '127.0.0.1',
        secure: false,
        websocket: false,
      });
      ctx.upstreamPath = '/items/1';
      ctx.upstreamHeaders = { host: 'svc' };
      void (async () => {
        const body = await ctx.readBody();
        // A policy may rewrite what it buffered.
        ctx.requestBody = Buffer.from(body.toString().toUpperCase());
        await sendUpstream(ctx, up, {
          attempts: 2,
          headerMs: 5000,
          bodyMs: 5000,
          totalMs: 5000,
          beforeAttempt: () => {},
        });
        const r = ctx.response;
        if (!r) throw new Error('no response');
        res.writeHead(r.status, { 'x-attempts': String(ctx.attempts) });
        (r.body as Exchange).pipeTo(res, () => {});
      })().catch((e: GatewayError) => {
        res.writeHead(e.status ?? 500).end(e.code);
      });
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
    frontPort = (front.address() as AddressInfo).port;
  });
  afterAll(async () => {
    up.close();
    await pools.closeAll();
    await new Promise<void>((r) => front.close(() => r()));
    await new Promise<void>((r) => live.close(() => r()));
  });

  function send(method: string, chunks: string[]): Promise<{ status: number; attempts: string; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: frontPort, method, path: '/', agent: false }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => {
          b += c.toString();
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, attempts: String(res.headers['x-attempts']), body: b }),
        );
      });
      req.on('error', reject);
      for (const c of chunks) req.write(c);
      req.end();
    });
  }

  it('sends the buffered (rewritten) bytes with their own length, and retries an idempotent PUT past a dead target', async () => {
    seen.length = 0;
    const r = await send('PUT', ['{"name":', '"bob"}']);
    expect(r).toEqual({ status: 200, attempts: '2', body: 'stored' });
    expect(seen).toEqual([{ method: 'PUT', body: '{"NAME":"BOB"}', cl: '14' }]);
  });
});
