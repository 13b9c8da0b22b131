import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../audit/types.js';
import { createAnomalyDetector } from './index.js';
import { anomalySchema } from './schema.js';

/**
 * Each detector against a scripted attack and against a benign stream of the same size over the same time: several
 * consumers on their own addresses, their own object ids, a normal share of 401/403/404/5xx, stray 404s.
 */
const logger = pino({ level: 'silent' });
const T0 = Date.parse('2026-11-29T00:00:00Z');
const MIN = 60_000;

/** Deterministic PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let rid = 0;
function req(t: number, o: Partial<AuditEvent> & { consumer?: string; ip?: string; credential?: string }): AuditEvent {
  const { consumer, ip, credential, ...rest } = o;
  return {
    time: new Date(t).toISOString(),
    kind: 'request',
    type: 'request',
    request_id: `r${rid++}`,
    method: 'GET',
    actor: { ...(consumer && { consumer }), ...(ip && { client_ip: ip }), ...(credential && { credential }) },
    status: 200,
    ...rest,
  };
}

const CONSUMERS = Array.from({ length: 20 }, (_, i) => ({ id: `app${i}`, ip: `198.51.100.${i + 10}` }));

/** n benign requests spread evenly over [start, start + spanMs). */
function benign(n: number, start: number, spanMs: number, seed = 1): AuditEvent[] {
  const r = rng(seed);
  const out: AuditEvent[] = [];
  for (let i = 0; i < n; i++) {
    const t = start + Math.floor((i * spanMs) / n);
    const c = CONSUMERS[Math.floor(r() * CONSUMERS.length)]!;
    const x = r();
    if (x < 0.005) {
      // a mistyped key: a failure with the consumer's own credential
      out.push(req(t, { ip: c.ip, credential: `key-${c.id}`, status: 401, code: 'UNAUTHENTICATED', route: 'orders' }));
      continue;
    }
    if (x < 0.01) {
      // a stray request to a path nothing declares (typos, old bookmarks)
      out.push(
        req(t, {
          ip: c.ip,
          consumer: c.id,
          status: 404,
          code: 'ROUTE_NOT_FOUND',
          path: `/typo${i}/x${Math.floor(r() * 1e6)}`,
        }),
      );
      continue;
    }
    const own = 100 + CONSUMERS.indexOf(c) * 10 + Math.floor(r() * 6);
    const status = x < 0.015 ? 500 : x < 0.03 ? 404 : x < 0.035 ? 403 : 200;
    out.push(req(t, { ip: c.ip, consumer: c.id, route: 'orders', path: `/orders/${own}`, status }));
  }
  return out;
}

function run(events: AuditEvent[], cfg: unknown = {}) {
  const alerts: AuditEvent[] = [];
  const d = createAnomalyDetector(anomalySchema.parse(cfg), {
    logger,
    record: (e) => alerts.push(e),
    metrics: new Registry(),
  });
  for (let i = 0; i < events.length; i += 64) d.handle(events.slice(i, i + 64));
  return { alerts, types: new Set(alerts.map((a) => a.type)), detector: d };
}

/** A history both streams share: 10 minutes of steady benign traffic (baselines learn from it). */
const history = () => benign(4000, T0, 10 * MIN, 7);
const at = T0 + 10 * MIN;

