import type { Target } from './target.js';

/**
 * Load-balancing strategies over one upstream's targets.
 *
 * Every balancer is built once per config generation (targets are fixed for its lifetime) and asked
 * `pick(available)` per request. `available` carries the health decision (passive + active), so the
 * balancers stay pure selection logic and never touch health state themselves.
 */

export type BalancerKind = 'round-robin' | 'weighted' | 'least-connections' | 'consistent-hash';

export interface Balancer {
  /** Chooses a target for one request, or null when no target is available. */
  pick(available: (t: Target) => boolean, hashKey?: string): Target | null;
}

export interface BalancerOptions {
  /** Consistent hash: ring points per unit of weight (default 160, as in Ketama). */
  vnodes?: number;
}

export function createBalancer(kind: BalancerKind, targets: Target[], opts: BalancerOptions = {}): Balancer {
  // Copy so a caller mutating its array later cannot desynchronise per-index state (cursors, weights, ring).
  const list = [...targets];
  switch (kind) {
    case 'round-robin':
      return new RoundRobin(list);
    case 'weighted':
      return new SmoothWeighted(list);
    case 'least-connections':
      return new LeastConnections(list);
    case 'consistent-hash':
      return new ConsistentHash(list, opts.vnodes ?? DEFAULT_VNODES);
  }
}

class RoundRobin implements Balancer {
  private next = 0;

  constructor(private readonly targets: readonly Target[]) {}

  pick(available: (t: Target) => boolean): Target | null {
    const n = this.targets.length;
    // Scan at most one full lap from the cursor so a down target costs a skip, not a failed request.
    for (let i = 0; i < n; i++) {
      const idx = (this.next + i) % n;
      const t = this.targets[idx]!;
      if (available(t)) {
        this.next = (idx + 1) % n;
        return t;
      }
    }
    return null;
  }
}

/**
 * nginx's smooth weighted round robin: each pick adds every available target's weight to its running
 * score, takes the highest score and subtracts the total from it. Over any full cycle each target gets
 * exactly its weight, and heavy targets are interleaved with light ones instead of served in bursts.
 */
class SmoothWeighted implements Balancer {
  private readonly current: number[];

  constructor(private readonly targets: readonly Target[]) {
    this.current = targets.map(() => 0);
  }

  pick(available: (t: Target) => boolean): Target | null {
    let total = 0;
    let best = -1;
    for (let i = 0; i < this.targets.length; i++) {
      const t = this.targets[i]!;
      // Unavailable targets neither accumulate nor get picked, exactly like nginx's `down`/failed peers,
      // so they do not come back with a huge banked score and burst.
      if (!available(t)) continue;
      const w = effectiveWeight(t);
      const score = this.current[i]! + w;
      this.current[i] = score;
      total += w;
      if (best === -1 || score > this.current[best]!) best = i;
    }
    if (best === -1) return null;
    this.current[best] = this.current[best]! - total;
    return this.targets[best]!;
  }
}

/**
 * Picks the available target with the lowest inflight/weight. Ties are broken by scanning from just
 * after the previous pick, so equally loaded targets take turns instead of the first one absorbing
 * every request while inflight counts are still equal (e.g. at startup or under light load).
 */
class LeastConnections implements Balancer {
  private last = -1;

  constructor(private readonly targets: readonly Target[]) {}

  pick(available: (t: Target) => boolean): Target | null {
    const n = this.targets.length;
    let best: Target | null = null;
    let bestIdx = -1;
    for (let i = 1; i <= n; i++) {
      const idx = (this.last + i) % n;
      const t = this.targets[idx]!;
      if (!available(t)) continue;
      // Compare a.inflight/a.weight < b.inflight/b.weight by cross-multiplying: exact, no float division.
      if (best === null || t.inflight * effectiveWeight(best) < best.inflight * effectiveWeight(t)) {
        best = t;
        bestIdx = idx;
      }
    }
    if (best !== null) this.last = bestIdx;
    return best;
  }
}

const DEFAULT_VNODES = 160;
/** Caps memory and build time for very large/heavily weighted upstreams (points are scaled down to fit). */
const MAX_RING_POINTS = 1 << 16;

/**
 * Ketama-style consistent hashing. Each target owns `vnodes * weight` points on a 32-bit ring, derived
 * from its origin (not its index), so adding or removing a target only moves the keys that land on that
 * target's points: ~1/N of keys. A key maps to the first point clockwise from its hash.
 */
class ConsistentHash implements Balancer {
  private readonly ring: Uint32Array;
  private readonly owner: Uint32Array;
  private readonly fallback: RoundRobin;

  constructor(
    private readonly targets: readonly Target[],
    vnodes: number,
  ) {
    this.fallback = new RoundRobin(targets);
    const perUnit = Math.max(1, Math.floor(vnodes));
    const totalWeight = targets.reduce((sum, t) => sum + effectiveWeight(t), 0);
    // Scaling only applies past the cap; it changes every target's point count, so key movement on
    // membership changes is then larger than 1/N. Normal upstreams never reach it.
    const scale = Math.min(1, MAX_RING_POINTS / Math.max(1, perUnit * totalWeight));

    const points: Array<{ hash: number; idx: number }> = [];
    targets.forEach((t, idx) => {
      const count = Math.max(1, Math.round(perUnit * effectiveWeight(t) * scale));
      for (let v = 0; v < count; v++) points.push({ hash: hash32(`${t.origin}#${v}`), idx });
    });
    // Sort by hash; equal hashes (duplicate origins or rare collisions) ordered by index for determinism.
    points.sort((a, b) => a.hash - b.hash || a.idx - b.idx);
    this.ring = Uint32Array.from(points, (p) => p.hash);
    this.owner = Uint32Array.from(points, (p) => p.idx);
  }

  pick(available: (t: Target) => boolean, hashKey?: string): Target | null {
    // No key (e.g. the configured header/cookie is absent): spread load rather than pin all such requests
    // to the one target that owns hash("").
    if (hashKey === undefined) return this.fallback.pick(available);
    const size = this.ring.length;
    if (size === 0) return null;

    let pos = lowerBound(this.ring, hash32(hashKey));
    if (pos === size) pos = 0;

    // Walk clockwise past unavailable owners. The result equals the lookup on a ring without them, so a
    // down target's keys spread over the others and return to it when it recovers. Stop once every
    // distinct target has been tried so an all-down upstream costs O(ring) at worst, once.
    const tried = new Uint8Array(this.targets.length);
    let distinct = 0;
    for (let step = 0; step < size && distinct < this.targets.length; step++) {
      const idx = this.owner[(pos + step) % size]!;
      if (tried[idx] === 1) continue;
      tried[idx] = 1;
      distinct++;
      const t = this.targets[idx]!;
      if (available(t)) return t;
    }
    return null;
  }
}

/** First index whose value is >= key (ring.length if none). */
function lowerBound(ring: Uint32Array, key: number): number {
  let lo = 0;
  let hi = ring.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ring[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * FNV-1a 32-bit over UTF-16 code units, followed by murmur3's fmix32 finalizer. FNV-1a alone clusters
 * on inputs that differ only in trailing characters ("origin#1", "origin#2", ...), which would bunch a
 * target's virtual nodes together; the finalizer spreads them across the ring.
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Weights are documented as >= 1; clamp so a bad value cannot stall weighted selection or zero out a score. */
function effectiveWeight(t: Target): number {
  return Number.isFinite(t.weight) && t.weight >= 1 ? t.weight : 1;
}
