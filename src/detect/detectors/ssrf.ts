import ipaddr from 'ipaddr.js';
import {
  CRITICAL,
  type Detector,
  ERROR,
  F,
  type Hit,
  isRegexSpace,
  remembered,
  type Value,
  WARNING,
} from './common.js';

/**
 * Server-side request forgery: URLs (and bare hosts in URL-ish parameters) that point at loopback, private ranges,
 * link-local, the unspecified address or a cloud metadata service, however the address is spelt: decimal
 * (2130706433), hex (0x7f000001), octal (0177.0.0.1), short (127.1), IPv6 and IPv4-mapped IPv6, `user@host`
 * confusion, DNS names that resolve to loopback (localhost, *.localhost, nip.io-style wildcard DNS), and schemes
 * that talk to internal services (gopher, dict, file ...).
 */

const METADATA_HOSTS = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.azure.com',
  'metadata.packet.net',
  'metadata.platformequinix.com',
  'metadata.tencentyun.com',
  'kubernetes.default.svc',
  'kubernetes.default',
]);
const METADATA_V4 = new Set([
  '169.254.169.254',
  '169.254.170.2',
  '100.100.100.200',
  '169.254.169.123',
  '192.0.0.192',
  '168.63.129.16',
]);
const LOOPBACK_NAMES =
  /^(?:localhost|localhost\.localdomain|ip6-localhost|ip6-loopback|0)$|\.localhost$|^(?:[a-z0-9-]+\.)*(?:localtest\.me|lvh\.me|vcap\.me|lacolhost\.com|127-0-0-1\.[a-z.]+|spoofed\.burpcollaborator\.net)$/;
/** A literal every LOOPBACK_NAMES match holds: most hosts are ruled out by a few substring scans. */
function mayBeLoopbackName(host: string): boolean {
  return (
    host === '0' ||
    host.includes('localhost') ||
    host.includes('ip6-') ||
    host.includes('localtest.me') ||
    host.includes('lvh.me') ||
    host.includes('vcap.me') ||
    host.includes('lacolhost.com') ||
    host.includes('127-0-0-1.') ||
    host.includes('spoofed.burpcollaborator.net')
  );
}
/** The domains WILDCARD_DNS ends with. */
const WILDCARD_SUFFIXES = ['.nip.io', '.xip.io', '.sslip.io', '.traefik.me', '.localtest.me'];
/** Wildcard DNS services: 10.0.0.1.nip.io resolves to 10.0.0.1. */
const WILDCARD_DNS =
  /^(?:[a-z0-9-]+\.)*?((?:\d{1,3}[.-]){3}\d{1,3})\.(?:nip\.io|xip\.io|sslip\.io|traefik\.me|localtest\.me)$/;
/**
 * Schemes that talk to internal services: `(?:^|[^a-z0-9+.-])(name)\s*:\/\/`, the first match. Read from each "://"
 * backwards (blanks, then the scheme's characters) instead of trying the pattern at every position.
 */
const DANGEROUS_NAMES = new Set([
  'gopher',
  'dict',
  'ldap',
  'ldaps',
  'tftp',
  'sftp',
  'jar',
  'netdoc',
  'file',
  'phar',
  'smb',
  'redis',
  'mysql',
  'ftp',
]);
function isSchemeChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 46 || c === 45;
}
/** The first dangerous scheme and the index its match starts at (the character before the name, or 0). */
export function dangerousScheme(s: string): { name: string; index: number } | null {
  // The stretch read back from one "://" holds no ":": stretches do not overlap, and the first "://" with a
  // dangerous name before it is the leftmost match.
  for (let q = s.indexOf('://'); q !== -1; q = s.indexOf('://', q + 1)) {
    let p = q;
    while (p > 0 && isRegexSpace(s.charCodeAt(p - 1))) p--;
    let w = p;
    while (w > 0 && isSchemeChar(s.charCodeAt(w - 1))) w--;
    if (w < p) {
      const name = s.slice(w, p);
      if (DANGEROUS_NAMES.has(name)) return { name, index: w === 0 ? 0 : w - 1 };
    }
  }
  return null;
}
/** Schemes of the URLs read in text (`urlInText`). */
const URL_SCHEMES = new Set([
  'http',
  'https',
  'ws',
  'wss',
  'ftp',
  'gopher',
  'dict',
  'ldap',
  'ldaps',
  'tftp',
  'jar',
  'smb',
  'redis',
  'netdoc',
  'file',
]);
function isWordCharOrBracket(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 91;
}
/**
 * The first match at or after `from` of
 * `/(?:https?|wss?|ftp|gopher|dict|ldaps?|tftp|jar|smb|redis|netdoc|file):\/\/|(?:^|[\s="'(])\/\/(?=[\w[])/g`
 * (its index and end), found from each "//" instead of trying the alternation at every position: a match for a
 * later "//" never starts before one for an earlier "//" (a scheme is letters, "//" are not).
 */
