import { timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../audit/types.js';
import { deniedReason } from '../policies/ip-filter/deny-list.js';
import { MemoryState } from '../state/memory.js';
import { createAnomalyDetector, signWebhook } from './index.js';
import { anomalySchema } from './schema.js';
import { LruMap, RecentSet, SlidingCounter } from './window.js';

const logger = pino({ level: 'silent' });
const T0 = Date.parse('2026-11-29T00:00:00Z');
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

const failure = (t: number, ip: string): AuditEvent => ({
  time: new Date(t).toISOString(),
  kind: 'request',
  type: 'request',
  actor: { client_ip: ip },
  status: 401,
  code: 'UNAUTHENTICATED',
});
const burst = (t0: number, ip: string, n = 20) => Array.from({ length: n }, (_, i) => failure(t0 + i * 10, ip));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('alerts', () => {
  it('POSTs a signed JSON alert to the webhook, retrying after a 503', async () => {
    const got: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
    let calls = 0;
    const srv = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        calls++;
        if (calls === 1) return void res.writeHead(503).end();
        got.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => srv.close(r)));
    const port = (srv.address() as { port: number }).port;
    const recorded: AuditEvent[] = [];
    const d = createAnomalyDetector(
      anomalySchema.parse({ webhook: { url: `http://127.0.0.1:${port}/hook`, secret: 'whsec-test' } }),
      { logger, record: (e) => recorded.push(e), metrics: new Registry() },
    );
    d.handle(burst(T0, '203.0.113.1'));
    await d.close();
    expect(calls).toBe(2);
    expect(got.length).toBe(1);
    const { headers, body } = got[0]!;
    const ts = String(headers['x-rampart-timestamp']);
    const expected = Buffer.from(signWebhook('whsec-test', ts, body));
    expect(timingSafeEqual(Buffer.from(String(headers['x-rampart-signature'])), expected)).toBe(true);
    expect(String(headers['x-rampart-signature'])).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(headers['content-type']).toBe('application/json');
    expect(JSON.parse(body)).toEqual(recorded[0]);
    expect(recorded[0]).toMatchObject({ kind: 'security', type: 'anomaly.auth_failure_burst' });
  });

  it('puts the address on the dynamic deny list when the detector has deny_for_s', async () => {
    const state = new MemoryState();
    cleanup.push(() => state.close());
    const recorded: AuditEvent[] = [];
    const d = createAnomalyDetector(anomalySchema.parse({ detectors: { auth_failure_burst: { deny_for_s: 600 } } }), {
      logger,
      state,
      record: (e) => recorded.push(e),
      metrics: new Registry(),
    });
    d.handle(burst(T0, '203.0.113.2'));
    await sleep(20);
    expect(await deniedReason(state, '203.0.113.2')).toBe('anomaly.auth_failure_burst');
    expect(await deniedReason(state, '203.0.113.3')).toBeNull();
    expect(recorded[0]!.detail).toMatchObject({ deny_for_s: 600, key: 'ip:203.0.113.2' });
    await d.close();
  });

  it('keeps quiet for the cooldown per (detector, source), then alerts again; skips its own alerts', async () => {
    const recorded: AuditEvent[] = [];
    const reg = new Registry();
    const d = createAnomalyDetector(anomalySchema.parse({ cooldown_s: 120 }), {
      logger,
      record: (e) => {
        recorded.push(e);
        d.handle([e]); // the audit log hands the alert back to its subscribers
      },
      metrics: reg,
    });
    d.handle(burst(T0, '203.0.113.4', 60));
    d.handle(burst(T0, '203.0.113.5', 20)); // another source: its own alert
    expect(recorded.length).toBe(2);
    d.handle(burst(T0 + 60_000, '203.0.113.4', 40)); // still in the cooldown
    expect(recorded.length).toBe(2);
    d.handle(burst(T0 + 130_000, '203.0.113.4', 20));
    expect(recorded.length).toBe(3);
    const m = await reg.getSingleMetric('rampart_anomaly_alerts_total')!.get();
    expect(m.values.find((v) => v.labels.detector === 'auth_failure_burst')?.value).toBe(3);
    await d.close();
  });
});

