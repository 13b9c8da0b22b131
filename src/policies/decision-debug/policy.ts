import { compileCidrs } from '../../core/client-ip.js';
import type { RequestContext } from '../../core/context.js';
import type { Decision } from '../../core/decision.js';
import { definePolicy } from '../../core/policy.js';
import { meta, schema } from './schema.js';

export const DEBUG_REQUEST_HEADER = 'x-rampart-debug';
export const DECISION_HEADER = 'x-rampart-decision';

/** Bounds on what one header may carry: a request with many decisions still gets a short line. */
const MAX_DECISIONS = 16;
const MAX_TOKEN = 64;

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg) {
    const inCidrs = cfg.trusted.cidrs ? compileCidrs(cfg.trusted.cidrs) : null;
    const roles = cfg.trusted.roles ?? null;
    const trusted = (ctx: RequestContext): boolean =>
      (!inCidrs || inCidrs(ctx.clientIp)) &&
      (!roles || (ctx.identity !== null && roles.some((r) => ctx.identity?.roles.includes(r))));
    return {
      request(ctx) {
        // Meant for the gateway: the upstream has no use for it.
        delete ctx.upstreamHeaders[DEBUG_REQUEST_HEADER];
      },
      response(ctx) {
        const res = ctx.response;
        if (!res) return;
        // Only the gateway speaks this header: an upstream's copy is dropped, never passed off as a decision.
        delete res.headers[DECISION_HEADER];
        if (!asked(ctx.req.headers[DEBUG_REQUEST_HEADER]) || !trusted(ctx)) return;
        res.headers[DECISION_HEADER] = encodeDecisions(ctx.decisions);
        // A shared cache must not hand this answer to someone else.
        res.headers['cache-control'] = 'no-store';
      },
    };
  },
});

function asked(v: string | string[] | undefined): boolean {
  if (v === undefined) return false;
  const s = Array.isArray(v) ? v.join(',') : v;
  return s.split(',').some((t) => t.trim().toLowerCase() === 'decision');
}

/** "allow authorize:admins, deny object-access:default"; "none" when no authorization policy decided. */
export function encodeDecisions(ds: readonly Decision[] | null): string {
  if (!ds?.length) return 'none';
  const out = ds.slice(0, MAX_DECISIONS).map((d) => `${d.effect} ${token(d.policy)}:${token(d.rule)}`);
  if (ds.length > MAX_DECISIONS) out.push(`+${ds.length - MAX_DECISIONS}`);
  return out.join(', ');
}

/** Names as configured, limited to characters that cannot break the list or the header. */
function token(s: string): string {
  return s.slice(0, MAX_TOKEN).replace(/[^A-Za-z0-9_.:[\]/-]/g, '_');
}