export function urlInText(s: string, from: number): { index: number; end: number } | null {
  for (let q = s.indexOf('//', from); q !== -1; q = s.indexOf('//', q + 1)) {
    if (q >= 1 && s.charCodeAt(q - 1) === 58 /* : */) {
      // The leftmost scheme ending at the ":" (names are 2 to 6 letters a-z; at most one starts at a position).
      let r = q - 1;
      while (r > 0 && r > q - 7 && s.charCodeAt(r - 1) >= 97 && s.charCodeAt(r - 1) <= 122) r--;
      for (let p = Math.max(from, r); p <= q - 3; p++)
        if (URL_SCHEMES.has(s.slice(p, q - 1))) return { index: p, end: q + 2 };
    }
    if (q + 2 >= s.length || !isWordCharOrBracket(s.charCodeAt(q + 2))) continue;
    if (q === 0) {
      if (from === 0) return { index: 0, end: 2 };
      continue;
    }
    const c = s.charCodeAt(q - 1);
    if (q - 1 >= from && (isRegexSpace(c) || c === 61 || c === 34 || c === 39 || c === 40))
      return { index: q - 1, end: q + 2 };
  }
  return null;
}
const URL_PARAM =
  /(?:^|[_.-])(?:url|uri|link|src|source|dest|destination|target|redirect|return|returnto|return_to|next|continue|callback|webhook|hook|host|hostname|domain|proxy|feed|image|img|avatar|fetch|endpoint|remote|server|site|path|file|page|load|ref|out|go|to|u)$/;

/** inet_aton: "127.1", "0x7f.1", "0177.0.0.1", "2130706433" → four bytes, or null. */
export function parseIPv4Loose(host: string): number[] | null {
  if (!/^[0-9a-fx.]+$/.test(host) || host.length > 64) return null;
  const parts = host.split('.');
  if (parts.length > 4 || parts.length === 0) return null;
  if (parts[parts.length - 1] === '' && parts.length > 1) parts.pop();
  const nums: number[] = [];
  for (const p of parts) {
    if (p === '') return null;
    let v: number;
    if (/^0x[0-9a-f]*$/.test(p)) v = p.length === 2 ? 0 : Number.parseInt(p.slice(2), 16);
    else if (/^0[0-7]+$/.test(p)) v = Number.parseInt(p, 8);
    else if (/^\d+$/.test(p)) v = Number(p);
    else return null;
    if (!Number.isFinite(v)) return null;
    nums.push(v);
  }
  const last = nums.pop() as number;
  for (const x of nums) if (x > 255) return null;
  const rest = 4 - nums.length;
  if (last >= 2 ** (8 * rest)) return null;
  const out = [...nums];
  for (let k = rest - 1; k >= 0; k--) out.push(Math.floor(last / 2 ** (8 * k)) % 256);
  return out;
}

type Kind = 'metadata' | 'loopback' | 'private' | 'link-local' | 'unspecified' | null;

function classifyV4(b: number[]): Kind {
  const s = b.join('.');
  if (METADATA_V4.has(s)) return 'metadata';
  const [a, c] = b as [number, number];
  if (a === 127) return 'loopback';
  if (a === 0) return 'unspecified';
  if (a === 10 || (a === 172 && c >= 16 && c <= 31) || (a === 192 && c === 168) || (a === 100 && c >= 64 && c <= 127))
    return 'private';
  if (a === 169 && c === 254) return 'link-local';
  if (a === 198 && (c === 18 || c === 19)) return 'private';
  return null;
}

