import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { ClientCertificate } from '../core/context.js';
import { splitAltNames } from './names.js';

/** Per connection: every request on a keep-alive connection or HTTP/2 session shares its certificate. */
const cache = new WeakMap<object, ClientCertificate | null>();

/**
 * The client certificate of a request's connection, only when TLS verified it against the listener's CA (and
 * CRL): in `request` mode a client may present an unverifiable certificate and still connect, and must then
 * count as having none.
 */
export function clientCertOf(req: IncomingMessage): ClientCertificate | null {
  // HTTP/2: the stream's session holds the TLS socket (req.socket is a per-stream proxy of it).
  const h2 = (req as unknown as { stream?: { session?: { socket?: TLSSocket } } }).stream;
  const sock = (h2?.session?.socket ?? req.socket) as TLSSocket | undefined;
  if (!sock?.encrypted) return null;
  let c = cache.get(sock);
  if (c === undefined) {
    c = sock.authorized ? certOf(sock) : null;
    cache.set(sock, c);
  }
  return c;
}

function certOf(sock: TLSSocket): ClientCertificate | null {
  const x = sock.getPeerX509Certificate();
  if (!x) return null;
  return Object.freeze({
    subject: x.subject,
    issuer: x.issuer,
    commonName: /^CN=(.*)$/m.exec(x.subject)?.[1] ?? null,
    subjectAltNames: Object.freeze(splitAltNames(x.subjectAltName)),
    serialNumber: x.serialNumber,
    fingerprint256: x.fingerprint256,
    validFrom: new Date(x.validFrom),
    validTo: new Date(x.validTo),
    raw: x.raw,
  });
}
