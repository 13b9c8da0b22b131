import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, type Writable } from 'node:stream';
import type { Target } from '../proxy/target.js';
import type { Decision, SecurityEvent } from './decision.js';
import { GatewayError } from './errors.js';
import type { Identity } from './identity.js';

/**
 * Most a policy may buffer of a body when no tighter cap applies (request-limits sets the request's).
 * Buffering is never unbounded: past the cap the request gets 413, an upstream answer 502.
 */
export const MAX_BUFFERED_BODY = 8 * 1024 * 1024;

/** Headers as sent upstream or to the client: lower-case names. */
export type HeaderMap = Record<string, string | string[]>;

/** A response body produced elsewhere (the upstream exchange) and consumed once: streamed or buffered. */
export interface BodySource {
  /** True once fully read, failed or dropped. */
  readonly done: boolean;
  pipeTo(sink: Writable, onBytes: (n: number) => void): void;
  collect(cap: number, tooLarge: () => Error): Promise<Buffer>;
  destroy(): void;
}

export interface ResponseState {
  status: number;
  headers: HeaderMap;
  /** The upstream's body, a stream, a buffer for local answers, or null (HEAD, 204, 304). */
  body: BodySource | Readable | Buffer | null;
}

/**
 * A client certificate the listener's TLS verified (mTLS), for identity policies. Only verified certificates
 * appear here: an unverified one (allowed to connect in `request` mode) leaves `ctx.clientCert` null.
 */
export interface ClientCertificate {
  /** Distinguished name as node prints it, one "KEY=value" per line, e.g. "O=Acme\nCN=alice". */
  readonly subject: string;
  readonly issuer: string;
  /** The subject's CN, or null when it has none. */
  readonly commonName: string | null;
  /** Subject alternative names as "DNS:api.example", "URI:spiffe://...", "email:a@b", "IP Address:10.0.0.1". */
  readonly subjectAltNames: readonly string[];
  /** Upper-case hexadecimal. */
  readonly serialNumber: string;
  /** SHA-256 of the DER, "AB:CD:..." (for pinning a certificate to a consumer). */
  readonly fingerprint256: string;
  readonly validFrom: Date;
  readonly validTo: Date;
  /** The certificate's DER bytes. */
  readonly raw: Buffer;
}

/** The compiled route as policies see it (config/compile.ts builds the full one). */
export interface RouteInfo {
  readonly name: string;
  readonly upstream: string | null;
  /** `public: true`: no identity needed (deny by default otherwise). */
  readonly public: boolean;
  /** Load shedding order (`load-shed`): low is shed first, critical never. Absent: normal. */
  readonly priority?: 'critical' | 'high' | 'normal' | 'low';
}

/**
 * Typed state of one request as it moves through the phases. New capabilities add typed fields here
 * (consumer, claims, decision) rather than a free-form bag.
 */
export class RequestContext {
  /** Request id (request-id policy sets it; empty until then). */
  id = '';
  /** performance.now() at arrival. */
  readonly start: number;
  readonly method: string;
  /** Normalised path, no query. */
  path: string;
  /** Raw query string including the leading "?", or "". */
  query: string;
  readonly host: string;
  /** Client address after the trusted-proxies walk. */
  clientIp: string;
  /** Address of the TCP peer. */
  readonly peerIp: string;
  readonly secure: boolean;
  /** The verified client certificate of this connection (mTLS listeners), or null. */
  clientCert: ClientCertificate | null = null;
  route: RouteInfo | null = null;
  /** Set by the identity policy that recognised the caller; a non-public route refuses the request without one. */
  identity: Identity | null = null;
  /**
   * Brute-force hook: an identity policy calls it with a stable key for the credential it is about to check (an API
   * key id, a token digest) before checking it, so a locked credential is refused (AUTH_LOCKED) without a check.
   */
  onAuthAttempt: ((credentialKey: string) => void) | null = null;
  /** The credential key passed to onAuthAttempt, for counting a failure against it. */
  authAttempt: string | null = null;
  /** Authorization decisions in the order they were made (null until the first: most requests on public routes). */
  decisions: Decision[] | null = null;

