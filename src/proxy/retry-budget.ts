import { RollingWindow } from './breaker.js';

/**
 * Retry budget (Envoy / Finagle style): retries are capped at a fraction of recent requests, plus a small
 * floor so low-traffic routes can still retry. Unlike a per-request "retry N times" limit, this keeps an
 * outage from multiplying load on an already struggling upstream by (1 + N).
 */

export interface RetryBudgetOptions {
  /** Retries allowed as a fraction of requests in the window, e.g. 0.2 = at most 20% extra load. */
  ratio: number;
  /** Retries always allowed per second regardless of traffic. */
  minPerSecond: number;
  /** Rolling window length (default 10 s). */
  windowMs?: number;
}

const REQUESTS = 0;
const RETRIES = 1;

export class RetryBudget {
  private readonly window: RollingWindow;
  private readonly floor: number;

  constructor(
    private readonly opts: RetryBudgetOptions,
    now: () => number = Date.now,
  ) {
    const windowMs = opts.windowMs ?? 10_000;
    this.window = new RollingWindow(windowMs, 2, now);
    this.floor = opts.minPerSecond * (windowMs / 1000);
  }

  /** Records an original request. Do not call it for retries: they would fund further retries. */
  onRequest(): void {
    this.window.add(REQUESTS);
  }

  /** Whether one retry may be sent now; if so it is charged against the budget. */
  tryRetry(): boolean {
    const allowed = Math.max(this.floor, this.opts.ratio * this.window.sum(REQUESTS));
    // Epsilon: ratio * requests is a float (0.57 * 100 = 56.99999999999999) and must not lose a whole retry.
    if (this.window.sum(RETRIES) + 1 > allowed + 1e-9) return false;
    this.window.add(RETRIES);
    return true;
  }
}
