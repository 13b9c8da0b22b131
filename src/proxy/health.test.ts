import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Dispatcher, Pool } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ActiveHealthChecker,
  type ActiveHealthOptions,
  beginRequest,
  isAvailable,
  newHealth,
  type PassiveHealthOptions,
  recordFailure,
  recordSuccess,
} from './health.js';
import type { Target } from './target.js';

function target(origin = 'http://a:80', pool: Dispatcher = {} as Dispatcher): Target {
  return { origin, host: new URL(origin).host, weight: 1, pool, inflight: 0, health: newHealth() };
}

const passive: PassiveHealthOptions = { maxFailures: 3, ejectMs: 1_000, maxEjectMs: 5_000 };

describe('passive health', () => {
  it('starts available and not ejected', () => {
    const t = target();
    expect(t.health).toEqual({ activeUp: true, failures: 0, ejectedUntil: 0, ejections: 0, probing: false });
    expect(isAvailable(t, 0)).toBe(true);
  });

  it('is unavailable while active checks say down', () => {
    const t = target();
    t.health.activeUp = false;
    expect(isAvailable(t, 0)).toBe(false);
  });

  it('ejects after maxFailures consecutive failures, a success in between resets the count', () => {
    const t = target();
    recordFailure(t, passive, 100);
    recordFailure(t, passive, 100);
    recordSuccess(t);
    recordFailure(t, passive, 100);
    recordFailure(t, passive, 100);
    expect(isAvailable(t, 100)).toBe(true);
    recordFailure(t, passive, 100);
    expect(t.health.ejectedUntil).toBe(1_100);
    expect(t.health.ejections).toBe(1);
    expect(isAvailable(t, 100)).toBe(false);
    expect(isAvailable(t, 1_099)).toBe(false);
  });

  it('lets exactly one half-open probe through after the ejection expires', () => {
    const t = target();
    for (let i = 0; i < 3; i++) recordFailure(t, passive, 0);
    expect(isAvailable(t, 1_000)).toBe(true);
    beginRequest(t, 1_000);
    expect(t.health.probing).toBe(true);
    expect(isAvailable(t, 1_000)).toBe(false);
    expect(isAvailable(t, 1_500)).toBe(false);
  });

  it('a successful probe restores the target fully', () => {
    const t = target();
    for (let i = 0; i < 3; i++) recordFailure(t, passive, 0);
    beginRequest(t, 1_000);
    recordSuccess(t);
    expect(t.health).toEqual(newHealth());
    expect(isAvailable(t, 1_000)).toBe(true);
    // Back to normal: a single failure no longer ejects.
    recordFailure(t, passive, 1_000);
    expect(isAvailable(t, 1_000)).toBe(true);
  });

  it('a failed probe re-ejects immediately with doubled duration, capped at maxEjectMs', () => {
    const t = target();
    for (let i = 0; i < 3; i++) recordFailure(t, passive, 0);
    expect(t.health.ejectedUntil).toBe(1_000);

    let now = 1_000;
    const durations: number[] = [];
    for (let i = 0; i < 4; i++) {
      expect(isAvailable(t, now)).toBe(true);
      beginRequest(t, now);
      recordFailure(t, passive, now); // one failure is enough when probing
      durations.push(t.health.ejectedUntil - now);
      expect(t.health.probing).toBe(false);
      expect(isAvailable(t, now)).toBe(false);
      now = t.health.ejectedUntil;
    }
    expect(durations).toEqual([2_000, 4_000, 5_000, 5_000]);
    expect(t.health.ejections).toBe(5);

    // Recovery resets the back-off: the next ejection starts at ejectMs again.
    beginRequest(t, now);
    recordSuccess(t);
    for (let i = 0; i < 3; i++) recordFailure(t, passive, now);
    expect(t.health.ejectedUntil - now).toBe(1_000);
  });

  it('late failures of requests sent before the ejection do not extend it', () => {
    const t = target();
    for (let i = 0; i < 3; i++) recordFailure(t, passive, 0);
    recordFailure(t, passive, 500);
    recordFailure(t, passive, 500);
    recordFailure(t, passive, 500);
    expect(t.health.ejectedUntil).toBe(1_000);
    expect(t.health.ejections).toBe(1);
  });

  it('beginRequest outside half-open does not mark a probe', () => {
    const t = target();
    beginRequest(t, 0);
    expect(t.health.probing).toBe(false);
  });
});