describe('auth_failure_burst', () => {
  it('fires on 50 failures from one address in 30 s, and not on 50 failures spread over many clients', () => {
    const attack = Array.from({ length: 50 }, (_, i) =>
      req(at + i * 600, { ip: '203.0.113.5', credential: 'key-admin', status: 401, code: 'UNAUTHENTICATED' }),
    );
    const good = Array.from({ length: 50 }, (_, i) => {
      const c = CONSUMERS[i % 20]!;
      return req(at + i * 600, { ip: c.ip, credential: `key-${c.id}`, status: 401, code: 'UNAUTHENTICATED' });
    });
    const a = run([...history(), ...attack]);
    expect(a.types).toEqual(new Set(['anomaly.auth_failure_burst']));
    expect(a.alerts[0]).toMatchObject({
      kind: 'security',
      severity: 'high',
      actor: { client_ip: '203.0.113.5' },
      detail: { failures: 20, window_s: 60, threshold: 20 },
    });
    // One alert per cooldown, not one per failure past the threshold.
    expect(a.alerts.length).toBe(1);
    expect(run([...history(), ...good]).alerts).toEqual([]);
  });

  it('counts a failure once when it arrives as a request event and as a security event', () => {
    const evs: AuditEvent[] = [];
    for (let i = 0; i < 19; i++) {
      const e = req(at + i * 100, { ip: '203.0.113.6', status: 401, code: 'UNAUTHENTICATED' });
      evs.push(e, { ...e, kind: 'security', type: 'auth.failure' });
    }
    expect(run(evs).alerts).toEqual([]);
  });
});

describe('credential_stuffing', () => {
  it('fires on 15 different users failing from one address over 5 minutes (too slow for a burst)', () => {
    const attack = Array.from({ length: 15 }, (_, i) => ({
      ...req(at + i * 20_000, { ip: '203.0.113.9' }),
      kind: 'security' as const,
      type: 'auth.failure',
      detail: { username: `victim${i}@example.com` },
    }));
    // Same volume, benign: an office behind one NAT address where 3 people mistype, 5 times each.
    const good = Array.from({ length: 15 }, (_, i) => ({
      ...req(at + i * 20_000, { ip: '198.51.100.200' }),
      kind: 'security' as const,
      type: 'auth.failure',
      detail: { username: `staff${i % 3}@example.com` },
    }));
    const a = run([...history(), ...attack]);
    expect(a.types).toEqual(new Set(['anomaly.credential_stuffing']));
    expect(a.alerts[0]).toMatchObject({ actor: { client_ip: '203.0.113.9' }, detail: { distinct_credentials: 8 } });
    expect(run([...history(), ...good]).alerts).toEqual([]);
  });
});

describe('enumeration', () => {
  it('fires on one consumer walking 120 order ids mostly answered 403/404', () => {
    const attack = Array.from({ length: 120 }, (_, i) =>
      req(at + i * 400, {
        consumer: 'mallory',
        ip: '203.0.113.20',
        route: 'orders',
        path: `/orders/${5000 + i}`,
        status: i % 10 === 0 ? 200 : i % 2 ? 404 : 403,
      }),
    );
    // Same volume, benign: a consumer paging through 120 of its own orders (all 200) plus normal traffic.
    const good = Array.from({ length: 120 }, (_, i) =>
      req(at + i * 400, { consumer: 'app3', ip: CONSUMERS[3]!.ip, route: 'orders', path: `/orders/${9000 + i}` }),
    );
    const a = run([...history(), ...attack]);
    expect(a.types).toEqual(new Set(['anomaly.enumeration']));
    expect(a.alerts[0]).toMatchObject({ actor: { consumer: 'mallory' }, route: 'orders' });
    expect(a.alerts[0]!.detail!.distinct_ids).toBe(40);
    expect(run([...history(), ...good]).alerts).toEqual([]);
  });
});

describe('rate_baseline', () => {
  it('fires when a consumer jumps to 20× its own rate, not when the same extra load is spread', () => {
    // app5 usually sends ~20 per minute (the history: 4000 over 10 min, 20 consumers); now 600 in one minute.
    const attack = Array.from({ length: 600 }, (_, i) =>
      req(at + i * 95, { consumer: 'app5', ip: CONSUMERS[5]!.ip, route: 'orders', path: '/orders/150' }),
    );
    const good = benign(600, at, MIN, 99);
    const a = run([...history(), ...attack]);
    expect(a.types).toEqual(new Set(['anomaly.rate_baseline']));
    expect(a.alerts[0]).toMatchObject({ actor: { consumer: 'app5' } });
    expect(a.alerts[0]!.detail).toMatchObject({ requests: 300, factor: 10 });
    expect(a.alerts[0]!.detail!.baseline).toBeGreaterThan(10);
    expect(run([...history(), ...good]).alerts).toEqual([]);
  });

  it('does not alert on a new consumer with no baseline yet', () => {
    const burst = Array.from({ length: 600 }, (_, i) => req(at + i * 95, { consumer: 'newcomer', route: 'orders' }));
    expect(run([...history(), ...burst]).alerts).toEqual([]);
  });
});

