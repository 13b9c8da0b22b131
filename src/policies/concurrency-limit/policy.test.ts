import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { TestState } from '../../../test/shared-state.js';
import { makeCtx, policyEnv, runPhase } from '../../../test/unit-helpers.js';
import type { RequestContext } from '../../core/context.js';
import type { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { ServiceRegistry } from '../../core/shared.js';
import def from './policy.js';
import { schema } from './schema.js';

function limiter(cfg: z.input<typeof schema>, state = new TestState()) {
  const inst = def.create(schema.parse(cfg), {
    ...policyEnv('route:r'),
    services: new ServiceRegistry(null, null, null, state),
  });
  return {
    state,
    inst,
    /** Runs the request phase; the returned context holds its slot until end(ctx). */
    async start(o: Parameters<typeof makeCtx>[0] & { consumer?: string } = {}) {
      const ctx: RequestContext = makeCtx(o);
      ctx.route = { name: 'r', upstream: null, public: true };
      if (o.consumer) ctx.identity = { consumerId: o.consumer, roles: [], attributes: {} } as unknown as Identity;
      const err = (await runPhase(inst, 'request', ctx)) as GatewayError | undefined;
      return { ctx, err };
    },
    end(ctx: RequestContext) {
      inst.log?.(ctx);
    },
  };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('concurrency-limit schema', () => {
  it('has defaults and refuses bad values with their path', () => {
    expect(schema.parse({ limit: 2 })).toEqual({
      limit: 2,
      key: ['consumer'],
      status: 429,
      retry_after_s: 1,
      slot_ttl_s: 300,
      ipv6_prefix: 64,
      on_state_error: 'local',
    });
    expect(schema.safeParse({}).error?.issues[0]?.path).toEqual(['limit']);
    expect(schema.safeParse({ limit: 1, status: 500 }).error?.issues[0]?.path).toEqual(['status']);
    expect(schema.safeParse({ limit: 1, key: ['nope'] }).error?.issues[0]?.path).toEqual(['key', 0]);
  });
});

describe('concurrency-limit policy', () => {
  it('admits at most `limit` in flight per key; a finished request gives its slot back exactly once', async () => {
    const l = limiter({ limit: 2 });
    const a = await l.start({ consumer: 'alice' });
    const b = await l.start({ consumer: 'alice' });
    expect([a.err, b.err]).toEqual([undefined, undefined]);
    const c = await l.start({ consumer: 'alice' });
    expect(c.err?.code).toBe('CONCURRENCY_LIMITED');
    expect(c.err?.status).toBe(429);
    expect(c.err?.headers).toEqual({ 'retry-after': '1' });
    expect(c.ctx.securityEvents?.[0]).toMatchObject({ type: 'concurrency.limited', detail: { limit: 2, held: 2 } });
    // another consumer has its own slots
    expect((await l.start({ consumer: 'bob' })).err).toBeUndefined();
    // the refused request held nothing: its log phase frees nothing
    l.end(c.ctx);
    await settle();
    expect((await l.start({ consumer: 'alice' })).err?.code).toBe('CONCURRENCY_LIMITED');
    l.end(a.ctx);
    l.end(a.ctx); // a second log call for the same request releases nothing more
    await settle();
    const d = await l.start({ consumer: 'alice' });
    expect(d.err).toBeUndefined();
    expect((await l.start({ consumer: 'alice' })).err?.code).toBe('CONCURRENCY_LIMITED');
    l.end(b.ctx);
    l.end(d.ctx);
    await settle();
    expect((await l.start({ consumer: 'alice' })).err).toBeUndefined();
    expect((await l.start({ consumer: 'alice' })).err).toBeUndefined();
  });

  it('status 503 answers CONCURRENCY_SATURATED; key [route] caps the whole route for every client', async () => {
    const l = limiter({ limit: 1, key: ['route'], status: 503, retry_after_s: 5 });
    const one = await l.start({ clientIp: '192.0.2.1' });
    expect(one.err).toBeUndefined();
    const two = await l.start({ clientIp: '192.0.2.2' });
    expect(two.err?.code).toBe('CONCURRENCY_SATURATED');
    expect(two.err?.status).toBe(503);
    expect(two.err?.headers?.['retry-after']).toBe('5');
  });

  it('concurrent arrivals: exactly `limit` of 100 get a slot', async () => {
    const l = limiter({ limit: 7, key: ['ip'] });
    const rs = await Promise.all(Array.from({ length: 100 }, () => l.start()));
    expect(rs.filter((r) => !r.err)).toHaveLength(7);
  });

  it('on_state_error: local keeps slots in this process and releases them there; fail-open; fail-closed', async () => {
    const local = limiter({ limit: 1, on_state_error: 'local', key: ['ip'] });
    local.state.fail = true;
    const a = await local.start();
    expect(a.err).toBeUndefined();
    expect((await local.start()).err?.code).toBe('CONCURRENCY_LIMITED');
    local.state.fail = false; // back: the local slot is still released where it was taken
    local.end(a.ctx);
    await settle();
    local.state.fail = true;
    expect((await local.start()).err).toBeUndefined();

    const open = limiter({ limit: 1, on_state_error: 'fail-open' });
    open.state.fail = true;
    expect((await open.start()).err).toBeUndefined();
    expect((await open.start()).err).toBeUndefined();

    const closed = limiter({ limit: 1, on_state_error: 'fail-closed' });
    closed.state.fail = true;
    const r = await closed.start();
    expect(r.err?.code).toBe('STATE_UNAVAILABLE');
    expect(r.err?.headers?.['retry-after']).toBe('1');
  });
});
