/**
 * State that must be exact across workers and nodes (docs/architecture.md, "Many workers"): rate-limit and quota
 * counters, concurrency slots, the dynamic deny list. One interface, three backends: in-process memory (one worker),
 * the cluster primary over IPC (all workers of one machine, no extra server), Redis (many nodes).
 */

export type Algorithm = 'gcra' | 'sliding-window';

export interface ConsumeRequest {
  /** The counter's full key (policy, limit name and the request's key parts), e.g. "rl:route:users:ip:10.0.0.1". */
  key: string;
  algorithm: Algorithm;
  /** Requests (or cost units) allowed per window. */
  limit: number;
  windowMs: number;
  /** GCRA only: extra requests allowed at once above the steady rate (default: limit, i.e. a full window's worth). */
  burst?: number;
  /** Units this request uses (default 1). A refused request uses none. */
  cost?: number;
}

export interface ConsumeResult {
  allowed: boolean;
  /** Units left in the current window after this request (0 when refused). */
  remaining: number;
  /** Milliseconds until the counter has room again for one unit (0 when allowed and room remains). */
  retryAfterMs: number;
  /** Milliseconds until the window fully resets (for RateLimit headers). */
  resetMs: number;
}

/** One fixed-window counter of an `increment` (a quota period, a failure count). */
export interface CounterSpec {
  /** The counter's full key; include the window's start in it (a quota period) so a new window is a new counter. */
  key: string;
  /** Most units the counter may reach; an increment that would pass it is refused. */
  limit: number;
  /** Epoch ms when the counter ends (it starts at 0 after). Set when the counter is created; later calls keep it. */
  expiresAtMs: number;
}

export interface IncrementResult {
  /** True when every counter had room for `by`, and all were incremented; false: none was. */
  admitted: boolean;
  /** Each counter's value after the call (unchanged when refused), in the order given. */
  counts: number[];
}

export interface SharedState {
  /** Which backend answers: "memory", "cluster" or "redis" (metrics and logs). */
  readonly kind: string;
  /** Atomic check-and-consume: exact under concurrency from every worker and node sharing this backend. */
  consume(req: ConsumeRequest): Promise<ConsumeResult>;
  /**
   * Atomic fixed-window counters (quotas, failure counts): adds `by` to every counter if each stays within its
   * limit, else to none. All-or-nothing across the counters given, so a request refused by one period (a day) uses
   * nothing of another (the month). Exact under concurrency like consume.
   */
  increment(counters: readonly CounterSpec[], by: number): Promise<IncrementResult>;
  /** Takes a concurrency slot if fewer than `limit` are held; a slot held past ttlMs is freed (a crashed worker). */
  acquire(key: string, limit: number, ttlMs: number): Promise<{ acquired: boolean; held: number }>;
  release(key: string): Promise<void>;
  /**
   * A value with expiry (the dynamic deny list): set, get (null once expired), delete. delete also ends the
   * `increment` counter of the same key (a failure count reset by a success).
   */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  get(key: string): Promise<string | null>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}
