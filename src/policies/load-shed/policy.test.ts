import { afterEach, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { makeCtx, policyEnv, runPhase } from '../../../test/unit-helpers.js';
import type { RequestContext, RouteInfo } from '../../core/context.js';
import type { GatewayError } from '../../core/errors.js';
import { ServiceRegistry } from '../../core/shared.js';
import def from './policy.js';
import { schema } from './schema.js';

const registries: ServiceRegistry[] = [];
afterEach(async () => {
  for (const r of registries.splice(0)) await r.close();
});

function shedder(cfg: z.input<typeof schema>) {
  const services = new ServiceRegistry();
  registries.push(services);
  const inst = def.create(schema.parse(cfg), { ...policyEnv(), services });
  return {
    inst,
    /** Runs the request phase; the context stays "in flight" until done(ctx). */
    async start(priority: RouteInfo['priority'] | null) {
      const ctx: RequestContext = makeCtx({ url: '/x' });
      if (priority !== null) ctx.route = { name: `r-${priority}`, upstream: null, public: true, priority };
      const err = (await runPhase(inst, 'connect', ctx)) as GatewayError | undefined;
      return { ctx, err };
    },
    done(ctx: RequestContext) {
      inst.log?.(ctx);
    },
  };
}

/** Starts requests of one priority until one is shed; returns the admitted ones and the refusal. */
async function fill(s: ReturnType<typeof shedder>, priority: RouteInfo['priority'], max = 100) {
  const admitted: RequestContext[] = [];
  for (let i = 0; i < max; i++) {
    const r = await s.start(priority);
    if (r.err) return { admitted, err: r.err };
    admitted.push(r.ctx);
  }
  return { admitted, err: undefined };
}

describe('load-shed schema', () => {
  it('has safe defaults and refuses shed_at that does not rise', () => {
    const c = schema.parse({});
    expect(c.max_in_flight).toBe(1000);
    expect(c.shed_at).toEqual({ low: 0.6, normal: 0.8, high: 0.95 });
    const bad = schema.safeParse({ shed_at: { low: 0.9, normal: 0.5, high: 0.95 } });
    expect(bad.success).toBe(false);
    expect(schema.safeParse({ max_in_flight: 0 }).success).toBe(false);
    expect(schema.safeParse({ surprise: 1 }).success).toBe(false);
  });
});

describe('load-shed by requests in flight', () => {
  it('sheds low first, then normal, then high; critical never; 503 OVERLOADED with Retry-After', async () => {
    const s = shedder({ max_in_flight: 10, retry_after_s: 7, max_event_loop_delay_ms: 100_000 });
    const low = await fill(s, 'low');
    expect(low.admitted).toHaveLength(6); // shed from 0.6 × 10 in flight
    expect(low.err?.code).toBe('OVERLOADED');
    expect(low.err?.status).toBe(503);
    expect(low.err?.headers?.['retry-after']).toBe('7');
    const normal = await fill(s, 'normal');
    expect(normal.admitted).toHaveLength(2); // up to 8
    expect(normal.err?.code).toBe('OVERLOADED');
    const high = await fill(s, 'high');
    expect(high.admitted).toHaveLength(2); // up to 10 (0.95)
    expect(high.err?.code).toBe('OVERLOADED');
    const critical = await fill(s, 'critical', 20);
    expect(critical.admitted).toHaveLength(20);
    expect(critical.err).toBeUndefined();
    // A route without priority is normal; no route at all (a 404 in the making) is low.
    expect((await s.start(undefined)).err?.code).toBe('OVERLOADED');
    expect((await s.start(null)).err?.code).toBe('OVERLOADED');
  });

  it('counts exactly: a shed request is not counted, every admitted one is given back once', async () => {
    const s = shedder({ max_in_flight: 10, max_event_loop_delay_ms: 100_000 });
    const { admitted, err } = await fill(s, 'low');
    expect(admitted).toHaveLength(6);
    // The log phase runs for the refused request too: it must not give back a slot it never took.
    const refused = await s.start('low');
    s.done(refused.ctx);
    s.done(refused.ctx);
    expect(err).toBeDefined();
    for (const c of admitted) {
      s.done(c);
      s.done(c); // twice: still counted once
    }
    // All slots back: six low requests fit again, the seventh does not.
    expect((await fill(s, 'low')).admitted).toHaveLength(6);
  });

  it('recovers by itself with hysteresis: shedding stops only below shed_at × recover_below', async () => {
    const s = shedder({ max_in_flight: 10, max_event_loop_delay_ms: 100_000, recover_below: 0.5 });
    const { admitted } = await fill(s, 'low'); // 6 in flight, low shed
    s.done(admitted.pop() as RequestContext); // 5 in flight: 0.5 ≥ 0.6 × 0.5, still shed
    expect((await s.start('low')).err?.code).toBe('OVERLOADED');
    s.done(admitted.pop() as RequestContext); // 4
    s.done(admitted.pop() as RequestContext); // 3: 0.3 ≥ 0.3, still shed
    expect((await s.start('low')).err?.code).toBe('OVERLOADED');
    s.done(admitted.pop() as RequestContext); // 2: below, served again
    const again = await s.start('low');
    expect(again.err).toBeUndefined();
  });

  it('does not count WebSockets, which stay open for minutes', async () => {
    const s = shedder({ max_in_flight: 2, max_event_loop_delay_ms: 100_000, shed_at: { low: 1, normal: 1, high: 1 } });
    for (let i = 0; i < 5; i++) {
      const ctx = makeCtx({ url: '/ws' });
      Object.defineProperty(ctx, 'websocket', { value: true });
      ctx.route = { name: 'ws', upstream: null, public: true, priority: 'normal' };
      expect(await runPhase(s.inst, 'connect', ctx)).toBeUndefined();
    }
    expect((await fill(s, 'normal')).admitted).toHaveLength(2);
  });
});

describe('load-shed by event-loop delay', () => {
  it('sheds low while the loop is blocked and serves it again once the loop is free', async () => {
    const s = shedder({ max_in_flight: 1000, max_event_loop_delay_ms: 100, sample_interval_ms: 100 });
    expect((await s.start('low')).err).toBeUndefined();
    let shed: GatewayError | undefined;
    // Block the loop hard (well past 100 ms) until a sample has seen it; bounded number of attempts.
    for (let i = 0; i < 10 && !shed; i++) {
      const t = Date.now();
      while (Date.now() - t < 400) {
        /* busy: a CPU-bound handler */
      }
      // The overdue sampling timer runs before this one: the next request sees the blocked interval.
      await new Promise((r) => setTimeout(r, 1));
      shed = (await s.start('low')).err;
    }
    expect(shed?.code).toBe('OVERLOADED');
    // A critical route is served all along.
    expect((await s.start('critical')).err).toBeUndefined();
    // Idle: a sample or two later low is served again.
    let back: GatewayError | undefined = shed;
    for (let i = 0; i < 50 && back; i++) {
      await new Promise((r) => setTimeout(r, 100));
      back = (await s.start('low')).err;
    }
    expect(back).toBeUndefined();
  });
});
