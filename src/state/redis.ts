import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { StateUnavailableError } from './errors.js';
import { keepStringPrototypeFast } from './fast-strings.js';
import { checkIncrement, normalize } from './memory.js';
import type { ConsumeRequest, ConsumeResult, CounterSpec, IncrementResult, SharedState } from './types.js';

// ioredis subclasses String at import, which slows every string method call in the process (fast-strings.ts).
keepStringPrototypeFast();

/**
 * Shared state in Redis, for many nodes. Every decision is one Lua script (EVALSHA, loaded on first use by ioredis),
 * atomic and one round trip. The decisions of one turn of the event loop on the same counter go as one script call
 * (they are decided in arrival order inside it), and all calls of a turn share one write: under
 * load a hot key costs Redis and this process one command per turn, not one per request. Time is Redis's own clock (TIME),
 * so nodes with skewed clocks still share one count. Same semantics as MemoryState (GCRA exact, exact sliding log
 * bounded by `limit` entries per key).
 *
 * Unreachable Redis never queues: with no connection a call fails at once, a slow one after `timeoutMs`, both as
 * StateUnavailableError; ioredis reconnects in the background and calls succeed again by themselves.
 */

// Each decision script takes a batch: the calls of one tick on the same counter share one EVALSHA (see #coalesce),
// decided one after another inside the script, exactly as if each had been its own call at the same instant.

// Costs come as one comma-separated argument and the answers go back as one comma-separated string: a batch then
// costs one argument to encode and one bulk string to decode, whatever its size.

// ARGV: limit, window, burst, costs. Returns 4 numbers per call: allowed, remaining, retry, reset.
const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local limit, window, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local eps = 1e-6
local iv = window / limit
local cap = burst * iv
local tat = tonumber(redis.call('GET', KEYS[1]))
local changed = false
local out = {}
for c in string.gmatch(ARGV[4], '[^,]+') do
  local cost = tonumber(c)
  local base = now
  if tat and tat > now then base = tat end
  local nxt = base + cost * iv
  if nxt - now > cap + eps then
    table.insert(out, 0)
    table.insert(out, 0)
    table.insert(out, math.max(0, math.ceil(base + iv - now - cap - eps)))
    table.insert(out, math.max(0, math.ceil(base - now - eps)))
  else
    if nxt > now then
      tat = nxt
      changed = true
    end
    local remaining = math.max(0, math.floor((cap - (nxt - now)) / iv + eps))
    local retry = 0
    if remaining <= 0 then retry = math.max(0, math.ceil(nxt + iv - now - cap - eps)) end
    table.insert(out, 1)
    table.insert(out, remaining)
    table.insert(out, retry)
    table.insert(out, math.max(0, math.ceil(nxt - now - eps)))
  end
end
if changed then redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', math.ceil(tat - now)) end
return table.concat(out, ',')
`;

// KEYS[1]: zset of admitted entries (score = ms, member = "seq:cost"); KEYS[2]: hash {used, seq}.
// ARGV: limit, window, costs. Returns 4 numbers per call.
const SLIDING = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local edge = now - window
local used = tonumber(redis.call('HGET', KEYS[2], 'used') or '0')
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', edge)
if #old > 0 then
  for i = 1, #old do used = used - tonumber(string.match(old[i], ':([^:]+)$')) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', edge)
end
if used < 0 then used = 0 end
local out = {}
for c in string.gmatch(ARGV[3], '[^,]+') do
  local cost = tonumber(c)
  local allowed = used + cost <= limit
  if allowed and cost > 0 then
    local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
    redis.call('ZADD', KEYS[1], now, seq .. ':' .. c)
    used = used + cost
  end
  local remaining = 0
  if allowed then remaining = limit - used end
  local reset = 0
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if #newest > 0 then reset = tonumber(newest[2]) + window - now end
  local retry = 0
  local need = used - limit + 1
  if remaining <= 0 and need > 0 then
    local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
    local freed = 0
    for i = 1, #all, 2 do
      freed = freed + tonumber(string.match(all[i], ':([^:]+)$'))
      if freed >= need then
        retry = tonumber(all[i + 1]) + window - now
        break
      end
    end
  end
  if allowed then
    table.insert(out, 1)
    table.insert(out, remaining)
  else
    table.insert(out, 0)
    table.insert(out, 0)
  end
  table.insert(out, retry)
  table.insert(out, reset)
end
if used <= 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
else
  redis.call('HSET', KEYS[2], 'used', used)
  redis.call('PEXPIRE', KEYS[1], window)
  redis.call('PEXPIRE', KEYS[2], window)
end
return table.concat(out, ',')
`;

