import { GatewayError } from './errors.js';

/**
 * Normalises a request target so the gateway routes on exactly the path the upstream will see:
 * unreserved percent-escapes decoded (RFC 3986 6.2.2.2), dot segments removed, repeated slashes merged.
 * Encoded slashes and backslashes, NUL and control bytes are refused: upstreams decode them differently,
 * which is how route-based rules get bypassed.
 */
export function normalizeTarget(url: string): { path: string; query: string } {
  if (url.charCodeAt(0) !== 47 /* / */) {
    // Absolute-form (proxy requests) is not served; asterisk-form only means something to OPTIONS.
    throw new GatewayError('BAD_PATH', 'The request target must be a path.');
  }
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  // Fast path: plain paths need no work.
  if (!/[%\\.]|\/\/|[\x00-\x1f\x7f]/.test(path)) return { path, query };
  if (/[\\\x00-\x1f\x7f]/.test(path)) throw new GatewayError('BAD_PATH');
  if (path.includes('%')) {
    path = path.replace(/%([0-9A-Fa-f]{2})/g, (m, hex: string) => {
      const c = Number.parseInt(hex, 16);
      if (c === 0x2f || c === 0x5c || c < 0x20 || c === 0x7f) throw new GatewayError('BAD_PATH');
      const ch = String.fromCharCode(c);
      return /[A-Za-z0-9\-._~]/.test(ch) ? ch : m.toUpperCase();
    });
    if (/%(?![0-9A-F]{2})/.test(path)) throw new GatewayError('BAD_PATH', 'Malformed percent-encoding.');
  }
  const out: string[] = [];
  const segs = path.split('/');
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i] as string;
    if (s === '.') continue;
    if (s === '..') {
      if (out.length === 0) throw new GatewayError('BAD_PATH', 'The path climbs above the root.');
      out.pop();
      continue;
    }
    if (s === '' && i < segs.length - 1) continue;
    out.push(s);
  }
  // A trailing "." or ".." leaves a directory path, as in a browser.
  const last = segs[segs.length - 1];
  const trailing = last === '.' || last === '..' ? '/' : '';
  const joined = `/${out.join('/')}${trailing}`;
  return { path: joined.replace(/\/{2,}$/, '/'), query };
}
