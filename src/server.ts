import { createServer, IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { type Duplex, Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from 'pino';
import { type CompiledRoute, Generation } from './config/compile.js';
import type { LoadedConfig } from './config/load.js';
import type { ListenerConfig } from './config/schema.js';
import { clientIpOf, normalizeIp } from './core/client-ip.js';
import { RequestContext } from './core/context.js';
import { ERRORS, GatewayError, PROBLEM_CONTENT_TYPE, problemOf, toGatewayError } from './core/errors.js';
import { normalizeTarget } from './core/path.js';
import type { Pipeline } from './core/pipeline.js';
import type { RouteLookup } from './core/router.js';
import { ServiceRegistry } from './core/shared.js';
import { AccessLog } from './observability/access-log.js';
import type { Metrics } from './observability/metrics.js';
import { logThrottle } from './observability/throttle.js';
import { upstreamRequestHeaders } from './proxy/forward.js';
import { beginRequest, recordFailure, recordSuccess } from './proxy/health.js';
import { PoolRegistry } from './proxy/pools.js';
import { sendUpstream } from './proxy/send.js';
import { clientCertOf } from './tls/client-cert.js';
import { type ClosableServer, http1Options, TlsListener } from './tls/listener.js';
import { redirectHandler } from './tls/redirect.js';

export interface GatewayOptions {
  logger: Logger;
  metrics?: Metrics | null;
  /** Store, keyring and cross-generation objects for policies; an empty registry when the config has no store. */
  services?: ServiceRegistry;
}

/** A handler that answers a whole path prefix itself, ahead of routing (see Gateway.mount). */
export type MountedHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface BoundListener {
  name: string;
  host: string;
  port: number;
}

/**
 * Wires node:http to the compiled config: one handler per request, generations swapped on reload,
 * WebSocket upgrades, client errors as problem+json, graceful drain.
 */
export class Gateway {
  private gen: Generation | null = null;
  private generations = 0;
  private readonly pools = new PoolRegistry();
  private readonly servers: ClosableServer[] = [];
  private draining = false;
  /** Requests (and WebSockets) in flight on every generation, not just the current one: drain waits for all. */
  private inflight = 0;
  private readonly sockets = new Set<Socket | Duplex>();
  readonly logger: Logger;
  private readonly access: AccessLog;
  private readonly metrics: Metrics | null;
  private mounted: { prefix: string; handler: MountedHandler } | null = null;

  constructor(opts: GatewayOptions) {
    this.logger = opts.logger;
    this.access = new AccessLog(opts.logger);
    this.metrics = opts.metrics ?? null;
    this.services = opts.services ?? new ServiceRegistry();
  }

  readonly services: ServiceRegistry;

  get current(): Generation | null {
    return this.gen;
  }

  /** Compiles fully, then swaps; the old generation finishes its in-flight requests and closes. */
  apply(loaded: LoadedConfig): Generation {
    const next = new Generation(loaded.config, ++this.generations, this.pools, this.logger, this.services);
    next.start();
    const prev = this.gen;
    if (prev && JSON.stringify(prev.config.listeners) !== JSON.stringify(next.config.listeners)) {
      this.logger.warn('listener changes take effect on restart; the listeners keep their current settings');
    }
    this.gen = next;
    prev?.retire();
    return next;
  }

  /**
   * Hands every request for `prefix` or a path below it to `handler`, before routing and policies: the built-in
   * authorization server (src/authserver) answers its own endpoints. It speaks OAuth, so its errors are OAuth
   * JSON, not problem+json. Requests are counted for drain and written to the access log.
   */
  mount(prefix: string, handler: MountedHandler): void {
    this.mounted = { prefix, handler };
  }

  async listen(listeners: readonly ListenerConfig[]): Promise<BoundListener[]> {
    const bound: BoundListener[] = [];
    for (const l of listeners) {
      const handler = l.redirect_to_https
        ? redirectHandler(l.redirect_to_https.port)
        : (req: IncomingMessage, res: ServerResponse) => this.handle(req, res);
      // HTTPS (and HTTP/2) listeners: src/tls/listener.ts; their certificate files are watched from here on.
      const tls = l.tls ? new TlsListener({ ...l, tls: l.tls }, handler, this.logger) : null;
      const server = tls?.server ?? createServer(http1Options(l), handler);
      // Expect: 100-continue is answered only when something starts reading the body: a request refused before
      // (413 on its Content-Length, 401, 403) gets its final answer and the client never sends the body.
      server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
        req.once('resume', () => {
          if (!res.headersSent && !res.destroyed) res.writeContinue();
        });
        handler(req, res);
      });
      // Any other expectation: 417 as problem+json (node's own answer has no body), before anything reads the body.
      server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
        const body = Buffer.from(JSON.stringify(problemOf(new GatewayError('EXPECTATION_FAILED'))));
        const headers: Record<string, string> = {
          'content-type': PROBLEM_CONTENT_TYPE,
          'content-length': String(body.length),
        };
        // The body that may follow is not wanted: close rather than read it.
        if (req.httpVersionMajor === 1) headers.connection = 'close';
        res.writeHead(417, headers);
        res.end(body);
      });
      if (!l.redirect_to_https)
        server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
          void this.handleUpgrade(req, socket, head);
        });
      server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.clientError(err, socket));
      const perIp = new Map<string, number>();
      server.on('connection', (s: Socket) => {
        // Counted per TCP peer (a proxy in front counts as one peer: raise the limit there). The map holds only
        // peers with an open connection, so it is bounded by the open sockets.
        const ip = normalizeIp(s.remoteAddress ?? '');
        const n = (perIp.get(ip) ?? 0) + 1;
        if (n > l.max_connections_per_ip) {
          this.refuseConnection(l.name, ip, s);
          return;
        }
        perIp.set(ip, n);
        this.sockets.add(s);
        s.once('close', () => {
          this.sockets.delete(s);
          const left = (perIp.get(ip) ?? 1) - 1;
          if (left <= 0) perIp.delete(ip);
          else perIp.set(ip, left);
        });
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(l.port, l.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : l.port;
      this.servers.push(tls ?? (server as Server));
      tls?.watch();
      bound.push({ name: l.name, host: l.host, port });
      this.logger.info(
        {
          listener: l.name,
          address: `${tls ? 'https' : 'http'}://${l.host}:${port}`,
          ...(tls && { http2: l.tls?.http2, certificates: tls.describe() }),
          ...(l.redirect_to_https && { redirect_to_https: l.redirect_to_https.port }),
        },
        'listening',
      );
    }
    return bound;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const gen = this.gen;
    if (!gen || poisoned.has(req.socket)) {
      res.destroy();
      return;
    }
    const framing = framingError(req);
    if (framing !== null) {
      this.refuseFraming(req, res, framing);
      return;
    }
    // The mounted prefix (the authorization server): one string check for every other request.
    const m = this.mounted;
    if (m !== null && req.url?.startsWith(m.prefix) && isBelow(req.url, m.prefix.length)) {
      this.serveMounted(gen, m.handler, req, res);
      return;
    }
    gen.enter();
    this.inflight++;
    const { ctx, lookup, badPath } = this.prepare(gen, req, res);
    const route = lookup?.route ?? null;
    const pl = route ? route.pipeline : gen.fallback;
    ctx.securityEventsRead = pl.readsSecurityEvents;
    res.once('close', () => {
      ctx.onClientClose?.();
      this.finish(ctx, gen, pl);
    });
    // HTTP/2 has no Connection header (setting one throws): its sessions get GOAWAY on drain instead.
    if (this.draining && req.httpVersionMajor === 1) res.setHeader('connection', 'close');
    pl.run(ctx, (c) => this.terminal(c, route, lookup, badPath)).then(
      () => this.write(ctx),
      (e: unknown) => {
        this.logger.error({ err: e }, 'pipeline failed');
        res.destroy();
      },
    );
  }

  /** Closes a connection past the listener's per-IP limit; one log line per second at most, with the count. */
  private refuseConnection(listener: string, ip: string, s: Socket): void {
    s.destroy();
    this.metrics?.connectionsRefused.inc({ listener, reason: 'per_ip_limit' });
    this.refusedSinceLog++;
    const now = Date.now();
    if (now - this.refusedLoggedAt >= 1000) {
      this.logger.warn(
        { listener, peer: ip, refused: this.refusedSinceLog },
        'connection refused: too many connections from this address',
      );
      this.refusedLoggedAt = now;
      this.refusedSinceLog = 0;
    }
  }
  private refusedLoggedAt = 0;
  private refusedSinceLog = 0;
  private readonly framingLog = logThrottle(1000);

  /**
   * A request whose framing the parser accepted but the gateway will not (see framingError): 400 problem+json
   * before any policy runs or any byte goes upstream, and the connection is closed: whatever follows on it may be
   * the smuggled request, so nothing more is read from it.
   */
  private refuseFraming(req: IncomingMessage, res: ServerResponse, reason: string): void {
    const err = new GatewayError('BAD_FRAMING', reason);
    const body = Buffer.from(JSON.stringify(problemOf(err)));
    // A client can send these as fast as it likes: at most one line a second, with how many were held back.
    const held = this.framingLog();
    if (held !== null)
      this.logger.warn(
        { peer: normalizeIp(req.socket.remoteAddress ?? ''), code: err.code, reason, suppressed: held },
        'request refused: bad framing',
      );
    this.metrics?.observeRequest('(none)', req.method ?? 'GET', 400, 0, err.code);
    const headers: Record<string, string> = {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': String(body.length),
      'cache-control': 'no-store',
    };
    if (req.httpVersionMajor === 2) {
      this.auditRefused(req, err, 'request.bad_framing', { reason });
      res.writeHead(400, headers);
      res.end(body);
      return;
    }
    this.auditRefused(req, err, 'request.bad_framing', { reason });
    poisoned.add(req.socket);
    headers.connection = 'close';
    res.shouldKeepAlive = false;
    res.writeHead(400, headers);
    res.end(body, () => req.socket.destroySoon());
  }

  /** Errors node's parser raises before a request exists: answered as problem+json, then the socket closes. */
  private clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    // A deadline or parse error in the middle of a request whose answer has begun: the answer cannot be replaced.
    const pending = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (!socket.writable || (err.code === 'ECONNRESET' && !socket.readable) || pending?.headersSent) {
      socket.destroy();
      return;
    }
    const framing = err.code !== undefined && FRAMING_ERRORS.has(err.code);
    const code = framing
      ? 'BAD_FRAMING'
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? 'HEADERS_TOO_LARGE'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT'
          ? 'REQUEST_TIMEOUT'
          : err.code === 'HPE_URI_TOO_LONG'
            ? 'URI_TOO_LONG'
            : 'BAD_REQUEST';
    const ge = new GatewayError(code);
    if (this.gen?.mountedAudit) {
      // No request object exists: one is made from what the parser had read (method and path of the request line).
      const req = new IncomingMessage(socket as Socket);
      const line = /^([A-Z]{1,20}) (\/[^\s?]{0,2048})/.exec(
        (err as { rawPacket?: Buffer }).rawPacket?.toString('latin1', 0, 2100) ?? '',
      );
      req.method = line?.[1] ?? '-';
      req.url = line?.[2] ?? '';
      const type = framing
        ? 'request.bad_framing'
        : code === 'REQUEST_TIMEOUT'
          ? 'request.timeout'
          : 'request.malformed';
      this.auditRefused(req, ge, type, { parser: String(err.code ?? 'unknown').slice(0, 40) });
    }
    writeRaw(socket, ge.status, { 'content-type': PROBLEM_CONTENT_TYPE }, Buffer.from(JSON.stringify(problemOf(ge))));
  }

  /**
   * A request refused before any pipeline ran (bad framing, a parser error, a header timeout) is a security event:
   * the global audit policy logs it, as it logs the mounted authorization server's requests, so smuggling attempts
   * and slow-header attacks reach the audit log, the SIEM sinks and anomaly detection. The client IP is the peer's:
   * forwarding headers of a refused request are not trusted.
   */
  private auditRefused(
    req: IncomingMessage,
    err: GatewayError,
    type: string,
    detail: Record<string, string | number | boolean>,
  ): void {
    const audit = this.gen?.mountedAudit;
    if (!audit) return;
    try {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const peer = normalizeIp(req.socket?.remoteAddress ?? '');
      const ctx = new RequestContext(req, null, {
        path: q === -1 ? url : url.slice(0, q),
        query: '',
        clientIp: peer,
        peerIp: peer,
        secure: Boolean((req.socket as (Socket & { encrypted?: boolean }) | null)?.encrypted),
        websocket: false,
      });
      ctx.error = err;
      ctx.response = { status: err.status, headers: {}, body: null };
      ctx.securityEvent({ type, policy: 'gateway', action: 'block', detail });
      audit(ctx);
    } catch (e) {
      this.logger.error({ err: e }, 'audit of a refused request failed');
    }
  }

  private serveMounted(gen: Generation, handler: MountedHandler, req: IncomingMessage, res: ServerResponse): void {
    this.inflight++;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const peer = normalizeIp(req.socket.remoteAddress ?? '');
    const xff = req.headers['x-forwarded-for'];
    const ctx = new RequestContext(req, res, {
      path: q === -1 ? url : url.slice(0, q),
      query: '',
      clientIp: xff && gen.trusted(peer) ? clientIpOf(peer, xff, gen.trusted) : peer,
      peerIp: peer,
      secure: Boolean((req.socket as Socket & { encrypted?: boolean }).encrypted),
      websocket: false,
    });
    res.once('close', () => {
      this.inflight--;
      const status = res.headersSent ? res.statusCode : 0;
      const seconds = ctx.elapsed() / 1000;
      this.metrics?.observeRequest('(auth-server)', ctx.method, status, seconds, undefined);
      if (gen.config.logging.access_log) this.access.write(ctx, status, seconds);
      if (gen.mountedAudit) {
        // Token requests are audited like any other; a refused client (401 invalid_client) is an auth failure.
        if (status === 401) ctx.error = new GatewayError('UNAUTHENTICATED');
        try {
          gen.mountedAudit(ctx);
        } catch (e) {
          this.logger.error({ err: e }, 'audit of an authorization server request failed');
        }
      }
    });
    if (this.draining && req.httpVersionMajor === 1) res.setHeader('connection', 'close');
    handler(req, res);
  }

  private prepare(
    gen: Generation,
    req: IncomingMessage,
    res: ServerResponse | null,
  ): { ctx: RequestContext; lookup: RouteLookup<CompiledRoute> | null; badPath: GatewayError | null } {
    const peer = normalizeIp(req.socket.remoteAddress ?? '');
    // Checked once: it decides both whether forwarding headers are read and whether they are passed on.
    const peerTrusted = gen.trusted(peer);
    const xff = req.headers['x-forwarded-for'];
    const clientIp = peerTrusted && xff ? clientIpOf(peer, xff, gen.trusted) : peer;
    let target = { path: '/', query: '' };
    let badPath: GatewayError | null = null;
    try {
      target = normalizeTarget(req.url ?? '/');
    } catch (e) {
      badPath = toGatewayError(e);
    }
    const secure = Boolean((req.socket as Socket & { encrypted?: boolean }).encrypted);
    const ctx = new RequestContext(req, res, { ...target, clientIp, peerIp: peer, secure, websocket: res === null });
    if (secure) ctx.clientCert = clientCertOf(req);
    const lookup = badPath ? null : gen.router.find(ctx.method, ctx.path, ctx.host, req.headers);
    if (lookup?.route) {
      ctx.route = lookup.route;
      ctx.params = lookup.params;
      ctx.upstreamPath = lookup.route.upstreamPath(ctx, lookup.pattern);
      ctx.upstreamHeaders = upstreamRequestHeaders(req.headers, {
        peerIp: peer,
        peerTrusted,
        secure,
        host: ctx.host,
        upstreamHost: ctx.host,
        upgrade: res === null,
      });
    }
    return { ctx, lookup, badPath };
  }

  private async terminal(
    ctx: RequestContext,
    route: CompiledRoute | null,
    lookup: RouteLookup<CompiledRoute> | null,
    badPath: GatewayError | null,
  ): Promise<void> {
    if (badPath) throw badPath;
    if (!route) {
      const allow = lookup && 'allow' in lookup ? lookup.allow : [];
      if (allow.length)
        throw new GatewayError('METHOD_NOT_ALLOWED', undefined, { headers: { allow: allow.join(', ') } });
      throw new GatewayError('ROUTE_NOT_FOUND');
    }
    if (!route.target || !route.send) throw new GatewayError('ROUTE_NOT_FOUND');
    await sendUpstream(ctx, route.target, route.send);
    if (this.metrics && ctx.upstreamMs >= 0) this.metrics.observeUpstream(route.target.name, ctx.upstreamMs / 1000);
  }

  private write(ctx: RequestContext): void {
    const res = ctx.res as ServerResponse;
    const r = ctx.response;
    if (res.destroyed) {
      if (r?.body && !Buffer.isBuffer(r.body)) r.body.destroy();
      return;
    }
    if (!r) {
      res.destroy();
      return;
    }
    if (Buffer.isBuffer(r.body)) {
      if (!ctx.req.complete) drainRest(ctx.req, ctx.elapsed());
      r.headers['content-length'] = String(r.body.length);
      res.writeHead(r.status, r.headers);
      res.end(r.body);
      ctx.bytesOut = r.body.length;
      return;
    }
    res.writeHead(r.status, r.headers);
    if (!r.body) {
      res.end();
      return;
    }
    const body = r.body;
    if (!(body instanceof Readable)) {
      ctx.onClientClose = () => body.destroy();
      body.pipeTo(res, (n) => {
        ctx.bytesOut += n;
      });
      return;
    }
    // A stream a policy produced: pipe() with explicit teardown (stream.pipeline allocates an AbortController
    // and a DOMException per call).
    body.on('data', (c: Buffer) => {
      ctx.bytesOut += c.length;
    });
    body.once('error', (err: NodeJS.ErrnoException) => {
      this.logger.warn(
        { request_id: ctx.id, err: { message: err.message, code: err.code } },
        'response stream aborted',
      );
      res.destroy();
    });
    ctx.onClientClose = () => {
      if (!body.readableEnded) body.destroy();
    };
    body.pipe(res);
  }

  private finish(ctx: RequestContext, gen: Generation, pl: Pipeline): void {
    gen.leave();
    this.inflight--;
    const res = ctx.res;
    const status = res?.headersSent ? res.statusCode : 0;
    const seconds = ctx.elapsed() / 1000;
    const routeName = ctx.route?.name ?? '(none)';
    if (this.metrics) {
      this.metrics.observeRequest(routeName, ctx.method, status, seconds, ctx.error?.code);
    }
    if (ctx.error && ctx.error.status >= 500 && ctx.error.cause !== undefined) {
      // The underlying failure, for operators; the client saw only the code. Errors without a cause (no healthy
      // target, open circuit) are fully described by the access line's code.
      this.logger.error({ request_id: ctx.id, code: ctx.error.code, err: ctx.error.cause }, 'request failed');
    }
    if (gen.config.logging.access_log) this.access.write(ctx, status, seconds);
    pl.runLog(ctx, this.logger);
  }

  /** WebSocket: policies run on the handshake; then bytes are piped both ways untouched. */
  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const gen = this.gen;
    if (!gen || this.draining) {
      socket.destroy();
      return;
    }
    // An upgrade has no body: bytes after its head belong to the new protocol. A Content-Length or Transfer-Encoding
    // on it would make the upstream read them as a body (or the next request) instead.
    const cl = req.headers['content-length'];
    const framing =
      framingError(req) ??
      ((cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined
        ? 'An upgrade request with a body.'
        : null);
    if (framing !== null) {
      const err = new GatewayError('BAD_FRAMING', framing);
      this.logger.warn(
        { peer: normalizeIp(req.socket.remoteAddress ?? ''), code: err.code, reason: framing },
        'request refused: bad framing',
      );
      writeRaw(socket, 400, { 'content-type': PROBLEM_CONTENT_TYPE }, Buffer.from(JSON.stringify(problemOf(err))));
      return;
    }
    gen.enter();
    this.inflight++;
    this.sockets.add(socket);
    const { ctx, lookup, badPath } = this.prepare(gen, req, null);
    const route = lookup?.route ?? null;
    const pl = route ? route.pipeline : gen.fallback;
    ctx.securityEventsRead = pl.readsSecurityEvents;
    let status = 0;
    socket.once('close', () => {
      this.sockets.delete(socket);
      gen.leave();
      this.inflight--;
      if (gen.config.logging.access_log) this.access.write(ctx, status, ctx.elapsed() / 1000);
      pl.runLog(ctx, this.logger);
    });
    socket.on('error', () => socket.destroy());
    try {
      await pl.runHandshake(ctx);
      if (ctx.response) {
        status = ctx.response.status;
        writeRaw(
          socket,
          ctx.response.status,
          ctx.response.headers,
          Buffer.isBuffer(ctx.response.body) ? ctx.response.body : Buffer.alloc(0),
        );
        return;
      }
      if (badPath) throw badPath;
      if (!route?.target || !route.cfg.websocket) throw new GatewayError('ROUTE_NOT_FOUND');
      const target = route.target.pick(ctx, null);
      if (!target) throw new GatewayError('NO_HEALTHY_UPSTREAM');
      ctx.target = target;
      ctx.attempts = 1;
      if (!route.cfg.preserve_host) ctx.upstreamHeaders.host = target.host;
      await route.pipeline.runUpstream(ctx);
      const url = new URL(target.origin);
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      beginRequest(target, Date.now());
      // The upstream's own TLS settings (CA, client certificate, verification) apply to WebSockets too.
      const tls = route.target.cfg.tls;
      const upstream =
        url.protocol === 'https:'
          ? tlsConnect({
              host: url.hostname,
              port,
              servername: tls.servername ?? url.hostname,
              ca: tls.ca,
              cert: tls.cert,
              key: tls.key,
              rejectUnauthorized: tls.verify,
              minVersion: tls.min_version,
              ALPNProtocols: ['http/1.1'],
            })
          : netConnect({ host: url.hostname, port });
      const connectMs = route.target.cfg.timeouts.connect_ms;
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`connect timeout after ${connectMs} ms`)), connectMs);
        upstream.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
          clearTimeout(t);
          resolve();
        });
        upstream.once('error', (e) => {
          clearTimeout(t);
          reject(e);
        });
      }).catch((e: unknown) => {
        upstream.destroy();
        if (route.target?.passive) recordFailure(target, route.target.passive, Date.now());
        throw new GatewayError('UPSTREAM_UNAVAILABLE', undefined, { cause: e });
      });
      recordSuccess(target);
      delete ctx.upstreamHeaders['content-length'];
      let headText = `${ctx.method} ${ctx.upstreamPath} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(ctx.upstreamHeaders)) {
        for (const one of Array.isArray(v) ? v : [v]) headText += `${k}: ${one}\r\n`;
      }
      // Nothing of the client's goes upstream until the upstream has switched protocols: an upstream that answers
      // the handshake with anything but 101 still speaks HTTP on this connection, and a blind tunnel would let the
      // client send it requests no route or policy ever saw (WebSocket smuggling).
      socket.pause();
      socket.once('close', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
      upstream.write(`${headText}\r\n`);
      const answer = await readResponseHead(upstream, route.send?.headerMs ?? route.target.cfg.timeouts.header_ms);
      const switched = /^HTTP\/1\.[01] 101 /.test(answer.toString('latin1', 0, 13));
      status = switched ? 101 : Number(answer.toString('latin1', 9, 12)) || 502;
      upstream.once('close', () => socket.destroy());
      ctx.bytesOut += answer.length;
      socket.write(answer);
      upstream.on('data', (c: Buffer) => {
        ctx.bytesOut += c.length;
      });
      if (!switched) {
        // The upstream's refusal goes to the client as it comes; the client's bytes are never read. The upstream
        // is told we are done, and the tunnel ends when it closes (or at its response deadline).
        upstream.end();
        upstream.pipe(socket);
        const t = setTimeout(() => upstream.destroy(), route.target.cfg.timeouts.body_ms);
        t.unref();
        upstream.once('close', () => clearTimeout(t));
        return;
      }
      if (head.length) upstream.write(head);
      socket.on('data', (c: Buffer) => {
        ctx.bytesIn += c.length;
      });
      socket.pipe(upstream).pipe(socket);
    } catch (e) {
      const err = toGatewayError(e);
      ctx.error = err;
      status = err.status;
      writeRaw(
        socket,
        err.status,
        { ...err.headers, 'content-type': PROBLEM_CONTENT_TYPE },
        Buffer.from(JSON.stringify(problemOf(err, ctx.id || undefined, ctx.path))),
      );
    }
  }

  /**
   * Stops accepting, lets in-flight requests finish (keep-alive connections are told to close),
   * and after timeoutMs cuts whatever is left.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    this.draining = true;
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const s of this.servers) s.closeIdleConnections();
    const deadline = Date.now() + timeoutMs;
    while (this.inflight > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      for (const s of this.servers) s.closeIdleConnections();
    }
    for (const s of this.servers) s.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await closed;
    this.gen?.retire();
    await this.pools.closeAll();
    await this.services.close();
  }
}

/**
 * The upstream's answer to a WebSocket handshake, up to the end of its head (plus whatever came with it), bounded in
 * size and time. Reading stops there (the socket is paused) so that the caller decides what flows next.
 */
function readResponseHead(up: Duplex, ms: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (err: Error | null) => {
      clearTimeout(t);
      up.off('data', onData);
      up.off('close', onClose);
      up.off('error', onClose);
      up.pause();
      if (err) reject(err);
      else resolve(buf);
    };
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.indexOf('\r\n\r\n') !== -1) done(null);
      else if (buf.length > 16_384) done(new GatewayError('UPSTREAM_UNAVAILABLE'));
    };
    const onClose = () => done(new GatewayError('UPSTREAM_UNAVAILABLE'));
    const t = setTimeout(() => done(new GatewayError('UPSTREAM_TIMEOUT')), ms);
    up.on('data', onData);
    up.once('close', onClose);
    up.once('error', onClose);
  });
}

/** The prefix matched whole: `/oauth`, `/oauth/...` and `/oauth?...`, not `/oauthx`. */
function isBelow(url: string, at: number): boolean {
  const c = url.charCodeAt(at);
  return Number.isNaN(c) || c === 0x2f || c === 0x3f;
}

/**
 * The rest of a request body cut off part-way (413, upstream failure) is read and dropped, not left paused: else a
 * client that sends its whole body before reading stalls until the keep-alive timeout resets it, and never sees the
 * answer. Bounded like the request itself: past the listener's request_timeout_ms the connection is cut.
 */
function drainRest(req: IncomingMessage, elapsedMs: number): void {
  const limit = (req.socket as Socket & { server?: Server }).server?.requestTimeout || 30_000;
  const timer = setTimeout(() => req.socket.destroy(), Math.max(0, limit - elapsedMs));
  timer.unref();
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

function writeRaw(socket: Duplex, status: number, headers: Record<string, string | string[]>, body: Buffer): void {
  if (!socket.writable) return;
  let head = `HTTP/1.1 ${status} ${statusText(status)}\r\n`;
  for (const [k, v] of Object.entries({ ...headers, 'content-length': String(body.length), connection: 'close' })) {
    for (const one of Array.isArray(v) ? v : [v]) head += `${k}: ${one}\r\n`;
  }
  socket.end(Buffer.concat([Buffer.from(`${head}\r\n`), body]));
}

function statusText(status: number): string {
  return (
    Object.values(ERRORS).find((e) => e.status === status)?.title ?? (status === 101 ? 'Switching Protocols' : 'Error')
  );
}

/**
 * Sockets on which a request was refused for its framing: any request node already parsed behind it (pipelined in
 * the same packet) is dropped unanswered, never proxied.
 */
const poisoned = new WeakSet<object>();

const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * What node's strict parser (llhttp) lets through but a gateway must not, since the upstream or a proxy in front
 * may frame the same bytes differently (request smuggling). llhttp itself refuses, before a request exists (see
 * clientError): Content-Length with Transfer-Encoding, a repeated or malformed Content-Length, chunked not last or
 * repeated, bad chunk sizes and line endings, obs-fold, spaces before the colon, NUL/CR in values. Returns a fixed
 * reason (never the client's bytes) or null.
 */
export function framingError(req: IncomingMessage): string | null {
  const major = req.httpVersionMajor;
  if (major === 0) return 'HTTP/0.9 is not served.';
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    // Length first: no lower-casing of every header name on every request. HTTP/2 names are lower case already.
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
    else if (major === 2 && (CONNECTION_SPECIFIC.has(name) || (name === 'te' && raw[i + 1] !== 'trailers')))
      return 'Connection-specific header in an HTTP/2 request.';
  }
  if (hosts > 1) return 'More than one Host header.';
  if (major !== 1) return null;
  if (hosts === 0 && req.httpVersionMinor >= 1) return 'HTTP/1.1 request without Host.';
  const te = req.headers['transfer-encoding'];
  if (te === undefined) return null;
  // Only chunked is understood; "gzip, chunked" would leave the upstream to undo a coding the gateway never read.
  if (req.httpVersionMinor === 0) return 'Transfer-Encoding in an HTTP/1.0 request.';
  if (te.trim().toLowerCase() !== 'chunked') return 'Transfer-Encoding other than chunked.';
  return null;
}

/** llhttp errors that are framing errors: what follows on the connection cannot be delimited. */
const FRAMING_ERRORS = new Set([
  'HPE_INVALID_TRANSFER_ENCODING',
  'HPE_UNEXPECTED_CONTENT_LENGTH',
  'HPE_INVALID_CONTENT_LENGTH',
  'HPE_INVALID_CHUNK_SIZE',
  'HPE_STRICT',
  'HPE_CR_EXPECTED',
  'HPE_LF_EXPECTED',
  'HPE_INVALID_EOF_STATE',
]);
