import { Pool } from 'undici';
import type { PolicyServices } from '../../core/policy.js';
import type { Verdict } from './cache.js';

/** Why a PDP call gave no decision; recorded as the reason of an "error" deny and logged (rate-limited). */
export class PdpFailure extends Error {
  override readonly name = 'PdpFailure';
  constructor(
    readonly reason: 'timeout' | 'unreachable' | 'status' | 'too_large' | 'not_json' | 'malformed',
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** One keep-alive pool per PDP origin for the whole process: reloads and routes reuse warm connections. */
export function poolFor(services: PolicyServices, origin: string): Pool {
  return services.shared(
    `external-authz:pool:${origin}`,
    () => new Pool(origin, { connections: 32, keepAliveTimeout: 30_000 }),
  );
}

export interface PdpCall {
  pool: Pool;
  /** Path (and no query) of the endpoint. */
  path: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  maxBytes: number;
}

/** POSTs one question and returns the parsed JSON object of a 200 answer; anything else is a PdpFailure. */
export async function ask(c: PdpCall): Promise<Record<string, unknown>> {
  const signal = AbortSignal.timeout(c.timeoutMs);
  let res: Awaited<ReturnType<Pool['request']>>;
  try {
    res = await c.pool.request({
      method: 'POST',
      path: c.path,
      headers: c.headers,
      body: c.body,
      signal,
      headersTimeout: c.timeoutMs,
      bodyTimeout: c.timeoutMs,
    });
  } catch (e) {
    throw failure(e, signal, c.timeoutMs);
  }
  const body = res.body;
  // An error answer's body is of no use and may be large: drop it (which frees the connection).
  if (res.statusCode !== 200) {
    body.on('error', () => {});
    body.destroy();
    throw new PdpFailure('status', `answered ${res.statusCode}`, res.statusCode);
  }
  if (Number(res.headers['content-length'] ?? 0) > c.maxBytes) {
    body.on('error', () => {});
    body.destroy();
    throw new PdpFailure('too_large', `answer larger than ${c.maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      total += (chunk as Buffer).length;
      if (total > c.maxBytes) throw new PdpFailure('too_large', `answer larger than ${c.maxBytes} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (e) {
    if (e instanceof PdpFailure) throw e;
    throw failure(e, signal, c.timeoutMs);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks, total).toString('utf8'));
  } catch {
    throw new PdpFailure('not_json', 'answer is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new PdpFailure('malformed', 'answer is not a JSON object');
  return parsed as Record<string, unknown>;
}

function failure(e: unknown, signal: AbortSignal, timeoutMs: number): PdpFailure {
  const code = (e as { code?: string } | null)?.code;
  const name = (e as { name?: string } | null)?.name;
  const timedOut =
    signal.aborted ||
    name === 'TimeoutError' ||
    name === 'AbortError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_ABORTED';
  return timedOut
    ? new PdpFailure('timeout', `no answer within ${timeoutMs} ms`)
    : new PdpFailure('unreachable', (e as Error | null)?.message ?? 'connection failed');
}

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
    throw new PdpFailure('malformed', 'result is neither a boolean nor an object');
  const o = r as Record<string, unknown>;
  const v = Object.hasOwn(o, field) ? o[field] : undefined;
  if (v === undefined) return { allow: false, reason: 'undefined' };
  if (typeof v !== 'boolean') throw new PdpFailure('malformed', `result.${field} is not a boolean`);
  return { allow: v, reason: Object.hasOwn(o, reasonField) ? reasonText(o[reasonField]) : undefined };
}

/**
 * AuthZEN's evaluation answer: `{"decision": <bool>, "context"?: {...}}`. A reason is read from the context's
 * `reason` (a string), or `reason_admin` (a string, or a map of language tags to strings, as earlier drafts had).
 */
export function authzenVerdict(answer: Record<string, unknown>): Verdict {
  const d = answer.decision;
  if (typeof d !== 'boolean') throw new PdpFailure('malformed', 'answer has no boolean "decision"');
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