describe('shadow_api', () => {
  it('fires on steady traffic to an undeclared path shape, not on the same number of scattered 404s', () => {
    const attack = Array.from({ length: 60 }, (_, i) =>
      req(at + i * 5_000, {
        consumer: CONSUMERS[i % 5]!.id,
        ip: CONSUMERS[i % 5]!.ip,
        path: `/v1/legacy/users/${1000 + i}`,
        status: 404,
        code: 'ROUTE_NOT_FOUND',
      }),
    );
    const good = Array.from({ length: 60 }, (_, i) =>
      req(at + i * 5_000, {
        ip: `192.0.2.${i + 1}`,
        path: i % 4 === 0 ? '/favicon.ico' : `/wp-${i}/admin${i}.php`,
        status: 404,
        code: 'ROUTE_NOT_FOUND',
      }),
    );
    const a = run([...history(), ...attack]);
    expect(a.types).toEqual(new Set(['anomaly.shadow_api']));
    expect(a.alerts[0]).toMatchObject({ path: '/v1/legacy/users/{id}', severity: 'medium' });
    expect(run([...history(), ...good]).alerts).toEqual([]);
  });

  it('also counts requests the OpenAPI check found no operation for', () => {
    const evs = Array.from({ length: 30 }, (_, i) =>
      req(at + i * 1000, {
        consumer: 'app1',
        route: 'api',
        path: `/api/internal/debug/${i}`,
        status: 404,
        code: 'OPERATION_NOT_FOUND',
      }),
    );
    const a = run(evs);
    expect(a.types).toEqual(new Set(['anomaly.shadow_api']));
    expect(a.alerts[0]).toMatchObject({ path: '/api/internal/debug/{id}', detail: { method: 'GET', requests: 30 } });
  });
});

describe('error_spike', () => {
  it("fires when a route's 5xx share jumps, not on its usual error rate at the same volume", () => {
    const r = rng(3);
    const attack = Array.from({ length: 300 }, (_, i) => {
      const c = CONSUMERS[i % 20]!;
      return req(at + i * 200, {
        consumer: c.id,
        ip: c.ip,
        route: 'orders',
        path: '/orders/1',
        status: r() < 0.5 ? 502 : 200,
      });
    });
    const good = benign(300, at, MIN, 42);
    const a = run([...history(), ...attack]);
    expect(a.types).toEqual(new Set(['anomaly.error_spike']));
    expect(a.alerts[0]).toMatchObject({ route: 'orders', severity: 'high' });
    expect(run([...history(), ...good]).alerts).toEqual([]);
  });
});

describe('benign load alone', () => {
  it('raises nothing over an hour of realistic traffic', () => {
    expect(run(benign(30_000, T0, 60 * MIN, 5)).alerts).toEqual([]);
  });
});

describe('configuration', () => {
  it('a disabled detector stays silent; thresholds are configurable', () => {
    const attack = Array.from({ length: 10 }, (_, i) =>
      req(at + i * 100, { ip: '203.0.113.5', status: 401, code: 'UNAUTHENTICATED' }),
    );
    expect(run(attack).alerts).toEqual([]);
    expect(run(attack, { detectors: { auth_failure_burst: { threshold: 10 } } }).types).toEqual(
      new Set(['anomaly.auth_failure_burst']),
    );
    expect(run(attack, { detectors: { auth_failure_burst: { threshold: 10, enabled: false } } }).alerts).toEqual([]);
  });

  it('refuses unknown fields and bad values, naming the field', () => {
    const r = anomalySchema.safeParse({ detectors: { enumeration: { min_denied_share: 2 } } });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['detectors', 'enumeration', 'min_denied_share']);
    expect(anomalySchema.safeParse({ detectors: { nope: {} } }).success).toBe(false);
  });
});
