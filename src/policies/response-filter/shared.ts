import { Counter, register } from 'prom-client';
import type { HeaderMap, RequestContext } from '../../core/context.js';

/**
 * What the response-protection policies (response-filter, redact, field-encryption, tokenize) share: the metric,
 * JSON body detection, and the rule for which answers they touch.
 */

/** Answers changed or refused by a response-protection policy (prom-client's global registry, bounded labels). */
export function protectionCounter(): Counter<'policy' | 'route' | 'action'> {
  const name = 'rampart_response_protection_total';
  return (
    (register.getSingleMetric(name) as Counter<'policy' | 'route' | 'action'> | undefined) ??
    new Counter({
      name,
      help: 'Responses (or forwarded requests) a response-protection policy changed or refused, by policy, route and action',
      labelNames: ['policy', 'route', 'action'] as const,
    })
  );
}

export function headerValue(h: HeaderMap, name: string): string {
  const v = h[name];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

/** application/json and any +json type (problem+json, vnd.api+json), parameters ignored. */
export function isJsonType(contentType: string): boolean {
  const semi = contentType.indexOf(';');
  const t = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return t === 'application/json' || t.endsWith('+json');
}

/**
 * An upstream answer with a body worth looking at: not the gateway's own error (those are built from the error
 * table and carry nothing from upstream), not HEAD / 204 / 304.
 */
export function upstreamBody(ctx: RequestContext): boolean {
  const r = ctx.response;
  return r !== null && r.body !== null && ctx.error === null && ctx.method !== 'HEAD';
}

/** Replaces the response body with JSON text (content-length recomputed by the server). */
export function setJsonBody(ctx: RequestContext, value: unknown): void {
  replaceBody(ctx, Buffer.from(JSON.stringify(value)));
}

/** Replaces the response body (content-length recomputed by the server). */
export function replaceBody(ctx: RequestContext, body: Buffer): void {
  const r = ctx.response;
  if (!r) return;
  r.body = body;
  delete r.headers['content-length'];
  // A changed body no longer matches the upstream's validators or digests.
  delete r.headers.etag;
  delete r.headers['content-md5'];
  delete r.headers.digest;
  delete r.headers['repr-digest'];
  delete r.headers['content-digest'];
}

/** Empty or only whitespace: nothing in it to filter, redact or encrypt. */
export function isBlank(buf: Buffer): boolean {
  for (const b of buf) if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return false;
  return true;
}

/** Parses a JSON body; null when it is not JSON (the caller decides whether that is a failure). */
export function parseJson(buf: Buffer): { value: unknown } | null {
  try {
    return { value: JSON.parse(buf.toString('utf8')) };
  } catch {
    return null;
  }
}

/** Whether the caller holds one of `roles`. */
export function hasAnyRole(ctx: RequestContext, roles: readonly string[]): boolean {
  const mine = ctx.identity?.roles;
  if (!mine?.length) return false;
  for (const r of roles) if (mine.includes(r)) return true;
  return false;
}
