import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/** Requests admitted and not yet finished, in this process, across routes and config generations. */
export class InFlight {
  n = 0;
}

const RESOLUTION_MS = 10;

/**
 * The event loop's delay: p99 of perf_hooks' histogram over each sample interval, read on a timer (never per
 * request). The histogram loses the one delay that spans a reset, so the sampling timer's own lateness counts
 * too: a loop blocked across the reset still shows.
 */
export class LoopDelay {
  /** Delay in ms over the last complete interval. */
  ms = 0;
  private readonly h: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private last = performance.now();

  constructor(private readonly intervalMs: number) {
    this.h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.h.enable();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const now = performance.now();
    const late = now - this.last - this.intervalMs;
    this.last = now;
    // Histogram values are whole timer periods: the resolution itself is not delay.
    const p99 = this.h.count > 0 ? this.h.percentile(99) / 1e6 - RESOLUTION_MS : 0;
    this.h.reset();
    this.ms = Math.max(0, p99, late);
  }

  close(): void {
    clearInterval(this.timer);
    this.h.disable();
  }
}