  /** Records an authorization decision; a deny must still be thrown (FORBIDDEN) by the policy that made it. */
  decide(d: Decision): void {
    if (this.decisions) this.decisions.push(d);
    else this.decisions = [d];
  }

  /** Security events in the order they were recorded (null until the first). */
  securityEvents: SecurityEvent[] | null = null;
  /**
   * Whether anything reads this request's security events: false when the server runs it through a pipeline with no
   * policy that does (no audit). Events are then dropped, and a policy may skip what it only computes for its event
   * (response-filter's removed paths). True by default: a context made anywhere else keeps its events.
   */
  securityEventsRead = true;

  /** Records a security event (a detection, a validation failure, a limit hit) for the audit log and anomaly detection. */
  securityEvent(e: SecurityEvent): void {
    if (!this.securityEventsRead) return;
    if (this.securityEvents) this.securityEvents.push(e);
    else this.securityEvents = [e];
  }

  params: Record<string, string | undefined> = {};
  /** Headers that will be sent upstream (hop-by-hop removed, forwarding headers set). Policies may edit. */
  upstreamHeaders: HeaderMap = {};
  /** Path and query sent upstream (after strip_prefix / rewrite). */
  upstreamPath = '';
  /** Body cap set by request-limits; the proxy enforces it while streaming. */
  maxBodyBytes = Number.POSITIVE_INFINITY;
  /** Response being sent (set before the response phase). */
  response: ResponseState | null = null;
  /** Set when a phase stopped the request. */
  error: GatewayError | null = null;
  /** Target of the current/last upstream attempt. */
  target: Target | null = null;
  attempts = 0;
  /** Request body bytes received and response body bytes sent. */
  bytesIn = 0;
  bytesOut = 0;
  /** Upstream time to first byte of response headers, ms. */
  upstreamMs = -1;
  readonly websocket: boolean;
  /**
   * What to cancel when the client's connection closes (the upstream exchange, then the body stream).
   * One slot read by the server's single 'close' listener, instead of a listener per stage.
   */
  onClientClose: (() => void) | null = null;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse | null,
    init: { path: string; query: string; clientIp: string; peerIp: string; secure: boolean; websocket: boolean },
  ) {
    this.start = performance.now();
    this.method = req.method ?? 'GET';
    this.host = (req.headers.host ?? '').toLowerCase();
    this.path = init.path;
    this.query = init.query;
    this.clientIp = init.clientIp;
    this.peerIp = init.peerIp;
    this.secure = init.secure;
    this.websocket = init.websocket;
  }

  /** Milliseconds since arrival. */
  elapsed(): number {
    return performance.now() - this.start;
  }

  /** The request body once a policy has buffered it; the proxy then sends these bytes instead of streaming. */
  requestBody: Buffer | null = null;

  /** True when the request carries a body: one a policy buffered, a declared length above 0, or a chunked one. */
  hasBody(): boolean {
    if (this.requestBody) return this.requestBody.length > 0;
    const h = this.req.headers;
    return Number(h['content-length'] ?? 0) > 0 || h['transfer-encoding'] !== undefined;
  }

  /**
   * Buffers the request body for a policy that must see it (validation, inspection), bounded by the route's
   * body cap and MAX_BUFFERED_BODY. Later calls return the same buffer; a policy may replace ctx.requestBody.
   */
  async readBody(): Promise<Buffer> {
    if (this.requestBody) return this.requestBody;
    const cap = Math.min(this.maxBodyBytes, MAX_BUFFERED_BODY);
    const req = this.req;
    const length = Number(req.headers['content-length'] ?? -1);
    if (length > cap) throw new GatewayError('PAYLOAD_TOO_LARGE');
    // A small body mostly arrives in the same read as its headers: the parser hands it over (each of its callbacks
    // followed by a turn of the microtask queue) right after the request's policies start. When it has handed over the
    // whole message, or all of the declared length, and nothing has read the stream yet, the body is in the stream's
    // buffer and is taken at once: no listeners, no turns of the event loop. (An HTTP/2 request also counts as
    // complete when aborted: not taken here.)
    if (!req.complete) await undefined;
    const declared = req.headers['transfer-encoding'] === undefined ? length : -1;
    if (
      (req.complete || (declared >= 0 && req.readableLength === declared)) &&
      !req.destroyed &&
      !req.aborted &&
      req.readableFlowing === null &&
      req.readableEncoding === null
    ) {
      if (req.readableLength > cap) throw new GatewayError('PAYLOAD_TOO_LARGE');
      // read() also ends a stream that has ended ('end' follows); resume() lets the end still to come flow (nothing
      // else can arrive), so the stream ends and closes as if it had been read through.
      const chunk = req.read() as Buffer | null;
      req.resume();
      // A copy, as collect's concat makes: the chunk may be a view of the socket's larger read buffer.
      const body = Buffer.allocUnsafe(chunk?.length ?? 0);
      chunk?.copy(body);
      this.requestBody = body;
      this.bytesIn = this.requestBody.length;
      return this.requestBody;
    }
    this.requestBody = await collect(
      this.req,
      cap,
      () => new GatewayError('PAYLOAD_TOO_LARGE'),
      () => new GatewayError('CLIENT_CLOSED_REQUEST'),
      false,
    );
    this.bytesIn = this.requestBody.length;
    return this.requestBody;
  }

  /**
   * Buffers the upstream's answer for a response-phase policy (filtering, redaction), bounded by
   * MAX_BUFFERED_BODY; the buffer then replaces the stream and is what the client gets. The buffer belongs to
   * this response alone (response-filter compacts it in place): never put a shared buffer in `response.body`.
   */
  async readResponseBody(): Promise<Buffer> {
    const r = this.response;
    if (!r?.body) return Buffer.alloc(0);
    if (Buffer.isBuffer(r.body)) return r.body;
    const tooLarge = () => new GatewayError('RESPONSE_TOO_LARGE');
    if (Number(r.headers['content-length'] ?? 0) > MAX_BUFFERED_BODY) {
      r.body.destroy();
      throw tooLarge();
    }
    const buf =
      r.body instanceof Readable
        ? await collect(
            r.body,
            MAX_BUFFERED_BODY,
            tooLarge,
            (e) => new GatewayError('UPSTREAM_UNAVAILABLE', undefined, { cause: e }),
            true,
          )
        : await r.body.collect(MAX_BUFFERED_BODY, tooLarge).catch((e: unknown) => {
            throw e instanceof GatewayError ? e : new GatewayError('UPSTREAM_UNAVAILABLE', undefined, { cause: e });
          });
    r.body = buf;
    delete r.headers['content-length'];
    return buf;
  }

  /**
   * Answers locally from the request phase (a CORS preflight, a cached answer): the chain stops after the
   * current policy, as when a Fastify hook replies. Errors are thrown as GatewayError instead. `body` must be
   * this reply's own buffer (response-phase policies may rewrite it in place), not a shared constant.
   */
  reply(status: number, headers: HeaderMap = {}, body: Buffer | null = null): void {
    this.response = { status, headers, body };
  }
}

/**
 * Reads a stream whole, up to cap. Events rather than async iteration: leaving a for-await early destroys the
 * stream, and a client's request must stay open so that its 413 can be sent (the server drains the rest, bounded).
 * An upstream stream is destroyed on overflow, which frees its pooled connection.
 */
function collect(
  stream: Readable,
  cap: number,
  tooLarge: () => GatewayError,
  failed: (e?: unknown) => GatewayError,
  destroy: boolean,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (c: Buffer) => {
      total += c.length;
      if (total <= cap) {
        chunks.push(c);
        return;
      }
      done();
      if (destroy) {
        // Destroying an undici body emits an abort error: it is the expected end here, not a failure.
        stream.on('error', () => {});
        stream.destroy();
      } else stream.pause();
      reject(tooLarge());
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, total));
    };
    const onError = (e: unknown) => {
      done();
      reject(failed(e));
    };
    const onClose = () => onError(undefined);
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}
