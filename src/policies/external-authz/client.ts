import { Pool } from 'undici';
import type { PolicyServices } from '../../core/policy.js';
import { CallFailure, type JsonCall, postJson } from '../../proxy/post-json.js';
import type { Verdict } from './cache.js';

/** Why a PDP call gave no decision; recorded as the reason of an "error" deny and logged (rate-limited). */
export { CallFailure as PdpFailure };

/** One keep-alive pool per PDP origin for the whole process: reloads and routes reuse warm connections. */
export function poolFor(services: PolicyServices, origin: string): Pool {
  return services.shared(
    `external-authz:pool:${origin}`,
    () => new Pool(origin, { connections: 32, keepAliveTimeout: 30_000 }),
  );
}

export type PdpCall = JsonCall;

/** POSTs one question and returns the parsed JSON object of a 200 answer; anything else is a PdpFailure. */
export const ask: (c: PdpCall) => Promise<Record<string, unknown>> = postJson;

/**
 * OPA's data API answer: `{"result": <bool>}`, or `{"result": {<field>: <bool>, <reason>?: <string>}}`. OPA leaves
 * `result` out when the document is undefined (no rule matched and no default): that is a deny, as OPA's own
 * integrations read it. Any other shape is malformed (fail closed).
 */
export function opaVerdict(answer: Record<string, unknown>, field: string, reasonField: string): Verdict {
  if (!Object.hasOwn(answer, 'result')) return { allow: false, reason: 'undefined' };
  const r = answer.result;
  if (typeof r === 'boolean') return { allow: r, reason: undefined };
  if (typeof r !== 'object' || r === null || Array.isArray(r))
    throw new CallFailure('malformed', 'result is neither a boolean nor an object');
  const o = r as Record<string, unknown>;
  const v = Object.hasOwn(o, field) ? o[field] : undefined;
  if (v === undefined) return { allow: false, reason: 'undefined' };
  if (typeof v !== 'boolean') throw new CallFailure('malformed', `result.${field} is not a boolean`);
  return { allow: v, reason: Object.hasOwn(o, reasonField) ? reasonText(o[reasonField]) : undefined };
}

/**
 * AuthZEN's evaluation answer: `{"decision": <bool>, "context"?: {...}}`. A reason is read from the context's
 * `reason` (a string), or `reason_admin` (a string, or a map of language tags to strings, as earlier drafts had).
 */
export function authzenVerdict(answer: Record<string, unknown>): Verdict {
  const d = answer.decision;
  if (typeof d !== 'boolean') throw new CallFailure('malformed', 'answer has no boolean "decision"');
  const c = answer.context;
  let reason: string | undefined;
  if (typeof c === 'object' && c !== null && !Array.isArray(c)) {
    const o = c as Record<string, unknown>;
    reason = reasonText(o.reason);
    if (reason === undefined) {
      const admin = o.reason_admin;
      if (typeof admin === 'string') reason = reasonText(admin);
      else if (typeof admin === 'object' && admin !== null && !Array.isArray(admin)) {
        const m = admin as Record<string, unknown>;
        reason = reasonText(m.en ?? Object.values(m).find((x) => typeof x === 'string'));
      }
    }
  }
  return { allow: d, reason };
}

const MAX_REASON = 120;

/** A PDP's reason as recorded: text only, control characters removed, bounded. */
function reasonText(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  if (!s) return undefined;
  return s.length > MAX_REASON ? `${s.slice(0, MAX_REASON - 1)}…` : s;
}
