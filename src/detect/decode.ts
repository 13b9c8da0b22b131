import { F, HIGH } from './detectors/common.js';
/**
 * Decoders that undo what attackers use to hide payloads from naive matchers: percent encoding (repeated, so double
 * encoding falls too, plus IIS `%uXXXX` and overlong UTF-8 for `.` `/` `\`), `+` as space in forms, HTML entities,
 * JavaScript `\uXXXX` / `\xXX` escapes, fullwidth and other compatibility forms (NFKC), NUL bytes. Every function is
 * a single left-to-right pass over a bounded input, so the total work is linear in the input length.
 */

/** Most characters of one value the detectors look at; longer values are cut (the cut is still inspected). */
export const MAX_VALUE_CHARS = 8192;
/** Passes of percent decoding: three undo double and triple encoding. */
const MAX_PASSES = 3;

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Overlong UTF-8 sequences decoders once accepted for `.`, `/` and `\` (%c0%ae, %c0%af, %c1%9c, %e0%80%af ...). */
const OVERLONG: Record<string, string> = {
  c0ae: '.',
  c0af: '/',
  c19c: '\\',
  e080ae: '.',
  e080af: '/',
};

/**
 * One pass of percent decoding. Invalid escapes stay as they are; bytes are collected and decoded as UTF-8 with
 * replacement (never throws, unlike decodeURIComponent). `plus` turns `+` into a space (query strings, forms).
 */
export function percentDecodeOnce(s: string, plus: boolean): string {
  if (s.indexOf('%') === -1 && (!plus || s.indexOf('+') === -1)) return s;
  let out = '';
  let bytes: number[] | null = null;
  const flush = () => {
    if (bytes) {
      out += Buffer.from(bytes).toString('utf8');
      bytes = null;
    }
  };
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */ && i + 2 < n) {
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        const b = h * 16 + l;
        // Overlong forms of . / \ : map them before UTF-8 decoding would turn them into U+FFFD.
        if ((b === 0xc0 || b === 0xc1 || b === 0xe0) && i + 5 < n && s.charCodeAt(i + 3) === 37) {
          const key = s.slice(i + 1, i + 3).toLowerCase() + s.slice(i + 4, i + 6).toLowerCase();
          const m = OVERLONG[key];
          if (m !== undefined) {
            flush();
            out += m;
            i += 5;
            continue;
          }
          if (b === 0xe0 && i + 8 < n && s.charCodeAt(i + 6) === 37) {
            const m3 = OVERLONG[key + s.slice(i + 7, i + 9).toLowerCase()];
            if (m3) {
              flush();
              out += m3;
              i += 8;
              continue;
            }
          }
        }
        if (!bytes) bytes = [];
        bytes.push(b);
        i += 2;
        continue;
      }
      // IIS %uXXXX
      if ((s.charCodeAt(i + 1) | 32) === 117 && i + 5 < n) {
        const v = parseHex(s, i + 2, 4);
        if (v >= 0) {
          flush();
          out += String.fromCharCode(v);
          i += 5;
          continue;
        }
      }
    }
    flush();
    if (plus && c === 43) {
      out += ' ';
      continue;
    }
    // Copy up to the next "%" (or "+") in one slice.
    let next = s.indexOf('%', i + 1);
    if (plus) {
      const p = s.indexOf('+', i + 1);
      if (p !== -1 && (next === -1 || p < next)) next = p;
    }
    const end = next === -1 ? n : next;
    out += s.slice(i, end);
    i = end - 1;
  }
  flush();
  return out;
}

function parseHex(s: string, from: number, len: number): number {
  let v = 0;
  for (let k = 0; k < len; k++) {
    const d = hexVal(s.charCodeAt(from + k));
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** An "&" a reference can start at: "&#" or "&" and a name NAMED holds (its first two letters). */
const ENTITY_START = /&(?:#|lt|gt|am|qu|ap|co|so|bs|lp|rp|se|eq|ta|ne|nb|gr|lo|pe|ex|nu|do|pl|as|ve|ls|rs|lc|rc)/i;

const NAMED: Record<string, string> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
  colon: ':',
  sol: '/',
  bsol: '\\',
  lpar: '(',
  rpar: ')',
  semi: ';',
  equals: '=',
  tab: '\t',
  newline: '\n',
  nbsp: ' ',
  grave: '`',
  lowbar: '_',
  period: '.',
  comma: ',',
  excl: '!',
  num: '#',
  dollar: '$',
  percnt: '%',
  plus: '+',
  ast: '*',
  vert: '|',
  lsqb: '[',
  rsqb: ']',
  lcub: '{',
  rcub: '}',
  quest: '?',
  commat: '@',
};

