import { num, quote } from '../../audit/event-json.js';
import type { AuditActor, AuditEvent } from '../../audit/types.js';
import type { RequestContext } from '../../core/context.js';
import type { Decision, SecurityEvent } from '../../core/decision.js';

/** Longest path kept in an event; the query is never kept (it may carry credentials). */
const MAX_PATH = 2048;

/** Security events a refusal implies when no policy recorded one itself (the identity gate, an authorize deny). */
const IMPLIED: Readonly<Record<string, string>> = {
  UNAUTHENTICATED: 'auth.failure',
  INSUFFICIENT_SCOPE: 'auth.failure',
  AUTH_LOCKED: 'auth.lockout',
  FORBIDDEN: 'authz.denied',
  OBJECT_NOT_FOUND: 'authz.denied',
  IP_DENIED: 'ip.denied',
  RATE_LIMITED: 'rate_limit.hit',
  CORS_ORIGIN_DENIED: 'cors.denied',
};

/** The decision that decided: the last deny, else the last allow. */
function decidingOf(ds: readonly Decision[] | null): AuditEvent['decision'] {
  if (!ds?.length) return undefined;
  let d = ds[ds.length - 1] as Decision;
  for (const x of ds) if (x.effect === 'deny') d = x;
  return { effect: d.effect, policy: d.policy, rule: d.rule };
}

function actorOf(ctx: RequestContext): AuditActor {
  const id = ctx.identity;
  if (!id) {
    // A failed attempt names the credential tried (an API key id, a prefix of a token's digest: never a secret), so
    // credential stuffing (many credentials from one address) can be seen. Set when brute-force is on.
    const tried = ctx.authAttempt;
    return tried ? { client_ip: ctx.clientIp, credential: tried.slice(0, 32) } : { client_ip: ctx.clientIp };
  }
  const a: { -readonly [K in keyof AuditActor]: AuditActor[K] } = {};
  if (id.consumerId !== null) a.consumer = id.consumerId;
  if (id.credentialId !== null) a.credential = id.credentialId;
  a.subject = id.subject;
  a.client_ip = ctx.clientIp;
  return a;
}

/**
 * ISO time of the arrival: cached per millisecond, and its "YYYY-MM-DDTHH:MM:SS." part per second, so a new
 * millisecond costs a string concatenation instead of a Date and toISOString (a third of a microsecond here).
 */
