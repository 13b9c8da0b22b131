import type { Dispatcher } from 'undici';

/**
 * One upstream target (scheme://host:port) with its connection pool and live state.
 * Targets belong to one compiled config generation; pools are shared across generations (see pools.ts).
 */
export interface Target {
  /** e.g. "http://127.0.0.1:3001" (origin only, no path). */
  readonly origin: string;
  /** host[:port] of the origin: the Host header the upstream expects. */
  readonly host: string;
  /** Relative weight, >= 1. */
  readonly weight: number;
  /** Dispatcher (undici Pool) that sends requests to this target. */
  readonly pool: Dispatcher;
  /** Requests currently in flight on this target (maintained by the proxy). */
  inflight: number;
  /** Health state, maintained by health.ts (passive and active). */
  readonly health: TargetHealth;
}

export interface TargetHealth {
  /** False while active checks say the target is down. */
  activeUp: boolean;
  /** Consecutive passive failures. */
  failures: number;
  /** Epoch ms until which the target is ejected by passive health; 0 = not ejected. */
  ejectedUntil: number;
  /** How many times in a row it was ejected (for exponential back-off). */
  ejections: number;
  /** True while one half-open probe request is in flight after an ejection expired. */
  probing: boolean;
}
