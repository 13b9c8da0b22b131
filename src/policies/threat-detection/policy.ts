import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { DetectionEngine, type InspectOptions } from '../../detect/engine.js';
import type { InspectRequest } from '../../detect/types.js';
import { meta, schema } from './schema.js';

/** Most security events one request records (the score still counts every finding). */
const MAX_EVENTS = 20;

/**
 * Runs the detection engine (src/detect) on each request after authentication and authorization, so that events
 * name the caller, and before the request reaches the upstream. The engine and its exclusions are compiled here
 * once; a route named by an exclusion gets its own engine. The 403 never echoes what matched: the security events
 * (rule, location, a truncated redacted fragment) carry that for the audit log.
 */
export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    if (cfg.mode === 'off') return {};
    const base: InspectOptions = {
      threshold: cfg.threshold,
      classes: cfg.classes,
      path: cfg.locations.path,
      query: cfg.locations.query,
      headers: cfg.locations.headers.map((h) => h.toLowerCase()),
      cookies: cfg.locations.cookies,
      body: cfg.locations.body,
      maxInspectBytes: cfg.max_inspect_bytes,
    };
    const global = cfg.exclusions.filter((e) => !e.routes);
    const engine = new DetectionEngine({ ...base, exclusions: global });
    const byRoute = new Map<string, DetectionEngine>();
    const routeNames = new Set(cfg.exclusions.flatMap((e) => e.routes ?? []));
    for (const name of routeNames) {
      const ex = cfg.exclusions.filter((e) => !e.routes || e.routes.includes(name));
      byRoute.set(name, new DetectionEngine({ ...base, exclusions: ex }));
    }
    const block = cfg.mode === 'block';

    return {
      async request(ctx) {
        const eng = (ctx.route && byRoute.get(ctx.route.name)) || engine;
        let body: Buffer | undefined;
        if (cfg.locations.body && ctx.hasBody()) {
          const ct = ctx.req.headers['content-type'];
          if (DetectionEngine.inspectableBody(ct)) body = await ctx.readBody();
        }
        // Padding an attack past what the engine reads must not get it through.
        if (body && body.length > cfg.max_inspect_bytes && cfg.oversize === 'block') {
          ctx.securityEvent({
            type: 'detection.oversize',
            policy: 'threat-detection',
            rule: 'oversize',
            location: 'body',
            action: block ? 'block' : 'monitor',
            detail: { bytes: body.length, inspected: cfg.max_inspect_bytes },
          });
          if (block)
            throw new GatewayError(
              'BODY_NOT_INSPECTED',
              `The request body is longer than the ${cfg.max_inspect_bytes} bytes attack detection reads.`,
            );
        }
        const url = ctx.req.url ?? ctx.path;
        const q = url.indexOf('?');
        const req: InspectRequest = {
          method: ctx.method,
          path: q === -1 ? url : url.slice(0, q),
          query: q === -1 ? '' : url.slice(q + 1),
          headers: ctx.req.headers,
          ...(body ? { body } : {}),
        };
        const report = eng.inspect(req);
        if (report.findings.length === 0) return;
        const stop = block && report.attack;
        const action = stop ? 'block' : 'monitor';
        for (const f of report.findings.slice(0, MAX_EVENTS)) {
          ctx.securityEvent({
            type: `detection.${f.class}`,
            policy: 'threat-detection',
            rule: f.rule,
            location: f.location,
            action,
            detail: { score: f.score, total: report.score, fragment: f.fragment },
          });
        }
        if (report.attack) {
          // Monitor mode is "log only": each attack it lets through is logged (rules and places, never the value).
          const line = {
            policy: 'threat-detection',
            scope: env.scope,
            request_id: ctx.id || undefined,
            route: ctx.route?.name,
            score: report.score,
            rules: report.findings.slice(0, MAX_EVENTS).map((f) => `${f.rule}@${f.location}`),
          };
          if (stop) env.logger.debug(line, 'attack blocked');
          else env.logger.info(line, 'attack detected (monitor)');
        }
        if (stop) throw new GatewayError('ATTACK_DETECTED', 'The request was refused by attack detection.');
      },
    };
  },
});
