import { LRUCache } from 'lru-cache';
import type { SharedState } from '../../state/types.js';
import { type LockoutRules, MAX_TRACKED } from './lockouts.js';

/** Counts large enough never to refuse: failure counters only count, the lockout decision is made here. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

export type Kind = 'ip' | 'cred';

/**
 * Failure counts and lockouts in the shared state (memory, the cluster primary, Redis), so that every worker and node
 * counts one attacker's failures against one number: max_failures in total, not per worker.
 *
 * - Failures: a fixed-window counter per address and per credential (`increment`), whose window starts with the
 *   first failure. The failure that brings it to exactly max_failures locks (one caller does, however many race),
 *   which also resets the count.
 * - Lockouts: a value `bf:lock:<kind>:<id>` holding the epoch ms it ends, expiring then; repeats double, counted in
 *   `bf:strikes:<kind>:<id>`, forgotten after a quiet max_lockout.
 * - An address lock is read from the shared state on every request (the request phase may wait). A credential is
 *   known only inside the identity policy's synchronous `onAuthAttempt`, so its lock is read from this process's
 *   mirror, filled whenever this process sees a failure for it (each failure reads the lock with the count) or locks
 *   it: after a credential is locked elsewhere, a worker lets at most one more attempt at it through (refused with
 *   the rest once it fails) before it refuses them too.
 */
export class SharedLockouts {
  /** Locks this process knows of: key → epoch ms the lock ends. */
  readonly #mirror = new LRUCache<string, number>({ max: MAX_TRACKED });
  /** Credentials this process has counted failures for: a success resets only those (no state call per success). */
  readonly #failed = new LRUCache<string, true>({ max: MAX_TRACKED });

  constructor(
    readonly state: SharedState,
    readonly now: () => number = Date.now,
  ) {}

  #mirrored(kind: Kind, id: string, now: number): number {
    const until = this.#mirror.get(`${kind}:${id}`);
    return until !== undefined && until > now ? until - now : 0;
  }

  /** Milliseconds left of the address's lockout (0: not locked), from the shared state. Throws on a state failure. */
  async ipLockedFor(ip: string): Promise<number> {
    const now = this.now();
    const known = this.#mirrored('ip', ip, now);
    if (known > 0) return known;
    const v = await this.state.get(`bf:lock:ip:${ip}`);
    return this.#learn('ip', ip, v, now);
  }

  /** A credential's lock as this process knows it (see the class comment); synchronous for onAuthAttempt. */
  credentialLockedFor(key: string): number {
    return this.#mirrored('cred', key, this.now());
  }

  #learn(kind: Kind, id: string, value: string | null, now: number): number {
    const until = Number(value);
    if (value === null || !(until > now)) return 0;
    this.#mirror.set(`${kind}:${id}`, until);
    return until - now;
  }

  /**
   * Counts one failed authentication for the address and (unless '') the credential. Returns the ms of a lockout of
   * the address that this failure started (0 if none), for the deny list.
   */
  async fail(ip: string, credentialKey: string, rules: LockoutRules): Promise<number> {
    const [ipLocked] = await Promise.all([
      this.#count('ip', ip, rules),
      credentialKey ? this.#count('cred', credentialKey, rules) : 0,
    ]);
    if (credentialKey) this.#failed.set(credentialKey, true);
    return ipLocked;
  }

  /** A verified credential starts afresh, if this process counted failures for it (its address keeps counting). */
  async succeed(credentialKey: string): Promise<void> {
    if (!this.#failed.has(credentialKey)) return;
    this.#failed.delete(credentialKey);
    await this.state.delete(`bf:f:cred:${credentialKey}`);
  }

  /** Returns the length of the lockout this failure started, or 0. */
  async #count(kind: Kind, id: string, rules: LockoutRules): Promise<number> {
    const now = this.now();
    const [r, lock] = await Promise.all([
      this.state.increment([{ key: `bf:f:${kind}:${id}`, limit: NO_LIMIT, expiresAtMs: now + rules.windowMs }], 1),
      kind === 'cred' ? this.state.get(`bf:lock:${kind}:${id}`) : null,
    ]);
    if (this.#learn(kind, id, lock, now) > 0) return 0;
    if (r.counts[0] !== rules.maxFailures) return 0;
    const strikesKey = `bf:strikes:${kind}:${id}`;
    const strikes = Number((await this.state.get(strikesKey)) ?? 0) || 0;
    const ms = Math.min(rules.lockoutMs * 2 ** Math.min(strikes, 30), rules.maxLockoutMs);
    await Promise.all([
      this.state.set(`bf:lock:${kind}:${id}`, String(now + ms), ms),
      this.state.set(strikesKey, String(strikes + 1), ms + rules.maxLockoutMs),
      this.state.delete(`bf:f:${kind}:${id}`),
    ]);
    this.#mirror.set(`${kind}:${id}`, now + ms);
    return ms;
  }
}
