import type { AuditEvent } from '../audit/types.js';

/** How the detectors read audit events (one place, so a change in what the audit log writes is one edit here). */

export function eventTime(e: AuditEvent): number {
  const t = Date.parse(e.time);
  return Number.isFinite(t) ? t : Date.now();
}

/** The caller: its consumer id when identified, else its address; null when neither is known. */
export function sourceKey(e: AuditEvent): string | null {
  if (e.actor?.consumer) return `consumer:${e.actor.consumer}`;
  if (e.actor?.client_ip) return `ip:${e.actor.client_ip}`;
  return null;
}

const AUTH_FAILURE = new Set(['auth.failure', 'auth.failed', 'authn.failure']);

/** A failed authentication: the security event, or a request refused as UNAUTHENTICATED / carrying one. */
export function isAuthFailure(e: AuditEvent): boolean {
  if (e.kind === 'security') return AUTH_FAILURE.has(e.type);
  if (e.kind !== 'request') return false;
  if (e.code === 'UNAUTHENTICATED' || (e.code === undefined && e.status === 401)) return true;
  return e.events?.some((s) => AUTH_FAILURE.has(s.type)) ?? false;
}

/** Which credential was tried: a key id, a client id, a user name, a token digest (never a secret). */
export function credentialOf(e: AuditEvent): string | null {
  const a = e.actor;
  const fromDetail = (d: Readonly<Record<string, string | number | boolean>> | undefined) => {
    const v = d?.credential ?? d?.username ?? d?.user ?? d?.key_id ?? d?.client_id;
    return v === undefined ? undefined : String(v);
  };
  const v =
    a?.credential ??
    a?.subject ??
    fromDetail(e.detail) ??
    e.events?.map((s) => fromDetail(s.detail)).find((x) => x !== undefined);
  return v ? v.slice(0, 200) : null;
}

/** A segment that names one object: a number, a UUID, a long hex string or a long token with a digit. */
const ID =
  /^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12,}|(?=[^/]*\d)[A-Za-z0-9_-]{16,})$/i;

/** The path's shape, ids folded to "{id}", at most 8 segments of 64 characters (bounded label). */
export function pathShape(path: string): string {
  const segs = path.split('/').slice(1, 9);
  return `/${segs.map((s) => (ID.test(s) ? '{id}' : s.slice(0, 64))).join('/')}`;
}

/** The last id-like segment of a path (the object requested), or null. */
export function objectId(path: string): string | null {
  const segs = path.split('/');
  for (let i = segs.length - 1; i > 0; i--) if (ID.test(segs[i]!)) return segs[i]!.slice(0, 100);
  return null;
}

/** Codes of a request no route or OpenAPI operation declares (path unknown, or known without this method). */
const UNDECLARED = new Set([
  'ROUTE_NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'OPERATION_NOT_FOUND',
  'OPERATION_METHOD_NOT_ALLOWED',
]);

/** A request that named no declared route or operation: no route matched, or the OpenAPI check found none. */
export function isUndeclared(e: AuditEvent): boolean {
  if (e.code !== undefined && UNDECLARED.has(e.code)) return true;
  return (
    e.events?.some((s) => s.type === 'openapi.unknown_operation' || s.type === 'validation.unknown_operation') ?? false
  );
}

/** Refused for the object: 403 (someone else's) or 404 (none such). */
export function isDenied(e: AuditEvent): boolean {
  return e.status === 403 || e.status === 404 || e.code === 'FORBIDDEN' || e.code === 'OBJECT_NOT_FOUND';
}