// Fixed-window counters, all or nothing per call. KEYS: the counters; ARGV: the calls' amounts ("by", comma-separated),
// then limit and expiry (epoch ms) per key. Returns, per call, admitted then each counter's value. A new
// counter gets its absolute expiry (PEXPIREAT): the key names its window, so clock skew between nodes only moves
// when Redis forgets it, never what it counts.
const INCREMENT = `
local counts = {}
for i = 1, #KEYS do counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0') end
local out = {}
for b in string.gmatch(ARGV[1], '[^,]+') do
  local by = tonumber(b)
  local ok = 1
  for i = 1, #KEYS do
    if counts[i] + by > tonumber(ARGV[2 * i]) then ok = 0 end
  end
  if ok == 1 and by > 0 then
    for i = 1, #KEYS do
      local n = redis.call('INCRBY', KEYS[i], by)
      if n == by then redis.call('PEXPIREAT', KEYS[i], ARGV[2 * i + 1]) end
      counts[i] = n
    end
  end
  table.insert(out, ok)
  for i = 1, #KEYS do table.insert(out, counts[i]) end
end
return table.concat(out, ',')
`;

// KEYS[1]: zset of slots (score = expiry ms). ARGV: limit, ttlMs, slot id.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[1]) then return {0, held} end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
return {1, held + 1}
`;

// Frees the slot that would expire last (as MemoryState): a crashed worker's older slot then lapses by itself.
const RELEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZPOPMAX', KEYS[1])
return 0
`;

type Scripts = {
  rampartGcra(key: string, limit: number, windowMs: number, burst: number, costs: string): Promise<string>;
  rampartSliding(zkey: string, hkey: string, limit: number, windowMs: number, costs: string): Promise<string>;
  rampartIncrement(n: number, ...keysAndArgs: (string | number)[]): Promise<string>;
  rampartAcquire(key: string, limit: number, ttlMs: number, id: string): Promise<number[]>;
  rampartRelease(key: string): Promise<number>;
};

/** Most calls one script call decides (a bound on its argument list and on the time Redis spends in it). */
const MAX_BATCH = 256;

interface Waiter {
  resolve(out: number[]): void;
  reject(e: unknown): void;
}

interface Batch {
  /** Runs the counter's script for these costs (comma-separated); answers a fixed number of values per cost, in order. */
  call(costs: string): Promise<string>;
  costs: number[];
  waiters: Waiter[];
}

export interface RedisStateOptions {
  /** redis://[user:password@]host:port[/db] (rediss:// for TLS). */
  url?: string | undefined;
  /** Prepended to every key, so several gateways (or test runs) can share one Redis. Default "rampart:". */
  keyPrefix?: string | undefined;
  /** How long a call may take before StateUnavailableError; also the connect timeout. Default 500 ms. */
  timeoutMs?: number | undefined;
  /** Called on connection errors (logging); never thrown. */
  onError?: ((e: Error) => void) | undefined;
}

export class RedisState implements SharedState {
  readonly kind = 'redis';
  readonly #redis: Redis & Scripts;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  #lastError: Error | null = null;

