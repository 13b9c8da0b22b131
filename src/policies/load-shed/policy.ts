import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { InFlight, LoopDelay } from './monitor.js';
import { meta, schema } from './schema.js';

type Sheddable = 'low' | 'normal' | 'high';

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    // Process-wide, kept across reloads: the count must stay exact while old-generation requests finish.
    const inFlight = env.services.shared('load-shed:in-flight', () => new InFlight());
    const delay = env.services.shared(
      `load-shed:loop-delay:${cfg.sample_interval_ms}`,
      () => new LoopDelay(cfg.sample_interval_ms),
    );
    const retry = { 'retry-after': String(cfg.retry_after_s) };
    /** Whether each priority is being shed now: on at shed_at, off below shed_at × recover_below. */
    const shedding: Record<Sheddable, boolean> = { low: false, normal: false, high: false };
    /** Requests this instance counted, so that the log phase gives back exactly those. */
    const counted = new WeakSet<RequestContext>();

    const load = () => Math.max(inFlight.n / cfg.max_in_flight, delay.ms / cfg.max_event_loop_delay_ms);

    function shed(priority: Sheddable): boolean {
      const l = load();
      const on = cfg.shed_at[priority];
      const was = shedding[priority];
      const now = was ? l >= on * cfg.recover_below : l >= on;
      if (now !== was) {
        shedding[priority] = now;
        env.logger[now ? 'warn' : 'info'](
          {
            priority,
            load: Math.round(l * 100) / 100,
            in_flight: inFlight.n,
            event_loop_delay_ms: Math.round(delay.ms),
          },
          now ? 'load shedding started' : 'load shedding stopped',
        );
      }
      return now;
    }

    return {
      // The connect phase: a shed request costs as little as possible (no limits, no identity, no body read).
      connect(ctx) {
        // A request that matched no route is served last: it can only be a 404 or a policy's refusal.
        const priority = ctx.route ? (ctx.route.priority ?? 'normal') : 'low';
        if (priority !== 'critical' && shed(priority)) {
          throw new GatewayError('OVERLOADED', 'The gateway is overloaded; retry later.', { headers: retry });
        }
        // A WebSocket lives for minutes: counting it would read as load for as long as it stays open.
        if (ctx.websocket) return;
        inFlight.n++;
        counted.add(ctx);
      },
      log(ctx) {
        if (counted.delete(ctx)) inFlight.n--;
      },
    };
  },
});
