import { register } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { z } from 'zod';
import { TestState } from '../../../test/shared-state.js';
import { makeCtx, policyEnv, runPhase, withResponse } from '../../../test/unit-helpers.js';
import type { RequestContext } from '../../core/context.js';
import type { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { ServiceRegistry } from '../../core/shared.js';
import rateLimit from '../rate-limit/policy.js';
import { schema as rateLimitSchema } from '../rate-limit/schema.js';
import { Calendar, isTimeZone } from './periods.js';
import def from './policy.js';
import { schema } from './schema.js';

const iso = (t: number) => new Date(t).toISOString();

describe('calendar periods', () => {
  it('UTC: hour, day, ISO week from Monday, month (February of a common year)', () => {
    const c = new Calendar('UTC');
    const t = Date.parse('2026-02-18T13:45:10.123Z'); // a Wednesday
    expect(Object.values(c.interval('hour', t)).map(iso)).toEqual([
      '2026-02-18T13:00:00.000Z',
      '2026-02-18T14:00:00.000Z',
    ]);
    expect(Object.values(c.interval('day', t)).map(iso)).toEqual([
      '2026-02-18T00:00:00.000Z',
      '2026-02-19T00:00:00.000Z',
    ]);
    expect(Object.values(c.interval('week', t)).map(iso)).toEqual([
      '2026-02-16T00:00:00.000Z',
      '2026-02-23T00:00:00.000Z',
    ]);
    expect(Object.values(c.interval('month', t)).map(iso)).toEqual([
      '2026-02-01T00:00:00.000Z',
      '2026-03-01T00:00:00.000Z',
    ]);
    // a Sunday belongs to the week that began the Monday before; December rolls into the next year
    expect(iso(c.interval('week', Date.parse('2026-03-01T23:59:59Z')).start)).toBe('2026-02-23T00:00:00.000Z');
    expect(iso(c.interval('month', Date.parse('2026-12-31T23:59:59.999Z')).end)).toBe('2027-01-01T00:00:00.000Z');
    // the last millisecond of a period is in it, the next one starts the next period
    expect(iso(c.interval('day', Date.parse('2026-02-19T00:00:00.000Z')).start)).toBe('2026-02-19T00:00:00.000Z');
  });

  it('follows the zone: local midnight, daylight saving (a 23-hour day), half-hour offsets', () => {
    const paris = new Calendar('Europe/Paris');
    // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST
    const dst = paris.interval('day', Date.parse('2026-03-29T12:00:00Z'));
    expect([iso(dst.start), iso(dst.end)]).toEqual(['2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z']);
    expect(dst.end - dst.start).toBe(23 * 3_600_000);
    // the month of March in Paris: from CET midnight to CEST midnight
    const march = paris.interval('month', Date.parse('2026-03-15T12:00:00Z'));
    expect([iso(march.start), iso(march.end)]).toEqual(['2026-02-28T23:00:00.000Z', '2026-03-31T22:00:00.000Z']);
    // New York, 10 pm local on 31 January is already 1 February in UTC but still January there
    const ny = new Calendar('America/New_York').interval('month', Date.parse('2026-02-01T03:00:00Z'));
    expect([iso(ny.start), iso(ny.end)]).toEqual(['2026-01-01T05:00:00.000Z', '2026-02-01T05:00:00.000Z']);
    const kolkata = new Calendar('Asia/Kolkata').interval('hour', Date.parse('2026-06-01T10:10:00Z'));
    expect([iso(kolkata.start), iso(kolkata.end)]).toEqual(['2026-06-01T09:30:00.000Z', '2026-06-01T10:30:00.000Z']);
    expect(isTimeZone('Europe/Paris')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });
});

describe('quota schema', () => {
  it('has defaults', () => {
    expect(schema.parse({ limits: { month: 10 } })).toEqual({
      limits: { month: 10 },
      plan_attribute: 'plan',
      key: ['consumer'],
      time_zone: 'UTC',
      cost: 1,
      headers: true,
      ipv6_prefix: 64,
      on_state_error: 'local',
    });
  });

  it('refuses bad configs at load, naming the field', () => {
    const bad = (c: object) => schema.safeParse(c).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(bad({})).toEqual(['limits: set exactly one of limits and plans']);
    expect(bad({ limits: {} })?.[0]).toMatch(/^limits: set at least one/);
    expect(bad({ limits: { year: 5 } })?.[0]).toMatch(/^limits/);
    expect(bad({ plans: { free: { month: 1 } } })).toEqual(['default_plan: plans need a default_plan']);
    expect(bad({ plans: { free: { month: 1 } }, default_plan: 'gold' })).toEqual([
      'default_plan: no plan "gold" in plans',
    ]);
    expect(bad({ plans: { free: { roles: ['x'] } }, default_plan: 'free' })?.[0]).toMatch(/^plans.free: set at least/);
    expect(bad({ limits: { day: 1 }, time_zone: 'Mars/Olympus' })?.[0]).toMatch(/^time_zone: an IANA time zone/);
    expect(bad({ limits: { day: 1 }, key: ['cookie:x'] })?.[0]).toMatch(/^key.0/);
  });
});

function identity(o: Partial<Identity>): Identity {
  return {
    kind: 'api-key',
    subject: 's',
    consumerId: 'c1',
    credentialId: null,
    roles: [],
    scopes: [],
    attributes: {},
    claims: null,
    clientId: null,
    expiresAt: null,
    ...o,
  };
}

function quota(cfg: z.input<typeof schema>, state = new TestState()) {
  const services = new ServiceRegistry(null, null, null, state);
  const inst = def.create(schema.parse(cfg), { ...policyEnv('route:r'), services });
  return {
    state,
    services,
    async send(o: Parameters<typeof makeCtx>[0] & { identity?: Partial<Identity> } = {}) {
      const ctx: RequestContext = makeCtx(o);
      if (o.identity) ctx.identity = identity(o.identity);
      const err = (await runPhase(inst, 'request', ctx)) as GatewayError | undefined;
      if (!err) {
        withResponse(ctx);
        await runPhase(inst, 'response', ctx);
      }
      return {
        err,
        ctx,
        headers: (err ? (err.headers ?? {}) : (ctx.response?.headers ?? {})) as Record<string, string>,
      };
    },
  };
}

describe('quota policy', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2026-11-30T23:59:00Z')); // one minute before December, UTC
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('admits exactly the monthly quota per consumer, with headers, then 429 until the next month', async () => {
    const q = quota({ limits: { month: 3 } });
    const alice = { identity: { consumerId: 'alice' } };
    const first = await q.send(alice);
    expect(first.err).toBeUndefined();
    expect(first.headers).toMatchObject({
      'ratelimit-policy': `"quota-month";q=3;w=${30 * 86_400}`,
      ratelimit: '"quota-month";r=2;t=60',
      'x-quota-limit': '3',
      'x-quota-remaining': '2',
      'x-quota-reset': '60',
    });
    expect((await q.send(alice)).headers['x-quota-remaining']).toBe('1');
    expect((await q.send(alice)).headers['x-quota-remaining']).toBe('0');
    const refused = await q.send(alice);
    expect(refused.err?.code).toBe('QUOTA_EXCEEDED');
    expect(refused.err?.status).toBe(429);
    expect(refused.err?.detail).toBe('The monthly quota is used up; it resets with the next period.');
    expect(refused.headers).toMatchObject({ 'retry-after': '60', 'x-quota-remaining': '0', 'x-quota-reset': '60' });
    expect(refused.ctx.securityEvents?.[0]).toMatchObject({ type: 'quota.exceeded', action: 'block' });
    // another consumer has its own quota
    expect((await q.send({ identity: { consumerId: 'bob' } })).err).toBeUndefined();
    // December: a new period, a new counter
    vi.setSystemTime(Date.parse('2026-12-01T00:00:00Z'));
    const dec = await q.send(alice);
    expect(dec.err).toBeUndefined();
    expect(dec.headers).toMatchObject({ 'x-quota-remaining': '2', 'x-quota-reset': String(31 * 86_400) });
  });

  it('plans: the plan attribute, else a role, else the default plan; usage carries over a plan change', async () => {
    const q = quota({
      plans: { free: { month: 2 }, pro: { month: 5, roles: ['admin'] } },
      default_plan: 'free',
    });
    const left = async (o: Partial<Identity>) => {
      const r = await q.send({ identity: o });
      return r.err ? r.err.code : r.headers['x-quota-remaining'];
    };
    expect(await left({ consumerId: 'alice' })).toBe('1'); // free by default
    expect(await left({ consumerId: 'ops', roles: ['admin'] })).toBe('4'); // pro by role
    expect(await left({ consumerId: 'carol', attributes: { plan: 'pro' } })).toBe('4'); // pro by attribute
    expect(await left({ consumerId: 'dave', attributes: { plan: 'platinum' } })).toBe('1'); // unknown plan: default
    // a token without a consumer names its plan in a claim
    expect(await left({ consumerId: null, subject: 'svc', claims: { plan: 'pro' } })).toBe('4');
    // alice upgrades: what she used this month still counts
    expect(await left({ consumerId: 'alice', attributes: { plan: 'pro' } })).toBe('3');
  });

  it('several periods: all or nothing, Retry-After to the end of the refusing period, X-Quota-* the tightest', async () => {
    vi.setSystemTime(Date.parse('2026-11-10T12:00:00Z'));
    const q = quota({ limits: { day: 2, month: 3 } });
    const me = { identity: { consumerId: 'me' } };
    const a = await q.send(me);
    expect(a.headers['ratelimit-policy']).toBe(`"quota-day";q=2;w=86400, "quota-month";q=3;w=${30 * 86_400}`);
    expect(a.headers.ratelimit).toBe(`"quota-day";r=1;t=43200, "quota-month";r=2;t=${20 * 86_400 + 43_200}`);
    expect(a.headers['x-quota-remaining']).toBe('1');
    expect(a.headers['x-quota-reset']).toBe('43200');
    await q.send(me);
    const day = await q.send(me);
    expect(day.err?.code).toBe('QUOTA_EXCEEDED');
    expect(day.err?.detail).toContain('daily');
    expect(day.headers['retry-after']).toBe('43200');
    // the refused request used nothing of the month: one left tomorrow
    vi.setSystemTime(Date.parse('2026-11-11T00:00:00Z'));
    const next = await q.send(me);
    expect(next.err).toBeUndefined();
    expect(next.headers.ratelimit).toBe(`"quota-day";r=1;t=86400, "quota-month";r=0;t=${20 * 86_400}`);
    expect(next.headers['x-quota-remaining']).toBe('0');
    const month = await q.send(me);
    expect(month.err?.detail).toContain('monthly');
    expect(month.headers['retry-after']).toBe(String(20 * 86_400));
  });

  it('time zone: the day ends at local midnight', async () => {
    vi.setSystemTime(Date.parse('2026-11-10T22:30:00Z')); // 23:30 in Paris (CET)
    const q = quota({ limits: { day: 1 }, time_zone: 'Europe/Paris' });
    expect((await q.send()).headers['x-quota-reset']).toBe('1800');
    expect((await q.send()).headers['retry-after']).toBe('1800');
    vi.setSystemTime(Date.parse('2026-11-10T23:00:00Z')); // midnight in Paris
    expect((await q.send()).err).toBeUndefined();
  });

  it('cost: fixed or from a header; anonymous callers are counted by address', async () => {
    const q = quota({ limits: { hour: 10 }, cost: { header: 'x-cost' } });
    expect((await q.send({ headers: { 'x-cost': '7' } })).headers['x-quota-remaining']).toBe('3');
    // more than what is left: refused, nothing used
    expect((await q.send({ headers: { 'x-cost': '4' } })).err?.code).toBe('QUOTA_EXCEEDED');
    expect((await q.send({ headers: { 'x-cost': '0' } })).headers['x-quota-remaining']).toBe('2'); // at least 1
    expect((await q.send({ headers: { 'x-cost': 'lots' } })).err?.code).toBe('BAD_REQUEST');
    expect((await q.send({ clientIp: '198.51.100.7', headers: { 'x-cost': '10' } })).err).toBeUndefined();
  });

  it('headers: false sends them on 429 only', async () => {
    const q = quota({ limits: { day: 1 }, headers: false });
    expect((await q.send()).headers['x-quota-limit']).toBeUndefined();
    expect((await q.send()).headers['x-quota-limit']).toBe('1');
  });

  it('appends to the RateLimit headers of rate-limit on the same route', async () => {
    const services = new ServiceRegistry(null, null, null, new TestState());
    const env = { ...policyEnv('route:r'), services };
    const rl = rateLimit.create(rateLimitSchema.parse({ limits: [{ name: 'burst', limit: 10, window: '1s' }] }), env);
    // the same ctx through both: response phases run in reverse order (quota first)
    const both = makeCtx({ clientIp: '192.0.2.50' });
    await runPhase(rl, 'request', both);
    const qi = def.create(schema.parse({ limits: { day: 5 } }), env);
    await runPhase(qi, 'request', both);
    withResponse(both);
    await runPhase(qi, 'response', both);
    await runPhase(rl, 'response', both);
    expect(both.response?.headers['ratelimit-policy']).toBe(`"quota-day";q=5;w=86400, "burst";q=10;w=1`);
    expect(String(both.response?.headers.ratelimit)).toMatch(/^"quota-day";r=4;t=\d+, "burst";r=9;t=1$/);
  });

  it('on_state_error: local counts in this process, fail-open lets through, fail-closed answers 503', async () => {
    for (const [mode, expected] of [
      ['local', [undefined, undefined, 'QUOTA_EXCEEDED']],
      ['fail-open', [undefined, undefined, undefined]],
      ['fail-closed', ['STATE_UNAVAILABLE', 'STATE_UNAVAILABLE', 'STATE_UNAVAILABLE']],
    ] as const) {
      const q = quota({ limits: { day: 2 }, on_state_error: mode, key: ['ip'] }, new TestState());
      q.state.fail = true;
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await q.send({ clientIp: `203.0.113.${mode.length}` })).err?.code);
      expect(codes).toEqual(expected);
      const metric = await register.getSingleMetric('rampart_state_errors_total')?.get();
      const seen = metric?.values.find((v) => v.labels.policy === 'quota' && v.labels.mode === mode)?.value;
      expect(seen).toBeGreaterThanOrEqual(3); // every failure counted (the log line is throttled)
      if (mode === 'fail-closed') {
        const r = await q.send();
        expect(r.err?.status).toBe(503);
        expect(r.headers['retry-after']).toBe('1');
      }
    }
  });
});
