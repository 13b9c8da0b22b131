import type { AttackClass } from '../types.js';

/** Where a value came from; detectors weigh some places differently (a URL in `?callback=` vs in a User-Agent). */
export type ValueKind = 'path' | 'query' | 'header' | 'cookie' | 'body' | 'key';

/**
 * Which characters a value holds, computed in one pass (charFlags): each detector first checks the characters its
 * attacks cannot do without, so a value without them costs one bit test instead of a regex scan.
 */
export const F = {
  QUOTE: 1, // ' "
  LT: 1 << 1,
  GT: 1 << 2,
  COLON: 1 << 3,
  SLASH: 1 << 4,
  BACKSLASH: 1 << 5,
  DOLLAR: 1 << 6,
  BRACE: 1 << 7, // {
  LPAREN: 1 << 8,
  RPAREN: 1 << 9,
  SEMI: 1 << 10,
  PIPE: 1 << 11,
  AMP: 1 << 12,
  BACKTICK: 1 << 13,
  NEWLINE: 1 << 14, // \n \r
  DOTDOT: 1 << 15,
  HASH: 1 << 16,
  AT: 1 << 17,
  PERCENT: 1 << 18,
  EQ: 1 << 19,
  STAR: 1 << 20,
  SPACE: 1 << 21, // space, tab, vertical tab, form feed
  BRACKET: 1 << 22, // [
  UNDERSCORE2: 1 << 23, // __
  DASH2: 1 << 24, // --
  BANG: 1 << 25,
  DIGIT_START: 1 << 26,
  PLUS: 1 << 27,
  /** " -": an option after a space (ls -la), or a dash in prose. */
  DASH_OPT: 1 << 28,
  /** Set by the engine (not charFlags): the raw value used evasive encoding (%2e, %25.., overlong UTF-8, %u, %%). */
  ENCODED: 1 << 29,
} as const;

/** Characters that set no flag by themselves: most prose is made of them only. */
const FLAGLESS = /[^a-zA-Z0-9 .,]/;

export function charFlags(s: string): number {
  let f = s.length > 0 && s.charCodeAt(0) >= 48 && s.charCodeAt(0) <= 57 ? F.DIGIT_START : 0;
  if (s.indexOf(' ') !== -1) f |= F.SPACE;
  if (s.indexOf('..') !== -1) f |= F.DOTDOT;
  // Native scan to the first character that can set a flag; prose without one costs no per-character loop.
  const first = FLAGLESS.exec(s);
  if (!first) return f;
  let prev = first.index > 0 ? s.charCodeAt(first.index - 1) : 0;
  for (let i = first.index; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90)) {
      prev = c;
      continue;
    }
    switch (c) {
      case 39:
      case 34:
        f |= F.QUOTE;
        break;
      case 60:
        f |= F.LT;
        break;
      case 62:
        f |= F.GT;
        break;
      case 58:
        f |= F.COLON;
        break;
      case 47:
        f |= F.SLASH;
        break;
      case 92:
        f |= F.BACKSLASH;
        break;
      case 36:
        f |= F.DOLLAR;
        break;
      case 123:
        f |= F.BRACE;
        break;
      case 40:
        f |= F.LPAREN;
        break;
      case 41:
        f |= F.RPAREN;
        break;
      case 59:
        f |= F.SEMI;
        break;
      case 124:
        f |= F.PIPE;
        break;
      case 38:
        f |= F.AMP;
        break;
      case 96:
        f |= F.BACKTICK;
        break;
      case 10:
      case 13:
        f |= F.NEWLINE;
        break;
      case 46:
        if (prev === 46) f |= F.DOTDOT;
        break;
      case 35:
        f |= F.HASH;
        break;
      case 64:
        f |= F.AT;
        break;
      case 37:
        f |= F.PERCENT;
        break;
      case 61:
        f |= F.EQ;
        break;
      case 42:
        f |= F.STAR;
        break;
      case 32:
      case 9:
      case 11:
      case 12:
        f |= F.SPACE;
        break;
      case 91:
        f |= F.BRACKET;
        break;
      case 95:
        if (prev === 95) f |= F.UNDERSCORE2;
        break;
      case 45:
        if (prev === 45) f |= F.DASH2;
        else if (prev === 32) f |= F.DASH_OPT;
        break;
      case 33:
        f |= F.BANG;
        break;
      case 43:
        f |= F.PLUS;
        break;
    }
    prev = c;
  }
  return f;
}

/** One decoded value as the detectors see it. */
export interface Value {
  /** Fully decoded (decode.ts), bounded. */
  readonly text: string;
  /** `text.toLowerCase()`, computed once per value. */
  readonly lower: string;
  readonly kind: ValueKind;
  /** Parameter, header, cookie or JSON key name (lower case), "" for the path and whole bodies. */
  readonly name: string;
  /** True for a JSON object key or a query/form parameter name (not a value). */
  readonly isKey: boolean;
  /** charFlags(text). */
  readonly flags: number;
  /** For a JSON object key: its value as JSON, truncated (an operator's operand tells a filter from a bypass). */
  readonly keyValue?: string | undefined;
}

/** What a detector found in one value: its strongest match. */
export interface Hit {
  readonly rule: string;
  readonly score: number;
  /** Index in `text` around which the fragment is cut. */
  readonly at: number;
}

export interface Detector {
  readonly cls: AttackClass;
  /** Returns the strongest match in the value, or null. Must be linear in the value's length. */
  detect(v: Value): Hit | null;
}

/** Scores: one critical finding reaches the default threshold alone; weaker ones need company. */
export const CRITICAL = 5;
export const ERROR = 4;
export const WARNING = 3;
export const NOTICE = 2;

/** Keeps the stronger of two hits (the first on a tie). */
export function best(a: Hit | null, b: Hit | null): Hit | null {
  if (!a) return b;
  if (!b) return a;
  return b.score > a.score ? b : a;
}
