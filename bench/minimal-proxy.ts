/**
 * The reference: the smallest reasonable node:http + undici proxy (keep-alive pool, streamed bodies,
 * hop-by-hop headers dropped). Rampart is measured against this in the same run.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { pipeline } from 'node:stream';
import { Pool } from 'undici';

const upstream = process.env.UPSTREAM_URL ?? 'http://127.0.0.1:3001';
const pool = new Pool(upstream, { connections: 128, keepAliveTimeout: 60_000 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection']);

// With TLS_CERT / TLS_KEY set it serves HTTPS (the reference for Rampart's TLS row).
const tls = process.env.TLS_CERT
  ? { cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY ?? '') }
  : null;
const handler = (req: IncomingMessage, res: ServerResponse) => {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.request({ method: req.method as 'GET', path: req.url ?? '/', headers, body: hasBody ? req : null }).then(
    (r) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(r.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
      res.writeHead(r.statusCode, out);
      pipeline(r.body, res, () => {});
    },
    () => {
      res.writeHead(502).end();
    },
  );
};
const server = tls ? createHttpsServer(tls, handler) : createServer(handler);
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ ready: true, port: typeof a === 'object' && a ? a.port : 0 })}\n`);
});
