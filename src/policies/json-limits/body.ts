import type { RequestContext } from '../../core/context.js';

/**
 * The request's JSON body once a policy parsed it (json-limits, request-validation), so later policies need not
 * parse it again. Valid only while `ctx.requestBody` is the buffer it was parsed from: a policy that replaces the
 * body makes it stale, and `parsedJsonBody` then returns undefined. Read-only by convention: the proxy sends
 * `ctx.requestBody`, not this value.
 */
const parsed = new WeakMap<RequestContext, { buf: Buffer; value: unknown }>();

export function setParsedJsonBody(ctx: RequestContext, buf: Buffer, value: unknown): void {
  parsed.set(ctx, { buf, value });
}

/** The parsed JSON body, or undefined when no policy parsed it (or the body changed since). */
export function parsedJsonBody(ctx: RequestContext): { value: unknown } | undefined {
  const p = parsed.get(ctx);
  return p && p.buf === ctx.requestBody ? { value: p.value } : undefined;
}

/** True when the media type is JSON: application/json or any "+json" suffix type. */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const semi = contentType.indexOf(';');
  const mt = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return mt === 'application/json' || (mt.startsWith('application/') && mt.endsWith('+json'));
}
