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
