import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestState } from '../../../test/shared-state.js';
import { makeCtx, silentLogger } from '../../../test/unit-helpers.js';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { Pipeline } from '../../core/pipeline.js';
import type { PolicyInstance } from '../../core/policy.js';
import { ServiceRegistry } from '../../core/shared.js';
import { RedisState } from '../../state/redis.js';
import type { SharedState } from '../../state/types.js';
import { deniedReason } from '../ip-filter/deny-list.js';
import { type LockoutRules, Lockouts, MAX_TRACKED } from './lockouts.js';
import def, { LOCKOUTS_KEY } from './policy.js';
import { schema } from './schema.js';

const RULES: LockoutRules = { maxFailures: 3, windowMs: 60_000, lockoutMs: 10_000, maxLockoutMs: 35_000 };

/** A clock the test moves by hand: lockouts and their expiry without sleeping. */
function clock(start = 1_000_000) {
  const c = {
    t: start,
    now: () => c.t,
    advance: (ms: number) => {
      c.t += ms;
    },
  };
  return c;
}

describe('brute-force schema', () => {
  it('fills defaults and checks that the longest lockout is not shorter than the first', () => {
    expect(schema.parse({})).toEqual({
      max_failures: 5,
      window_s: 60,
      lockout_s: 60,
      max_lockout_s: 3600,
      on_state_error: 'local',
    });
    expect(schema.safeParse({ lockout_s: 120, max_lockout_s: 60 }).success).toBe(false);
    expect(schema.safeParse({ max_failures: 0 }).success).toBe(false);
  });
});

describe('lockouts', () => {
  it('locks an address and a credential after max_failures within the window, for lockout, then lets them go', () => {
    const c = clock();
    const l = new Lockouts(c.now);
    for (let i = 0; i < 2; i++) l.fail('192.0.2.1', 'key-a', RULES, c.now());
    expect(l.ipLockedFor('192.0.2.1', c.now())).toBe(0);
    expect(l.credentialLockedFor('key-a', c.now())).toBe(0);
    l.fail('192.0.2.1', 'key-a', RULES, c.now());
    expect(l.ipLockedFor('192.0.2.1', c.now())).toBe(10_000);
    expect(l.credentialLockedFor('key-a', c.now())).toBe(10_000);
    expect(l.ipLockedFor('192.0.2.2', c.now())).toBe(0);
    expect(l.credentialLockedFor('key-b', c.now())).toBe(0);
    c.advance(9_999);
    expect(l.ipLockedFor('192.0.2.1', c.now())).toBe(1);
    c.advance(1);
    expect(l.ipLockedFor('192.0.2.1', c.now())).toBe(0);
    expect(l.credentialLockedFor('key-a', c.now())).toBe(0);
  });

  it('doubles the lockout on each repeat, up to max_lockout, and forgets the strikes after a quiet max_lockout', () => {
    const c = clock();
    const l = new Lockouts(c.now);
    const lockouts: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 3; i++) l.fail('192.0.2.1', '', RULES, c.now());
      const left = l.ipLockedFor('192.0.2.1', c.now());
      lockouts.push(left);
      c.advance(left);
    }
    expect(lockouts).toEqual([10_000, 20_000, 35_000, 35_000]);
    c.advance(35_001);
    for (let i = 0; i < 3; i++) l.fail('192.0.2.1', '', RULES, c.now());
    expect(l.ipLockedFor('192.0.2.1', c.now())).toBe(10_000);
  });

  it('counts only failures within the window', () => {
    const c = clock();
    const l = new Lockouts(c.now);
    for (let i = 0; i < 6; i++) {
      l.fail('192.0.2.1', 'k', RULES, c.now());
      if (i % 2 === 1) c.advance(60_000); // two per window, never three
    }
    expect(l.ipLockedFor('192.0.2.1', c.now())).toBe(0);
    expect(l.credentialLockedFor('k', c.now())).toBe(0);
  });

  it('a success clears the credential counter, not the address counter', () => {
    const c = clock();
    const l = new Lockouts(c.now);
    for (let i = 0; i < 2; i++) l.fail('192.0.2.1', 'k', RULES, c.now());
    l.succeed('k');
    l.fail('192.0.2.1', 'k', RULES, c.now());
    expect(l.credentialLockedFor('k', c.now())).toBe(0);
    expect(l.ipLockedFor('192.0.2.1', c.now())).toBe(10_000);
  });

  it("'' (a malformed credential) counts for the address only", () => {
    const c = clock();
    const l = new Lockouts(c.now);
    for (let i = 0; i < 3; i++) l.fail('192.0.2.1', '', RULES, c.now());
    expect(l.ipLockedFor('192.0.2.1', c.now())).toBe(10_000);
    expect(l.credentialLockedFor('', c.now())).toBe(0);
  });

  it('keeps memory bounded under a flood of addresses (oldest entries go first)', () => {
    const c = clock();
    const l = new Lockouts(c.now);
    for (let i = 0; i < 3; i++) l.fail('198.51.100.1', '', RULES, c.now());
    expect(l.ipLockedFor('198.51.100.1', c.now())).toBeGreaterThan(0);
    for (let i = 0; i < MAX_TRACKED; i++)
      l.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, '', RULES, c.now());
    expect(l.ipLockedFor('198.51.100.1', c.now())).toBe(0);
  });
});