/** Classifies a host as the URL parser sees it (brackets for IPv6 included or not). */
export function classifyHost(hostIn: string): Kind {
  let host = hostIn.trim().toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const pct = host.indexOf('%');
  if (pct !== -1) host = host.slice(0, pct); // fe80::1%eth0
  if (!host) return null;
  if (METADATA_HOSTS.has(host)) return 'metadata';
  if (mayBeLoopbackName(host) && LOOPBACK_NAMES.test(host)) return 'loopback';
  const w = WILDCARD_SUFFIXES.some((x) => host.endsWith(x)) ? WILDCARD_DNS.exec(host) : null;
  if (w) {
    const b = parseIPv4Loose((w[1] as string).replace(/-/g, '.'));
    return (b && classifyV4(b)) || null;
  }
  const v4 = parseIPv4Loose(host);
  if (v4) return classifyV4(v4);
  if (host.indexOf(':') !== -1 && ipaddr.IPv6.isValid(host)) {
    const a = ipaddr.IPv6.parse(host);
    if (a.isIPv4MappedAddress()) return classifyV4(a.toIPv4Address().octets);
    const r = a.range();
    const str = a.toNormalizedString();
    if (str === '0:0:0:0:0:0:0:1' || r === 'loopback') return 'loopback';
    if (r === 'unspecified') return 'unspecified';
    if (str.startsWith('fd00:ec2:')) return 'metadata';
    if (r === 'uniqueLocal') return 'private';
    if (r === 'linkLocal') return 'link-local';
    // IPv4-compatible (::127.0.0.1) and NAT64 (64:ff9b::7f00:1) embed an IPv4 address.
    const parts = a.parts;
    if (
      (parts.slice(0, 6).every((p) => p === 0) || (parts[0] === 0x64 && parts[1] === 0xff9b)) &&
      (parts[6] || parts[7])
    ) {
      return classifyV4([
        (parts[6] as number) >> 8,
        (parts[6] as number) & 255,
        (parts[7] as number) >> 8,
        (parts[7] as number) & 255,
      ]);
    }
  }
  return null;
}

/** Characters that end the authority: / ? # \ blank tab newline " ' < > */
const HOST_END = new Uint8Array(128);
for (const c of '/?#\\ \t\n"\'<>') HOST_END[c.charCodeAt(0)] = 1;

/** The host part after "//": userinfo dropped (the last "@" wins, as in WHATWG URL), port dropped. */
function hostAfterSlashes(s: string, i: number): { host: string; confusing: boolean } {
  let end = i;
  const n = Math.min(s.length, i + 256);
  while (end < n) {
    const c = s.charCodeAt(end);
    if (c < 128 && HOST_END[c] === 1) break;
    end++;
  }
  let auth = s.slice(i, end);
  const at = auth.lastIndexOf('@');
  const confusing = at !== -1;
  if (at !== -1) auth = auth.slice(at + 1);
  let host: string;
  if (auth.startsWith('[')) {
    const close = auth.indexOf(']');
    host = close === -1 ? auth : auth.slice(0, close + 1);
  } else {
    const colon = auth.indexOf(':');
    host = colon === -1 ? auth : auth.slice(0, colon);
  }
  return { host, confusing };
}

/**
 * classifyHost is a function of the host alone, and the hosts in URLs repeat from request to request (an API's own
 * domains, a CDN's): its answers are remembered, bounded (cleared when full; long hosts are not kept).
 */
const knownHost = remembered(classifyHost, 4096, 253);

const SCORE: Record<Exclude<Kind, null>, number> = {
  metadata: CRITICAL,
  loopback: CRITICAL,
  unspecified: CRITICAL,
  'link-local': CRITICAL,
  private: CRITICAL,
};

