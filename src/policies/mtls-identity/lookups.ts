import { LRUCache } from 'lru-cache';
import type { Consumer, Credential, Store } from '../../store/types.js';

/** A certificate's binding: its "mtls" credential and the consumer it names (null when that consumer is gone). */
export interface Binding {
  readonly credential: Credential;
  readonly consumer: Consumer | null;
}

interface Entry {
  readonly at: number;
  readonly value: Binding | Consumer | null;
}

/**
 * Store lookups of the mtls-identity policy for the whole process (kept across reloads): answers, absent ones too,
 * are reused for at most the caller's max age (≤ 1 s), so a revocation or a disabled consumer shows within it on
 * every worker without a query per request. Concurrent lookups of one key share a query.
 */
export class MtlsLookups {
  readonly #lru = new LRUCache<string, Entry>({ max: 10_000, ttl: 1000 });
  readonly #inflight = new Map<string, Promise<Entry['value']>>();

  constructor(private readonly store: Store) {}

  /** The "mtls" credential whose key_id is this (normalised) fingerprint, revoked and expired ones included. */
  binding(fingerprint: string, maxAgeMs: number): Promise<Binding | null> {
    return this.#cached(`fp:${fingerprint}`, maxAgeMs, async () => {
      const credential = await this.store.credentials.getByKeyId(fingerprint);
      if (credential?.kind !== 'mtls') return null;
      return { credential, consumer: await this.store.consumers.get(credential.consumer_id) };
    }) as Promise<Binding | null>;
  }

  consumerByName(name: string, maxAgeMs: number): Promise<Consumer | null> {
    return this.#cached(`name:${name}`, maxAgeMs, () =>
      this.store.consumers.getByName(name),
    ) as Promise<Consumer | null>;
  }

  async #cached(key: string, maxAgeMs: number, load: () => Promise<Entry['value']>): Promise<Entry['value']> {
    const hit = this.#lru.get(key);
    if (hit && performance.now() - hit.at <= maxAgeMs) return hit.value;
    const running = this.#inflight.get(key);
    if (running) return running;
    const at = performance.now();
    const p = load()
      .then((value) => {
        if (maxAgeMs > 0) this.#lru.set(key, { at, value });
        return value;
      })
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }
}
