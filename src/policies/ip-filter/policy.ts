import { compileCidrs } from '../../core/client-ip.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { stateFailureReporter } from '../../state/report.js';
import { deniedReason } from './deny-list.js';
import { meta, schema } from './schema.js';

/**
 * Refuses clients by address in the connect phase, before anything reads the request. The address is
 * `ctx.clientIp`, which forwarding headers change only when the TCP peer is a trusted proxy (core/client-ip.ts), so
 * a spoofed X-Forwarded-For from anyone else is ignored. The answer is the same 403 for every reason: which list
 * matched is logged, not told.
 */
export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const denied = compileCidrs(cfg.deny);
    const allowed = cfg.allow ? compileCidrs(cfg.allow) : null;
    const state = cfg.dynamic ? env.services.state : null;
    const stateFailed = stateFailureReporter(env.logger, {
      policy: 'ip-filter',
      scope: env.scope,
      backend: state?.kind,
      mode: cfg.on_state_error,
    });

    const refuse = () => new GatewayError('IP_DENIED', 'The client address is not allowed.');

    return {
      async connect(ctx) {
        const ip = ctx.clientIp;
        if (denied(ip) || (allowed && !allowed(ip))) throw refuse();
        if (!state) return;
        let reason: string | null;
        try {
          reason = await deniedReason(state, ip);
        } catch (err) {
          stateFailed(err, 'dynamic deny list');
          if (cfg.on_state_error === 'fail-closed') {
            throw new GatewayError('STATE_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' } });
          }
          return;
        }
        if (reason !== null) {
          env.logger.debug({ policy: 'ip-filter', ip, reason }, 'address on the dynamic deny list');
          throw refuse();
        }
      },
    };
  },
});
