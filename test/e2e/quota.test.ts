import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, killRampart, type Spawned, send, spawnRampart, startUpstream, tmpFile } from '../helpers.js';

/**
 * Issue 6, quotas and concurrency limits through real `rampart start` processes: a monthly quota hammered across
 * three processes sharing the local Redis (exactly N admitted), quota and concurrency limits across the workers of
 * one process group (the primary owns the counters), and start-up while Redis is down (logged, on_state_error
 * applies, recovers by itself once Redis is up). Needs `npm run build` (dist) and redis-server.
 */

const N = 100;

function config(port: number, upstream: string, state: string, routes: string): string {
  return `listeners: [{ host: 127.0.0.1, port: ${port} }]
metrics: { enabled: false }
${state}
upstreams:
  echo: { targets: ["${upstream}"] }
routes:
${routes}`;
}

const route = (name: string, policies: string) => `  - name: ${name}
    public: true
    paths: ["/${name}"]
    upstream: echo
    policies:
${policies}
`;

/** `clients` concurrent clients, `each` requests each, fresh connections, round robin over ports. */
async function hammer(ports: number[], path: string, clients: number, each: number) {
  const out: { port: number; status: number; headers: Record<string, unknown>; body: string }[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < each; i++) {
        const port = ports[next++ % ports.length] as number;
        const r = await send(port, path);
        out.push({ port, status: r.status, headers: r.headers, body: r.body });
      }
    }),
  );
  return out;
}

