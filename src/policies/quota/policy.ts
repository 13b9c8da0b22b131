import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { MemoryState } from '../../state/memory.js';
import { stateFailureReporter } from '../../state/report.js';
import type { CounterSpec, IncrementResult } from '../../state/types.js';
import { appendListHeader, costOf, counterKey } from '../rate-limit/keys.js';
import { Calendar, PERIODS, type Period } from './periods.js';
import { meta, schema } from './schema.js';

/** The `local` fallback counters, one per process, kept across reloads (PolicyServices.shared). */
export const LOCAL_QUOTA_KEY = 'quota/local-counters';

interface CompiledPlan {
  name: string;
  /** The plan's periods, shortest first, with their limits. */
  periods: { period: Period; limit: number }[];
  roles: readonly string[];
}

const ADJECTIVE: Record<Period, string> = { hour: 'hourly', day: 'daily', week: 'weekly', month: 'monthly' };

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/**
 * Quotas per calendar period through the shared state: one atomic all-or-nothing increment of the request's period
 * counters (SharedState.increment), so every worker and node counts against one number, and a request refused by
 * one period (the day) uses nothing of another (the month). Counter keys name the period's start, so a new period is
 * a new counter and needs no reset. A consumer who changes plan keeps what it used this period (the key has no plan).
 *
 * Headers: RateLimit-Policy `"quota-<period>";q=<limit>;w=<period length s>` and RateLimit
 * `"quota-<period>";r=<remaining>;t=<s to period end>` per period (appended to rate-limit's), plus X-Quota-Limit,
 * X-Quota-Remaining and X-Quota-Reset for the period with the fewest units left (on a 429, the one that refused).
 */
export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const state = env.services.state;
    if (!state) {
      throw new Error(
        'quota needs the shared state (memory, cluster or Redis counters); this process was started without one',
      );
    }
    const compile = (name: string, p: Partial<Record<Period, number>>, roles: readonly string[] = []) => ({
      name,
      periods: PERIODS.flatMap((period) => (p[period] === undefined ? [] : [{ period, limit: p[period] as number }])),
      roles,
    });
    const plans = new Map<string, CompiledPlan>(
      cfg.plans
        ? Object.entries(cfg.plans).map(([n, p]) => [n, compile(n, p, p.roles)])
        : [['default', compile('default', cfg.limits ?? {})]],
    );
    const defaultPlan = plans.get(cfg.default_plan ?? 'default') as CompiledPlan;
    const byRole = [...plans.values()].filter((p) => p.roles.length > 0);
    const calendar = new Calendar(cfg.time_zone);
    const local = env.services.shared(LOCAL_QUOTA_KEY, () => new MemoryState());
    const mode = cfg.on_state_error;
    const stateFailed = stateFailureReporter(env.logger, {
      policy: 'quota',
      scope: env.scope,
      backend: state.kind,
      mode,
    });
    const passed = new WeakMap<RequestContext, Record<string, string>>();

    function planOf(ctx: RequestContext): CompiledPlan {
      const id = ctx.identity;
      if (!id || plans.size === 1) return defaultPlan;
      const named =
        id.attributes[cfg.plan_attribute] ?? (id.consumerId === null ? id.claims?.[cfg.plan_attribute] : undefined);
      if (typeof named === 'string') {
        const p = plans.get(named);
        if (p) return p;
      }
      for (const p of byRole) if (p.roles.some((r) => id.roles.includes(r))) return p;
      return defaultPlan;
    }

    async function increment(counters: CounterSpec[], by: number): Promise<IncrementResult | null> {
      try {
        return await state!.increment(counters, by);
      } catch (err) {
        stateFailed(err, 'quota counters');
        if (mode === 'fail-closed') {
          throw new GatewayError('STATE_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' } });
        }
        return mode === 'local' ? local.incrementSync(counters, by) : null;
      }
    }

    return {
      async request(ctx) {
        const plan = planOf(ctx);
        const cost = costOf(cfg.cost, ctx);
        const now = Date.now();
        const base = counterKey(`q|${env.scope}`, cfg.key, ctx, cfg.ipv6_prefix);
        const windows = plan.periods.map((p) => ({ ...p, ...calendar.interval(p.period, now) }));
        const r = await increment(
          windows.map((w) => ({ key: `${base}|${w.period}@${w.start}`, limit: w.limit, expiresAtMs: w.end })),
          cost,
        );
        if (!r) return; // fail-open: not enforced (nor reported) while the shared state is down
        const policy: string[] = [];
        const items: string[] = [];
        let tight = -1;
        let tightLeft = Number.POSITIVE_INFINITY;
        let retryMs = 0;
        windows.forEach((w, i) => {
          const used = r.counts[i] ?? 0;
          const left = Math.max(0, w.limit - used);
          policy.push(`"quota-${w.period}";q=${w.limit};w=${seconds(w.end - w.start)}`);
          items.push(`"quota-${w.period}";r=${left};t=${seconds(w.end - now)}`);
          const refusing = !r.admitted && used + cost > w.limit;
          if (refusing) retryMs = Math.max(retryMs, w.end - now);
          // The period to show in X-Quota-*: the refusing one on a 429, else the one with the fewest units left.
          const rank = r.admitted ? left : refusing ? -1 : Number.POSITIVE_INFINITY;
          if (tight === -1 || rank < tightLeft) {
            tight = i;
            tightLeft = rank;
          }
        });
        const t = windows[tight] ?? windows[0];
        const headers: Record<string, string> = {
          'ratelimit-policy': policy.join(', '),
          ratelimit: items.join(', '),
          'x-quota-limit': String(t?.limit ?? 0),
          'x-quota-remaining': String(Math.max(0, (t?.limit ?? 0) - (r.counts[tight] ?? 0))),
          'x-quota-reset': String(seconds((t?.end ?? now) - now)),
        };
        if (!r.admitted) {
          ctx.securityEvent({
            type: 'quota.exceeded',
            policy: 'quota',
            rule: `${plan.name}.${t?.period}`,
            action: 'block',
            detail: { plan: plan.name, period: t?.period ?? '', limit: t?.limit ?? 0 },
          });
          throw new GatewayError(
            'QUOTA_EXCEEDED',
            `The ${ADJECTIVE[t?.period ?? 'month']} quota is used up; it resets with the next period.`,
            {
              headers: { 'retry-after': String(Math.max(1, seconds(retryMs))), ...headers },
            },
          );
        }
        if (cfg.headers) passed.set(ctx, headers);
      },
      response(ctx) {
        const h = passed.get(ctx);
        if (h === undefined || !ctx.response) return;
        const out = ctx.response.headers;
        appendListHeader(out, 'ratelimit-policy', h['ratelimit-policy'] as string);
        appendListHeader(out, 'ratelimit', h.ratelimit as string);
        out['x-quota-limit'] = h['x-quota-limit'] as string;
        out['x-quota-remaining'] = h['x-quota-remaining'] as string;
        out['x-quota-reset'] = h['x-quota-reset'] as string;
      },
    };
  },
});
