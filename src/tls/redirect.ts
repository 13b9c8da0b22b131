import type { IncomingMessage, ServerResponse } from 'node:http';

/** A host name or [IPv6], with an optional port: nothing that could smuggle a path or a second URL. */
const HOST =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.?|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/**
 * The handler of a `redirect_to_https` listener: 308 (method and body kept) to the same host and path over https.
 * No policies run and HSTS is not sent: a browser ignores HSTS over plain HTTP (RFC 6797 8.1), the HTTPS answer
 * sets it.
 */
export function redirectHandler(httpsPort: number): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const host = req.headers.host ?? '';
    // Only origin-form targets: "*" and absolute-form go to the root rather than to a URL the client chose.
    const target = req.url?.startsWith('/') && !req.url.startsWith('//') ? req.url : '/';
    if (!HOST.test(host)) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '12' });
      res.end('bad request\n');
      return;
    }
    const name = host.replace(/:\d+$/, '');
    const location = `https://${name}${httpsPort === 443 ? '' : `:${httpsPort}`}${target}`;
    res.writeHead(308, { location, 'content-length': '0' });
    res.end();
    // A request body is not wanted: read and drop it so the keep-alive connection stays usable.
    req.resume();
  };
}
