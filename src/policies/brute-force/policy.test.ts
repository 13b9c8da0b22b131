import { describe, expect, it } from 'vitest';
import { makeCtx, silentLogger } from '../../../test/unit-helpers.js';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { Pipeline } from '../../core/pipeline.js';
import type { PolicyInstance } from '../../core/policy.js';
import { ServiceRegistry } from '../../core/shared.js';
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
    expect(schema.parse({})).toEqual({ max_failures: 5, window_s: 60, lockout_s: 60, max_lockout_s: 3600 });
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

function gateway(cfg: Record<string, unknown> = {}) {
  const c = clock();
  const services = new ServiceRegistry();
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
  return { clock: c, send, upgrade };
}

const statusOf = (ctx: RequestContext) => ctx.response?.status;

describe('brute-force policy', () => {
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
