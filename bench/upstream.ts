/** Benchmark upstream: a small JSON answer on keep-alive, like a typical API read. */
import { createServer } from 'node:http';
import { LARGE_JSON } from './large-json.js';

const body = JSON.stringify({ id: 'u_1001', name: 'Alice Martin', email: 'alice@example.com', role: 'customer' });
const port = Number(process.env.PORT ?? 0);
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const out = req.url === '/large-json' ? LARGE_JSON : body;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ ready: true, port: typeof a === 'object' && a ? a.port : port })}\n`);
});