/** A bare address or host[:port][/path]: "127.0.0.1:22", "[::1]", "internal/admin". */
const BARE_HOST = /^([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?(?:\/[^\s]*)?$/;

const QUICK = /:\/\/|^\/\/|[\s="'(]\/\/|^\[?[0-9a-fx.:]+\]?(?::\d+)?(?:\/|$)|localhost|metadata/;

export const ssrf: Detector = {
  cls: 'ssrf',
  needs: 0,
  proseWords: ['localhost', 'metadata'],
  detect(v: Value): Hit | null {
    const s = v.lower;
    if (v.isKey) return null;
    if (
      !(v.flags & (F.COLON | F.SLASH | F.BRACKET | F.DIGIT_START)) &&
      !s.includes('localhost') &&
      !s.includes('metadata')
    )
      return null;
    if (
      s.indexOf('//') === -1 &&
      !s.includes('localhost') &&
      !s.includes('metadata') &&
      !(v.flags & (F.DIGIT_START | F.BRACKET) && QUICK.test(s))
    )
      return null;
    let hit: Hit | null = null;
    const urlish = v.kind === 'query' || v.kind === 'body' || URL_PARAM.test(v.name);
    const take = (rule: string, score: number, at: number) => {
      if (!hit || score > hit.score) hit = { rule, score, at };
    };
    const scheme = dangerousScheme(s);
    if (scheme && scheme.name !== 'ftp' && scheme.name !== 'phar')
      take(
        'ssrf.scheme',
        scheme.name === 'gopher' || scheme.name === 'dict' || scheme.name === 'tftp'
          ? CRITICAL
          : scheme.name === 'file'
            ? WARNING
            : ERROR,
        scheme.index,
      );
    // A referer or origin pointing at localhost is a developer's browser, not an attack: their hosts score nothing,
    // so they are classified only when the userinfo check below depends on it.
    const browserUrl = v.kind === 'header' && (v.name === 'referer' || v.name === 'origin');
    let from = 0;
    for (let count = 0; count < 16; count++) {
      const m = urlInText(s, from);
      if (!m) break;
      const start = m.end;
      from = m.end;
      const { host, confusing } = hostAfterSlashes(s, start);
      const kind = browserUrl && !confusing ? null : knownHost(host);
      if (kind) {
        const base = SCORE[kind];
        // OAuth loopback redirect URIs are legitimate (RFC 8252 section 7.3).
        const oauthLoopback = kind === 'loopback' && /redirect_uri|callback_url/.test(v.name);
        // A URL mentioned inside prose ("works on http://localhost:3000") is not a value the server fetches.
        const prose = /\s[a-z]{2,}\s+[a-z]{2,}\s/.test(s);
        const score = browserUrl || oauthLoopback ? 0 : prose ? WARNING : base;
        if (score)
          take(
            kind === 'metadata' ? 'ssrf.metadata' : `ssrf.${kind === 'link-local' ? 'link_local' : kind}`,
            score,
            m.index,
          );
      } else if (confusing && /[@]/.test(host) === false && s.slice(start, start + 256).split('@').length > 2) {
        take('ssrf.userinfo', WARNING, m.index);
      }
      if (hit && (hit as Hit).score >= CRITICAL) return hit;
    }
    // A bare address or host[:port][/path] in a URL-ish parameter: "?host=127.0.0.1:22", "?url=[::1]".
    if (!hit && urlish && v.kind !== 'header' && s.length < 300) {
      // The pattern holds no blank: a value with a space inside (prose) cannot match.
      const t = s.trim();
      // BARE_HOST holds no blank, and its first "/" follows a host, a port or "]", never a ":": "https://..." is no
      // bare host.
      const slash = t.indexOf('/');
      const bare = t.indexOf(' ') === -1 && (slash < 1 || t.charCodeAt(slash - 1) !== 58) ? BARE_HOST.exec(t) : null;
      if (bare) {
        const named = URL_PARAM.test(v.name);
        const h = bare[1] as string;
        // Outside URL-named parameters only an unambiguous spelling counts: "10.5" is a price, "0" a page number.
        const plain =
          /^(?:\d{1,3}\.){3}\d{1,3}$/.test(h) || h.startsWith('[') || h === 'localhost' || METADATA_HOSTS.has(h);
        const numeric = /^[\d.]+$/.test(h) && !/^(?:\d{1,3}\.){3}\d{1,3}$/.test(h) && !/^\d{8,}$/.test(h);
        const kind = (named && !numeric) || plain ? knownHost(h) : null;
        if (kind) {
          take(
            `ssrf.${kind === 'metadata' ? 'metadata' : 'internal_host'}`,
            kind === 'metadata' ? CRITICAL : named ? SCORE[kind] : kind === 'private' ? 2 : WARNING,
            0,
          );
        }
      }
    }
    return hit;
  },
};