describe('ActiveHealthChecker (real HTTP)', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function startServer(
    handler: (path: string, headers: IncomingHttpHeaders) => number | 'hang',
  ): Promise<{ server: Server; origin: string }> {
    const server = createServer((req, res) => {
      const r = handler(req.url ?? '', req.headers);
      if (r === 'hang') return; // never answer
      res.statusCode = r;
      res.end('x'.repeat(100));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    cleanup.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return { server, origin: `http://127.0.0.1:${port}` };
  }

  function pool(origin: string): Pool {
    const p = new Pool(origin);
    cleanup.push(() => p.destroy());
    return p;
  }

  const opts: ActiveHealthOptions = {
    path: '/healthz',
    intervalMs: 60_000,
    timeoutMs: 2_000,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
    expectedStatuses: [200, 299],
    headers: { 'x-health-check': 'rampart' },
  };

  it('marks a target down after unhealthyThreshold failures and up after healthyThreshold successes', async () => {
    let status = 200;
    const seen: Array<{ path: string; header: string | string[] | undefined }> = [];
    const { origin } = await startServer((path, headers) => {
      seen.push({ path, header: headers['x-health-check'] });
      return status;
    });
    const t = target(origin, pool(origin));
    const changes: boolean[] = [];
    const checker = new ActiveHealthChecker([t], opts, (tt, up) => {
      expect(tt).toBe(t);
      changes.push(up);
    });

    await checker.checkNow();
    expect(t.health.activeUp).toBe(true);
    expect(seen[0]).toEqual({ path: '/healthz', header: 'rampart' });

    status = 500;
    await checker.checkNow();
    await checker.checkNow();
    expect(t.health.activeUp).toBe(true);
    await checker.checkNow();
    expect(t.health.activeUp).toBe(false);
    expect(isAvailable(t, Date.now())).toBe(false);
    expect(changes).toEqual([false]);

    status = 204;
    await checker.checkNow();
    expect(t.health.activeUp).toBe(false);
    await checker.checkNow();
    expect(t.health.activeUp).toBe(true);
    expect(changes).toEqual([false, true]);
    expect(seen).toHaveLength(6); // one request per check: 1 + 3 + 2
  });

  it('a success in between resets the failure streak', async () => {
    let status = 500;
    const { origin } = await startServer(() => status);
    const t = target(origin, pool(origin));
    const checker = new ActiveHealthChecker([t], opts);
    await checker.checkNow();
    await checker.checkNow();
    status = 200;
    await checker.checkNow();
    status = 500;
    await checker.checkNow();
    await checker.checkNow();
    expect(t.health.activeUp).toBe(true);
    await checker.checkNow();
    expect(t.health.activeUp).toBe(false);
  });

  it('treats a closed server (connection refused) as failing, and recovers when it listens again', async () => {
    const { server, origin } = await startServer(() => 200);
    const { port } = server.address() as AddressInfo;
    const t = target(origin, pool(origin));
    const checker = new ActiveHealthChecker([t], { ...opts, unhealthyThreshold: 2, healthyThreshold: 1 });
    await checker.checkNow();
    expect(t.health.activeUp).toBe(true);

    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await checker.checkNow();
    expect(t.health.activeUp).toBe(true);
    await checker.checkNow();
    expect(t.health.activeUp).toBe(false);

    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    await checker.checkNow();
    expect(t.health.activeUp).toBe(true);
  });

  it('fails a check that exceeds timeoutMs', async () => {
    const { origin } = await startServer(() => 'hang');
    const t = target(origin, pool(origin));
    const checker = new ActiveHealthChecker([t], { ...opts, timeoutMs: 50, unhealthyThreshold: 1 });
    await checker.checkNow();
    expect(t.health.activeUp).toBe(false);
  });

  it('counts a status outside the expected range as a failure (inclusive bounds)', async () => {
    let status = 299;
    const { origin } = await startServer(() => status);
    const t = target(origin, pool(origin));
    const checker = new ActiveHealthChecker([t], { ...opts, unhealthyThreshold: 1, healthyThreshold: 1 });
    await checker.checkNow();
    expect(t.health.activeUp).toBe(true);
    status = 300;
    await checker.checkNow();
    expect(t.health.activeUp).toBe(false);
    status = 200;
    await checker.checkNow();
    expect(t.health.activeUp).toBe(true);
  });

  it('checks several targets independently', async () => {
    const good = await startServer(() => 200);
    const bad = await startServer(() => 503);
    const tGood = target(good.origin, pool(good.origin));
    const tBad = target(bad.origin, pool(bad.origin));
    const checker = new ActiveHealthChecker([tGood, tBad], { ...opts, unhealthyThreshold: 1 });
    await checker.checkNow();
    expect(tGood.health.activeUp).toBe(true);
    expect(tBad.health.activeUp).toBe(false);
  });

  it('start() checks immediately; stop() aborts in-flight checks without recording them', async () => {
    let hits = 0;
    let hang = false;
    const { origin } = await startServer(() => {
      hits++;
      return hang ? 'hang' : 500;
    });
    const t = target(origin, pool(origin));
    const checker = new ActiveHealthChecker([t], { ...opts, unhealthyThreshold: 1, timeoutMs: 60_000 });
    checker.start();
    await vi.waitFor(() => expect(t.health.activeUp).toBe(false));
    expect(hits).toBe(1);
    checker.stop();

    // In-flight check against a hanging server: stop() must abort it and discard its result.
    t.health.activeUp = true;
    hang = true;
    const pending = checker.checkNow();
    await vi.waitFor(() => expect(hits).toBe(2));
    checker.stop();
    await pending; // resolves (aborted), does not wait for the 60 s timeout
    expect(t.health.activeUp).toBe(true);
  });
});