describe('counting on the shared state (several workers)', () => {
  it('two workers each seeing half of a burst still reach the threshold together; alone each stays silent', async () => {
    const state = new MemoryState();
    cleanup.push(() => state.close());
    const recorded: AuditEvent[] = [];
    const make = (s?: MemoryState) =>
      createAnomalyDetector(anomalySchema.parse({}), {
        logger,
        record: (e) => recorded.push(e),
        metrics: new Registry(),
        ...(s && { state: s }),
      });
    const half = burst(T0, '203.0.113.30', 10);
    // Per process: 10 failures each, below the threshold of 20 on either.
    const [l1, l2] = [make(), make()];
    l1.handle(half);
    l2.handle(half.map((e) => ({ ...e })));
    await sleep(20);
    expect(recorded).toEqual([]);
    const [w1, w2] = [make(state), make(state)];
    w1.handle(half);
    w2.handle(burst(T0, '203.0.113.30', 10));
    await sleep(50);
    expect(recorded.map((e) => e.type)).toEqual(['anomaly.auth_failure_burst']);
    // Both go on past the threshold: the cooldown is shared too, so still one alert.
    w1.handle(burst(T0 + 1000, '203.0.113.30', 10));
    w2.handle(burst(T0 + 1000, '203.0.113.30', 10));
    await sleep(50);
    expect(recorded.length).toBe(1);
    await Promise.all([l1.close(), l2.close(), w1.close(), w2.close()]);
  });

  it('credential stuffing counts each credential once over all workers', async () => {
    const state = new MemoryState();
    cleanup.push(() => state.close());
    const recorded: AuditEvent[] = [];
    const ws = [0, 1].map(() =>
      createAnomalyDetector(anomalySchema.parse({}), {
        logger,
        state,
        record: (e) => recorded.push(e),
        metrics: new Registry(),
      }),
    );
    const tried = (user: string): AuditEvent => ({
      ...failure(T0, '203.0.113.31'),
      kind: 'security',
      type: 'auth.failure',
      detail: { username: user },
    });
    // 7 distinct users, each tried on both workers: 7 < 8, no alert.
    for (let i = 0; i < 7; i++) for (const w of ws) w.handle([tried(`u${i}`)]);
    await sleep(50);
    expect(recorded).toEqual([]);
    ws[1]!.handle([tried('u7')]);
    await sleep(50);
    expect(recorded.map((e) => e.type)).toEqual(['anomaly.credential_stuffing']);
    await Promise.all(ws.map((w) => w.close()));
  });
});

