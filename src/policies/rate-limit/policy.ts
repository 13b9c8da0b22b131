import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { MemoryState } from '../../state/memory.js';
import { stateErrorsCounter } from '../../state/report.js';
import type { Algorithm, ConsumeRequest, ConsumeResult } from '../../state/types.js';
import { appendListHeader, costOf, counterKey } from './keys.js';
import { meta, parseWindow, schema } from './schema.js';

const STATE_LOG_INTERVAL_MS = 10_000;
export const LOCAL_COUNTERS_KEY = 'rate-limit/local-counters';

interface CompiledLimit {
  name: string;
  limit: number;
  windowMs: number;
  algorithm: Algorithm;
  burst: number | undefined;
  key: readonly string[];
  cost: number | { header: string };
  /** `"name";q=..;w=..` for RateLimit-Policy. */
  policyItem: string;
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/**
 * Rate limits through the shared state (env.services.state): one atomic consume per limit, so every worker and node
 * sharing the backend counts against one number. Limits are checked in config order and the first refusal stops:
 * the later limits are not touched, the earlier ones have used their unit (SharedState has no atomic multi-key
 * consume nor a refund that would stay exact under concurrency; a refund could let another request in past the
 * limit). The answer carries RateLimit-Policy / RateLimit (draft-ietf-httpapi-ratelimit-headers: a list of quoted
 * policy names with q/w and r/t parameters) and, on 429, Retry-After.
 */
export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const state = env.services.state;
    if (!state) {
      throw new Error(
        'rate-limit needs the shared state (memory, cluster or Redis counters); this process was started without one',
      );
    }
    const limits: CompiledLimit[] = cfg.limits.map((l) => {
      const windowMs = l.window_ms ?? parseWindow(l.window ?? '') ?? 0;
      return {
        name: l.name,
        limit: l.limit,
        windowMs,
        algorithm: l.algorithm,
        burst: l.burst,
        key: l.key,
        cost: l.cost,
        policyItem: `"${l.name}";q=${l.limit};w=${seconds(windowMs)}`,
      };
    });
    const policyHeader = limits.map((l) => l.policyItem).join(', ');
    // The `local` fallback: the same exact algorithms, for this process only, while the shared state fails.
    const local = env.services.shared(LOCAL_COUNTERS_KEY, () => new MemoryState());
    const stateErrors = stateErrorsCounter();
    const mode = cfg.on_state_error;
    let lastStateLog = 0;
    const passed = new WeakMap<RequestContext, string>();

    async function consume(req: ConsumeRequest): Promise<ConsumeResult | null> {
      try {
        return await state!.consume(req);
      } catch (err) {
        stateErrors.inc({ policy: 'rate-limit', mode });
        const now = Date.now();
        if (now - lastStateLog >= STATE_LOG_INTERVAL_MS) {
          lastStateLog = now;
          env.logger.warn(
            { err, policy: 'rate-limit', scope: env.scope, backend: state!.kind, mode },
            'shared counters unavailable',
          );
        }
        if (mode === 'fail-closed') {
          throw new GatewayError('STATE_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' } });
        }
        return mode === 'local' ? local.consumeSync(req) : null;
      }
    }

    // One process (no workers, no Redis): the counters are in this process, answered synchronously, so the request
    // phase need not wait on a promise per limit.
    const syncState = state instanceof MemoryState ? state : null;
    const requestOf = (l: (typeof limits)[number], ctx: RequestContext): ConsumeRequest => ({
      key: counterKey(`rl|${env.scope}|${l.name}`, l.key, ctx, cfg.ipv6_prefix),
      algorithm: l.algorithm,
      limit: l.limit,
      windowMs: l.windowMs,
      ...(l.burst !== undefined && { burst: l.burst }),
      cost: costOf(l.cost, ctx),
    });
    /** Adds a limit's answer to the RateLimit items; throws RATE_LIMITED when it refused. */
    const account = (l: (typeof limits)[number], r: ConsumeResult, items: string[]) => {
      items.push(`"${l.name}";r=${r.remaining};t=${seconds(r.resetMs)}`);
      if (!r.allowed) {
        throw new GatewayError('RATE_LIMITED', `Rate limit "${l.name}" exceeded; try again later.`, {
          headers: {
            'retry-after': String(Math.max(1, seconds(r.retryAfterMs))),
            'ratelimit-policy': policyHeader,
            ratelimit: items.join(', '),
          },
        });
      }
    };

    return {
      request(ctx) {
        const items: string[] = [];
        if (syncState) {
          for (const l of limits) account(l, syncState.consumeSync(requestOf(l, ctx)), items);
          if (cfg.headers && items.length) passed.set(ctx, items.join(', '));
          return;
        }
        return (async () => {
          for (const l of limits) {
            const r = await consume(requestOf(l, ctx));
            if (r) account(l, r, items); // null (fail-open): not enforced, nor reported, while the state is down
          }
          if (cfg.headers && items.length) passed.set(ctx, items.join(', '));
        })();
      },
      response(ctx) {
        const rl = passed.get(ctx);
        if (rl === undefined || !ctx.response) return;
        // Appended: quota (and others) may describe their own limits in the same headers.
        appendListHeader(ctx.response.headers, 'ratelimit-policy', policyHeader);
        appendListHeader(ctx.response.headers, 'ratelimit', rl);
      },
    };
  },
});
