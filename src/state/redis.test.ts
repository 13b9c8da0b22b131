import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, ROOT } from '../../test/helpers.js';
import { compileState } from '../../test/state/compile.js';
import { StateUnavailableError } from './errors.js';
import { RedisState } from './redis.js';
import { runStateSuite } from './state.suite.js';

/** Needs the local Redis on 127.0.0.1:6379; every key this run writes carries its own prefix, removed at the end. */
const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `rampart-test:${randomBytes(4).toString('hex')}:`;

async function open(): Promise<RedisState> {
  const s = new RedisState({ url: URL, keyPrefix: PREFIX, timeoutMs: 1000 });
  await s.ready();
  return s;
}

afterAll(async () => {
  const r = new Redis(URL);
  const keys = await r.keys(`${PREFIX}*`);
  if (keys.length) await r.del(...keys);
  r.disconnect();
});

runStateSuite('redis', open);

describe('redis: 3 separate processes on one key', () => {
  let dir: string;
  beforeAll(() => {
    dir = compileState();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const algorithm of ['gcra', 'sliding-window', 'increment']) {
    it(`${algorithm}: admits exactly N of 3 x 1000`, async () => {
      const go = String(Date.now() + 1500);
      const run = () =>
        promisify(execFile)(process.execPath, [join(ROOT, 'test/state/hammer.mjs')], {
          env: {
            ...process.env,
            STATE_DIR: dir,
            MODE: 'redis',
            REDIS_URL: URL,
            KEY_PREFIX: PREFIX,
            KEY: `hammer-${algorithm}`,
            PER_WORKER: '1000',
            LIMIT: '500',
            ALGORITHM: algorithm,
            OP: algorithm === 'increment' ? 'increment' : 'consume',
            GO_AT: go,
          },
          timeout: 30_000,
        });
      const outs = await Promise.all([run(), run(), run()]);
      const rs = outs.map(
        (o) => JSON.parse(o.stdout.trim().split('\n').pop() ?? '{}') as { admitted: number; errors: number },
      );
      expect(rs.reduce((a, r) => a + r.errors, 0)).toBe(0);
      expect(rs.reduce((a, r) => a + r.admitted, 0)).toBe(500);
    });
  }
});

describe('redis: the calls of one turn on one counter', () => {
  /** EVALSHA calls Redis has answered so far (INFO commandstats). */
  const evalshaCalls = async (r: Redis): Promise<number> => {
    const m = /cmdstat_evalsha:calls=(\d+)/.exec(await r.info('commandstats'));
    return Number(m?.[1] ?? 0);
  };

  it('go as one script call, decided in arrival order with each its own cost and headers', async () => {
    const s = await open();
    const r = new Redis(URL);
    try {
      const req = { key: 'batch-gcra', algorithm: 'gcra' as const, limit: 10, windowMs: 60_000, burst: 10 };
      await s.consume({ ...req, cost: 0 }); // loads the script
      const before = await evalshaCalls(r);
      const costs = [1, 3, 2, 5, 1, 1, 4, 1];
      const rs = await Promise.all(costs.map((cost) => s.consume({ ...req, cost })));
      // INFO itself is not an EVALSHA; the 8 decisions were one.
      expect((await evalshaCalls(r)) - before).toBe(1);
      // In order: 1, 3, 2 (6 used), 5 refused (would be 11), 1, 1 (8), 4 refused, 1 (9).
      expect(rs.map((x) => x.allowed)).toEqual([true, true, true, false, true, true, false, true]);
      expect(rs.filter((x) => x.allowed).map((x) => x.remaining)).toEqual([9, 6, 4, 3, 2, 1]);
      // Refused for its size, not for lack of room: one unit would still fit.
      expect(rs[3]).toMatchObject({ remaining: 0, retryAfterMs: 0 });

      const sw = { key: 'batch-sliding', algorithm: 'sliding-window' as const, limit: 4, windowMs: 60_000 };
      const ws = await Promise.all(Array.from({ length: 6 }, () => s.consume(sw)));
      expect(ws.map((x) => x.allowed)).toEqual([true, true, true, true, false, false]);
      expect(ws.slice(0, 4).map((x) => x.remaining)).toEqual([3, 2, 1, 0]);

      const counters = [{ key: 'batch-quota', limit: 5, expiresAtMs: Date.now() + 60_000 }];
      const qs = await Promise.all([2, 2, 2, 1].map((by) => s.increment(counters, by)));
      expect(qs.map((q) => q.admitted)).toEqual([true, true, false, true]);
      expect(qs.map((q) => q.counts[0])).toEqual([2, 4, 4, 5]);
    } finally {
      r.disconnect();
      await s.close();
    }
  });
});

describe('redis: unavailable, then back', () => {
  let server: ChildProcess | undefined;
  let port: number;
  const startServer = async () => {
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    for (let i = 0; i < 100; i++) {
      const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null, enableOfflineQueue: false });
      probe.on('error', () => {});
      const ok = await probe.connect().then(
        () => true,
        () => false,
      );
      probe.disconnect();
      if (ok) return;
      await sleep(50);
    }
    throw new Error('redis-server did not start');
  };
  const stopServer = async () => {
    const s = server;
    server = undefined;
    if (!s || s.exitCode !== null) return;
    const exited = new Promise((r) => s.once('exit', r));
    s.kill('SIGKILL');
    await exited;
  };
  beforeAll(async () => {
    port = await freePort();
  });
  afterAll(stopServer);

  const req = { key: 'down', algorithm: 'gcra' as const, limit: 5, windowMs: 60_000 };

  it('fails fast with StateUnavailableError on a closed port, and recovers once the server is up', async () => {
    const s = new RedisState({ url: `redis://127.0.0.1:${port}`, keyPrefix: PREFIX, timeoutMs: 200 });
    try {
      const t0 = Date.now();
      const e = await s.consume(req).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(StateUnavailableError);
      expect(Date.now() - t0).toBeLessThan(200);
      await startServer();
      await s.ready(5000);
      const rs = await Promise.all(Array.from({ length: 20 }, () => s.consume(req)));
      expect(rs.filter((r) => r.allowed)).toHaveLength(5);

      // Killed mid-run: calls fail within the timeout, none hangs or queues.
      await stopServer();
      const t1 = Date.now();
      const errs = await Promise.all(Array.from({ length: 50 }, () => s.consume(req).catch((x: unknown) => x)));
      expect(errs.every((x) => x instanceof StateUnavailableError)).toBe(true);
      expect(Date.now() - t1).toBeLessThan(400);

      // Restarted (empty: --save ''): exact again by itself.
      await startServer();
      await s.ready(5000);
      const again = await Promise.all(Array.from({ length: 20 }, () => s.consume(req)));
      expect(again.filter((r) => r.allowed)).toHaveLength(5);
    } finally {
      await s.close();
      await stopServer();
    }
  });

  it('a server that stops answering (SIGSTOP) fails within timeoutMs', async () => {
    await startServer();
    const s = new RedisState({ url: `redis://127.0.0.1:${port}`, keyPrefix: PREFIX, timeoutMs: 200 });
    try {
      await s.ready(5000);
      expect((await s.consume({ ...req, key: 'stop' })).allowed).toBe(true);
      server?.kill('SIGSTOP');
      const t0 = Date.now();
      const e = await s.consume({ ...req, key: 'stop' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(StateUnavailableError);
      expect(Date.now() - t0).toBeLessThan(600);
      server?.kill('SIGCONT');
    } finally {
      await s.close();
      await stopServer();
    }
  });
});