async function until(fn: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const listening = (sp: Spawned) => sp.waitFor((l) => l.msg === 'listening' || l.msg === 'all workers listening');

describe('quota and concurrency limits through real gateway processes', () => {
  /** Requests the upstream holds until released (for the concurrency case); others are answered at once. */
  const held: ServerResponse[] = [];
  let up: Awaited<ReturnType<typeof startUpstream>>;
  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      if (req.url?.startsWith('/slow')) held.push(res);
      else res.end('ok');
    });
  });
  afterAll(async () => {
    for (const r of held.splice(0)) r.end('late');
    await up?.close();
  });

  describe('three processes (rampart start --workers 1) sharing the local Redis', () => {
    const sps: Spawned[] = [];
    const ports: number[] = [];
    const prefix = `rampart-quota-${randomUUID()}:`;
    beforeAll(async () => {
      const state = `state: { kind: redis, url: "\${env:RAMPART_TEST_REDIS_URL}", key_prefix: "${prefix}" }`;
      const routes = route(
        'monthly',
        `      quota: { limits: { month: ${N} }, key: [route], on_state_error: fail-closed }`,
      );
      for (let i = 0; i < 3; i++) {
        const port = await freePort();
        ports.push(port);
        sps.push(
          spawnRampart(
            [
              'start',
              '--config',
              tmpFile('rampart.yaml', config(port, up.url, state, routes)),
              '--workers',
              '1',
              '--no-watch',
            ],
            { RAMPART_TEST_REDIS_URL: 'redis://127.0.0.1:6379' },
          ),
        );
      }
      await Promise.all(sps.map(listening));
      // start-up waited for Redis and said so
      for (const sp of sps) await sp.waitFor((l) => l.msg === 'shared state connected');
    });
    afterAll(async () => {
      await Promise.all(sps.map((sp) => killRampart(sp)));
      const r = new Redis('redis://127.0.0.1:6379');
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();
    });

    it(`admits exactly ${N} of 300 from 12 clients across the three processes, each seeing its own count`, async () => {
      const rs = await hammer(ports, '/monthly', 12, 25);
      const ok = rs.filter((r) => r.status === 200);
      const refused = rs.filter((r) => r.status === 429);
      const per = ports.map((p) => ok.filter((r) => r.port === p).length);
      console.log(
        `quota over Redis: ${ok.length} admitted (${per.join(' + ')} per process), ${refused.length} refused`,
      );
      expect(rs).toHaveLength(300);
      expect(ok).toHaveLength(N);
      expect(refused).toHaveLength(300 - N);
      for (const n of per) expect(n).toBeGreaterThan(0);
      // every admitted request saw its own remaining count: N-1 down to 0, each once
      const remaining = ok.map((r) => Number(r.headers['x-quota-remaining'])).sort((a, b) => a - b);
      expect(remaining).toEqual(Array.from({ length: N }, (_, i) => i));
      for (const r of ok) {
        expect(r.headers['x-quota-limit']).toBe(String(N));
        expect(r.headers['ratelimit-policy']).toMatch(/^"quota-month";q=100;w=\d+$/);
      }
      const first = refused[0];
      expect(JSON.parse(first?.body ?? '{}').code).toBe('QUOTA_EXCEEDED');
      // Retry-After: to the end of the month, as X-Quota-Reset says
      const now = new Date();
      const toMonthEnd = (Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1) - now.getTime()) / 1000;
      const retry = Number(first?.headers['retry-after']);
      expect(Math.abs(retry - toMonthEnd)).toBeLessThan(120);
      expect(first?.headers['x-quota-remaining']).toBe('0');
    });
  });

  describe('one process group (rampart start --workers 2), memory state owned by the primary', () => {
    let sp: Spawned | undefined;
    let port = 0;
    const L = 3;
    beforeAll(async () => {
      port = await freePort();
      const routes =
        route('daily', `      quota: { limits: { day: ${N} }, key: [route] }`) +
        `  - name: slow
    public: true
    paths: ["/slow"]
    upstream: echo
    policies:
      concurrency-limit: { limit: ${L}, key: [route] }
`;
      sp = spawnRampart([
        'start',
        '--config',
        tmpFile('rampart.yaml', config(port, up.url, '', routes)),
        '--workers',
        '2',
        '--no-watch',
      ]);
      await sp.waitFor((l) => l.msg === 'all workers listening');
    });
    afterAll(() => killRampart(sp));

    it(`quota: exactly ${N} of 300 across both workers`, async () => {
      const rs = await hammer([port], '/daily', 10, 30);
      expect(rs.filter((r) => r.status === 200)).toHaveLength(N);
      expect(rs.filter((r) => r.status === 429)).toHaveLength(300 - N);
    });

    it(`concurrency: exactly ${L} of 12 concurrent requests in flight across both workers; slots come back`, async () => {
      const pending = Array.from({ length: 12 }, () => send(port, '/slow'));
      // the refused ones answer at once; the admitted ones wait at the upstream
      const refused: number[] = [];
      for (const p of pending) void p.then((r) => r.status === 429 && refused.push(r.status));
      await until(async () => refused.length === 12 - L && held.length === L);
      expect(held).toHaveLength(L);
      for (const r of held.splice(0)) r.end('done');
      const rs = await Promise.all(pending);
      expect(rs.filter((r) => r.status === 200)).toHaveLength(L);
      const limited = rs.find((r) => r.status === 429);
      expect(JSON.parse(limited?.body ?? '{}').code).toBe('CONCURRENCY_LIMITED');
      expect(limited?.headers['retry-after']).toBe('1');
      // released in the log phase: L more fit again (the log phase runs just after the answer)
      await until(async () => {
        const again = Array.from({ length: L }, () => send(port, '/slow'));
        const settled: number[] = [];
        for (const p of again) void p.then((r) => settled.push(r.status));
        await until(async () => settled.length + held.length === L);
        for (const r of held.splice(0)) r.end('done');
        return (await Promise.all(again)).every((r) => r.status === 200);
      });
    });
  });

  describe('start-up while Redis is down', () => {
    let redis: ChildProcess | undefined;
    let sp: Spawned | undefined;
    afterAll(async () => {
      await killRampart(sp);
      if (redis && redis.exitCode === null) {
        const exited = new Promise((r) => redis?.once('exit', r));
        redis.kill('SIGKILL');
        await exited;
      }
    });

    it('waits startup_wait_ms (logged), applies on_state_error while down, and recovers once Redis is up', async () => {
      const redisPort = await freePort();
      const port = await freePort();
      const state = `state: { kind: redis, url: "\${env:RAMPART_TEST_REDIS_URL}", key_prefix: "rampart-q-down-${randomUUID()}:", timeout_ms: 200, startup_wait_ms: 500 }`;
      const routes =
        route('closed', '      quota: { limits: { day: 1000 }, key: [route], on_state_error: fail-closed }') +
        route('local', '      quota: { limits: { day: 2 }, key: [route], on_state_error: local }');
      sp = spawnRampart(
        [
          'start',
          '--config',
          tmpFile('rampart.yaml', config(port, up.url, state, routes)),
          '--workers',
          '1',
          '--no-watch',
        ],
        {
          RAMPART_TEST_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        },
      );
      const warned = await sp.waitFor((l) => typeof l.msg === 'string' && l.msg.includes('not reachable at start'));
      expect(warned).toMatchObject({ level: 'warn', waited_ms: 500 });
      await listening(sp);
      const closed = await send(port, '/closed');
      expect(closed.status).toBe(503);
      expect(JSON.parse(closed.body).code).toBe('STATE_UNAVAILABLE');
      // local: this process counts meanwhile
      expect([
        (await send(port, '/local')).status,
        (await send(port, '/local')).status,
        (await send(port, '/local')).status,
      ]).toEqual([200, 200, 429]);

      redis = spawn(
        'redis-server',
        ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      );
      // ioredis reconnects by itself (backing off to 1 s): the fail-closed route answers again
      await until(async () => (await send(port, '/closed')).status === 200);
      const ok = await send(port, '/closed');
      expect(ok.headers['x-quota-limit']).toBe('1000');
    }, 30_000);
  });
});