let lastMs = -1;
let lastIso = '';
let lastSec = -1;
let secPrefix = '';
export function isoAt(ms: number): string {
  const m = Math.floor(ms);
  if (m === lastMs) return lastIso;
  const sec = Math.floor(m / 1000);
  if (sec !== lastSec) {
    lastSec = sec;
    secPrefix = new Date(sec * 1000).toISOString().slice(0, 20);
  }
  const r = m - sec * 1000;
  lastMs = m;
  lastIso = `${secPrefix}${r < 10 ? '00' : r < 100 ? '0' : ''}${r}Z`;
  return lastIso;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * One security event per thing the request's policies recorded (or a refusal implied), then the request's own
 * event, each passed to `emit`; built from typed request state only: never a header, a body, a query string or a
 * credential. Runs once per request: no closures, no spreads, no result object.
 */
export function requestEvents(
  ctx: RequestContext,
  node: string,
  status: number,
  withRequest: boolean,
  emit: (e: AuditEvent) => void,
): void {
  const decision = decidingOf(ctx.decisions);
  const f: Shared = {
    time: isoAt(performance.timeOrigin + ctx.start),
    node,
    actor: actorOf(ctx),
    path: ctx.path.length > MAX_PATH ? ctx.path.slice(0, MAX_PATH) : ctx.path,
    status,
    decision,
  };
  const recorded = ctx.securityEvents;
  if (recorded) for (const s of recorded) emit(securityEvent(ctx, s, f));
  const implied = ctx.error ? IMPLIED[ctx.error.code] : undefined;
  if (implied && !recorded?.some((s) => s.action === 'block')) {
    const s: Mutable<SecurityEvent> = { type: implied, policy: decision?.policy ?? 'gateway', action: 'block' };
    if (decision) s.rule = decision.rule;
    emit(securityEvent(ctx, s, f));
  }
  if (!withRequest) return;
  const request = baseEvent(ctx, 'request', 'request', f);
  request.bytes_in = ctx.bytesIn;
  request.bytes_out = ctx.bytesOut;
  request.latency_ms = Math.round(ctx.elapsed() * 100) / 100;
  if (ctx.target) request.upstream = ctx.target.host;
  if (recorded) request.events = recorded;
  emit(request);
}

/** True when a request yields only its own request event: no security event recorded, none implied by its error. */
export function onlyRequestEvent(ctx: RequestContext): boolean {
  return ctx.securityEvents === null && (ctx.error === null || IMPLIED[ctx.error.code] === undefined);
}

/**
 * The request event of a request for which onlyRequestEvent holds, as the exact line eventJson would write for the
 * object requestEvents builds (events.test.ts checks both on generated requests), written straight from the
 * context: no event, actor or shared object, no second pass over the fields. This is the audit log's per-request
 * cost on most traffic (async durability, no subscribers). `nodeJson` is the node name already quoted.
 */
export function requestJson(ctx: RequestContext, nodeJson: string, status: number): string {
  // isoAt writes digits and `-:.TZ` only: nothing to escape.
  let o = `{"time":"${isoAt(performance.timeOrigin + ctx.start)}","kind":"request","type":"request","node":${nodeJson}`;
  if (ctx.id) o += `,"request_id":${quote(ctx.id)}`;
  o += `,"actor":${actorJson(ctx)}`;
  if (ctx.route) o += `,"route":${quote(ctx.route.name)}`;
  const path = ctx.path.length > MAX_PATH ? ctx.path.slice(0, MAX_PATH) : ctx.path;
  o += `,"method":${quote(ctx.method)},"path":${quote(path)},"status":${num(status)}`;
  if (ctx.error) o += `,"code":${quote(ctx.error.code)}`;
  o += `,"bytes_in":${num(ctx.bytesIn)},"bytes_out":${num(ctx.bytesOut)}`;
  o += `,"latency_ms":${num(Math.round(ctx.elapsed() * 100) / 100)}`;
  if (ctx.target) o += `,"upstream":${quote(ctx.target.host)}`;
  const decision = decidingOf(ctx.decisions);
  if (decision) o += `,"decision":${JSON.stringify(decision)}`;
  return `${o}}`;
}

/** actorOf's actor as eventJson writes it (its fields in eventJson's order). */
function actorJson(ctx: RequestContext): string {
  const id = ctx.identity;
  const ip = `"client_ip":${quote(ctx.clientIp)}`;
  if (!id) {
    const tried = ctx.authAttempt;
    return tried ? `{"credential":${quote(tried.slice(0, 32))},${ip}}` : `{${ip}}`;
  }
  let o = '{';
  if (id.consumerId !== null) o += `"consumer":${quote(id.consumerId)},`;
  if (id.credentialId !== null) o += `"credential":${quote(id.credentialId)},`;
  if (id.subject !== undefined) o += `"subject":${quote(id.subject)},`;
  return `${o}${ip}}`;
}

/** What every event of one request shares. */
interface Shared {
  readonly time: string;
  readonly node: string;
  readonly actor: AuditActor;
  readonly path: string;
  readonly status: number;
  readonly decision: AuditEvent['decision'];
}

function securityEvent(ctx: RequestContext, s: SecurityEvent, f: Shared): AuditEvent {
  const e = baseEvent(ctx, 'security', s.type, f);
  e.events = [s];
  e.severity = s.action === 'block' ? 'medium' : 'low';
  return e;
}

/** The fields every event of a request has, set in one order (one object shape for all of them). */
function baseEvent(ctx: RequestContext, kind: AuditEvent['kind'], type: string, f: Shared): Mutable<AuditEvent> {
  const e: Mutable<AuditEvent> = { time: f.time, kind, type, node: f.node };
  if (ctx.id) e.request_id = ctx.id;
  e.actor = f.actor;
  if (ctx.route) e.route = ctx.route.name;
  e.method = ctx.method;
  e.path = f.path;
  e.status = f.status;
  if (ctx.error) e.code = ctx.error.code;
  if (f.decision) e.decision = f.decision;
  return e;
}
