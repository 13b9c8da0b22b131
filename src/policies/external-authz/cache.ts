import { LRUCache } from 'lru-cache';

/** A PDP's answer as the gateway keeps it. */
export interface Verdict {
  readonly allow: boolean;
  /** Short reason from the PDP (sanitised), if it gave one. */
  readonly reason: string | undefined;
}

interface Entry {
  readonly verdict: Verdict;
  /** Epoch ms after which the entry is not used. */
  readonly until: number;
}

/**
 * Decisions of one PDP (and one way of asking it), for the whole process and across reloads, keyed by a hash of the
 * question. Bounded (LRU); an entry past its deadline is never served. Questions already being asked wait for that
 * call instead of making their own, so a burst of identical requests costs the PDP one call.
 */
export class DecisionCache {
  readonly #lru: LRUCache<string, Entry> | null;
  readonly #inflight = new Map<string, Promise<Verdict>>();

  constructor(
    maxEntries: number,
    /** The clock (epoch ms); tests pass their own. */
    readonly now: () => number = () => Date.now(),
  ) {
    this.#lru = maxEntries > 0 ? new LRUCache<string, Entry>({ max: maxEntries }) : null;
  }

  get(key: string): Verdict | undefined {
    const e = this.#lru?.get(key);
    if (e === undefined) return undefined;
    if (e.until > this.now()) return e.verdict;
    this.#lru?.delete(key);
    return undefined;
  }

  /** Keeps a verdict until the epoch-ms deadline; one already past is not kept. */
  set(key: string, verdict: Verdict, until: number): void {
    if (this.#lru && until > this.now()) this.#lru.set(key, { verdict, until });
  }

  /** Runs `call` unless one for the same key is in flight; every caller gets that one call's outcome. */
  coalesce(key: string, call: () => Promise<Verdict>): { promise: Promise<Verdict>; joined: boolean } {
    const running = this.#inflight.get(key);
    if (running) return { promise: running, joined: true };
    const promise = call().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return { promise, joined: false };
  }

  get size(): number {
    return this.#lru?.size ?? 0;
  }

  get inflight(): number {
    return this.#inflight.size;
  }
}