/**
 * A stand-in identity policy: header x-test-key "ID:SECRET", where ID is the stable credential key (as an API key id)
 * and only the secret "right" verifies.
 */
const stubIdentity: PolicyInstance = {
  identity: { challenge: 'Test realm="t"' },
  request(ctx) {
    const key = ctx.req.headers['x-test-key'];
    if (typeof key !== 'string') return;
    const [id = '', secret] = key.split(':');
    ctx.onAuthAttempt?.(id);
    if (secret !== 'right') throw new GatewayError('UNAUTHENTICATED', 'Authentication failed.');
    ctx.identity = { kind: 'api-key', subject: id } as unknown as Identity;
  },
};

/** Without a shared state (counts in this process) or with one (SharedLockouts on a MemoryState at the same clock). */
let withState = false;

function gateway(cfg: Record<string, unknown> = {}, c = clock(), state: SharedState | null = null) {
  const services = new ServiceRegistry(null, null, null, state ?? (withState ? new TestState(c.now) : null));
  services.shared(LOCKOUTS_KEY, () => new Lockouts(c.now));
  const bf = def.create(schema.parse({ max_failures: 3, window_s: 60, lockout_s: 10, max_lockout_s: 40, ...cfg }), {
    logger: silentLogger,
    scope: 'global',
    services,
  });
  const pipeline = new Pipeline(
    [
      { name: 'brute-force', order: 1000, scope: 'global', instance: bf },
      { name: 'stub-identity', order: 1200, scope: 'global', instance: stubIdentity },
    ],
    { requireIdentity: true },
  );
  const send = async (key?: string, ip = '192.0.2.1'): Promise<RequestContext> => {
    const ctx = makeCtx({ url: '/x', clientIp: ip, headers: key === undefined ? {} : { 'x-test-key': key } });
    await pipeline.run(ctx, async (x) => {
      x.response = { status: 200, headers: {}, body: null };
    });
    return ctx;
  };
  /** The same request as a WebSocket handshake (server.ts handleUpgrade): connect and request phases only. */
  const upgrade = async (key?: string, ip = '192.0.2.1'): Promise<RequestContext> => {
    const ctx = makeCtx({ url: '/x', clientIp: ip, headers: key === undefined ? {} : { 'x-test-key': key } });
    await pipeline.runHandshake(ctx);
    return ctx;
  };
  return { clock: c, send, upgrade, services };
}

const statusOf = (ctx: RequestContext) => ctx.response?.status;

