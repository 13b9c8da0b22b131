/**
 * Bounded, time-windowed counting structures for the detectors. Time is the event's own time in milliseconds, so a
 * replayed or test stream behaves as the live one did. Every structure has a cap; nothing grows with traffic.
 */

/** A Map kept in least-recently-touched order, holding at most `cap` keys (the stalest are evicted first). */
export class LruMap<K, V> {
  private readonly m = new Map<K, { v: V; t: number }>();

  constructor(
    private readonly cap: number,
    /** Entries untouched for this long are dropped as new ones come in. */
    private readonly maxIdleMs: number,
  ) {}

  get size(): number {
    return this.m.size;
  }

  /** The value for key (created with make()), marked as just used. */
  touch(key: K, t: number, make: () => V): V {
    let e = this.m.get(key);
    if (e) {
      this.m.delete(key);
      e.t = t;
    } else {
      e = { v: make(), t };
    }
    this.m.set(key, e);
    // Amortised clean-up: the oldest entries, when idle too long or over the cap.
    for (const [k, old] of this.m) {
      if (this.m.size <= this.cap && t - old.t <= this.maxIdleMs) break;
      this.m.delete(k);
    }
    return e.v;
  }

  get(key: K): V | undefined {
    return this.m.get(key)?.v;
  }
}

/** Counts in a sliding window, in `slots` buckets (the window moves one bucket at a time). */
export class SlidingCounter {
  private readonly counts: Float64Array;
  private readonly slotMs: number;
  private head = -1;

  constructor(
    windowMs: number,
    private readonly slots = 10,
  ) {
    this.counts = new Float64Array(slots);
    this.slotMs = Math.max(1, windowMs / slots);
  }

  private advance(t: number): number {
    const slot = Math.floor(t / this.slotMs);
    if (this.head === -1) this.head = slot;
    if (slot > this.head) {
      const n = Math.min(slot - this.head, this.slots);
      for (let i = 1; i <= n; i++) this.counts[(this.head + i) % this.slots] = 0;
      this.head = slot;
    }
    return slot;
  }

  add(t: number, n = 1): void {
    const slot = this.advance(t);
    // An event older than the window is ignored; one a little late goes into its own bucket.
    if (this.head - slot < this.slots) this.counts[slot % this.slots]! += n;
  }

  total(t: number): number {
    this.advance(t);
    let s = 0;
    for (const c of this.counts) s += c;
    return s;
  }
}

/** Distinct values seen in a sliding window (last-seen order), at most `cap` of them. */
export class RecentSet {
  private readonly m = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly cap: number,
  ) {}

  /** Adds a value; returns true if it was not already in the window. */
  add(v: string, t: number): boolean {
    this.expire(t);
    const had = this.m.has(v);
    if (had) this.m.delete(v);
    this.m.set(v, t);
    if (this.m.size > this.cap) this.m.delete(this.m.keys().next().value!);
    return !had;
  }

  has(v: string, t: number): boolean {
    this.expire(t);
    return this.m.has(v);
  }

  size(t: number): number {
    this.expire(t);
    return this.m.size;
  }

  private expire(t: number): void {
    for (const [k, seen] of this.m) {
      if (t - seen <= this.windowMs) break;
      this.m.delete(k);
    }
  }
}
