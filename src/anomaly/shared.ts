import { createHash } from 'node:crypto';
import type { SharedState } from '../state/types.js';

/**
 * Counting on the shared state (the cluster primary, or Redis), so that a threshold holds over all workers and
 * nodes together rather than per process: with N workers an attacker's requests are spread over N detectors that
 * each see 1/N of them. Used by the detectors whose alert may deny an address (auth failures, credential stuffing);
 * they fall back to counting in process when the state fails or too many operations are in flight.
 */
export class SharedCounts {
  private inflight = 0;

  constructor(
    private readonly state: SharedState,
    /** Operations in flight at most (bounded memory under a flood); past it the caller counts locally. */
    private readonly maxInflight = 10_000,
  ) {}

  get busy(): boolean {
    return this.inflight >= this.maxInflight;
  }

  /** Adds `cost` (one) to a sliding-window count; true once it reached `threshold` (this hit included). */
  async hit(key: string, threshold: number, windowMs: number, cost = 1): Promise<boolean> {
    this.inflight++;
    try {
      const r = await this.state.consume({ key, algorithm: 'sliding-window', limit: threshold - 1, windowMs, cost });
      return !r.allowed;
    } finally {
      this.inflight--;
    }
  }

  /**
   * True the first time `value` is seen under `key` within the window: a distinct count's membership test, atomic
   * (a limit-1 counter), so two workers seeing the same value at once count it once.
   */
  async firstSeen(key: string, value: string, windowMs: number): Promise<boolean> {
    const k = `${key}:${createHash('sha256').update(value).digest('base64url').slice(0, 22)}`;
    this.inflight++;
    try {
      return (await this.state.consume({ key: k, algorithm: 'sliding-window', limit: 1, windowMs })).allowed;
    } finally {
      this.inflight--;
    }
  }
}