  constructor(opts: RedisStateOptions = {}) {
    this.#prefix = opts.keyPrefix ?? 'rampart:';
    this.#timeoutMs = opts.timeoutMs ?? 500;
    this.#redis = new Redis(opts.url ?? 'redis://127.0.0.1:6379', {
      enableOfflineQueue: false,
      commandTimeout: this.#timeoutMs,
      connectTimeout: Math.max(this.#timeoutMs, 1000),
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      enableAutoPipelining: true,
      // The decision scripts are batched here already (#flush), one call per counter per turn: auto-pipelining would
      // only add a Pipeline object per turn around them (corked writes do its job, see #flush).
      autoPipeliningIgnoredCommands: ['rampartGcra', 'rampartSliding', 'rampartIncrement'],
      // Reconnect forever, backing off to 1 s: recovery needs no restart.
      retryStrategy: (times) => Math.min(50 * times, 1000),
    }) as Redis & Scripts;
    this.#redis.on('error', (e: Error) => {
      this.#lastError = e;
      opts.onError?.(e);
    });
    this.#redis.defineCommand('rampartGcra', { numberOfKeys: 1, lua: GCRA });
    this.#redis.defineCommand('rampartSliding', { numberOfKeys: 2, lua: SLIDING });
    this.#redis.defineCommand('rampartIncrement', { lua: INCREMENT });
    this.#redis.defineCommand('rampartAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    this.#redis.defineCommand('rampartRelease', { numberOfKeys: 1, lua: RELEASE });
  }

  /** Resolves once connected (or rejects after timeoutMs): for start-up checks and tests. */
  async ready(timeoutMs = 5000): Promise<void> {
    if (this.#redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.#redis.off('ready', ok);
        reject(
          new StateUnavailableError(
            'redis',
            `not connected after ${timeoutMs} ms (${this.#lastError?.message ?? 'no answer'})`,
          ),
        );
      }, timeoutMs);
      const ok = () => {
        clearTimeout(t);
        resolve();
      };
      this.#redis.once('ready', ok);
    });
  }

  async #run<T>(f: () => Promise<T>): Promise<T> {
    if (this.#redis.status !== 'ready') throw this.#notReady();
    try {
      return await f();
    } catch (e) {
      throw new StateUnavailableError('redis', (e as Error).message, { cause: e });
    }
  }

  /**
   * Calls waiting for this turn's end, by counter (and its parameters): each becomes one script call with every
   * caller's cost, so N requests on a hot key cost one command. Exactness is the script's (atomic, in order).
   */
  #batches = new Map<string, Batch>();
  #flushQueued = false;

  #enqueue(id: string, make: () => Omit<Batch, 'costs' | 'waiters'>, cost: number): Promise<number[]> {
    if (this.#redis.status !== 'ready') return Promise.reject(this.#notReady());
    return new Promise<number[]>((resolve, reject) => {
      let b = this.#batches.get(id);
      if (!b) {
        b = { ...make(), costs: [], waiters: [] };
        this.#batches.set(id, b);
      }
      b.costs.push(cost);
      b.waiters.push({ resolve, reject });
      if (b.costs.length >= MAX_BATCH) {
        this.#batches.delete(id);
        this.#send(b);
      } else if (!this.#flushQueued) {
        this.#flushQueued = true;
        // After the I/O callbacks of this turn (setImmediate, not nextTick): the requests parsed together go together.
        setImmediate(this.#flush);
      }
    });
  }

  readonly #flush = (): void => {
    this.#flushQueued = false;
    const batches = this.#batches;
    this.#batches = new Map();
    if (batches.size === 1) {
      for (const b of batches.values()) this.#send(b);
      return;
    }
    // Several counters this turn: their calls leave in one write.
    const stream = this.#redis.stream;
    stream?.cork();
    for (const b of batches.values()) this.#send(b);
    if (stream) process.nextTick(() => stream.uncork());
  };

  #send(b: Batch): void {
    const fail = (e: unknown) => {
      const err =
        e instanceof StateUnavailableError ? e : new StateUnavailableError('redis', (e as Error).message, { cause: e });
      for (const w of b.waiters) w.reject(err);
    };
    if (this.#redis.status !== 'ready') {
      fail(this.#notReady());
      return;
    }
    b.call(b.costs.join(',')).then((answer) => {
      const out = answer.split(',');
      const per = out.length / b.costs.length;
      for (let i = 0; i < b.waiters.length; i++) {
        const mine: number[] = new Array(per);
        for (let j = 0; j < per; j++) mine[j] = Number(out[i * per + j]);
        (b.waiters[i] as Waiter).resolve(mine);
      }
    }, fail);
  }

  #notReady(): StateUnavailableError {
    return new StateUnavailableError(
      'redis',
      `not connected (${this.#redis.status}${this.#lastError ? `: ${this.#lastError.message}` : ''})`,
    );
  }

  async consume(request: ConsumeRequest): Promise<ConsumeResult> {
    const r = normalize(request);
    const id =
      r.algorithm === 'gcra'
        ? `g\u0000${r.key}\u0000${r.limit}\u0000${r.windowMs}\u0000${r.burst}`
        : `w\u0000${r.key}\u0000${r.limit}\u0000${r.windowMs}`;
    const out = await this.#enqueue(
      id,
      () => ({
        call:
          r.algorithm === 'gcra'
            ? (costs) => this.#redis.rampartGcra(`${this.#prefix}g:${r.key}`, r.limit, r.windowMs, r.burst, costs)
            : (costs) =>
                this.#redis.rampartSliding(
                  `${this.#prefix}w:${r.key}`,
                  `${this.#prefix}wm:${r.key}`,
                  r.limit,
                  r.windowMs,
                  costs,
                ),
      }),
      r.cost,
    );
    return { allowed: out[0] === 1, remaining: out[1] ?? 0, retryAfterMs: out[2] ?? 0, resetMs: out[3] ?? 0 };
  }

  async increment(counters: readonly CounterSpec[], by: number): Promise<IncrementResult> {
    checkIncrement(counters, by);
    const keys = counters.map((c) => `${this.#prefix}n:${c.key}`);
    const args = counters.flatMap((c) => [c.limit, Math.ceil(c.expiresAtMs)]);
    const id = `n\u0000${keys.join('\u0000')}\u0000${args.join('\u0000')}`;
    const out = await this.#enqueue(
      id,
      () => ({ call: (bys) => this.#redis.rampartIncrement(keys.length, ...keys, bys, ...args) }),
      by,
    );
    return { admitted: out[0] === 1, counts: out.slice(1) };
  }

  async acquire(key: string, limit: number, ttlMs: number): Promise<{ acquired: boolean; held: number }> {
    const out = await this.#run(() =>
      this.#redis.rampartAcquire(`${this.#prefix}c:${key}`, limit, Math.max(1, Math.ceil(ttlMs)), randomUUID()),
    );
    return { acquired: out[0] === 1, held: out[1] ?? 0 };
  }

  async release(key: string): Promise<void> {
    await this.#run(() => this.#redis.rampartRelease(`${this.#prefix}c:${key}`));
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#run(() => this.#redis.set(`${this.#prefix}v:${key}`, value, 'PX', Math.max(1, Math.ceil(ttlMs))));
  }

  async get(key: string): Promise<string | null> {
    return this.#run(() => this.#redis.get(`${this.#prefix}v:${key}`));
  }

  async delete(key: string): Promise<void> {
    await this.#run(() => this.#redis.del(`${this.#prefix}v:${key}`, `${this.#prefix}n:${key}`));
  }

  async close(): Promise<void> {
    this.#redis.disconnect(false);
  }
}
