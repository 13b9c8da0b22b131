import { LRUCache } from 'lru-cache';
import type { NewOwnership, OwnershipRecord, Store } from '../../store/types.js';

/** What a worker remembers of one object's owner. */
export interface Owner {
  readonly owner: string;
  readonly tenant: string | null;
}

export interface OwnerEntry {
  /** When the lookup was sent (not when it answered): a claim committed meanwhile is not masked for a whole TTL. */
  readonly at: number;
  /** null: no record (an object not created through the gateway, or an id that does not exist). */
  readonly value: Owner | null;
}

/** Entries and bytes kept per process: a flood of made-up ids evicts older entries; it never grows memory. */
const MAX_ENTRIES = 100_000;
const MAX_BYTES = 32 * 1024 * 1024;

/**
 * Process-wide (PolicyServices.shared) cache of ownership lookups by (type, id), positive and negative, shared by
 * every route and kept across reloads. Ownership changes only by a claim (a create through the gateway, which also
 * updates this cache) or a deliberate transfer, so positive entries may live long; negative ones must be short so
 * that an object another worker just created is found. Each policy instance judges freshness with its own TTLs.
 * Concurrent misses of one key share one store lookup. Store errors reject and are never cached.
 */
export class OwnershipCache {
  readonly #lru: LRUCache<string, OwnerEntry>;
  readonly #loading = new Map<string, Promise<OwnerEntry>>();

  constructor(
    private readonly store: Store,
    max = MAX_ENTRIES,
  ) {
    this.#lru = new LRUCache<string, OwnerEntry>({
      max,
      maxSize: MAX_BYTES,
      // UTF-16 key and owner strings plus the entry objects, roughly.
      sizeCalculation: (e, k) =>
        2 * k.length + (e.value ? 2 * (e.value.owner.length + (e.value.tenant?.length ?? 0)) : 0) + 96,
    });
  }

  static key(type: string, id: string): string {
    return `${type}\n${id}`;
  }

  /** The entry when fresh enough (positive within ttlMs, negative within negativeTtlMs), else undefined. */
  fresh(key: string, now: number, ttlMs: number, negativeTtlMs: number): OwnerEntry | undefined {
    const e = this.#lru.get(key);
    if (e === undefined) return undefined;
    const ttl = e.value ? ttlMs : negativeTtlMs;
    // A TTL of 0 means no caching: even an entry from this very millisecond is asked again.
    return ttl > 0 && now - e.at <= ttl ? e : undefined;
  }

  /** Looks (type, id) up in the store, one lookup in flight per key. */
  load(type: string, id: string, key: string, now: number): Promise<OwnerEntry> {
    let p = this.#loading.get(key);
    if (!p) {
      p = this.store.ownership
        .get(type, id)
        .then((r) => this.#remember(key, now, r))
        .finally(() => this.#loading.delete(key));
      this.#loading.set(key, p);
    }
    return p;
  }

  /**
   * Records the creator of a new object unless it already has an owner (insert-if-absent: a create that reuses an
   * id cannot take someone else's object), and caches whichever record stands.
   */
  async claim(r: NewOwnership): Promise<{ record: OwnershipRecord; created: boolean }> {
    const at = Date.now();
    const res = await this.store.ownership.claim(r);
    this.#remember(OwnershipCache.key(r.resource_type, r.resource_id), at, res.record);
    return res;
  }

  /** Forgets one object (after a transfer made elsewhere, in tests). */
  forget(type: string, id: string): void {
    this.#lru.delete(OwnershipCache.key(type, id));
  }

  get size(): number {
    return this.#lru.size;
  }

  #remember(key: string, at: number, r: OwnershipRecord | null): OwnerEntry {
    const entry: OwnerEntry = { at, value: r ? { owner: r.owner_id, tenant: r.tenant } : null };
    // A lookup sent before a claim may answer after it: the newer knowledge stays (on a tie, the owner).
    const cur = this.#lru.peek(key);
    if (cur !== undefined && (cur.at > at || (cur.at === at && cur.value !== null && entry.value === null)))
      return entry;
    this.#lru.set(key, entry);
    return entry;
  }
}
