import { Transform, type TransformCallback } from 'node:stream';
import { errors as undiciErrors } from 'undici';
import type { RequestContext } from '../core/context.js';
import { GatewayError } from '../core/errors.js';
import { Exchange } from './exchange.js';
import { clientResponseHeaders } from './forward.js';
import { abandonRequest, beginRequest, recordFailure, recordSuccess } from './health.js';
import type { Target } from './target.js';
import type { Upstream } from './upstream.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Connection failures: safe to retry for idempotent methods (a reset may follow a processed GET, which is fine). */
const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

export interface SendOptions {
  /** Extra tries after the first, only for idempotent methods without a streamed body. */
  attempts: number;
  headerMs: number;
  bodyMs: number;
  totalMs: number;
  /** Runs the policies' upstream phase before each attempt. */
  beforeAttempt: (ctx: RequestContext) => void | Promise<void>;
}

/** Counts streamed request bytes and stops at the route's cap. */
class BodyLimit extends Transform {
  constructor(
    private readonly ctx: RequestContext,
    private readonly max: number,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.ctx.bytesIn += chunk.length;
    if (this.ctx.bytesIn > this.max) cb(new GatewayError('PAYLOAD_TOO_LARGE'));
    else cb(null, chunk);
  }
}

function classify(err: unknown, timedOut: boolean): GatewayError {
  if (err instanceof GatewayError) return err;
  if (timedOut) return new GatewayError('UPSTREAM_TIMEOUT', undefined, { cause: err });
  const code = (err as { code?: string }).code ?? '';
  if (err instanceof undiciErrors.HeadersTimeoutError || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new GatewayError('UPSTREAM_TIMEOUT', undefined, { cause: err });
  }
  return new GatewayError('UPSTREAM_UNAVAILABLE', undefined, { cause: err });
}

/**
 * The upstream phase's terminal step: balance, send, retry where safe, record health, and leave the
 * upstream response (headers plus a body stream) on ctx.response. The body is streamed both ways.
 */
export async function sendUpstream(ctx: RequestContext, up: Upstream, opts: SendOptions): Promise<void> {
  if (up.breaker && !up.breaker.allow())
    throw new GatewayError('CIRCUIT_OPEN', undefined, { headers: { 'retry-after': '5' } });
  // A half-open trial that ends without an outcome (no target, refused body) must give its slot back.
  let breakerRecorded = up.breaker === null;
  up.budget.onRequest();
  const withBody = ctx.hasBody();
  // A buffered body can be sent again; a streamed one cannot.
  const canRetry = IDEMPOTENT.has(ctx.method) && (!withBody || ctx.requestBody !== null);
  if (ctx.requestBody) {
    ctx.upstreamHeaders['content-length'] = String(ctx.requestBody.length);
    delete ctx.upstreamHeaders['transfer-encoding'];
  }
  // One abort reason for the whole exchange, retries included: the total timeout or the client leaving.
  let stop: 'timeout' | 'client' | null = null;
  let current: Exchange | null = null;
  const timer = setTimeout(() => {
    stop = 'timeout';
    current?.abort(new GatewayError('UPSTREAM_TIMEOUT'));
  }, opts.totalMs);
  // A client that goes away cancels the upstream exchange, so no pool slot is held for nobody.
  ctx.onClientClose = () => {
    if (ctx.res?.writableFinished) return;
    stop = 'client';
    current?.abort(new GatewayError('CLIENT_CLOSED_REQUEST'));
  };
  let tried: Set<Target> | null = null;
  try {
    for (;;) {
      const target = up.pick(ctx, tried);
      if (!target) throw new GatewayError('NO_HEALTHY_UPSTREAM', undefined, { headers: { 'retry-after': '5' } });
      ctx.target = target;
      ctx.attempts++;
      await opts.beforeAttempt(ctx);
      const now = Date.now();
      beginRequest(target, now);
      target.inflight++;
      const sentAt = performance.now();
      try {
        const body =
          ctx.requestBody ??
          (!withBody
            ? null
            : Number.isFinite(ctx.maxBodyBytes)
              ? ctx.req.pipe(new BodyLimit(ctx, ctx.maxBodyBytes))
              : ctx.req);
        const ex = new Exchange();
        current = ex;
        if (stop) ex.abort(new GatewayError(stop === 'client' ? 'CLIENT_CLOSED_REQUEST' : 'UPSTREAM_TIMEOUT'));
        target.pool.dispatch(
          {
            method: ctx.method as 'GET',
            path: ctx.upstreamPath,
            headers: ctx.upstreamHeaders,
            body,
            headersTimeout: opts.headerMs,
            bodyTimeout: opts.bodyMs,
          },
          ex,
        );
        await ex.response;
        ctx.upstreamMs = performance.now() - sentAt;
        const status = ex.status;
        const failed = up.passive?.statuses.has(status) ?? false;
        if (up.passive) {
          if (failed) recordFailure(target, up.passive, Date.now());
          else recordSuccess(target);
        }
        up.breaker?.record(status < 500);
        breakerRecorded = true;
        // inflight counts the exchange until the response body is done or dropped.
        if (ex.done) target.inflight--;
        else ex.onDone = () => target.inflight--;
        const bodyless = ctx.method === 'HEAD' || status === 204 || status === 304;
        if (bodyless) ex.destroy();
        ctx.response = { status, headers: clientResponseHeaders(ex.headers), body: bodyless ? null : ex };
        return;
      } catch (err) {
        target.inflight--;
        const ge = stop === 'client' ? new GatewayError('CLIENT_CLOSED_REQUEST') : classify(err, stop === 'timeout');
        // Neither a refused body nor a client hanging up is the target's fault: no health or breaker record.
        if (ge.code === 'PAYLOAD_TOO_LARGE' || ge.code === 'CLIENT_CLOSED_REQUEST') {
          abandonRequest(target);
          throw ge;
        }
        const code = (err as { code?: string }).code ?? '';
        if (up.passive) recordFailure(target, up.passive, Date.now());
        up.breaker?.record(false);
        breakerRecorded = true;
        const retryable = canRetry && CONNECT_FAILURES.has(code) && stop === null;
        if (retryable && ctx.attempts <= opts.attempts && up.budget.tryRetry()) {
          tried ??= new Set();
          tried.add(target);
          continue;
        }
        throw ge;
      }
    }
  } finally {
    clearTimeout(timer);
    ctx.onClientClose = null;
    if (!breakerRecorded) up.breaker?.release();
  }
}
