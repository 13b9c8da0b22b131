import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';

/**
 * What rate-limit, quota and concurrency-limit count per: the request's key parts (schema.ts KEY_PART) made into one
 * counter key, and the cost of a request. Shared so that the three policies read a key part the same way.
 */

/** A key part's value, or null when the request lacks it (then the counter falls back to the client IP). */
function partValue(ctx: RequestContext, part: string, v6Prefix: number): string | null {
  const id = ctx.identity;
  switch (part) {
    case 'ip':
      return ipKey(ctx.clientIp, v6Prefix);
    case 'consumer':
      return id?.consumerId ?? null;
    case 'credential':
      return id?.credentialId ?? null;
    case 'subject':
      return id?.subject || null;
    case 'route':
      return ctx.route?.name ?? null;
  }
  if (part.startsWith('header:')) {
    const v = ctx.req.headers[part.slice(7)];
    return v === undefined ? null : Array.isArray(v) ? v.join(',') : v;
  }
  const c = id?.claims?.[part.slice(6)];
  return c === undefined || c === null ? null : typeof c === 'string' ? c : JSON.stringify(c);
}

/** The client's address as counted: IPv4 (and IPv4-mapped, already folded) per address, IPv6 per /prefix network. */
export function ipKey(ip: string, v6Prefix: number): string {
  if (v6Prefix === 128 || !ip.includes(':') || !ipaddr.IPv6.isValid(ip)) return ip;
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${ip}/${v6Prefix}`).toString()}/${v6Prefix}`;
}

/** Counter key `prefix|part=value|...`: values URI-encoded (no separator can be forged), long ones hashed. */
export function counterKey(prefix: string, parts: readonly string[], ctx: RequestContext, v6Prefix: number): string {
  let out = prefix;
  for (const part of parts) {
    const v = partValue(ctx, part, v6Prefix);
    // A request without this part (no identity, no header) is counted by its address, in a namespace of its own, so
    // leaving a header out or calling anonymously never escapes the limit nor shares a real key's counter.
    const piece = v === null ? `${part}=?ip:${ipKey(ctx.clientIp, v6Prefix)}` : `${part}=${encodeURIComponent(v)}`;
    out += `|${piece.length > 200 ? `${part}=#${createHash('sha256').update(piece).digest('base64url')}` : piece}`;
  }
  return out;
}

/** Units one request uses: a fixed number, or an integer the client sends in a header (at least 1). */
export function costOf(cost: number | { header: string }, ctx: RequestContext): number {
  if (typeof cost === 'number') return cost;
  const raw = ctx.req.headers[cost.header];
  if (raw === undefined) return 1;
  if (typeof raw !== 'string' || !/^[0-9]{1,10}$/.test(raw)) {
    throw new GatewayError('BAD_REQUEST', `Header ${cost.header} must be a non-negative integer.`);
  }
  // The client writes this header: "0" would make its requests free. A request always costs at least one unit.
  return Math.max(1, Number(raw));
}

/** Adds an item to a list-valued header (RateLimit, RateLimit-Policy) another policy may have set already. */
export function appendListHeader(headers: Record<string, string | string[]>, name: string, value: string): void {
  const prev = headers[name];
  headers[name] =
    prev === undefined || prev === '' ? value : `${Array.isArray(prev) ? prev.join(', ') : prev}, ${value}`;
}