for (const shared of [false, true])
  describe(`brute-force policy (${shared ? 'counts in the shared state' : 'no shared state: counts in this process'})`, () => {
    beforeAll(() => {
      withState = shared;
    });
    it('locks a client address out with 429 and Retry-After after repeated failures, then recovers', async () => {
      const g = gateway();
      for (let i = 0; i < 3; i++) expect(statusOf(await g.send(`guess${i}:x`))).toBe(401);
      const locked = await g.send('alice:right');
      expect(statusOf(locked)).toBe(429);
      expect(locked.error?.code).toBe('AUTH_LOCKED');
      expect(locked.response?.headers['retry-after']).toBe('10');
      expect(locked.identity).toBeNull(); // refused before any credential was checked
      expect(locked.authAttempt).toBeNull();
      // another address is not affected
      expect(statusOf(await g.send('alice:right', '192.0.2.9'))).toBe(200);
      g.clock.advance(4_500);
      expect((await g.send('alice:right')).response?.headers['retry-after']).toBe('6');
      g.clock.advance(5_500);
      expect(statusOf(await g.send('alice:right'))).toBe(200);
    });

    it('backs off: the next lockout of the same address lasts twice as long, up to max_lockout_s', async () => {
      const g = gateway();
      const retry: string[] = [];
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 3; i++) expect(statusOf(await g.send(`guess${round}${i}:x`))).toBe(401);
        const r = await g.send('alice:right');
        expect(statusOf(r)).toBe(429);
        retry.push(String(r.response?.headers['retry-after']));
        g.clock.advance(Number(retry.at(-1)) * 1000);
      }
      expect(retry).toEqual(['10', '20', '40', '40']);
      expect(statusOf(await g.send('alice:right'))).toBe(200);
    });

    it('locks a guessed credential for every address, answering as for a locked address', async () => {
      const g = gateway();
      // guesses at one credential from three addresses: no address reaches its own limit
      for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3'])
        expect(statusOf(await g.send('victim:guess', ip))).toBe(401);
      const fromNew = await g.send('victim:right', '198.51.100.4');
      expect(statusOf(fromNew)).toBe(429);
      expect(fromNew.identity).toBeNull(); // refused before the secret was checked
      // other credentials from that address still work
      expect(statusOf(await g.send('alice:right', '198.51.100.4'))).toBe(200);
      // a credential that exists nowhere (any id is counted the same) and an address lockout: the same answer
      const ipLocked = gateway();
      for (let i = 0; i < 3; i++) await ipLocked.send(`nobody${i}:x`);
      const byIp = await ipLocked.send('alice:right');
      const body = (ctx: RequestContext) => {
        const p = JSON.parse(String(ctx.response?.body)) as Record<string, unknown>;
        delete p.instance;
        return { status: ctx.response?.status, retry: ctx.response?.headers['retry-after'], ...p };
      };
      expect(body(fromNew)).toEqual(body(byIp));
    });

    it('does not count requests that brought no credential (the gate answers 401)', async () => {
      const g = gateway();
      for (let i = 0; i < 10; i++) {
        const r = await g.send(undefined);
        expect(statusOf(r)).toBe(401);
        expect(r.authAttempt).toBeNull();
      }
      expect(statusOf(await g.send('alice:right'))).toBe(200);
    });

    it("clears a credential's counter on success, so its owner's occasional typos never add up to a lockout", async () => {
      const g = gateway();
      let ip = 0;
      for (let round = 0; round < 4; round++) {
        // two typos, each from another address so no address reaches its limit, then the right secret
        for (let i = 0; i < 2; i++) expect(statusOf(await g.send('alice:typo', `203.0.113.${ip++}`))).toBe(401);
        expect(statusOf(await g.send('alice:right', `203.0.113.${ip++}`))).toBe(200);
      }
      // without the successes, the third failure locks the credential
      for (let i = 0; i < 3; i++) expect(statusOf(await g.send('bob:typo', `203.0.113.${ip++}`))).toBe(401);
      expect(statusOf(await g.send('bob:right', `203.0.113.${ip++}`))).toBe(429);
    });

    it('counts failures made on WebSocket handshakes too: an Upgrade header does not make guessing free', async () => {
      const g = gateway();
      for (let i = 0; i < 3; i++) {
        const r = await g.upgrade(`guess${i}:x`);
        expect(statusOf(r)).toBe(401);
        expect(r.error?.code).toBe('UNAUTHENTICATED');
      }
      const locked = await g.upgrade('alice:right');
      expect(statusOf(locked)).toBe(429);
      expect(locked.identity).toBeNull();
      // and the lockout holds for plain requests from that address as well
      expect(statusOf(await g.send('alice:right'))).toBe(429);
      // a handshake that authenticates goes through (no answer: the caller connects upstream)
      const ok = await g.upgrade('alice:right', '192.0.2.9');
      expect(ok.response).toBeNull();
      expect(ok.identity?.subject).toBe('alice');
    });
  });

