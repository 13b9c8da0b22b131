import type { ConsumeRequest, ConsumeResult, CounterSpec, IncrementResult, SharedState } from './types.js';

/**
 * Shared state in this process's memory: exact by construction (every decision runs synchronously on one thread).
 * Used in-process with one worker, and by the cluster primary on behalf of all workers (cluster.ts).
 *
 * - GCRA: one "theoretical arrival time" per key; exact (floating-point slack of 1e-6 ms on the comparisons).
 * - Sliding window: an exact sliding log of admitted requests. It is bounded: a refused request is not logged and
 *   the log of a key never holds more than `limit` units, so at most `limit` entries (fewer with cost > 1 or several
 *   requests in one millisecond, which share an entry). Memory per key is O(limit), which is why very large
 *   windows (millions per month) belong on GCRA, or on a fixed-window counter.
 * - Fixed-window counters (increment, for quotas and failure counts): one number and its end per key.
 * - Expired counters, slots and values are swept every `sweepMs`, so memory stays bounded by the live keys.
 */

const EPS = 1e-6;

export interface MemoryStateOptions {
  /** Clock in milliseconds (tests); default Date.now. */
  now?: () => number;
  /** How often expired entries are swept; 0 disables the timer (call sweep() yourself). Default 10 s. */
  sweepMs?: number;
  /**
   * Most counters kept per algorithm (default 1,000,000). Keys come from requests (addresses, headers, claims), so a
   * flood of new ones must not grow memory without bound: past the cap the oldest counter is forgotten, which can
   * only admit more for that key, never refuse wrongly.
   */
  maxKeys?: number;
}

interface Log {
  ts: number[];
  cost: number[];
  head: number;
  used: number;
  windowMs: number;
}

/** Validates a request and fills the defaults; throws on nonsense so a policy bug does not admit everything. */
export function normalize(req: ConsumeRequest): Required<ConsumeRequest> {
  const cost = req.cost ?? 1;
  const burst = req.burst ?? req.limit;
  if (!(req.limit > 0) || !(req.windowMs > 0) || !(cost >= 0) || !(burst > 0) || !Number.isFinite(req.windowMs))
    throw new RangeError(`invalid consume request for ${req.key}: limit, windowMs and burst must be > 0, cost >= 0`);
  return { key: req.key, algorithm: req.algorithm, limit: req.limit, windowMs: req.windowMs, burst, cost };
}

export class MemoryState implements SharedState {
  readonly kind = 'memory';
  readonly #now: () => number;
  readonly #tat = new Map<string, number>();
  readonly #logs = new Map<string, Log>();
  /** Expiry times of held slots, ascending. */
  readonly #slots = new Map<string, number[]>();
  readonly #values = new Map<string, { value: string; exp: number }>();
  /** Fixed-window counters (increment): value and the epoch ms they end. */
  readonly #counters = new Map<string, { n: number; exp: number }>();
  readonly #timer: NodeJS.Timeout | null;

  readonly #maxKeys: number;

  constructor(opts: MemoryStateOptions = {}) {
    this.#now = opts.now ?? Date.now;
    this.#maxKeys = opts.maxKeys ?? 1_000_000;
    const every = opts.sweepMs ?? 10_000;
    this.#timer = every > 0 ? setInterval(() => this.sweep(), every) : null;
    this.#timer?.unref();
  }

  /** The decision itself, synchronous (the cluster primary answers a whole batch in one go). */
  consumeSync(request: ConsumeRequest): ConsumeResult {
    const req = normalize(request);
    const now = this.#now();
    return req.algorithm === 'gcra' ? this.#gcra(req, now) : this.#sliding(req, now);
  }

