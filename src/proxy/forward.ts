import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderMap } from '../core/context.js';

/** RFC 9110 7.6.1 connection-specific headers, never forwarded in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'http2-settings',
]);

/** Forwarding headers we rebuild ourselves; incoming ones are kept only from trusted proxies. */
const FORWARDING = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'forwarded',
  'x-real-ip',
]);

function connectionTokens(v: string | string[] | undefined): Set<string> | null {
  // The common values name only hop-by-hop headers, which are dropped anyway: skip the split.
  if (!v || v === 'keep-alive' || v === 'close' || v === 'Keep-Alive') return null;
  const s = new Set<string>();
  for (const t of (Array.isArray(v) ? v.join(',') : v).split(',')) s.add(t.trim().toLowerCase());
  return s;
}

export interface ForwardInfo {
  peerIp: string;
  peerTrusted: boolean;
  secure: boolean;
  host: string;
  /** Host header for the upstream (target host, or the client's when preserve_host). */
  upstreamHost: string;
  /** Keep Upgrade/Connection (WebSocket handshake). */
  upgrade?: boolean;
}

/** Request headers for the upstream: hop-by-hop removed, X-Forwarded-* and Forwarded (RFC 7239) set. */
export function upstreamRequestHeaders(h: IncomingHttpHeaders, f: ForwardInfo): HeaderMap {
  const out: HeaderMap = {};
  const listed = connectionTokens(h.connection);
  for (const k in h) {
    const v = h[k];
    // Expect: node has answered "100 Continue" itself; undici refuses the header (502 for every curl upload).
    // HTTP/2 pseudo-headers (":authority", ":path"...) describe the client's request line, not a header to pass on.
    if (
      v === undefined ||
      HOP_BY_HOP.has(k) ||
      FORWARDING.has(k) ||
      listed?.has(k) ||
      k === 'expect' ||
      k.charCodeAt(0) === 58
    )
      continue;
    out[k] = v;
  }
  out.host = f.upstreamHost;
  const proto = f.secure ? 'https' : 'http';
  const prior = f.peerTrusted ? h['x-forwarded-for'] : undefined;
  const priorList = Array.isArray(prior) ? prior.join(', ') : prior;
  out['x-forwarded-for'] = priorList ? `${priorList}, ${f.peerIp}` : f.peerIp;
  out['x-forwarded-proto'] = (f.peerTrusted && first(h['x-forwarded-proto'])) || proto;
  out['x-forwarded-host'] = (f.peerTrusted && first(h['x-forwarded-host'])) || f.host;
  const node = f.peerIp.includes(':') ? `"[${f.peerIp}]"` : f.peerIp;
  // ":" and "[]" are not token characters (RFC 7239 4): host:port and IPv6 hosts must be quoted.
  const hostPart = /^[A-Za-z0-9.-]+$/.test(f.host) ? f.host : `"${f.host.replace(/["\\]/g, '')}"`;
  const element = `for=${node};host=${hostPart};proto=${proto}`;
  const priorFwd = f.peerTrusted ? h.forwarded : undefined;
  out.forwarded = priorFwd ? `${priorFwd}, ${element}` : element;
  if (f.upgrade && h.upgrade) {
    out.connection = 'upgrade';
    out.upgrade = h.upgrade;
  }
  return out;
}

function first(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s?.split(',')[0]?.trim() || undefined;
}

/** Response headers for the client: hop-by-hop and Connection-listed headers removed. */
export function clientResponseHeaders(h: Record<string, string | string[] | undefined>): HeaderMap {
  const out: HeaderMap = {};
  const listed = connectionTokens(h.connection);
  for (const k in h) {
    const v = h[k];
    if (v === undefined || HOP_BY_HOP.has(k) || listed?.has(k)) continue;
    out[k] = v;
  }
  return out;
}
