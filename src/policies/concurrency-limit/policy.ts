import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { MemoryState } from '../../state/memory.js';
import { stateFailureReporter } from '../../state/report.js';
import type { SharedState } from '../../state/types.js';
import { counterKey } from '../rate-limit/keys.js';
import { meta, schema } from './schema.js';

/** The `local` fallback slots, one table per process, kept across reloads (PolicyServices.shared). */
export const LOCAL_SLOTS_KEY = 'concurrency-limit/local-slots';

/**
 * Requests in flight per key, through the shared state's slots (acquire/release): exact across workers and nodes.
 * The slot is taken in the request phase and given back in the log phase, which runs once for every request,
 * answered, refused by a later policy or dropped by the client (for a WebSocket: when the socket closes). A slot
 * whose release never comes (a crashed worker, Redis down at that moment) lapses after slot_ttl_s.
 */
export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const state = env.services.state;
    if (!state) {
      throw new Error(
        'concurrency-limit needs the shared state (memory, cluster or Redis); this process was started without one',
      );
    }
    const local = env.services.shared(LOCAL_SLOTS_KEY, () => new MemoryState());
    const mode = cfg.on_state_error;
    const ttlMs = cfg.slot_ttl_s * 1000;
    /** The slot each request holds: where (shared or local) and its key. Deleted on release: exactly once. */
    const held = new WeakMap<RequestContext, { backend: SharedState; key: string }>();
    const stateFailed = stateFailureReporter(env.logger, {
      policy: 'concurrency-limit',
      scope: env.scope,
      backend: state.kind,
      mode,
    });

    const refuse = () =>
      new GatewayError(
        cfg.status === 503 ? 'CONCURRENCY_SATURATED' : 'CONCURRENCY_LIMITED',
        cfg.status === 503 ? undefined : 'Too many requests in flight; retry when one has finished.',
        { headers: { 'retry-after': String(cfg.retry_after_s) } },
      );

    return {
      async request(ctx) {
        if (held.has(ctx)) return;
        const key = counterKey(`cc|${env.scope}`, cfg.key, ctx, cfg.ipv6_prefix);
        let backend: SharedState = state;
        let r: { acquired: boolean; held: number };
        try {
          r = await state.acquire(key, cfg.limit, ttlMs);
        } catch (err) {
          stateFailed(err, 'acquire');
          if (mode === 'fail-closed') {
            throw new GatewayError('STATE_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' } });
          }
          if (mode === 'fail-open') return;
          backend = local;
          r = local.acquireSync(key, cfg.limit, ttlMs);
        }
        if (!r.acquired) {
          ctx.securityEvent({
            type: 'concurrency.limited',
            policy: 'concurrency-limit',
            action: 'block',
            detail: { limit: cfg.limit, held: r.held },
          });
          throw refuse();
        }
        held.set(ctx, { backend, key });
      },
      log(ctx) {
        const h = held.get(ctx);
        if (!h) return;
        held.delete(ctx);
        h.backend.release(h.key).catch((err: unknown) => stateFailed(err, 'release; the slot lapses after slot_ttl_s'));
      },
    };
  },
});
