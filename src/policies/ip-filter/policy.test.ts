import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { TestState } from '../../../test/shared-state.js';
import { makeCtx, policyEnv, runPhase } from '../../../test/unit-helpers.js';
import type { GatewayError } from '../../core/errors.js';
import { ServiceRegistry } from '../../core/shared.js';
import { denyAddress, denyKey } from './deny-list.js';
import def from './policy.js';
import { schema } from './schema.js';

function filter(cfg: z.input<typeof schema>, state: TestState | null = null) {
  const env = { ...policyEnv(), services: new ServiceRegistry(null, null, null, state) };
  const inst = def.create(schema.parse(cfg), env);
  return async (ip: string) => (await runPhase(inst, 'connect', makeCtx({ clientIp: ip }))) as GatewayError | undefined;
}

describe('ip-filter schema', () => {
  it('has defaults and accepts v4, v6, mapped and single addresses', () => {
    expect(schema.parse({})).toEqual({ deny: [], dynamic: true, on_state_error: 'fail-open' });
    expect(
      schema.safeParse({ allow: ['10.0.0.0/8', '2001:db8::/32', '::ffff:192.0.2.0/120', '192.0.2.7'] }).success,
    ).toBe(true);
  });
  it('refuses a bad CIDR at load with the field path', () => {
    const r = schema.safeParse({ deny: ['10.0.0.0/8', '10.0.0.0/33'], allow: ['nope'] });
    expect(r.success).toBe(false);
    const paths = r.error?.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['deny.1', 'allow.0']));
    expect(r.error?.issues.find((i) => i.path.join('.') === 'deny.1')?.message).toContain('10.0.0.0/33');
  });
});

describe('ip-filter behaviour', () => {
  it('refuses denied IPv4 and IPv6 ranges with 403 IP_DENIED and passes the rest', async () => {
    const check = filter({ deny: ['203.0.113.0/24', '2001:db8:bad::/48'] });
    const err = await check('203.0.113.77');
    expect(err?.code).toBe('IP_DENIED');
    expect(err?.status).toBe(403);
    expect((await check('2001:db8:bad:1::5'))?.code).toBe('IP_DENIED');
    expect(await check('203.0.114.1')).toBeUndefined();
    expect(await check('2001:db8:bad0::1')).toBeUndefined();
  });

  it('treats IPv4-mapped IPv6 as IPv4, in rules and in client addresses', async () => {
    const check = filter({ deny: ['198.51.100.0/24', '::ffff:192.0.2.0/120'] });
    expect((await check('::ffff:198.51.100.9'))?.code).toBe('IP_DENIED');
    expect((await check('192.0.2.200'))?.code).toBe('IP_DENIED');
    expect((await check('::ffff:192.0.2.1'))?.code).toBe('IP_DENIED');
    expect(await check('::ffff:192.0.3.1')).toBeUndefined();
  });

  it('with an allow list refuses everything outside it; deny wins over allow', async () => {
    const check = filter({ allow: ['10.0.0.0/8', 'fd00::/8'], deny: ['10.6.6.0/24'] });
    expect(await check('10.1.2.3')).toBeUndefined();
    expect(await check('fd12::1')).toBeUndefined();
    expect((await check('10.6.6.6'))?.code).toBe('IP_DENIED');
    expect((await check('11.0.0.1'))?.code).toBe('IP_DENIED');
    expect((await check('2001:db8::1'))?.code).toBe('IP_DENIED');
    expect((await check('not-an-ip'))?.code).toBe('IP_DENIED');
  });

  it('an empty allow list refuses everyone', async () => {
    expect((await filter({ allow: [] })('10.0.0.1'))?.code).toBe('IP_DENIED');
  });

  it('refuses addresses on the dynamic deny list until their entry expires', async () => {
    let now = 1_000_000;
    const state = new TestState(() => now);
    const check = filter({}, state);
    expect(await check('192.0.2.9')).toBeUndefined();
    await denyAddress(state, '::ffff:192.0.2.9', 'brute-force', 5_000);
    await denyAddress(state, '2001:DB8:0:0::1', 'anomaly', 1_000);
    expect(denyKey('::ffff:192.0.2.9')).toBe('deny:ip:192.0.2.9');
    expect(await state.get('deny:ip:2001:db8::1')).toBe('anomaly');
    expect((await check('192.0.2.9'))?.code).toBe('IP_DENIED');
    expect((await check('2001:db8::1'))?.code).toBe('IP_DENIED');
    expect(await check('192.0.2.10')).toBeUndefined();
    now += 1_000;
    expect(await check('2001:db8::1')).toBeUndefined();
    expect((await check('192.0.2.9'))?.code).toBe('IP_DENIED');
    now += 4_000;
    expect(await check('192.0.2.9')).toBeUndefined();
    await expect(denyAddress(state, 'nope', 'x', 1000)).rejects.toThrow('not an IP address');
  });

  it('ignores the dynamic list when dynamic is false or no state is configured', async () => {
    const state = new TestState();
    await denyAddress(state, '192.0.2.9', 'x', 60_000);
    expect(await filter({ dynamic: false }, state)('192.0.2.9')).toBeUndefined();
    expect(await filter({}, null)('192.0.2.9')).toBeUndefined();
  });

  it('on a state failure fails open by default (static lists still apply) or closed with 503', async () => {
    const state = new TestState();
    state.fail = true;
    const open = filter({ deny: ['192.0.2.0/24'] }, state);
    expect(await open('198.51.100.1')).toBeUndefined();
    expect((await open('192.0.2.1'))?.code).toBe('IP_DENIED');
    const closed = filter({ on_state_error: 'fail-closed' }, state);
    const err = await closed('198.51.100.1');
    expect(err?.code).toBe('STATE_UNAVAILABLE');
    expect(err?.status).toBe(503);
    expect(err?.headers?.['retry-after']).toBe('1');
    state.fail = false;
    expect(await closed('198.51.100.1')).toBeUndefined();
  });
});
