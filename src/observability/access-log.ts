import pino, { type Logger } from 'pino';
import type { RequestContext } from '../core/context.js';

/**
 * One JSON line per request, in the same shape as the logger's lines (level, time, pid, bindings, msg) and on
 * the same destination, but built directly and written in batches: pino's generic serialisation, a fresh ISO
 * timestamp and a destination write per line were the largest single overhead of the proxy path. The fields are derived
 * and non-secret by construction (no headers, no query string), so no redaction pass is needed.
 */
export class AccessLog {
  private readonly stream: { write(s: string): unknown };
  private readonly prefix: string;
  private readonly enabled: boolean;
  private lastMs = 0;
  private lastIso = '';
  /** Lines of this event-loop turn, handed to the destination as one write (its per-write cost is ~5 µs). */
  private batch = '';
  private scheduled = false;
  private readonly flushBatch = () => {
    this.scheduled = false;
    const b = this.batch;
    this.batch = '';
    if (b) this.stream.write(b);
  };

  constructor(logger: Logger) {
    this.stream = (logger as unknown as Record<symbol, { write(s: string): unknown }>)[pino.symbols.streamSym] as {
      write(s: string): unknown;
    };
    this.enabled = logger.isLevelEnabled('info');
    const bindings = JSON.stringify({ pid: process.pid, ...logger.bindings() }).slice(1, -1);
    this.prefix = `,${bindings},"type":"access"`;
  }

  write(ctx: RequestContext, status: number, seconds: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      this.lastIso = new Date(now).toISOString();
    }
    // request_id, client_ip, method (an HTTP token), route names and origins (config-validated) need no escaping.
    let line = `{"level":"info","time":"${this.lastIso}"${this.prefix},"request_id":"${ctx.id}","client_ip":"${ctx.clientIp}","method":"${ctx.method}","host":${str(ctx.host)},"path":${str(ctx.path)}`;
    if (ctx.route) line += `,"route":"${ctx.route.name}"`;
    line += `,"status":${status}`;
    if (ctx.error) line += `,"code":"${ctx.error.code}"`;
    if (ctx.target) line += `,"upstream":"${ctx.target.origin}","attempts":${ctx.attempts}`;
    line += `,"bytes_in":${ctx.bytesIn},"bytes_out":${ctx.bytesOut},"duration_ms":${Math.round(seconds * 1e6) / 1e3}`;
    if (ctx.upstreamMs >= 0) line += `,"upstream_ms":${Math.round(ctx.upstreamMs * 1e3) / 1e3}`;
    if (ctx.websocket) line += ',"websocket":true';
    this.batch += `${line},"msg":"request"}\n`;
    if (this.batch.length >= 16_384) this.flushBatch();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBatch);
    }
  }
}

/** JSON string literal; the escape pass only when the text holds something to escape (rare in host and path). */
function str(s: string): string {
  return /["\\\u0000-\u001f\u007f-\uffff]/.test(s) ? JSON.stringify(s) : `"${s}"`;
}