  #gcra(req: Required<ConsumeRequest>, now: number): ConsumeResult {
    const t = req.windowMs / req.limit; // emission interval: one unit every t ms
    const cap = req.burst * t; // how far ahead of now the TAT may run
    const base = Math.max(this.#tat.get(req.key) ?? now, now);
    const next = base + req.cost * t;
    if (next - now > cap + EPS) {
      return {
        allowed: false,
        remaining: 0,
        retryAfterMs: Math.max(0, Math.ceil(base + t - now - cap - EPS)),
        resetMs: Math.ceil(base - now - EPS),
      };
    }
    if (this.#tat.size >= this.#maxKeys && !this.#tat.has(req.key)) evictOldest(this.#tat);
    this.#tat.set(req.key, next);
    const remaining = Math.max(0, Math.floor((cap - (next - now)) / t + EPS));
    return {
      allowed: true,
      remaining,
      retryAfterMs: remaining > 0 ? 0 : Math.max(0, Math.ceil(next + t - now - cap - EPS)),
      resetMs: Math.ceil(next - now - EPS),
    };
  }

  #sliding(req: Required<ConsumeRequest>, now: number): ConsumeResult {
    let log = this.#logs.get(req.key);
    if (!log) {
      log = { ts: [], cost: [], head: 0, used: 0, windowMs: req.windowMs };
      if (this.#logs.size >= this.#maxKeys) evictOldest(this.#logs);
      this.#logs.set(req.key, log);
    }
    log.windowMs = req.windowMs;
    expire(log, now);
    const allowed = log.used + req.cost <= req.limit;
    if (allowed && req.cost > 0) {
      const last = log.ts.length - 1;
      if (last >= log.head && log.ts[last] === now) log.cost[last] = (log.cost[last] ?? 0) + req.cost;
      else {
        log.ts.push(now);
        log.cost.push(req.cost);
      }
      log.used += req.cost;
    }
    const remaining = allowed ? req.limit - log.used : 0;
    const newest = log.ts.length > log.head ? (log.ts[log.ts.length - 1] ?? now) : now;
    const resetMs = log.ts.length > log.head ? newest + req.windowMs - now : 0;
    let retryAfterMs = 0;
    if (remaining <= 0 && log.used - req.limit + 1 > 0) {
      // Room for one unit once `used - limit + 1` units have left the window, oldest first.
      const need = log.used - req.limit + 1;
      let freed = 0;
      for (let i = log.head; i < log.ts.length; i++) {
        freed += log.cost[i] ?? 0;
        if (freed >= need) {
          retryAfterMs = (log.ts[i] ?? now) + req.windowMs - now;
          break;
        }
      }
    }
    if (log.used === 0) this.#logs.delete(req.key);
    return { allowed, remaining, retryAfterMs, resetMs };
  }

  /** All-or-nothing increment of fixed-window counters (see SharedState.increment). */
  incrementSync(counters: readonly CounterSpec[], by: number): IncrementResult {
    checkIncrement(counters, by);
    const now = this.#now();
    const counts = counters.map((c) => {
      const e = this.#counters.get(c.key);
      return e && e.exp > now ? e.n : 0;
    });
    const admitted = counters.every((c, i) => (counts[i] ?? 0) + by <= c.limit);
    if (!admitted || by === 0) return { admitted, counts };
    return {
      admitted,
      counts: counters.map((c, i) => {
        const e = this.#counters.get(c.key);
        if (e && e.exp > now) {
          e.n += by;
          return e.n;
        }
        if (!e && this.#counters.size >= this.#maxKeys) evictOldest(this.#counters);
        this.#counters.set(c.key, { n: (counts[i] ?? 0) + by, exp: c.expiresAtMs });
        return by;
      }),
    };
  }

  acquireSync(key: string, limit: number, ttlMs: number): { acquired: boolean; held: number } {
    const now = this.#now();
    const slots = (this.#slots.get(key) ?? []).filter((e) => e > now);
    if (slots.length >= limit) {
      this.#put(key, slots);
      return { acquired: false, held: slots.length };
    }
    const exp = now + ttlMs;
    let i = slots.length;
    while (i > 0 && (slots[i - 1] ?? 0) > exp) i--;
    slots.splice(i, 0, exp);
    this.#slots.set(key, slots);
    return { acquired: true, held: slots.length };
  }

  /** Frees the slot that would expire last: a crashed worker's stale slot (older) then lapses first by itself. */
  releaseSync(key: string): void {
    const slots = this.#slots.get(key);
    if (!slots) return;
    slots.pop();
    this.#put(key, slots);
  }

  #put(key: string, slots: number[]): void {
    if (slots.length === 0) this.#slots.delete(key);
    else this.#slots.set(key, slots);
  }

  setSync(key: string, value: string, ttlMs: number): void {
    this.#values.set(key, { value, exp: this.#now() + ttlMs });
  }

  getSync(key: string): string | null {
    const v = this.#values.get(key);
    if (!v) return null;
    if (v.exp <= this.#now()) {
      this.#values.delete(key);
      return null;
    }
    return v.value;
  }

  deleteSync(key: string): void {
    this.#values.delete(key);
    this.#counters.delete(key);
  }

  /** Drops every expired counter, log, slot and value. */
  sweep(): void {
    const now = this.#now();
    for (const [k, tat] of this.#tat) if (tat <= now) this.#tat.delete(k);
    for (const [k, log] of this.#logs) {
      expire(log, now);
      if (log.used === 0) this.#logs.delete(k);
    }
    for (const [k, s] of this.#slots) {
      const live = s.filter((e) => e > now);
      this.#put(k, live);
    }
    for (const [k, v] of this.#values) if (v.exp <= now) this.#values.delete(k);
    for (const [k, c] of this.#counters) if (c.exp <= now) this.#counters.delete(k);
  }

  /** Keys held, per kind (tests and metrics). */
  size(): { gcra: number; sliding: number; slots: number; values: number; counters: number } {
    return {
      gcra: this.#tat.size,
      sliding: this.#logs.size,
      slots: this.#slots.size,
      values: this.#values.size,
      counters: this.#counters.size,
    };
  }

  async consume(req: ConsumeRequest): Promise<ConsumeResult> {
    return this.consumeSync(req);
  }
  async increment(counters: readonly CounterSpec[], by: number): Promise<IncrementResult> {
    return this.incrementSync(counters, by);
  }
  async acquire(key: string, limit: number, ttlMs: number): Promise<{ acquired: boolean; held: number }> {
    return this.acquireSync(key, limit, ttlMs);
  }
  async release(key: string): Promise<void> {
    this.releaseSync(key);
  }
  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.setSync(key, value, ttlMs);
  }
  async get(key: string): Promise<string | null> {
    return this.getSync(key);
  }
  async delete(key: string): Promise<void> {
    this.deleteSync(key);
  }
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
  }
}

/** Refuses nonsense so a policy bug does not admit everything (every backend checks the same way). */
export function checkIncrement(counters: readonly CounterSpec[], by: number): void {
  if (!(by >= 0) || !Number.isSafeInteger(by) || counters.length === 0 || counters.length > 16)
    throw new RangeError('invalid increment: by must be an integer >= 0, with 1 to 16 counters');
  for (const c of counters)
    if (!(c.limit >= 0) || !Number.isFinite(c.limit) || !Number.isFinite(c.expiresAtMs) || typeof c.key !== 'string')
      throw new RangeError(`invalid increment for ${c.key}: a finite limit >= 0 and expiresAtMs`);
}

/** Forgets the counter inserted first (a Map iterates in insertion order): O(1), no sweep on the request path. */
function evictOldest(m: Map<string, unknown>): void {
  const first = m.keys().next();
  if (!first.done) m.delete(first.value);
}

/** Drops log entries at or before now - windowMs, compacting the arrays once half of them are dead. */
function expire(log: Log, now: number): void {
  const edge = now - log.windowMs;
  while (log.head < log.ts.length && (log.ts[log.head] ?? 0) <= edge) {
    log.used -= log.cost[log.head] ?? 0;
    log.head++;
  }
  if (log.head > 32 && log.head * 2 > log.ts.length) {
    log.ts = log.ts.slice(log.head);
    log.cost = log.cost.slice(log.head);
    log.head = 0;
  }
}
