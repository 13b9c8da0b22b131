import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Target } from '../proxy/target.js';
import type { GatewayError } from './errors.js';

/** Headers as sent upstream or to the client: lower-case names. */
export type HeaderMap = Record<string, string | string[]>;

export interface ResponseState {
  status: number;
  headers: HeaderMap;
  /** A stream from the upstream, a buffer for local answers, or null (HEAD, 204, 304). */
  body: Readable | Buffer | null;
}

/** The compiled route as policies see it (config/compile.ts builds the full one). */
export interface RouteInfo {
  readonly name: string;
  readonly upstream: string | null;
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
  route: RouteInfo | null = null;
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

  /**
   * Answers locally from the request phase (a CORS preflight, a cached answer): the chain stops after the
   * current policy, as when a Fastify hook replies. Errors are thrown as GatewayError instead.
   */
  reply(status: number, headers: HeaderMap = {}, body: Buffer | null = null): void {
    this.response = { status, headers, body };
  }
}
