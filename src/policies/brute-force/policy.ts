import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { stateFailureReporter } from '../../state/report.js';
import { denyAddress } from '../ip-filter/deny-list.js';
import { type LockoutRules, Lockouts } from './lockouts.js';
import { meta, schema } from './schema.js';
import { SharedLockouts } from './shared-lockouts.js';

/** The process-wide lockout table (PolicyServices.shared): it survives config reloads, as lockouts must. */
export const LOCKOUTS_KEY = 'brute-force/lockouts';
/** The lockouts on the shared state, one per process (its mirror of known locks survives reloads too). */
export const SHARED_LOCKOUTS_KEY = 'brute-force/shared-lockouts';

/**
 * Counts failed authentications per client address and per presented credential (an API key id, a token digest,
 * whether or not it exists) and locks either out for a while, doubling on repeats. A missing credential is not a
 * guess and is not counted. The 429 is the same for a locked address and a locked credential, and a credential is
 * locked whether or not it exists, so it tells nothing about which credentials are real.
 *
 * Counts live in the shared state (shared-lockouts.ts): max_failures is the total over all workers and nodes. With
 * `deny_ip_for_s`, an address that gets locked out is also put on the dynamic deny list (ip-filter `dynamic: true`
 * refuses it on every route, in the connect phase). While the shared state fails, on_state_error decides: `local`
 * counts in this process meanwhile (per process, as a single worker would).
 */
export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const local = env.services.shared(LOCKOUTS_KEY, () => new Lockouts());
    const state = env.services.state;
    const shared = state ? env.services.shared(SHARED_LOCKOUTS_KEY, () => new SharedLockouts(state, local.now)) : null;
    if (cfg.deny_ip_for_s !== undefined && !state)
      throw new Error('brute-force deny_ip_for_s needs the shared state (the dynamic deny list lives there)');
    const rules: LockoutRules = {
      maxFailures: cfg.max_failures,
      windowMs: cfg.window_s * 1000,
      lockoutMs: cfg.lockout_s * 1000,
      maxLockoutMs: cfg.max_lockout_s * 1000,
    };
    const mode = cfg.on_state_error;
    const locked = (ms: number) =>
      new GatewayError('AUTH_LOCKED', 'Too many failed authentications; try again later.', {
        headers: { 'retry-after': String(Math.ceil(ms / 1000)) },
      });
    const stateFailed = stateFailureReporter(env.logger, {
      policy: 'brute-force',
      scope: env.scope,
      backend: state?.kind,
      mode,
    });

    /** The address's lock: shared, or on a state failure as on_state_error says (null: not enforced). */
    async function ipLockedFor(ip: string): Promise<number | null> {
      if (!shared) return local.ipLockedFor(ip, local.now());
      try {
        return await shared.ipLockedFor(ip);
      } catch (err) {
        stateFailed(err, 'lock check');
        if (mode === 'fail-closed')
          throw new GatewayError('STATE_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' } });
        return mode === 'local' ? local.ipLockedFor(ip, local.now()) : null;
      }
    }

    async function fail(ip: string, key: string): Promise<void> {
      if (!shared) {
        local.fail(ip, key, rules, local.now());
        return;
      }
      let ipLockMs: number;
      try {
        ipLockMs = await shared.fail(ip, key, rules);
      } catch (err) {
        stateFailed(err, 'count');
        if (mode === 'local') local.fail(ip, key, rules, local.now());
        return;
      }
      if (ipLockMs > 0 && cfg.deny_ip_for_s !== undefined && state) {
        env.logger.warn({ policy: 'brute-force', ip, seconds: cfg.deny_ip_for_s }, 'address added to the deny list');
        await denyAddress(state, ip, 'brute-force', cfg.deny_ip_for_s * 1000).catch((err: unknown) =>
          stateFailed(err, 'deny list'),
        );
      }
    }

    return {
      async request(ctx) {
        const left = await ipLockedFor(ctx.clientIp);
        if (left !== null && left > 0) {
          ctx.securityEvent({ type: 'auth.locked', policy: 'brute-force', rule: 'address', action: 'block' });
          throw locked(left);
        }
        ctx.onAuthAttempt = (key) => {
          ctx.authAttempt = key;
          if (key === '') return;
          const l = Math.max(
            shared ? shared.credentialLockedFor(key) : 0,
            mode === 'local' || !shared ? local.credentialLockedFor(key, local.now()) : 0,
          );
          if (l > 0) {
            ctx.securityEvent({ type: 'auth.locked', policy: 'brute-force', rule: 'credential', action: 'block' });
            throw locked(l);
          }
        };
      },
      async response(ctx) {
        const key = ctx.authAttempt;
        if (key === null) return;
        if (ctx.error?.code === 'UNAUTHENTICATED') {
          await fail(ctx.clientIp, key);
        } else if (ctx.identity !== null && key !== '') {
          local.succeed(key);
          shared?.succeed(key).catch((err: unknown) => stateFailed(err, 'reset'));
        }
      },
    };
  },
});
