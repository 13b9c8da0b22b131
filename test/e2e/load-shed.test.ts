import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SentResponse, send, startGateway, startUpstream } from '../helpers.js';

type Gw = Awaited<ReturnType<typeof startGateway>>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('load shedding under overload (real gateway, slow upstream)', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let gw: Gw;
  beforeAll(async () => {
    // Every request holds its slot for a while, as a slow or saturated backend does.
    up = await startUpstream((req, res) => {
      req.resume();
      setTimeout(() => res.end(`ok ${req.url}`), 150);
    });
    gw = await startGateway(`
listeners: [{ port: 0 }]
metrics: { enabled: false }
policies:
  load-shed: { max_in_flight: 20, retry_after_s: 2, max_event_loop_delay_ms: 60000 }
upstreams:
  slow: { targets: ["${up.url}"] }
routes:
  - { name: reports, public: true, paths: ["/low"], upstream: slow, priority: low }
  - { name: orders, public: true, paths: ["/normal"], upstream: slow }
  - { name: payments, public: true, paths: ["/high"], upstream: slow, priority: high }
  - { name: health, public: true, paths: ["/critical"], upstream: slow, priority: critical }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('keeps high and critical routes answering while low gets 503 OVERLOADED with Retry-After, then recovers', async () => {
    const low: SentResponse[] = [];
    const high: SentResponse[] = [];
    const critical: SentResponse[] = [];
    let loading = true;
    // 40 clients hammering the low-priority route back to back.
    const hammer = Array.from({ length: 40 }, async () => {
      while (loading) low.push(await send(gw.port, '/low'));
    });
    // Meanwhile one client each on the high and critical routes, one request after the other.
    const probe = async (path: string, into: SentResponse[]) => {
      while (loading) into.push(await send(gw.port, path));
    };
    const probes = [probe('/high', high), probe('/critical', critical)];
    // Run until the overload has clearly shown (many low refused) and the probes have had many turns.
    for (let i = 0; i < 100 && (low.filter((r) => r.status === 503).length < 50 || high.length < 10); i++) {
      await sleep(50);
    }
    loading = false;
    await Promise.all([...hammer, ...probes]);

    const shed = low.filter((r) => r.status === 503);
    expect(shed.length).toBeGreaterThanOrEqual(50);
    expect(low.some((r) => r.status === 200)).toBe(true); // low is shed, not shut off
    for (const r of shed) {
      expect(r.headers['retry-after']).toBe('2');
      expect(r.headers['content-type']).toContain('application/problem+json');
      expect(JSON.parse(r.body).code).toBe('OVERLOADED');
    }
    expect(low.every((r) => r.status === 200 || r.status === 503)).toBe(true);
    expect(high.length).toBeGreaterThanOrEqual(10);
    expect(high.map((r) => r.status)).toEqual(high.map(() => 200));
    expect(critical.map((r) => r.status)).toEqual(critical.map(() => 200));
    expect(
      gw.logs.lines.some((l) => l.msg === 'load shedding started' && l.priority === 'low' && l.policy === 'load-shed'),
    ).toBe(true);

    // Load gone: the low route answers again by itself (no restart, no reload).
    let after = await send(gw.port, '/low');
    for (let i = 0; i < 50 && after.status !== 200; i++) {
      await sleep(50);
      after = await send(gw.port, '/low');
    }
    expect(after.status).toBe(200);
    expect(after.body).toBe('ok /low');
    expect(gw.logs.lines.some((l) => l.msg === 'load shedding stopped' && l.priority === 'low')).toBe(true);
  });

  it('sheds normal before high as the pressure keeps rising', async () => {
    const normal: SentResponse[] = [];
    const high: SentResponse[] = [];
    let loading = true;
    // Enough concurrent normal requests to reach its threshold (0.8 × 20) on their own.
    const hammer = Array.from({ length: 40 }, async () => {
      while (loading) normal.push(await send(gw.port, '/normal'));
    });
    const probe = (async () => {
      while (loading) high.push(await send(gw.port, '/high'));
    })();
    for (let i = 0; i < 100 && (normal.filter((r) => r.status === 503).length < 30 || high.length < 10); i++) {
      await sleep(50);
    }
    loading = false;
    await Promise.all([...hammer, probe]);
    expect(normal.filter((r) => r.status === 503).length).toBeGreaterThanOrEqual(30);
    expect(high.length).toBeGreaterThanOrEqual(10);
    expect(high.every((r) => r.status === 200)).toBe(true);
  });
});
