import { LRUCache } from 'lru-cache';

/** A cached introspection answer: the claims of an active token, or null for `active: false`. */
interface Entry {
  readonly claims: Readonly<Record<string, unknown>> | null;
  /** Date.now() when fetched: each reader applies its own max age, as routes may configure different ones. */
  readonly at: number;
}

/**
 * Introspection answers of one endpoint and client, for the whole process (kept across config reloads), keyed by
 * a hash of the token so that no token sits in memory as a key. Calls for a token already being introspected
 * wait for that call instead of making their own.
 */
export class IntrospectionCache {
  readonly #lru: LRUCache<string, Entry> | null;
  readonly #inflight = new Map<string, Promise<Record<string, unknown>>>();

  constructor(maxEntries: number) {
    this.#lru = maxEntries > 0 ? new LRUCache<string, Entry>({ max: maxEntries }) : null;
  }

  /** The cached answer while within the TTL it was stored with; the caller applies its own max age to `at`. */
  get(key: string): Entry | undefined {
    return this.#lru?.get(key);
  }

  /** Keeps an answer fetched at `at` until the epoch-ms deadline `until` (counted from now, not from the fetch). */
  set(key: string, claims: Entry['claims'], at: number, until: number): void {
    const ttl = Math.floor(until - Date.now());
    if (ttl > 0) this.#lru?.set(key, { claims, at }, { ttl });
  }

  /** Runs `call` unless one for the same key is in flight; every caller gets that one call's outcome. */
  coalesce(key: string, call: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
    const running = this.#inflight.get(key);
    if (running) return running;
    const p = call().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  get size(): number {
    return this.#lru?.size ?? 0;
  }
}