describe('enumeration and shadow APIs over several workers', () => {
  const request = (t: number, path: string, status: number, extra: Partial<AuditEvent> = {}): AuditEvent => ({
    time: new Date(t).toISOString(),
    kind: 'request',
    type: 'request',
    actor: { client_ip: '203.0.113.40', consumer: 'mallory' },
    route: 'orders',
    method: 'GET',
    path,
    status,
    ...extra,
  });
  const workers = (state?: MemoryState) => {
    const recorded: AuditEvent[] = [];
    const ws = [0, 1].map(() =>
      createAnomalyDetector(anomalySchema.parse({}), {
        logger,
        record: (e) => recorded.push(e),
        metrics: new Registry(),
        ...(state && { state }),
      }),
    );
    return { recorded, ws, close: () => Promise.all(ws.map((w) => w.close())) };
  };

  it('a scan of 40 ids split over two workers is caught with the shared state, not without', async () => {
    // Worker i sees every other id: 20 distinct ids each, below the default threshold of 40 on either.
    const scan = (w: number) =>
      Array.from({ length: 20 }, (_, i) => request(T0 + i * 100, `/orders/${5000 + 2 * i + w}`, 404));
    const alone = workers();
    alone.ws.forEach((w, i) => void w.handle(scan(i)));
    await sleep(20);
    expect(alone.recorded).toEqual([]);
    const state = new MemoryState();
    cleanup.push(() => state.close());
    const both = workers(state);
    // The same id seen by both workers counts once: 39 distinct ids in all, still silent.
    both.ws[0]!.handle(scan(0));
    both.ws[1]!.handle([...scan(1).slice(0, 19), request(T0 + 1950, '/orders/5000', 404)]);
    await sleep(50);
    expect(both.recorded).toEqual([]);
    both.ws[1]!.handle([request(T0 + 2000, '/orders/5039', 404)]);
    await sleep(50);
    expect(both.recorded.map((e) => e.type)).toEqual(['anomaly.enumeration']);
    expect(both.recorded[0]?.detail).toMatchObject({ distinct_ids: 40, threshold: 40 });
    await Promise.all([alone.close(), both.close()]);
  });

  it('steady traffic to an undeclared shape split over two workers reaches the threshold on the shared state', async () => {
    const calls = (w: number, n: number) =>
      Array.from({ length: n }, (_, i) =>
        request(T0 + i * 1000, `/v1/legacy/users/${w * 100 + i}`, 404, {
          code: 'ROUTE_NOT_FOUND',
          route: undefined,
          request_id: `r-${w}-${i}`,
        }),
      );
    // 15 each, 30 in all: the default threshold, which neither worker reaches alone.
    const alone = workers();
    alone.ws.forEach((w, i) => void w.handle(calls(i, 15)));
    await sleep(20);
    expect(alone.recorded).toEqual([]);
    const state = new MemoryState();
    cleanup.push(() => state.close());
    const both = workers(state);
    both.ws[0]!.handle(calls(0, 15));
    both.ws[1]!.handle(calls(1, 14));
    await sleep(50);
    expect(both.recorded).toEqual([]);
    both.ws[1]!.handle(calls(1, 15).slice(14));
    await sleep(50);
    expect(both.recorded.map((e) => e.type)).toEqual(['anomaly.shadow_api']);
    // One-off shapes below the local gate (an eighth of the threshold) never reach the shared state.
    const before = await state.consume({
      key: 'anomaly:sh:GET /probe/{id}',
      algorithm: 'sliding-window',
      limit: 1,
      windowMs: 1000,
      cost: 0,
    });
    expect(before.remaining).toBe(1);
    both.ws[0]!.handle([request(T0, '/probe/1', 404, { code: 'ROUTE_NOT_FOUND', route: undefined, request_id: 'p1' })]);
    await sleep(20);
    const after = await state.consume({
      key: 'anomaly:sh:GET /probe/{id}',
      algorithm: 'sliding-window',
      limit: 1,
      windowMs: 1000,
      cost: 0,
    });
    expect(after.remaining).toBe(1);
    await Promise.all([alone.close(), both.close()]);
  });
});

describe('bounded windows', () => {
  it('LruMap holds at most cap keys and forgets idle ones', () => {
    const m = new LruMap<string, number>(100, 1_000);
    for (let i = 0; i < 10_000; i++) m.touch(`k${i}`, i, () => i);
    expect(m.size).toBe(100);
    expect(m.get('k9999')).toBe(9999);
    expect(m.get('k0')).toBeUndefined();
    m.touch('late', 50_000, () => 0);
    expect(m.size).toBe(1);
  });
  it('SlidingCounter forgets what left the window; RecentSet counts distinct values in it', () => {
    const c = new SlidingCounter(10_000);
    for (let t = 0; t < 10_000; t += 100) c.add(t);
    expect(c.total(9_999)).toBe(100);
    // The window moves a bucket (window / 10) at a time: at 15 000 it holds buckets 6 000..15 999.
    expect(c.total(15_000)).toBe(40);
    expect(c.total(30_000)).toBe(0);
    const s = new RecentSet(10_000, 5);
    for (let i = 0; i < 10; i++) s.add(`id${i}`, i * 1000);
    expect(s.size(9_000)).toBe(5); // capped
    s.add('id9', 15_000);
    expect(s.size(15_000)).toBe(5); // id5..id8 (seen 5 000..8 000) are still within 10 s
    expect(s.size(17_000)).toBe(3); // id7, id8, id9
  });
});