/** HTML character references: `&#60;`, `&#x3c;` (with or without `;`, with leading zeros) and common named ones. */
export function htmlDecode(s: string): string {
  if (s.indexOf('&') === -1) return s;
  // Prose has "&" without a reference ("Tom & Jerry", "?a=1&b=2"): nothing to build when none follows.
  if (!ENTITY_START.test(s)) return s;
  let out = '';
  const n = s.length;
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) !== 38 /* & */) {
      // Copy up to the next "&" in one slice.
      const next = s.indexOf('&', i);
      if (next === -1) {
        out += s.slice(i);
        break;
      }
      out += s.slice(i, next);
      i = next;
    }
    let j = i + 1;
    if (s.charCodeAt(j) === 35 /* # */) {
      j++;
      const hex = (s.charCodeAt(j) | 32) === 120;
      if (hex) j++;
      let v = 0;
      let digits = 0;
      while (j < n && digits < 12) {
        const d = hex ? hexVal(s.charCodeAt(j)) : s.charCodeAt(j) - 48;
        if (d < 0 || d > (hex ? 15 : 9)) break;
        v = v * (hex ? 16 : 10) + d;
        digits++;
        j++;
      }
      if (digits > 0 && v > 0 && v <= 0x10ffff) {
        out += String.fromCodePoint(v);
        if (s.charCodeAt(j) === 59) j++;
        i = j - 1;
        continue;
      }
      out += '&';
      continue;
    }
    let k = j;
    while (k < n && k - j < 10) {
      const ch = s.charCodeAt(k) | 32;
      if (ch < 97 || ch > 122) break;
      k++;
    }
    const name = s.slice(j, k).toLowerCase();
    const m = NAMED[name];
    if (m !== undefined && k > j) {
      out += m;
      i = s.charCodeAt(k) === 59 ? k : k - 1;
      continue;
    }
    out += '&';
  }
  return out;
}

/** JavaScript / JSON-in-string escapes: `\u003c`, `\u{3c}`, `\x3c`. Other backslashes stay. */
export function jsUnescape(s: string): string {
  if (s.indexOf('\\') === -1) return s;
  let out = '';
  const n = s.length;
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) !== 92) {
      const next = s.indexOf('\\', i);
      if (next === -1) {
        out += s.slice(i);
        break;
      }
      out += s.slice(i, next);
      i = next;
    }
    if (i + 3 < n) {
      const t = s.charCodeAt(i + 1) | 32;
      if (t === 117) {
        if (s.charCodeAt(i + 2) === 123) {
          const end = s.indexOf('}', i + 3);
          if (end > i + 3 && end - i <= 10) {
            const v = parseHex(s, i + 3, end - i - 3);
            if (v >= 0 && v <= 0x10ffff) {
              out += String.fromCodePoint(v);
              i = end;
              continue;
            }
          }
        } else if (i + 5 < n) {
          const v = parseHex(s, i + 2, 4);
          if (v >= 0) {
            out += String.fromCharCode(v);
            i += 5;
            continue;
          }
        }
      } else if (t === 120) {
        const v = parseHex(s, i + 2, 2);
        if (v >= 0) {
          out += String.fromCharCode(v);
          i += 3;
          continue;
        }
      }
    }
    out += s[i];
  }
  return out;
}

/**
 * The flags (rawFlags) of every character decodeValue acts on without `plus` (NEEDS_DECODE's): % & \ control
 * characters (\n \r are NEWLINE), DEL and non-ASCII (HIGH). A value with none of them decodes to itself.
 */
