import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { SecureContext, SecureContextOptions, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { ListenerConfig, ListenerTlsConfig } from '../config/schema.js';
import { buildTlsState, filesDigest, type TlsState, tlsFiles } from './contexts.js';
import { h2Classes } from './h2.js';
import { describeCert } from './read.js';
import { watchFolders } from './watch.js';

/** What the gateway needs of a listening server to drain it (http.Server has these; HTTP/2 needs help). */
export interface ClosableServer {
  close(cb: () => void): unknown;
  closeIdleConnections(): void;
  closeAllConnections(): void;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Client certificate failures worth an operator's eye; the rest of failed handshakes is internet noise. */
const CLIENT_CERT_ERRORS =
  /CERT_REVOKED|CERT_HAS_EXPIRED|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED|CERT_NOT_YET_VALID|CERT_UNTRUSTED|CRL|PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_REQUIRED/;

/**
 * An HTTPS listener: HTTP/2 and HTTP/1.1 on one port (ALPN), a certificate per SNI name, optional client
 * certificates, OCSP stapling, and its files reloaded when they change on disk. The request handler is the
 * gateway's own; HTTP/2 requests reach it through compatibility objects adjusted in h2.ts.
 */
export class TlsListener implements ClosableServer {
  readonly server: HttpsServer | Http2SecureServer;
  private state: TlsState;
  private readonly files: string[];
  private digest: string;
  /** Files that failed to build, so that a poll does not log the same failure every minute. */
  private failedDigest = '';
  private stopWatch: () => void = () => {};
  /** HTTP/2 sessions and their open streams: idle ones are closed after keep_alive_timeout_ms and on drain. */
  private readonly sessions = new Map<ServerHttp2Session, number>();
  /** Ticket keys kept across reloads, so that a rotation does not end every client's session resumption. */
  private readonly ticketKeys = randomBytes(48);

  constructor(
    private readonly l: ListenerConfig & { tls: ListenerTlsConfig },
    handler: Handler,
    private readonly logger: Logger,
  ) {
    const cfg = l.tls;
    this.files = tlsFiles(cfg);
    this.digest = filesDigest(this.files);
    this.state = buildTlsState(cfg, l.name);
    const tlsOptions = {
      ...this.defaultContextOptions(),
      SNICallback: (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) =>
        cb(null, this.state.select(name).context),
      requestCert: Boolean(cfg.client_auth),
      rejectUnauthorized: cfg.client_auth?.mode === 'require',
      // Node waits 120 s for a TLS handshake by default: a slowloris that never finishes its ClientHello would hold
      // the socket that long. The handshake gets the same deadline as the request head.
      handshakeTimeout: l.headers_timeout_ms,
    };
    const http1 = http1Options(l);
    if (cfg.http2) {
      const server = createSecureServer({
        ...tlsOptions,
        allowHTTP1: true,
        settings: { maxConcurrentStreams: 128, maxHeaderListSize: l.max_header_bytes },
        ...h2Classes(l.request_timeout_ms),
      });
      // HTTP/1.1 connections on this port go through node's HTTP/1 server code, which reads these from the server.
      Object.assign(server, http1);
      server.on('request', handler as unknown as (...a: unknown[]) => void);
      server.on('session', (s: ServerHttp2Session) => this.trackSession(s));
      this.server = server;
    } else {
      this.server = createHttpsServer({ ...tlsOptions, ...http1, ALPNProtocols: ['http/1.1'] }, handler);
    }
    // handshakeTimeout is an idle timeout: a ClientHello dribbled a byte at a time resets it forever. The handshake
    // gets a whole deadline (headers_timeout_ms), keyed by the connection's address and port, since node hands the
    // raw socket to 'connection' and a different TLSSocket to 'secureConnection'.
    const handshakes = new Map<string, NodeJS.Timeout>();
    this.server.on('connection', (raw: Socket) => {
      const key = `${raw.remoteAddress}|${raw.remotePort}`;
      const t = setTimeout(() => raw.destroy(), l.headers_timeout_ms);
      t.unref();
      handshakes.set(key, t);
      raw.once('close', () => {
        clearTimeout(t);
        if (handshakes.get(key) === t) handshakes.delete(key);
      });
    });
    this.server.on('secureConnection', (s: TLSSocket) => {
      const key = `${s.remoteAddress}|${s.remotePort}`;
      clearTimeout(handshakes.get(key));
      handshakes.delete(key);
      // A renegotiation could swap the client certificate under a connection whose requests were checked
      // against the first one; HTTP/2 forbids it anyway.
      s.disableRenegotiation();
    });
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, s: TLSSocket) => {
      // A certificate that fails verification in `require` mode: node ends the handshake quietly, then reports a
      // hang-up here; the socket still tells why (CERT_REVOKED, UNABLE_TO_VERIFY_LEAF_SIGNATURE ...).
      const why = s.authorizationError;
      const code = why ? String(why) : err.code;
      const clientCert = Boolean(why) || CLIENT_CERT_ERRORS.test(`${err.code ?? ''} ${err.message}`);
      this.logger[clientCert ? 'info' : 'debug'](
        {
          listener: l.name,
          peer: s.remoteAddress,
          err: { code, message: why ? `client certificate not accepted: ${String(why)}` : err.message },
        },
        clientCert ? 'client certificate refused' : 'TLS handshake failed',
      );
    });
    if (cfg.certificates.some((c) => c.ocsp_staple_file)) {
      this.server.on('OCSPRequest', (cert: Buffer, _issuer: Buffer, cb: (err: Error | null, resp: Buffer) => void) =>
        // null means "no staple": the handshake goes on without one.
        cb(null, this.state.stapleFor(cert) as Buffer),
      );
    }
  }

  /** The default context's options: the first certificate plus what every context shares. */
  private defaultContextOptions(): SecureContextOptions & { ticketKeys: Buffer } {
    const first = this.state.entries[0];
    return { ...first?.options, ticketKeys: this.ticketKeys };
  }

  /** Watches the files once the listener is up. */
  watch(pollMs?: number): void {
    this.stopWatch();
    this.stopWatch = watchFolders(this.files, () => this.reload(), { pollMs });
  }

  /** Certificates in use, for the log. */
  describe(): { subject: string; names: string[]; not_after: string }[] {
    return this.state.entries.map((e) => ({
      subject: describeCert(e.pair.leaf),
      names: e.pair.names,
      not_after: e.pair.notAfter.toISOString(),
    }));
  }

  /**
   * Rebuilds the contexts when a file's bytes changed. New handshakes use the new ones; connections already
   * made keep theirs. A file that fails its checks (half-written, expired, key of another certificate) leaves
   * the current certificates serving: rotations often write the certificate and the key one after the other.
   */
  reload(): boolean {
    const digest = filesDigest(this.files);
    if (digest === this.digest || digest === this.failedDigest) return false;
    let next: TlsState;
    try {
      next = buildTlsState(this.l.tls, this.l.name);
    } catch (e) {
      this.failedDigest = digest;
      this.logger.error(
        { listener: this.l.name, err: (e as Error).message },
        'TLS files changed but cannot be used; the current certificates keep serving',
      );
      return false;
    }
    this.state = next;
    this.digest = digest;
    this.failedDigest = '';
    // Clients without SNI get the server's own context; the SNI callback reads this.state.
    this.server.setSecureContext(this.defaultContextOptions());
    this.logger.info({ listener: this.l.name, certificates: this.describe() }, 'TLS certificates reloaded');
    return true;
  }

  private trackSession(s: ServerHttp2Session): void {
    this.sessions.set(s, 0);
    s.on('stream', (stream) => {
      this.sessions.set(s, (this.sessions.get(s) ?? 0) + 1);
      stream.once('close', () => this.sessions.set(s, Math.max(0, (this.sessions.get(s) ?? 1) - 1)));
    });
    // Like HTTP/1 keep-alive: a session with nothing in flight is closed after the idle time. Received PINGs and
    // CONTINUATION frames do not reset node's session timer, so a session held by them is closed too (tested in
    // test/e2e/protocol-limits.test.ts).
    s.setTimeout(this.l.keep_alive_timeout_ms, () => {
      if (!this.sessions.get(s)) s.close();
    });
    s.on('error', () => {});
    s.once('close', () => this.sessions.delete(s));
  }

  closeIdleConnections(): void {
    // HTTP/1.1 connections: node tracks them on an HTTP/2 server too (allowHTTP1), its typings do not say so.
    (this.server as HttpsServer).closeIdleConnections?.();
    for (const [s, streams] of this.sessions) if (!streams) s.close();
  }

  closeAllConnections(): void {
    (this.server as HttpsServer).closeAllConnections?.();
    for (const s of this.sessions.keys()) s.destroy();
  }

  close(cb: () => void): void {
    this.stopWatch();
    this.server.close(() => cb());
    // GOAWAY: clients open no new streams here, the ones in flight finish.
    for (const s of this.sessions.keys()) s.close();
  }
}

/**
 * node:http server options from a listener. Node checks the head and request deadlines on an interval (30 s by
 * default), so a slowloris client would keep its socket up to 30 s past headers_timeout_ms: check at a quarter of
 * the shorter deadline, between 25 ms and 1 s.
 */
export function http1Options(l: ListenerConfig) {
  return {
    maxHeaderSize: l.max_header_bytes,
    // The head is part of the request: node refuses a head deadline past the whole-request one.
    headersTimeout: Math.min(l.headers_timeout_ms, l.request_timeout_ms),
    requestTimeout: l.request_timeout_ms,
    keepAliveTimeout: l.keep_alive_timeout_ms,
    connectionsCheckingInterval: Math.max(
      25,
      Math.min(1000, Math.floor(Math.min(l.headers_timeout_ms, l.request_timeout_ms) / 4)),
    ),
    // The gateway refuses a missing Host itself (framingError), as problem+json; node's own 400 has no body.
    requireHostHeader: false,
  };
}
