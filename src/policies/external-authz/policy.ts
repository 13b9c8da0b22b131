import { createHash, hash } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { logThrottle } from '../../observability/throttle.js';
import { DecisionCache, type Verdict } from './cache.js';
import { ask, authzenVerdict, opaVerdict, PdpFailure, poolFor } from './client.js';
import { authzenBody, inputBuilder, opaBody } from './input.js';
import { type ExternalAuthzConfig, meta, schema } from './schema.js';

const POLICY = meta.name;

/** The answer never says which rule denied, nor that a PDP was asked. */
function forbidden(): GatewayError {
  return new GatewayError('FORBIDDEN', 'Access denied.');
}

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg: ExternalAuthzConfig, env) {
    const base = new URL(cfg.url);
    const prefix = base.pathname.replace(/\/+$/, '');
    // The schema requires opa: with protocol opa; checked again for a config built in code.
    if (cfg.protocol === 'opa' && !cfg.opa) throw new Error('external-authz: protocol opa needs opa.path');
    const opa = cfg.protocol === 'opa' ? (cfg.opa as NonNullable<ExternalAuthzConfig['opa']>) : null;
    const path = opa ? `${prefix}/v1/data/${opa.path}` : `${prefix}/access/v1/evaluation`;
    const local =
      ['localhost', '[::1]'].includes(base.hostname) || (isIPv4(base.hostname) && base.hostname.startsWith('127.'));
    if (base.protocol === 'http:' && !local) {
      env.logger.warn(
        { scope: env.scope, pdp: base.origin },
        'external-authz: PDP over plain http: request metadata (and the PDP credential) cross the network unencrypted',
      );
    }
    const pool = poolFor(env.services, base.origin);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (cfg.auth) headers[cfg.auth.header] = cfg.auth.scheme ? `${cfg.auth.scheme} ${cfg.auth.token}` : cfg.auth.token;
    // Decisions depend on the PDP, how it is asked and as whom (a wrong credential must not read good answers), and
    // on the TTLs entries were written with.
    const secretTag = cfg.auth
      ? createHash('sha256').update(`${cfg.auth.header}:${cfg.auth.token}`).digest('hex').slice(0, 16)
      : '';
    const c = cfg.cache;
    const cache = env.services.shared(
      `external-authz:cache:${cfg.protocol}|${base.origin}${path}|${opa ? `${opa.result_field}|${opa.reason_field}` : ''}|${secretTag}|${c.max_entries}|${c.ttl_s}|${c.deny_ttl_s}`,
      () => new DecisionCache(c.max_entries),
    );
    const ttlMs = c.ttl_s * 1000;
    const denyTtlMs = c.deny_ttl_s * 1000;
    const builder = inputBuilder(cfg);
    const encode = opa ? opaBody : authzenBody;
    const verdictOf = opa
      ? (a: Record<string, unknown>) => opaVerdict(a, opa.result_field, opa.reason_field)
      : authzenVerdict;

    // At most one failure line per second: a PDP outage must not turn every request into a log line.
    const throttle = logThrottle(1000);
    const logFailure = (reason: string, status: number | undefined, detail: string) => {
      const suppressed = throttle();
      if (suppressed === null) return;
      env.logger.error(
        { scope: env.scope, pdp: base.origin, reason, status, detail, suppressed },
        'external-authz: no decision from the PDP: denying (fail closed)',
      );
    };

    const deny = (ctx: RequestContext, rule: 'default' | 'error', reason: string): never => {
      ctx.decide({ effect: 'deny', policy: POLICY, rule, reason });
      throw forbidden();
    };

    const apply = (ctx: RequestContext, v: Verdict, rule: 'pdp' | 'cache'): void => {
      ctx.decide(
        v.reason === undefined
          ? { effect: v.allow ? 'allow' : 'deny', policy: POLICY, rule }
          : { effect: v.allow ? 'allow' : 'deny', policy: POLICY, rule, reason: v.reason },
      );
      if (!v.allow) throw forbidden();
    };

    /** One PDP call for this question (shared with identical ones in flight); the verdict is cached. */
    const fetchVerdict = (q: string, key: string, expiresAt: number | null): Promise<Verdict> =>
      cache.coalesce(key, async () => {
        const answer = await ask({
          pool,
          path,
          headers,
          body: encode(q, new Date()),
          timeoutMs: cfg.timeout_ms,
          maxBytes: cfg.max_response_bytes,
        });
        const v = verdictOf(answer);
        const now = cache.now();
        // An allow never outlives the credential it was given for.
        const until = v.allow
          ? Math.min(now + ttlMs, expiresAt === null ? Number.POSITIVE_INFINITY : expiresAt * 1000)
          : now + denyTtlMs;
        cache.set(key, v, until);
        return v;
      }).promise;

    return {
      request(ctx) {
        const who = ctx.identity;
        if (!who && cfg.anonymous === 'deny') return deny(ctx, 'default', 'anonymous');
        const q = builder.build(ctx);
        if (!q) return deny(ctx, 'error', 'no resource id');
        // One-shot hash: a third of createHash's cost on this hot path (cache hits included).
        const key = hash('sha256', q, 'base64url');
        const hit = cache.get(key);
        if (hit) return apply(ctx, hit, 'cache');
        return fetchVerdict(q, key, who?.expiresAt ?? null).then(
          (v) => apply(ctx, v, 'pdp'),
          (e: unknown) => {
            if (e instanceof PdpFailure) {
              logFailure(e.reason, e.status, e.message);
              return deny(ctx, 'error', e.reason);
            }
            logFailure('internal', undefined, (e as Error | null)?.message ?? String(e));
            return deny(ctx, 'error', 'internal');
          },
        );
      },
    };
  },
});