export const MAY_DECODE = F.PERCENT | F.AMP | F.BACKSLASH | F.CONTROL | F.NEWLINE | HIGH;

const CONTROL_STRIP = /[\u0000\u200b-\u200d\ufeff\u00ad\ufffd]/g;
const NON_ASCII = /[^\u0000-\u007f]/;
const NON_ASCII_OR_NUL = /[\u0000\u0080-\uffff]/;
const NEEDS_DECODE = /[%&\\\u0000-\u001f\u007f-\uffff]/;
const NEEDS_DECODE_PLUS = /[%&\\+\u0000-\u001f\u007f-\uffff]/;
/** NEEDS_DECODE without "&". */
const NEEDS_MORE = /[%\\\u0000-\u001f\u007f-\uffff]/;
const NEEDS_MORE_PLUS = /[%\\+\u0000-\u001f\u007f-\uffff]/;
const LOOKALIKE = /[\u2215\u2044\u29f8\u2216\u29f9\ufe68\u3002]/;
const SLASHES = /[\u2215\u2044\u29f8]/g;
const BACKSLASHES = /[\u2216\u29f9\ufe68]/g;

/**
 * The value as the application most likely sees it after every layer of decoding: percent (repeated), entities,
 * JS escapes, compatibility forms (fullwidth `＜` → `<`), without NULs and zero-width characters. Bounded to
 * MAX_VALUE_CHARS.
 */
export function decodeValue(raw: string, plus: boolean, flags?: number): string {
  let s = raw.length > MAX_VALUE_CHARS ? raw.slice(0, MAX_VALUE_CHARS) : raw;
  // `flags` (rawFlags of s, from a caller that has them) answer both questions below without a scan.
  const more = plus ? (MAY_DECODE & ~F.AMP) | F.PLUS : MAY_DECODE & ~F.AMP;
  // Fast path: nothing to decode in most values (no % & \ +, no control or non-ASCII characters).
  if (flags === undefined ? !(plus ? NEEDS_DECODE_PLUS : NEEDS_DECODE).test(s) : !(flags & (more | F.AMP))) return s;
  // Prose with "&" and nothing else to decode ("Tom & Jerry"): without a reference there, every step below would
  // leave it as it is.
  if ((flags === undefined ? !(plus ? NEEDS_MORE_PLUS : NEEDS_MORE).test(s) : !(flags & more)) && htmlDecode(s) === s)
    return s;
  for (let p = 0; p < MAX_PASSES; p++) {
    const d = percentDecodeOnce(s, plus && p === 0);
    if (d === s) break;
    s = d;
  }
  const beforeHtml = s;
  s = htmlDecode(s);
  // htmlDecode of a value it left as it was would leave it again: the second round is skipped then.
  const htmlIdle = s === beforeHtml;
  s = jsUnescape(s);
  // A second round catches `%26lt;` → `&lt;` → `<` and `\u0025 3c` style layering.
  if (s.indexOf('%') !== -1) s = percentDecodeOnce(s, false);
  if (s.indexOf('&') !== -1 && !(htmlIdle && s === beforeHtml)) s = htmlDecode(s);
  // CONTROL_STRIP's characters are NUL and non-ASCII ones: one scan rules out both steps for ASCII text.
  if (!NON_ASCII_OR_NUL.test(s)) return s.length > MAX_VALUE_CHARS ? s.slice(0, MAX_VALUE_CHARS) : s;
  if (NON_ASCII.test(s)) {
    s = s.normalize('NFKC');
    // Look-alike slashes NFKC leaves alone (∕ ⁄ ⧸, ∖ ⧹ ﹨): a path reader may fold them.
    if (LOOKALIKE.test(s)) s = s.replace(SLASHES, '/').replace(BACKSLASHES, '\\').replaceAll('\u3002', '.');
  }
  if (CONTROL_STRIP.test(s)) {
    CONTROL_STRIP.lastIndex = 0;
    s = s.replace(CONTROL_STRIP, '');
  }
  return s.length > MAX_VALUE_CHARS ? s.slice(0, MAX_VALUE_CHARS) : s;
}
