import type { Logger } from 'pino';
import { eventJson } from '../event-json.js';
import type { AuditEvent, AuditSubscriber } from '../types.js';
import { severityRank } from './format.js';
import { HttpTransport } from './http.js';
import type { SinkMetrics } from './metrics.js';
import type { SinkConfig } from './schema.js';
import { Spool } from './spool.js';
import { StreamTransport, UdpTransport } from './syslog.js';
import { TooLargeError, type Transport } from './transport.js';

/** Full-jitter exponential backoff (AWS architecture blog): random in [0, min(max, base·2^attempt)]. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

export function createTransport(c: SinkConfig): Transport {
  if (c.type === 'http') return new HttpTransport(c);
  return c.transport === 'udp' ? new UdpTransport(c) : new StreamTransport(c);
}

/**
 * One SIEM sink: every accepted event is appended to the sink's spool (dataDir/spool/<name>/<chain>) in `handle`, and one
 * loop sends what is spooled in batches, acknowledging a batch (moving the spool cursor) only once the receiver took
 * it. Failures are retried with backoff, without limit: events wait on disk, up to the spool cap.
 */
export class Sink implements AuditSubscriber {
  readonly name: string;
  private readonly spool: Spool;
  private readonly kinds: ReadonlySet<string> | null;
  private readonly minSeverity: number;
  private readonly batchEvents: number;
  private readonly batchBytes: number;
  private closed = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void>;
  private lastDropLog = 0;
  private lastErrLog = 0;

  constructor(
    private readonly c: SinkConfig,
    private readonly transport: Transport,
    private readonly deps: { logger: Logger; spoolDir: string; metrics: SinkMetrics },
  ) {
    this.name = `sink:${c.name}`;
    this.spool = new Spool(deps.spoolDir, {
      maxBytes: c.buffer.max_bytes,
      segmentBytes: c.buffer.segment_bytes,
      fsync: c.buffer.fsync,
    });
    this.kinds = c.filter?.kinds ? new Set(c.filter.kinds) : null;
    this.minSeverity = c.filter?.min_severity ? severityRank(c.filter.min_severity) : 0;
    this.batchEvents = c.type === 'http' ? c.batch_events : 200;
    this.batchBytes = c.type === 'http' ? c.batch_bytes : 1024 * 1024;
    deps.metrics.buffered.set({ sink: c.name }, this.spool.count);
    if (this.spool.count > 0)
      deps.logger.info({ sink: c.name, pending: this.spool.count }, 'audit sink: sending spooled events');
    this.loop = this.run();
  }

  /** Events not yet delivered (on disk). */
  get pending(): number {
    return this.spool.count;
  }

  handle(events: readonly AuditEvent[]): void {
    if (this.closed) return;
    const lines: string[] = [];
    for (const e of events) {
      if (this.kinds && !this.kinds.has(e.kind)) continue;
      if (this.minSeverity > 0 && severityRank(e.severity) < this.minSeverity) continue;
      lines.push(eventJson(e));
    }
    if (lines.length === 0) return;
    let dropped: number;
    try {
      dropped = this.spool.append(lines);
    } catch (err) {
      // A disk error: these events are lost for this sink (the audit log itself still has them).
      dropped = lines.length;
      this.deps.logger.error(
        { sink: this.c.name, err: (err as NodeJS.ErrnoException).code },
        'audit sink: spool write failed',
      );
    }
    if (dropped > 0) {
      this.deps.metrics.dropped.inc({ sink: this.c.name }, dropped);
      const now = Date.now();
      if (now - this.lastDropLog > 10_000) {
        this.lastDropLog = now;
        this.deps.logger.error(
          { sink: this.c.name, dropped, spool_bytes: this.spool.bytes, max_bytes: this.c.buffer.max_bytes },
          'audit sink: SPOOL FULL, AUDIT EVENTS DROPPED (the SIEM has been unreachable; raise buffer.max_bytes or fix the receiver)',
        );
      }
    }
    this.deps.metrics.buffered.set({ sink: this.c.name }, this.spool.count);
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    let attempt = 0;
    // Events per batch: halved on each 413 from the receiver, doubled back after each accepted batch.
    let limit = this.batchEvents;
    while (!this.closed) {
      let batch: ReturnType<Spool['peek']>;
      try {
        batch = this.spool.peek(limit, this.batchBytes);
      } catch (err) {
        // A spool read error (disk): say so and try again later rather than end the loop.
        this.deps.logger.error(
          { sink: this.c.name, err: (err as NodeJS.ErrnoException).code },
          'audit sink: spool read failed',
        );
        await this.sleep(this.c.retry.max_ms);
        continue;
      }
      if (!batch) {
        await this.sleep(60_000);
        continue;
      }
      try {
        let rejected: number;
        try {
          ({ rejected } = await this.transport.send(batch.records));
        } catch (err) {
          if (!(err instanceof TooLargeError)) throw err;
          if (batch.records.length > 1) {
            limit = Math.max(1, Math.floor(batch.records.length / 2));
            this.deps.logger.warn(
              { sink: this.c.name, events: batch.records.length, next: limit },
              'audit sink: the receiver refused the batch as too large; sending smaller batches',
            );
            continue;
          }
          rejected = 1;
        }
        this.spool.ack(batch);
        attempt = 0;
        limit = Math.min(this.batchEvents, limit * 2);
        const label = { sink: this.c.name };
        if (batch.records.length - rejected > 0) this.deps.metrics.sent.inc(label, batch.records.length - rejected);
        if (rejected > 0) {
          this.deps.metrics.rejected.inc(label, rejected);
          this.deps.logger.error({ sink: this.c.name, rejected }, 'audit sink: the receiver refused events for good');
        }
        this.deps.metrics.buffered.set(label, this.spool.count);
      } catch (err) {
        if (this.closed) break;
        this.deps.metrics.retried.inc({ sink: this.c.name });
        const status = (err as Error).cause;
        // A 4xx other than 429 is a configuration problem (token, index): wait the longest and say so loudly.
        const config = typeof status === 'number' && status >= 400 && status < 500 && status !== 429;
        const now = Date.now();
        if (config || now - this.lastErrLog > 10_000) {
          this.lastErrLog = now;
          const o = { sink: this.c.name, err: (err as Error).message, pending: this.spool.count, attempt };
          if (config) this.deps.logger.error(o, 'audit sink: the receiver refused the request; events stay spooled');
          else this.deps.logger.warn(o, 'audit sink: send failed, retrying with backoff');
        }
        attempt++;
        const wait = config
          ? this.c.retry.max_ms
          : Math.max(10, backoffMs(attempt, this.c.retry.base_ms, this.c.retry.max_ms));
        // New events must not cut the backoff short: wait the whole delay.
        await new Promise<void>((r) => {
          const t = setTimeout(r, wait);
          this.wake = () => {
            if (this.closed) {
              clearTimeout(t);
              r();
            }
          };
        });
        this.wake = null;
      }
    }
  }

  /** Stops sending; what is not yet acknowledged stays spooled for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.wake;
    w?.();
    // A send in flight gets a moment to finish (so its batch is acknowledged); then the transport is torn down.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
    clearTimeout(timer);
    await this.transport.close();
    this.spool.close();
  }
}
