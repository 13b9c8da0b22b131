/** Benchmark upstream: a small JSON answer on keep-alive, like a typical API read. */
import { createServer } from 'node:http';

const body = JSON.stringify({ id: 'u_1001', name: 'Alice Martin', email: 'alice@example.com', role: 'customer' });
/**
 * /large-json: about 10 KB of JSON, a page of 20 user records as a naive API returns them (internal fields, hashes,
 * an SSN, a card number, an email and phone each): what response-filter and redact work on in the bench.
 */
const large = JSON.stringify({
  page: 1,
  total: 20,
  items: Array.from({ length: 20 }, (_, i) => ({
    id: `u_${1001 + i}`,
    name: `User Number ${i}`,
    email: `user${i}@example.com`,
    phone: `+44 20 7946 ${String(1000 + i)}`,
    role: i % 5 === 0 ? 'admin' : 'customer',
    created_at: '2024-01-15T10:00:00Z',
    address: { street: `${i} Long Street`, city: 'London', postal_code: 'SW1A 1AA', country: 'GB' },
    tags: ['alpha', 'beta', 'gamma'],
    password_hash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA',
    ssn: '536-90-4399',
    card: '4111 1111 1111 1111',
    internal_id: 880000 + i,
    internal_notes: 'VIP customer, handle with care; escalations go to the account manager.',
  })),
});
const port = Number(process.env.PORT ?? 0);
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const out = req.url === '/large-json' ? large : body;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ ready: true, port: typeof a === 'object' && a ? a.port : port })}\n`);
});
