/**
 * Shared pieces of the labelled detection corpus (test/corpus): the line format, a seeded PRNG so the generator is
 * deterministic, the URL encoders the attack generator uses as evasions, and realistic client headers so that only
 * the payload distinguishes an attack line from a benign one.
 */
import type { AttackClass } from '../../src/detect/types.js';

export type CorpusLabel = AttackClass | 'benign';

export interface CorpusRequest {
  method: string;
  /** Raw path as sent (percent-encoded). */
  path: string;
  /** Raw query without "?" ("" when none). */
  query: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body?: string;
}

export interface CorpusLine {
  id: string;
  label: CorpusLabel;
  request: CorpusRequest;
  note?: string;
}

/** mulberry32: tiny, fast, good enough to pick templates; the same seed always gives the same corpus. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  hex(len: number): string {
    let s = '';
    for (let i = 0; i < len; i++) s += '0123456789abcdef'[this.int(16)];
    return s;
  }
  alnum(len: number): string {
    const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let s = '';
    for (let i = 0; i < len; i++) s += abc[this.int(abc.length)];
    return s;
  }
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[this.int(4)]}${h.slice(17, 20)}-${h.slice(20)}`;
  }
}

// --- URL encodings (what a client puts on the wire for a decoded value) ---

/** What browsers and most HTTP libraries do for a query value: encodeURIComponent (keeps ' ( ) ! * ~ raw). */
export function encStd(s: string): string {
  return encodeURIComponent(s);
}

/** HTML-form style: like encStd but space is "+". */
export function encPlus(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+');
}

/** What curl/scanners send when the value is pasted raw: only the bytes that would break the URL are encoded. */
export function encMin(s: string): string {
  let out = '';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === ' ') out += '%20';
    else if (ch === '&' || ch === '#' || ch === '+' || ch === '%' || ch === '=') out += encodeURIComponent(ch);
    else if (code < 0x21 || code > 0x7e) out += encodeURIComponent(ch);
    else out += ch;
  }
  return out;
}

/** Double URL encoding (%27 -> %2527), for backends that decode twice. */
export function encDouble(s: string): string {
  return encodeURIComponent(encodeURIComponent(s));
}

/** IIS-style %uXXXX for the characters filters look for, standard encoding for the rest. */
export function encU(s: string): string {
  let out = '';
  for (const ch of s) {
    if (`'"<>/ ()`.includes(ch)) out += `%u${(ch.codePointAt(0) ?? 0).toString(16).padStart(4, '0').toUpperCase()}`;
    else out += encodeURIComponent(ch);
  }
  return out;
}

