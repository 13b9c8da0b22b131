import { MemoryState } from '../src/state/memory.js';
import type { ConsumeRequest, ConsumeResult, CounterSpec, IncrementResult, SharedState } from '../src/state/types.js';

/**
 * The in-process MemoryState with a switch for outages: `fail = true` makes every call throw, as a backend that
 * cannot be reached would (the failure modes of rate-limit and ip-filter).
 */
export class TestState implements SharedState {
  readonly kind = 'test';
  fail = false;
  readonly #inner: MemoryState;

  constructor(now: () => number = Date.now) {
    this.#inner = new MemoryState({ now, sweepMs: 0 });
  }

  #up(): MemoryState {
    if (this.fail) throw new Error('state unavailable (test)');
    return this.#inner;
  }

  async consume(req: ConsumeRequest): Promise<ConsumeResult> {
    return this.#up().consume(req);
  }
  async increment(counters: readonly CounterSpec[], by: number): Promise<IncrementResult> {
    return this.#up().increment(counters, by);
  }
  async acquire(key: string, limit: number, ttlMs: number): Promise<{ acquired: boolean; held: number }> {
    return this.#up().acquire(key, limit, ttlMs);
  }
  async release(key: string): Promise<void> {
    return this.#up().release(key);
  }
  async set(key: string, value: string, ttlMs: number): Promise<void> {
    return this.#up().set(key, value, ttlMs);
  }
  async get(key: string): Promise<string | null> {
    return this.#up().get(key);
  }
  async delete(key: string): Promise<void> {
    return this.#up().delete(key);
  }
  async close(): Promise<void> {
    return this.#inner.close();
  }
}
