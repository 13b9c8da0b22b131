import { createServer, type Server } from 'node:http';

/** The metrics listener: its own port, loopback by default (config refuses anything else without allow_remote). */
export async function startMetricsServer(
  host: string,
  port: number,
  render: () => Promise<{ contentType: string; body: string }>,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    render().then(
      (m) => res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store' }).end(m.body),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port };
}
