import type { Target, TargetHealth } from './target.js';

/**
 * Target health, two independent signals combined by `isAvailable`:
 *  - passive: real proxied requests report success/failure; too many failures in a row eject the target
 *    for a back-off period, after which exactly one request probes it (half-open);
 *  - active: `ActiveHealthChecker` polls a health endpoint and flips `activeUp` with hysteresis.
 */

export interface PassiveHealthOptions {
  /** Consecutive failures before the target is ejected. */
  maxFailures: number;
  /** First ejection duration. */
  ejectMs: number;
  /** Ceiling for the doubling back-off on consecutive ejections. */
  maxEjectMs: number;
}

export function newHealth(): TargetHealth {
  // Targets start trusted: a fresh config must serve traffic before the first active check completes.
  return { activeUp: true, failures: 0, ejectedUntil: 0, ejections: 0, probing: false };
}

export function isAvailable(t: Target, now: number): boolean {
  const h = t.health;
  if (!h.activeUp) return false;
  if (h.ejectedUntil === 0) return true;
  if (now < h.ejectedUntil) return false;
  // Ejection expired: half-open. Let a single request through to test the target; everything else keeps
  // avoiding it until that probe reports, so a still-broken target costs one request, not a burst.
  return !h.probing;
}

/** Call when a request is actually sent to `t` (after the balancer picked it). */
export function beginRequest(t: Target, now: number): void {
  const h = t.health;
  if (h.ejectedUntil !== 0 && now >= h.ejectedUntil) h.probing = true;
}

/** Call when a request sent to `t` ended for a reason that says nothing about it (the client's body was refused). */
export function abandonRequest(t: Target): void {
  // A half-open probe that proved nothing: the next request probes instead of the target staying out for good.
  t.health.probing = false;
}

/** One success is enough to trust the target again, including a successful half-open probe. */
export function recordSuccess(t: Target): void {
  const h = t.health;
  h.failures = 0;
  h.ejections = 0;
  h.ejectedUntil = 0;
  h.probing = false;
}

export function recordFailure(t: Target, opts: PassiveHealthOptions, now: number): void {
  const h = t.health;
  h.failures++;
  if (h.probing) {
    // The half-open probe failed: the target is still broken, back off for longer.
    eject(h, opts, now);
  } else if (h.ejectedUntil === 0 && h.failures >= opts.maxFailures) {
    eject(h, opts, now);
  }
  // Otherwise the target is already ejected and this is a request that was in flight before the ejection;
  // it must not extend or restart the back-off (the probe decides).
}

function eject(h: TargetHealth, opts: PassiveHealthOptions, now: number): void {
  // Cap the exponent so a long-dead target cannot overflow 2**n to Infinity before the min() applies.
  const duration = Math.min(opts.ejectMs * 2 ** Math.min(h.ejections, 30), opts.maxEjectMs);
  h.ejections++;
  h.ejectedUntil = now + duration;
  h.probing = false;
}

export interface ActiveHealthOptions {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive passing checks before a down target is marked up. */
  healthyThreshold: number;
  /** Consecutive failing checks before an up target is marked down. */
  unhealthyThreshold: number;
  /** Inclusive range of status codes that count as healthy, e.g. [200, 399]. */
  expectedStatuses: [number, number];
  headers?: Record<string, string>;
}

interface CheckState {
  successes: number;
  failures: number;
  running: Promise<void> | null;
}

/**
 * Periodically probes every target with `GET path` through the target's own pool (same TLS/connection
 * settings as real traffic). Thresholds give hysteresis so one slow or flaky answer does not flap
 * `activeUp`.
 */
export class ActiveHealthChecker {
  private readonly state = new Map<Target, CheckState>();
  private readonly controllers = new Set<AbortController>();
  private timer: NodeJS.Timeout | null = null;
  /** Bumped by stop() so checks that were in flight do not write results after stopping. */
  private epoch = 0;

  constructor(
    private readonly targets: readonly Target[],
    private readonly opts: ActiveHealthOptions,
    private readonly onChange?: (t: Target, up: boolean) => void,
  ) {
    for (const t of targets) this.state.set(t, { successes: 0, failures: 0, running: null });
  }

  start(): void {
    if (this.timer !== null) return;
    void this.checkNow();
    this.timer = setInterval(() => void this.checkNow(), this.opts.intervalMs);
    // Health checks alone must not keep the process alive (graceful shutdown, tests).
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.epoch++;
    for (const c of this.controllers) c.abort();
    this.controllers.clear();
  }

  /** Checks every target once; resolves when all checks have been recorded. Never rejects. */
  async checkNow(): Promise<void> {
    await Promise.all(this.targets.map((t) => this.checkTarget(t)));
  }

  private checkTarget(t: Target): Promise<void> {
    const st = this.state.get(t)!;
    // A slow target (timeout close to the interval) must not accumulate overlapping checks; callers that
    // ask again simply wait for the running one.
    if (st.running === null) {
      st.running = this.runCheck(t, st).finally(() => {
        st.running = null;
      });
    }
    return st.running;
  }

  private async runCheck(t: Target, st: CheckState): Promise<void> {
    const epoch = this.epoch;
    const ac = new AbortController();
    this.controllers.add(ac);
    // The timeout covers connect, headers and body, so a server that trickles its body still fails.
    const timeout = setTimeout(() => ac.abort(new Error('health check timed out')), this.opts.timeoutMs);
    timeout.unref();
    let ok = false;
    try {
      const res = await t.pool.request({
        method: 'GET',
        path: this.opts.path,
        headers: this.opts.headers ?? {},
        signal: ac.signal,
      });
      // Drain so the keep-alive connection goes back to the pool instead of being held by a dangling body.
      await res.body.dump();
      const [lo, hi] = this.opts.expectedStatuses;
      ok = res.statusCode >= lo && res.statusCode <= hi;
    } catch {
      // Connection refused, reset, timeout or abort: all mean "not healthy" for this round.
      ok = false;
    } finally {
      clearTimeout(timeout);
      this.controllers.delete(ac);
    }
    if (epoch !== this.epoch) return;
    this.record(t, st, ok);
  }

  private record(t: Target, st: CheckState, ok: boolean): void {
    const h = t.health;
    let changed = false;
    if (ok) {
      st.successes++;
      st.failures = 0;
      if (!h.activeUp && st.successes >= this.opts.healthyThreshold) {
        h.activeUp = true;
        changed = true;
      }
    } else {
      st.failures++;
      st.successes = 0;
      if (h.activeUp && st.failures >= this.opts.unhealthyThreshold) {
        h.activeUp = false;
        changed = true;
      }
    }
    if (changed && this.onChange) {
      try {
        this.onChange(t, h.activeUp);
      } catch {
        // A faulty listener (logging/metrics) must not break the check loop or surface as an unhandled
        // rejection from the interval timer.
      }
    }
  }
}
