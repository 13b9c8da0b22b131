import type { Worker } from 'node:cluster';
import { StateUnavailableError } from './errors.js';
import type { MemoryState } from './memory.js';
import type { ConsumeRequest, ConsumeResult, CounterSpec, IncrementResult, SharedState } from './types.js';

/**
 * All workers of one machine share the primary's MemoryState over the cluster IPC channel. The primary is the single
 * owner of every counter, so counts are exact by construction. A worker batches the calls of one event-loop tick
 * into one message; the primary answers a batch with one message, in order.
 */

type Call =
  | { id: number; op: 'consume'; req: ConsumeRequest }
  | { id: number; op: 'increment'; counters: CounterSpec[]; by: number }
  | { id: number; op: 'acquire'; key: string; limit: number; ttlMs: number }
  | { id: number; op: 'release' | 'get' | 'delete'; key: string }
  | { id: number; op: 'set'; key: string; value: string; ttlMs: number };

type Reply = { id: number; ok: true; v: unknown } | { id: number; ok: false; error: string };

const REQ = 'rampart:state';
const RES = 'rampart:state:r';
interface ReqMsg {
  type: typeof REQ;
  calls: Call[];
}
interface ResMsg {
  type: typeof RES;
  replies: Reply[];
}

/** Minimal view of the IPC channel (process in a worker), so tests can run it without a cluster. */
export interface IpcChannel {
  send?: ((msg: unknown) => boolean) | undefined;
  connected?: boolean;
  on(event: 'message', fn: (m: unknown) => void): unknown;
  off(event: 'message', fn: (m: unknown) => void): unknown;
}

type DistributiveOmit<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;

export interface ClusterStateOptions {
  /** How long a call waits for the primary before StateUnavailableError. Default 1000 ms. */
  timeoutMs?: number;
}

export class ClusterStateClient implements SharedState {
  readonly kind = 'cluster';
  readonly #channel: IpcChannel;
  readonly #timeoutMs: number;
  readonly #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; t: NodeJS.Timeout }
  >();
  #queue: Call[] = [];
  #nextId = 1;
  #closed = false;
  readonly #onMessage = (m: unknown) => {
    const msg = m as ResMsg | null;
    if (msg?.type !== RES || !Array.isArray(msg.replies)) return;
    for (const r of msg.replies) {
      const p = this.#pending.get(r.id);
      if (!p) continue; // timed out already
      this.#pending.delete(r.id);
      clearTimeout(p.t);
      if (r.ok) p.resolve(r.v);
      else p.reject(new Error(r.error));
    }
  };

  constructor(channel: IpcChannel = process as unknown as IpcChannel, opts: ClusterStateOptions = {}) {
    this.#channel = channel;
    this.#timeoutMs = opts.timeoutMs ?? 1000;
    channel.on('message', this.#onMessage);
  }

  #call<T>(call: DistributiveOmit<Call, 'id'>): Promise<T> {
    if (this.#closed) return Promise.reject(new StateUnavailableError('cluster', 'client closed'));
    if (!this.#channel.send || this.#channel.connected === false)
      return Promise.reject(new StateUnavailableError('cluster', 'no IPC channel to the primary'));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.#pending.delete(id);
        reject(new StateUnavailableError('cluster', `the primary did not answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      t.unref();
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, t });
      if (this.#queue.length === 0) process.nextTick(() => this.#flush());
      this.#queue.push({ ...call, id } as Call);
    });
  }

  #flush(): void {
    const calls = this.#queue;
    this.#queue = [];
    if (calls.length === 0) return;
    const fail = (why: string, cause?: unknown) => {
      for (const c of calls) {
        const p = this.#pending.get(c.id);
        if (!p) continue;
        this.#pending.delete(c.id);
        clearTimeout(p.t);
        p.reject(new StateUnavailableError('cluster', why, { cause }));
      }
    };
    try {
      if (!this.#channel.send || this.#channel.connected === false) fail('the IPC channel is closed');
      else this.#channel.send({ type: REQ, calls } satisfies ReqMsg);
    } catch (e) {
      fail('cannot send to the primary', e);
    }
  }

  consume(req: ConsumeRequest): Promise<ConsumeResult> {
    return this.#call({ op: 'consume', req });
  }
  increment(counters: readonly CounterSpec[], by: number): Promise<IncrementResult> {
    return this.#call({ op: 'increment', counters: [...counters], by });
  }
  acquire(key: string, limit: number, ttlMs: number): Promise<{ acquired: boolean; held: number }> {
    return this.#call({ op: 'acquire', key, limit, ttlMs });
  }
  release(key: string): Promise<void> {
    return this.#call({ op: 'release', key });
  }
  set(key: string, value: string, ttlMs: number): Promise<void> {
    return this.#call({ op: 'set', key, value, ttlMs });
  }
  get(key: string): Promise<string | null> {
    return this.#call({ op: 'get', key });
  }
  delete(key: string): Promise<void> {
    return this.#call({ op: 'delete', key });
  }
  async close(): Promise<void> {
    this.#closed = true;
    this.#channel.off('message', this.#onMessage);
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(p.t);
      p.reject(new StateUnavailableError('cluster', 'client closed'));
    }
  }
}

/** Answers one batch synchronously against the primary's MemoryState (so the batch is decided in order, exactly). */
export function answer(state: MemoryState, calls: Call[]): Reply[] {
  return calls.map((c): Reply => {
    try {
      switch (c.op) {
        case 'consume':
          return { id: c.id, ok: true, v: state.consumeSync(c.req) };
        case 'increment':
          return { id: c.id, ok: true, v: state.incrementSync(c.counters, c.by) };
        case 'acquire':
          return { id: c.id, ok: true, v: state.acquireSync(c.key, c.limit, c.ttlMs) };
        case 'release':
          state.releaseSync(c.key);
          return { id: c.id, ok: true, v: null };
        case 'set':
          state.setSync(c.key, c.value, c.ttlMs);
          return { id: c.id, ok: true, v: null };
        case 'get':
          return { id: c.id, ok: true, v: state.getSync(c.key) };
        case 'delete':
          state.deleteSync(c.key);
          return { id: c.id, ok: true, v: null };
        default:
          return { id: (c as { id: number }).id, ok: false, error: 'unknown state operation' };
      }
    } catch (e) {
      return { id: c.id, ok: false, error: (e as Error).message };
    }
  });
}

/** In the primary: answers this worker's state calls from `state`. Returns a function that stops answering. */
export function serveClusterState(worker: Worker, state: MemoryState): () => void {
  const onMessage = (m: unknown) => {
    const msg = m as ReqMsg | null;
    if (msg?.type !== REQ || !Array.isArray(msg.calls)) return;
    const replies = answer(state, msg.calls);
    if (!worker.isConnected()) return;
    try {
      worker.send({ type: RES, replies } satisfies ResMsg);
    } catch {
      // The worker is gone; its calls time out on its side if it is still alive.
    }
  };
  worker.on('message', onMessage);
  return () => worker.off('message', onMessage);
}
