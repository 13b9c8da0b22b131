import { quote } from '../../audit/event-json.js';
import type { AuditEvent } from '../../audit/types.js';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { onlyRequestEvent, requestEvents, requestJson } from './events.js';
import { meta, schema } from './schema.js';

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const log = env.services.audit;
    if (!log) throw new Error('the audit policy needs the audit log: add a top-level `audit:` block (and `store:`)');
    if (env.scope !== 'global')
      env.logger.warn(
        { scope: env.scope },
        'audit is set below the global policies: requests no route matches (404) are not audited; set it globally',
      );
    const withRequests = cfg.requests && log.includeRequests;
    const node = log.node;
    const record = (e: AuditEvent) => log.record(e);
    if (log.durability === 'async') {
      const nodeJson = quote(node);
      return {
        readsSecurityEvents: true,
        log(ctx) {
          const status = ctx.res?.headersSent ? ctx.res.statusCode : (ctx.response?.status ?? 0);
          // Most requests: the request event alone, serialised straight from the context (no event object) when no
          // subscriber needs one.
          if (withRequests && log.takesJson && onlyRequestEvent(ctx))
            log.recordRequestJson(requestJson(ctx, nodeJson, status));
          else requestEvents(ctx, node, status, withRequests, record);
        },
      };
    }
    // sync: the event is written in the response phase (after every later policy's), and the response waits for its
    // fsync. Its bytes_out and latency are as of that moment: the body has not been sent yet.
    const done = new WeakSet<RequestContext>();
    return {
      readsSecurityEvents: true,
      async response(ctx) {
        const events: AuditEvent[] = [];
        requestEvents(ctx, node, ctx.response?.status ?? 0, withRequests, (e) => events.push(e));
        const last = events.pop();
        for (const e of events) log.record(e);
        if (!last) return;
        done.add(ctx);
        try {
          await log.recordDurable(last);
        } catch (e) {
          throw new GatewayError('AUDIT_UNAVAILABLE', undefined, { cause: e });
        }
      },
      log(ctx) {
        // A request stopped before the response phase reached this policy is still written (without waiting).
        if (done.has(ctx)) return;
        const status = ctx.res?.headersSent ? ctx.res.statusCode : (ctx.response?.status ?? 0);
        requestEvents(ctx, node, status, withRequests, record);
      },
    };
  },
});
