/**
 * Per-upstream circuit breaker. When an upstream fails a large share of recent requests, stop sending it
 * traffic for `openMs` (fail fast instead of piling up timeouts), then let a few trial requests decide
 * whether to close again.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Length of the rolling window over which the failure ratio is computed. */
  windowMs: number;
  /** Below this many requests in the window the ratio is not trusted (avoids opening on 1 of 1). */
  minRequests: number;
  /** Failure share (0..1] at or above which the breaker opens. */
  failureRatio: number;
  /** Time spent open before trial requests are allowed. */
  openMs: number;
  /** Trial requests allowed concurrently in half-open; this many successes close the breaker. */
  halfOpenRequests: number;
}

const REQUESTS = 0;
const FAILURES = 1;

export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private openedAt = 0;
  private trialsInFlight = 0;
  private trialSuccesses = 0;
  private readonly window: RollingWindow;

  constructor(
    private readonly opts: CircuitBreakerOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.window = new RollingWindow(opts.windowMs, 2, now);
  }

  /** Current state; an open breaker whose openMs has elapsed reports (and becomes) half-open. */
  get state(): BreakerState {
    this.advance();
    return this.current;
  }

  /** Whether a request may be sent now. In half-open a `true` reserves a trial slot: always `record()` it. */
  allow(): boolean {
    this.advance();
    switch (this.current) {
      case 'closed':
        return true;
      case 'open':
        return false;
      case 'half-open':
        if (this.trialsInFlight >= this.opts.halfOpenRequests) return false;
        this.trialsInFlight++;
        return true;
    }
  }

  /** Gives back a half-open trial slot for an admitted request that never reached the upstream (no `record()`). */
  release(): void {
    this.advance();
    if (this.current === 'half-open' && this.trialsInFlight > 0) this.trialsInFlight--;
  }

  /** Reports the outcome of a request that `allow()` admitted. */
  record(success: boolean): void {
    this.advance();
    switch (this.current) {
      case 'closed':
        this.window.add(REQUESTS);
        if (!success) this.window.add(FAILURES);
        if (this.shouldOpen()) this.open();
        return;
      case 'open':
        // Stragglers admitted before the breaker opened say nothing new; the trial requests decide.
        return;
      case 'half-open':
        // The API carries no per-request token, so a straggler admitted before the breaker opened that
        // completes now counts as a trial. Accepted: it is rare (needs a request outliving openMs), and a
        // straggler failure re-opening the breaker errs on the safe side.
        if (this.trialsInFlight > 0) this.trialsInFlight--;
        if (!success) {
          this.open();
          return;
        }
        this.trialSuccesses++;
        if (this.trialSuccesses >= this.opts.halfOpenRequests) this.close();
        return;
    }
  }

  private shouldOpen(): boolean {
    const requests = this.window.sum(REQUESTS);
    if (requests === 0 || requests < this.opts.minRequests) return false;
    return this.window.sum(FAILURES) / requests >= this.opts.failureRatio;
  }

  private advance(): void {
    if (this.current === 'open' && this.now() - this.openedAt >= this.opts.openMs) {
      this.current = 'half-open';
      this.trialsInFlight = 0;
      this.trialSuccesses = 0;
    }
  }

  private open(): void {
    this.current = 'open';
    this.openedAt = this.now();
    this.trialsInFlight = 0;
    this.trialSuccesses = 0;
  }

  private close(): void {
    this.current = 'closed';
    // Start from a clean window: the failures that opened the breaker must not re-open it immediately.
    this.window.reset();
  }
}

/**
 * Counters over a rolling time window, kept in a fixed ring of time buckets (default 10). Old buckets are
 * recycled lazily when their slot comes round again, so there is no timer and memory is constant; the
 * price is that the window's trailing edge has one bucket of granularity (windowMs / buckets).
 * Shared with retry-budget.ts.
 */
export class RollingWindow {
  private readonly bucketMs: number;
  /** Absolute bucket number (floor(now / bucketMs)) currently held in each slot; -1 = never used. */
  private readonly ids: Float64Array;
  /** counts[slot * series + s]. */
  private readonly counts: Float64Array;

  constructor(
    windowMs: number,
    private readonly series: number,
    private readonly now: () => number = Date.now,
    private readonly buckets = 10,
  ) {
    this.bucketMs = Math.max(1, Math.ceil(windowMs / buckets));
    this.ids = new Float64Array(buckets).fill(-1);
    this.counts = new Float64Array(buckets * series);
  }

  add(s: number, n = 1): void {
    const id = Math.floor(this.now() / this.bucketMs);
    // Double modulo keeps the slot valid for clocks before the epoch (fake clocks in tests).
    const slot = ((id % this.buckets) + this.buckets) % this.buckets;
    if (this.ids[slot] !== id) {
      // The slot still holds a bucket from a previous lap: it has left the window, recycle it.
      this.ids[slot] = id;
      this.counts.fill(0, slot * this.series, (slot + 1) * this.series);
    }
    const k = slot * this.series + s;
    this.counts[k] = this.counts[k]! + n;
  }

  sum(s: number): number {
    const current = Math.floor(this.now() / this.bucketMs);
    let total = 0;
    for (let slot = 0; slot < this.buckets; slot++) {
      const id = this.ids[slot]!;
      if (id > current - this.buckets && id <= current) total += this.counts[slot * this.series + s]!;
    }
    return total;
  }

  reset(): void {
    this.ids.fill(-1);
    this.counts.fill(0);
  }
}
