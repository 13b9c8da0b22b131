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

export interface SharedState {
  /** Which backend answers: "memory", "cluster" or "redis" (metrics and logs). */
  readonly kind: string;
  /** Atomic check-and-consume: exact under concurrency from every worker and node sharing this backend. */
  consume(req: ConsumeRequest): Promise<ConsumeResult>;
  /** Takes a concurrency slot if fewer than `limit` are held; a slot held past ttlMs is freed (a crashed worker). */
  acquire(key: string, limit: number, ttlMs: number): Promise<{ acquired: boolean; held: number }>;
  release(key: string): Promise<void>;
  /** A value with expiry (the dynamic deny list): set, get (null once expired), delete. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  get(key: string): Promise<string | null>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}