describe('brute-force on the shared state: two processes (workers or nodes) sharing one state', () => {
  it('counts failures from both against one max_failures, and both refuse the locked address', async () => {
    const c = clock();
    const state = new TestState(c.now);
    const a = gateway({}, c, state);
    const b = gateway({}, c, state);
    expect(statusOf(await a.send('g1:x'))).toBe(401);
    expect(statusOf(await b.send('g2:x'))).toBe(401);
    expect(statusOf(await a.send('g3:x'))).toBe(401); // the third failure in total: locked
    for (const g of [a, b]) {
      const r = await g.send('alice:right');
      expect(statusOf(r)).toBe(429);
      expect(r.response?.headers['retry-after']).toBe('10');
      expect(r.securityEvents?.[0]).toMatchObject({ type: 'auth.locked', rule: 'address' });
    }
    c.advance(10_000);
    expect(statusOf(await b.send('alice:right'))).toBe(200);
  });

  it('a credential locked by one process: the other refuses it at the latest after one more failed attempt', async () => {
    const c = clock();
    const state = new TestState(c.now);
    const a = gateway({}, c, state);
    const b = gateway({}, c, state);
    // three guesses from three addresses, all on process a: the credential is locked
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3'])
      expect(statusOf(await a.send('victim:guess', ip))).toBe(401);
    expect(statusOf(await a.send('victim:right', '198.51.100.9'))).toBe(429);
    // b has not seen it yet: one guess is checked (and fails), then b knows the lock too
    expect(statusOf(await b.send('victim:guess', '198.51.100.4'))).toBe(401);
    expect(statusOf(await b.send('victim:right', '198.51.100.5'))).toBe(429);
  });

  it('deny_ip_for_s puts a locked-out address on the dynamic deny list, for every process', async () => {
    const c = clock();
    const state = new TestState(c.now);
    const a = gateway({ deny_ip_for_s: 600 }, c, state);
    for (let i = 0; i < 3; i++) await a.send(`g${i}:x`, '203.0.113.66');
    expect(await deniedReason(state, '203.0.113.66')).toBe('brute-force');
    expect(await deniedReason(state, '203.0.113.67')).toBeNull();
    c.advance(600_000);
    expect(await deniedReason(state, '203.0.113.66')).toBeNull();
    withState = false;
    expect(() => gateway({ deny_ip_for_s: 60 })).toThrow(/needs the shared state/);
  });

  it('on_state_error local: counts in this process while the state fails; fail-closed: 503', async () => {
    const c = clock();
    const state = new TestState(c.now);
    const g = gateway({}, c, state);
    state.fail = true;
    for (let i = 0; i < 3; i++) expect(statusOf(await g.send(`g${i}:x`))).toBe(401);
    expect(statusOf(await g.send('alice:right'))).toBe(429);
    const closed = gateway({ on_state_error: 'fail-closed' }, c, state);
    const r = await closed.send('alice:right', '192.0.2.77');
    expect(statusOf(r)).toBe(503);
    expect(r.error?.code).toBe('STATE_UNAVAILABLE');
    const open = gateway({ on_state_error: 'fail-open' }, c, state);
    for (let i = 0; i < 5; i++) expect(statusOf(await open.send(`g${i}:x`, '192.0.2.78'))).toBe(401);
    expect(statusOf(await open.send('alice:right', '192.0.2.78'))).toBe(200);
  });
});

describe('brute-force on Redis: two nodes (own connections) sharing one count', () => {
  const prefix = `rampart-bf-test:${randomBytes(4).toString('hex')}:`;
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const open: RedisState[] = [];
  afterAll(async () => {
    await Promise.all(open.map((s) => s.close()));
    const r = new Redis(url);
    const keys = await r.keys(`${prefix}*`);
    if (keys.length) await r.del(...keys);
    r.disconnect();
  });

  it('locks after max_failures in total over both nodes, credential and address, and denies the address', async () => {
    const node = async () => {
      const s = new RedisState({ url, keyPrefix: prefix, timeoutMs: 1000 });
      await s.ready();
      open.push(s);
      return gateway({ deny_ip_for_s: 60, on_state_error: 'fail-closed' }, clock(Date.now()), s);
    };
    const [a, b] = [await node(), await node()];
    expect(statusOf(await a.send('victim:g1', '198.51.100.10'))).toBe(401);
    expect(statusOf(await b.send('victim:g2', '198.51.100.11'))).toBe(401);
    expect(statusOf(await a.send('victim:g3', '198.51.100.12'))).toBe(401);
    expect(statusOf(await a.send('victim:right', '198.51.100.13'))).toBe(429); // credential locked
    // the address: failures from both nodes, three in total
    expect(statusOf(await b.send('x1:x', '203.0.113.10'))).toBe(401);
    expect(statusOf(await a.send('x2:x', '203.0.113.10'))).toBe(401);
    expect(statusOf(await b.send('x3:x', '203.0.113.10'))).toBe(401);
    expect(statusOf(await a.send('alice:right', '203.0.113.10'))).toBe(429);
    expect(statusOf(await b.send('alice:right', '203.0.113.10'))).toBe(429);
    expect(await deniedReason(open[0] as RedisState, '203.0.113.10')).toBe('brute-force');
    expect(statusOf(await b.send('alice:right', '203.0.113.11'))).toBe(200);
  });
});