/** Every character percent-encoded, even letters (some scanners do this). */
export function encAll(s: string): string {
  return Array.from(Buffer.from(s, 'utf8'))
    .map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`)
    .join('');
}

/** JSON.stringify, then turn the characters filters look for into \uXXXX escapes (valid JSON, same value). */
export function jsonUnicodeEscape(json: string): string {
  // Only inside string literals: the structural quotes of the JSON must stay.
  return json.replace(/"((?:[^"\\]|\\.)*)"/g, (_m, inner: string) => {
    const esc = inner.replace(/\\"/g, '\\u0022').replace(/[<>'$_{}();/]/g, (c) => {
      return `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`;
    });
    return `"${esc}"`;
  });
}

/** Random upper/lower case of ASCII letters (keyword filters that forget case). */
export function mixCase(rng: Rng, s: string): string {
  let out = '';
  for (const ch of s) out += rng.chance(0.5) ? ch.toUpperCase() : ch.toLowerCase();
  return out;
}

// --- realistic client headers ---

export const BROWSER_UAS: readonly string[] = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.80',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
];

export const CLIENT_UAS: readonly string[] = [
  'curl/8.5.0',
  'python-requests/2.32.3',
  'axios/1.7.7',
  'okhttp/4.12.0',
  'Go-http-client/2.0',
  'node-fetch/3.3.2',
  'PostmanRuntime/7.42.0',
  'MyShopApp/5.12.1 (iOS 18.1; iPhone15,2)',
  'Dalvik/2.1.0 (Linux; U; Android 14; SM-S918B Build/UP1A.231005.007)',
];

const LANGS = [
  'en-US,en;q=0.9',
  'de-DE,de;q=0.9,en;q=0.8',
  'fr-FR,fr;q=0.9',
  'en-GB,en;q=0.8',
  'es-ES,es;q=0.9,en;q=0.6',
];

function b64url(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}

/** A JWT-shaped bearer token (header.payload.signature); never a real key. */
export function fakeJwt(rng: Rng): string {
  const header = b64url(JSON.stringify({ alg: rng.pick(['RS256', 'ES256', 'HS256']), typ: 'JWT', kid: rng.hex(8) }));
  const now = 1764300000 + rng.int(100000);
  const payload = b64url(
    JSON.stringify({
      sub: rng.uuid(),
      iss: 'https://auth.example.com/',
      aud: 'api',
      iat: now,
      exp: now + 3600,
      scope: rng.pick(['read:orders', 'openid profile email', 'write:posts read:posts']),
    }),
  );
  return `${header}.${payload}.${Buffer.from(rng.hex(64), 'hex').toString('base64url')}`;
}

export interface HeaderOptions {
  browser?: boolean;
  auth?: boolean;
  cookie?: boolean;
  contentType?: string;
  host?: string;
}

/** Headers a real client sends; attack and benign lines share them so only the payload differs. */
export function clientHeaders(rng: Rng, opts: HeaderOptions = {}): Record<string, string> {
  const browser = opts.browser ?? rng.chance(0.6);
  const h: Record<string, string> = {
    host: opts.host ?? rng.pick(['api.example.com', 'shop.example.com', 'app.example.org']),
  };
  h['user-agent'] = browser ? rng.pick(BROWSER_UAS) : rng.pick(CLIENT_UAS);
  h.accept = browser ? 'application/json, text/plain, */*' : '*/*';
  if (browser) {
    h['accept-language'] = rng.pick(LANGS);
    h['accept-encoding'] = 'gzip, deflate, br';
  }
  if (opts.auth ?? rng.chance(0.4)) h.authorization = `Bearer ${fakeJwt(rng)}`;
  if (opts.cookie ?? (browser && rng.chance(0.5))) {
    h.cookie = `sid=${rng.alnum(32)}; _ga=GA1.2.${rng.int(1e9)}.${1700000000 + rng.int(9e7)}; theme=${rng.pick(['dark', 'light'])}`;
  }
  if (browser && rng.chance(0.3))
    h.referer = `https://${h.host}/${rng.pick(['', 'products?page=2', 'account/orders', 'search?q=winter+boots', 'blog/hello-world'])}`;
  if (rng.chance(0.3)) h['x-request-id'] = rng.uuid();
  if (opts.contentType) h['content-type'] = opts.contentType;
  return h;
}

/** Multipart body with the given fields (and optional file parts). */
export function multipart(
  rng: Rng,
  fields: ReadonlyArray<{ name: string; value: string; filename?: string; type?: string }>,
): { contentType: string; body: string } {
  const boundary = `----WebKitFormBoundary${rng.alnum(16)}`;
  let body = '';
  for (const f of fields) {
    body += `--${boundary}\r\n`;
    body += `Content-Disposition: form-data; name="${f.name}"${f.filename !== undefined ? `; filename="${f.filename}"` : ''}\r\n`;
    if (f.type) body += `Content-Type: ${f.type}\r\n`;
    body += `\r\n${f.value}\r\n`;
  }
  body += `--${boundary}--\r\n`;
  return { contentType: `multipart/form-data; boundary=${boundary}`, body };
}

/** application/x-www-form-urlencoded body from pairs (values form-encoded with "+"). */
export function formBody(pairs: ReadonlyArray<[string, string]>): string {
  return pairs.map(([k, v]) => `${encPlus(k)}=${encPlus(v)}`).join('&');
}

export function toJsonl(lines: readonly CorpusLine[]): string {
  return lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length > 0 ? '\n' : '');
}
