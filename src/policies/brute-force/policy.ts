import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { type LockoutRules, Lockouts } from './lockouts.js';
import { meta, schema } from './schema.js';

/** The process-wide lockout table (PolicyServices.shared): it survives config reloads, as lockouts must. */
export const LOCKOUTS_KEY = 'brute-force/lockouts';

/**
 * Counts failed authentications per client address and per presented credential (an API key id, a token digest,
 * whether or not it exists) and locks either out for a while, doubling on repeats. A missing credential is not a
 * guess and is not counted. The 429 is the same for a locked address and a locked credential, and a credential is
 * locked whether or not it exists, so it tells nothing about which credentials are real.
 *
 * Counts are per process for now: with N workers a client may get up to N × max_failures tries per window (the
 * cluster primary hands connections out in turn). Exact counts across workers and nodes come with issue 6's shared
 * counters (Redis).
 */
export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const lockouts = env.services.shared(LOCKOUTS_KEY, () => new Lockouts());
    const rules: LockoutRules = {
      maxFailures: cfg.max_failures,
      windowMs: cfg.window_s * 1000,
      lockoutMs: cfg.lockout_s * 1000,
      maxLockoutMs: cfg.max_lockout_s * 1000,
    };
    const locked = (ms: number) =>
      new GatewayError('AUTH_LOCKED', 'Too many failed authentications; try again later.', {
        headers: { 'retry-after': String(Math.ceil(ms / 1000)) },
      });

    return {
      request(ctx) {
        const left = lockouts.ipLockedFor(ctx.clientIp, lockouts.now());
        if (left > 0) throw locked(left);
        ctx.onAuthAttempt = (key) => {
          ctx.authAttempt = key;
          if (key === '') return;
          const l = lockouts.credentialLockedFor(key, lockouts.now());
          if (l > 0) throw locked(l);
        };
      },
      response(ctx) {
        const key = ctx.authAttempt;
        if (key === null) return;
        if (ctx.error?.code === 'UNAUTHENTICATED') lockouts.fail(ctx.clientIp, key, rules, lockouts.now());
        else if (ctx.identity !== null && key !== '') lockouts.succeed(key);
      },
    };
  },
});
