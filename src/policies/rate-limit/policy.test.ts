import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { TestState } from '../../../test/shared-state.js';
import { makeCtx, policyEnv, runPhase, withResponse } from '../../../test/unit-helpers.js';
import type { RequestContext } from '../../core/context.js';
import type { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { ServiceRegistry } from '../../core/shared.js';
import { MemoryState } from '../../state/memory.js';
import def from './policy.js';
import { schema } from './schema.js';

let now = 1_000_000;
const clock = () => now;

function limiter(cfg: z.input<typeof schema>, state: TestState | null = new TestState(clock)) {
  const env = { ...policyEnv('route:r'), services: new ServiceRegistry(null, null, null, state) };
  const inst = def.create(schema.parse(cfg), env);
  return {
    state,
    async send(o: Parameters<typeof makeCtx>[0] & { identity?: Partial<Identity> } = {}) {
      const ctx: RequestContext = makeCtx(o);
      if (o.identity)
        ctx.identity = {
          kind: 'api-key',
          subject: 's',
          consumerId: null,
          credentialId: null,
          claims: null,
          ...o.identity,
        } as Identity;
      const err = (await runPhase(inst, 'request', ctx)) as GatewayError | undefined;
      if (!err) {
        withResponse(ctx);
        await runPhase(inst, 'response', ctx);
      }
      return { err, headers: err ? (err.headers ?? {}) : (ctx.response?.headers ?? {}) };
    },
  };
}

const admitted = async (
  l: ReturnType<typeof limiter>,
  n: number,
  o: Parameters<ReturnType<typeof limiter>['send']>[0] = {},
) => {
  let ok = 0;
  for (let i = 0; i < n; i++) if (!(await l.send(o)).err) ok++;
  return ok;
};

describe('rate-limit schema', () => {
  it('has defaults and parses windows', () => {
    expect(schema.parse({ limits: [{ name: 'a', limit: 5, window: '1m' }] })).toEqual({
      limits: [{ name: 'a', limit: 5, window: '1m', algorithm: 'gcra', key: ['ip'], cost: 1 }],
      headers: true,
      ipv6_prefix: 64,
      on_state_error: 'local',
    });
  });
  it('refuses bad limits at load with their path', () => {
    const bad = (l: object) =>
      schema.safeParse({ limits: [l] }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(bad({ name: 'a', limit: 1 })).toEqual(['limits.0.window: set exactly one of window and window_ms']);
    expect(bad({ name: 'a', limit: 1, window: '1m', window_ms: 5 })?.[0]).toContain('exactly one');
    expect(bad({ name: 'a', limit: 1, window: '1 minute' })?.[0]).toContain('limits.0.window');
    expect(bad({ name: 'a', limit: 1, window: '1m', key: ['cookie:x'] })?.[0]).toContain('limits.0.key.0');
    expect(bad({ name: 'a', limit: 1, window: '1m', algorithm: 'sliding-window', burst: 3 })?.[0]).toContain(
      'limits.0.burst',
    );
    expect(bad({ name: 'a b', limit: 1, window: '1m' })?.[0]).toContain('limits.0.name');
    expect(
      schema.safeParse({
        limits: [
          { name: 'a', limit: 1, window: '1s' },
          { name: 'a', limit: 2, window: '1s' },
        ],
      }).error?.issues[0]?.path,
    ).toEqual(['limits', 1, 'name']);
    expect(schema.safeParse({ limits: [] }).success).toBe(false);
  });
  it('needs the shared state at create', () => {
    expect(() => limiter({ limits: [{ name: 'a', limit: 1, window: '1s' }] }, null)).toThrow(/needs the shared state/);
  });
});

describe('the local fallback (MemoryState, synchronous)', () => {
  it('gcra: a burst of `limit` at once, then one unit per interval', () => {
    const c = new MemoryState({ now: clock, sweepMs: 0 });
    const req = { key: 'k', algorithm: 'gcra' as const, limit: 3, windowMs: 3000 };
    const rs = [1, 2, 3, 4].map(() => c.consumeSync(req));
    expect(rs.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(rs.map((r) => r.remaining)).toEqual([2, 1, 0, 0]);
    expect(rs[3]?.retryAfterMs).toBe(1000);
    expect(rs[2]?.resetMs).toBe(3000);
    now += 1000;
    expect(c.consumeSync(req).allowed).toBe(true);
    expect(c.consumeSync(req).allowed).toBe(false);
  });
  it('gcra: fractional intervals still admit exactly limit', () => {
    const c = new MemoryState({ now: clock, sweepMs: 0 });
    let ok = 0;
    for (let i = 0; i < 100; i++)
      if (c.consumeSync({ key: 'f', algorithm: 'gcra', limit: 7, windowMs: 1000 }).allowed) ok++;
    expect(ok).toBe(7);
  });
  it('sliding window: at most limit in any window, freed as entries age out', () => {
    const c = new MemoryState({ now: clock, sweepMs: 0 });
    const req = { key: 's', algorithm: 'sliding-window' as const, limit: 2, windowMs: 1000 };
    expect(c.consumeSync(req).allowed).toBe(true);
    now += 400;
    const second = c.consumeSync(req);
    expect(second).toMatchObject({ allowed: true, remaining: 0, retryAfterMs: 600 });
    const refused = c.consumeSync(req);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 600, resetMs: 1000 });
    now += 600;
    expect(c.consumeSync(req).allowed).toBe(true);
    expect(c.consumeSync(req).allowed).toBe(false);
  });
});

describe('rate-limit behaviour', () => {
  it('counts per IP and answers 429 RATE_LIMITED with Retry-After and RateLimit headers', async () => {
    const l = limiter({ limits: [{ name: 'per-ip', limit: 2, window: '10s' }] });
    const first = await l.send({ clientIp: '192.0.2.1' });
    expect(first.err).toBeUndefined();
    expect(first.headers['ratelimit-policy']).toBe('"per-ip";q=2;w=10');
    expect(first.headers.ratelimit).toBe('"per-ip";r=1;t=5');
    expect((await l.send({ clientIp: '192.0.2.1' })).headers.ratelimit).toBe('"per-ip";r=0;t=10');
    const refused = await l.send({ clientIp: '192.0.2.1' });
    expect(refused.err?.code).toBe('RATE_LIMITED');
    expect(refused.err?.status).toBe(429);
    expect(refused.headers).toEqual({
      'retry-after': '5',
      'ratelimit-policy': '"per-ip";q=2;w=10',
      ratelimit: '"per-ip";r=0;t=10',
    });
    expect((await l.send({ clientIp: '192.0.2.2' })).err).toBeUndefined();
  });

  it('counts IPv6 clients per /64 by default (rotating addresses within it does not escape), or per address', async () => {
    const l = limiter({ limits: [{ name: 'per-ip', limit: 2, window: '10s' }] });
    expect((await l.send({ clientIp: '2001:db8:1:2::1' })).err).toBeUndefined();
    expect((await l.send({ clientIp: '2001:db8:1:2:aaaa::9' })).err).toBeUndefined();
    expect((await l.send({ clientIp: '2001:db8:1:2:ffff:ffff:ffff:fffe' })).err?.code).toBe('RATE_LIMITED');
    expect((await l.send({ clientIp: '2001:db8:1:3::1' })).err).toBeUndefined(); // another /64
    const each = limiter({ limits: [{ name: 'per-ip', limit: 1, window: '10s' }], ipv6_prefix: 128 });
    expect((await each.send({ clientIp: '2001:db8::1' })).err).toBeUndefined();
    expect((await each.send({ clientIp: '2001:db8::2' })).err).toBeUndefined();
    expect((await each.send({ clientIp: '2001:db8::2' })).err?.code).toBe('RATE_LIMITED');
  });

  it('can leave the informative headers off successes (a 429 still has them)', async () => {
    const l = limiter({ headers: false, limits: [{ name: 'a', limit: 1, window: '1m' }] });
    expect((await l.send()).headers).toEqual({});
    expect((await l.send()).headers.ratelimit).toBe('"a";r=0;t=60');
  });

  it('a request must pass every limit; the first refusal stops and later limits are untouched', async () => {
    const l = limiter({
      limits: [
        { name: 'burst', limit: 2, window: '1s' },
        { name: 'sustained', limit: 3, window: '1m', algorithm: 'sliding-window' },
      ],
    });
    expect(await admitted(l, 5)).toBe(2);
    now += 1000;
    const r = await l.send();
    expect(r.headers.ratelimit).toBe('"burst";r=1;t=1, "sustained";r=0;t=60');
    const refused = await l.send();
    expect(refused.err?.detail).toContain('"sustained"');
    expect(refused.headers.ratelimit).toBe('"burst";r=0;t=1, "sustained";r=0;t=60');
    expect(refused.headers['ratelimit-policy']).toBe('"burst";q=2;w=1, "sustained";q=3;w=60');
    expect(refused.headers['retry-after']).toBe('59'); // the oldest unit leaves the window first
  });

  it('keys by consumer, credential, subject, header and claim; falls back to the IP when a part is missing', async () => {
    const l = limiter({
      limits: [{ name: 'c', limit: 1, window: '1m', key: ['consumer', 'header:X-Tenant', 'claim:org'] }],
    });
    const alice = {
      clientIp: '192.0.2.1',
      headers: { 'x-tenant': 't1' },
      identity: { consumerId: 'alice', claims: { org: 'o1' } },
    };
    expect((await l.send(alice)).err).toBeUndefined();
    expect((await l.send(alice)).err?.code).toBe('RATE_LIMITED');
    expect((await l.send({ ...alice, clientIp: '192.0.2.99' })).err?.code).toBe('RATE_LIMITED');
    expect((await l.send({ ...alice, headers: { 'x-tenant': 't2' } })).err).toBeUndefined();
    expect((await l.send({ ...alice, identity: { consumerId: 'bob', claims: { org: 'o1' } } })).err).toBeUndefined();
    expect((await l.send({ ...alice, identity: { consumerId: 'alice', claims: { org: 'o2' } } })).err).toBeUndefined();
    // No identity: counted per client IP, so anonymous callers cannot escape, nor share one counter.
    expect((await l.send({ clientIp: '198.51.100.1' })).err).toBeUndefined();
    expect((await l.send({ clientIp: '198.51.100.1' })).err?.code).toBe('RATE_LIMITED');
    expect((await l.send({ clientIp: '198.51.100.2' })).err).toBeUndefined();

    const s = limiter({ limits: [{ name: 's', limit: 1, window: '1m', key: ['credential', 'subject'] }] });
    expect((await s.send({ identity: { credentialId: 'k1', subject: 'x' } })).err).toBeUndefined();
    expect((await s.send({ identity: { credentialId: 'k1', subject: 'x' } })).err?.code).toBe('RATE_LIMITED');
    expect((await s.send({ identity: { credentialId: 'k2', subject: 'x' } })).err).toBeUndefined();
  });

  it('a header value cannot forge another key (values are encoded)', async () => {
    const l = limiter({ limits: [{ name: 'h', limit: 1, window: '1m', key: ['header:x-a', 'header:x-b'] }] });
    expect((await l.send({ headers: { 'x-a': '1|header:x-b=2', 'x-b': '3' } })).err).toBeUndefined();
    expect((await l.send({ headers: { 'x-a': '1', 'x-b': '2|header:x-b=3' } })).err).toBeUndefined();
  });

  it('charges a fixed or header-given cost; a refused request uses nothing', async () => {
    const l = limiter({
      limits: [{ name: 'units', limit: 10, window: '1m', algorithm: 'sliding-window', cost: { header: 'x-cost' } }],
    });
    expect((await l.send({ headers: { 'x-cost': '7' } })).headers.ratelimit).toBe('"units";r=3;t=60');
    expect((await l.send({ headers: { 'x-cost': '4' } })).err?.code).toBe('RATE_LIMITED');
    expect((await l.send({ headers: { 'x-cost': '3' } })).headers.ratelimit).toBe('"units";r=0;t=60');
    // The client chooses the header: "0" still costs one unit, so it cannot make requests free.
    expect((await l.send({ headers: { 'x-cost': '0' } })).err?.code).toBe('RATE_LIMITED');
    expect((await l.send({ headers: { 'x-cost': 'lots' } })).err?.code).toBe('BAD_REQUEST');
    const fixed = limiter({ limits: [{ name: 'f', limit: 10, window: '1m', cost: 5 }] });
    expect(await admitted(fixed, 4)).toBe(2);
  });

  it('on a state failure: local counts in process, fail-open lets through, fail-closed answers 503; all recover', async () => {
    const lim = [{ name: 'a', limit: 2, window: '1m' }];
    const local = limiter({ limits: lim, on_state_error: 'local' });
    local.state!.fail = true;
    expect(await admitted(local, 5)).toBe(2);
    local.state!.fail = false;
    expect(await admitted(local, 5)).toBe(2); // the shared counter again, untouched during the outage

    const open = limiter({ limits: lim, on_state_error: 'fail-open' });
    open.state!.fail = true;
    expect(await admitted(open, 5)).toBe(5);
    expect((await open.send()).headers.ratelimit).toBeUndefined();
    open.state!.fail = false;
    expect(await admitted(open, 5)).toBe(2);

    const closed = limiter({ limits: lim, on_state_error: 'fail-closed' });
    closed.state!.fail = true;
    const r = await closed.send();
    expect(r.err?.code).toBe('STATE_UNAVAILABLE');
    expect(r.err?.status).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    closed.state!.fail = false;
    expect(await admitted(closed, 5)).toBe(2);
  });
});
