import { LRUCache } from 'lru-cache';

export interface LockoutRules {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly lockoutMs: number;
  readonly maxLockoutMs: number;
}

interface Counter {
  /** Failures in the current window, and when that window began. */
  failures: number;
  windowStart: number;
  /** Epoch ms until which the address or credential is refused (0: never locked). */
  lockedUntil: number;
  /** Lockouts so far: the next lasts lockoutMs × 2^strikes. Forgotten after a quiet max_lockout. */
  strikes: number;
}

/** Tracked addresses and credentials, each: bounded memory under a flood of addresses or made-up key ids. */
export const MAX_TRACKED = 50_000;

/**
 * Failure counters and lockouts, one table for client addresses and one for credentials, in memory of this
 * process: what the policy counts with when it has no shared state, and meanwhile when the shared state fails
 * (on_state_error: local). Per process, so with N workers an attacker could get up to N × max_failures tries per
 * window; the shared counters (shared-lockouts.ts) make the count exact across workers and nodes.
 */
export class Lockouts {
  readonly #ips = new LRUCache<string, Counter>({ max: MAX_TRACKED });
  readonly #credentials = new LRUCache<string, Counter>({ max: MAX_TRACKED });

  /** The clock (epoch ms), injectable for tests. */
  constructor(readonly now: () => number = Date.now) {}

  /** Milliseconds left of the address's lockout; 0 when it is not locked. */
  ipLockedFor(ip: string, now: number): number {
    return lockedFor(this.#ips.get(ip), now);
  }

  credentialLockedFor(key: string, now: number): number {
    return lockedFor(this.#credentials.get(key), now);
  }

  /** Counts one failed authentication for the address and (unless '') the credential. */
  fail(ip: string, credentialKey: string, rules: LockoutRules, now: number): void {
    count(this.#ips, ip, rules, now);
    if (credentialKey) count(this.#credentials, credentialKey, rules, now);
  }

  /** A verified credential starts afresh (its address keeps counting: one good key must not reset guessing). */
  succeed(credentialKey: string): void {
    this.#credentials.delete(credentialKey);
  }
}

function lockedFor(c: Counter | undefined, now: number): number {
  return c !== undefined && c.lockedUntil > now ? c.lockedUntil - now : 0;
}

function count(table: LRUCache<string, Counter>, key: string, rules: LockoutRules, now: number): void {
  let c = table.get(key);
  if (c === undefined) {
    c = { failures: 0, windowStart: now, lockedUntil: 0, strikes: 0 };
    table.set(key, c);
  }
  if (c.lockedUntil > now) return;
  if (c.strikes > 0 && now - c.lockedUntil > rules.maxLockoutMs) c.strikes = 0;
  if (now - c.windowStart >= rules.windowMs) {
    c.failures = 0;
    c.windowStart = now;
  }
  if (++c.failures < rules.maxFailures) return;
  c.lockedUntil = now + Math.min(rules.lockoutMs * 2 ** Math.min(c.strikes, 30), rules.maxLockoutMs);
  c.strikes++;
  c.failures = 0;
  c.windowStart = now;
}
