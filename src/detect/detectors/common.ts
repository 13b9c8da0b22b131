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
  /** A control character other than \n and \r (those are NEWLINE); \t \v \f set SPACE too. */
  CONTROL: 1 << 30,
} as const;

/** The flag each ASCII character sets by itself; SEQ marks "." "_" "-", whose flag depends on the character before. */
const SEQ = -1;
/** Read-only outside this file (json-values.ts copies it into its WebAssembly module, whose SEQ is also -1). */
export const CHAR_FLAG = new Int32Array(128);
for (const [chars, flag] of [
  ['\'"', F.QUOTE],
  ['<', F.LT],
  ['>', F.GT],
  [':', F.COLON],
  ['/', F.SLASH],
  ['\\', F.BACKSLASH],
  ['$', F.DOLLAR],
  ['{', F.BRACE],
  ['(', F.LPAREN],
  [')', F.RPAREN],
  [';', F.SEMI],
  ['|', F.PIPE],
  ['&', F.AMP],
  ['`', F.BACKTICK],
  ['\n\r', F.NEWLINE],
  ['#', F.HASH],
  ['@', F.AT],
  ['%', F.PERCENT],
  ['=', F.EQ],
  ['*', F.STAR],
  [' ', F.SPACE],
  ['\t\v\f', F.SPACE | F.CONTROL],
  ['[', F.BRACKET],
  ['!', F.BANG],
  ['+', F.PLUS],
  ['._-', SEQ],
] as const)
  for (const ch of chars) CHAR_FLAG[ch.charCodeAt(0)] = flag;
for (let c = 0; c < 32; c++) if (CHAR_FLAG[c] === 0) CHAR_FLAG[c] = F.CONTROL;

export function charFlags(s: string): number {
  return rawFlags(s) & ~HIGH;
}

/**
 * charFlags plus HIGH (bit 31, free in F) when the value has a character decodeValue acts on besides the flagged ones:
 * DEL or a non-ASCII one. Letter case sets no flag, so a value's flags are its lower-case form's too.
 */
export const HIGH = 1 << 31;
export function rawFlags(s: string): number {
  const n = s.length;
  let f = n > 0 && s.charCodeAt(0) >= 48 && s.charCodeAt(0) <= 57 ? F.DIGIT_START : 0;
  let prev = 0;
  // One table lookup per character: letters and digits set nothing.
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 127) {
      const t = CHAR_FLAG[c] as number;
      if (t === SEQ) {
        if (c === 46) {
          if (prev === 46) f |= F.DOTDOT;
        } else if (c === 95) {
          if (prev === 95) f |= F.UNDERSCORE2;
        } else if (prev === 45) f |= F.DASH2;
        else if (prev === 32) f |= F.DASH_OPT;
      } else f |= t;
    } else f |= HIGH;
    prev = c;
  }
  return f;
}

/** The characters of the regex class \w (without the u flag): the ASCII letters, digits and "_". */
export function isRegexWord(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
}

/** The characters of the regex class \s. */
export function isRegexSpace(c: number): boolean {
  return (
    (c >= 9 && c <= 13) ||
    c === 32 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/**
 * `fn` with its answers remembered per string, bounded: for pure functions of strings that repeat from request to
 * request (JSON keys, URL hosts). Cleared when `max` answers are kept; strings longer than `keyMax` are not kept.
 * `fn` never returns undefined (that reads as "not remembered").
 */
export function remembered<T>(fn: (s: string) => T, max: number, keyMax: number): (s: string) => T {
  const memory = new Map<string, T>();
  return (s) => {
    let answer = memory.get(s);
    if (answer === undefined) {
      answer = fn(s);
      if (s.length <= keyMax) {
        if (memory.size >= max) memory.clear();
        memory.set(s, answer);
      }
    }
    return answer;
  };
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

/**
 * Every Value is built here, with its fields in one order: the detectors read them at many sites, which then see one
 * object shape (values built by spreads or with fields in another order made those reads megamorphic).
 */
export function makeValue(
  text: string,
  lower: string,
  kind: ValueKind,
  name: string,
  isKey: boolean,
  flags: number,
  keyValue: string | undefined,
): Value {
  return { text, lower, kind, name, isKey, flags, keyValue };
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
  /**
   * Flags a value must have one of for detect() to find anything in it (its own first test), 0 for none. The engine
   * skips the call for a value with none of them: most short values (a name, a phone number) for several detectors.
   */
  readonly needs: number;
  /**
   * The words (any characters; their runs of letters count) without which the detector finds nothing in prose: an ASCII
   * value with at least one letter, no flag outside its proseFlags, and none of these words as a run of letters (nor a
   * proseParts string, nor a proseReads shape). The engine does not call the detector on such a value (ProseIndex); a
   * differential test (fastpath-gates.test.ts) holds each detector to it. Detectors that read nothing without their
   * own characters list none.
   */
  readonly proseWords: readonly string[];
  /** Strings the detector finds inside a word too ("xyqktkrfrlvoqyqk", base64 glued to anything): prose has none. */
  readonly proseParts?: readonly string[];
  /**
   * The flags a value may have and still be prose to this detector (PROSE_FLAGS when absent): those of the characters
   * it finds nothing with unless one of its words is there too. Never ENCODED or HIGH (the engine reads such values).
   */
  readonly proseFlags?: number;
  /** Whether the detector reads a value of prose whatever its words (a shape words do not show: "onfocus="). */
  readonly proseReads?: (s: string) => boolean;
  /** Returns the strongest match in the value, or null. Must be linear in the value's length. */
  detect(v: Value): Hit | null;
}

/** The flags prose has to every detector: blanks, quotes (apostrophes: "O'Connor", "it's"), " -" and parentheses. */
export const PROSE_FLAGS = F.SPACE | F.QUOTE | F.DASH_OPT | F.LPAREN | F.RPAREN;
/** Every flag but ENCODED and HIGH: a detector's proseFlags is this without the characters it reads alone. */
export const ANY_FLAG = 0x7fffffff & ~F.ENCODED;

/**
 * The literal words of regexes, for proseWords: escapes (\\s, \\.) and character classes ([a-z0-9]) are dropped, what
 * is left is split at every other character. A word spelled across a class ([wbu]tmp) keeps its literal part ("tmp").
 */
export function regexWords(...res: RegExp[]): string[] {
  return res.flatMap((re) =>
    re.source
      .replace(/\\./g, ' ')
      .replace(/\[[^\]]*\]/g, ' ')
      .toLowerCase()
      .split(/[^a-z]+/)
      .filter((w) => w !== ''),
  );
}

/** The lower-case runs of letters of some words: "pg_sleep" is "pg" and "sleep". */
export function letterRuns(words: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const w of words) for (const run of w.toLowerCase().split(/[^a-z]+/)) if (run) out.add(run);
  return out;
}

const RUN_SLOTS = 4096;
/** One step of a run's 32-bit hash (FNV-1a's), from RUN_SEED. */
function runHash(h: number, c: number): number {
  return Math.imul(h ^ c, 0x01000193);
}
const RUN_SEED = 0x811c9dc5 | 0;

/**
 * Which detectors a value of prose concerns: bit i stands for detectors[i]. A value is prose to a detector when its flags
 * are within the detector's proseFlags, it is ASCII (no Unicode blanks or look-alikes to reason about) and it has a
 * letter; the detector then reads it only when one of its words is a run of letters there, or one of its parts is
 * anywhere. One pass over the value instead of each detector's own gates.
 */
export class ProseIndex {
  /**
   * The detectors' bits by the 32-bit hash of each run of letters (runHash), in an open-addressed table: `hashes` holds
   * the hash in each used slot, `bits` the detectors. Two words with one hash share their bits: a run may then name a
   * detector it does not concern (which reads the value, as it would without this index), never the reverse.
   */
  private readonly hashes = new Int32Array(RUN_SLOTS);
  private readonly bits = new Int32Array(RUN_SLOTS);
  /** Each part with the letters it holds (bit c - 97): a value without all of them cannot hold it. */
  private readonly parts: { readonly part: string; readonly bits: number; readonly letters: number }[] = [];
  /** Each detector's proseFlags, complemented: a flag there makes it read the value whatever its words. */
  private readonly reads: Int32Array;
  private readonly all: number;
  private readonly shapes: { readonly reads: (s: string) => boolean; readonly bits: number }[] = [];

  constructor(detectors: readonly Detector[]) {
    if (detectors.length > 30) throw new Error('ProseIndex: more than 30 detectors');
    this.reads = new Int32Array(detectors.length);
    this.all = (1 << detectors.length) - 1;
    detectors.forEach((d, i) => {
      this.reads[i] = ~((d.proseFlags ?? PROSE_FLAGS) & ANY_FLAG);
      for (const run of letterRuns(d.proseWords)) {
        let h = RUN_SEED;
        for (let k = 0; k < run.length; k++) h = runHash(h, run.charCodeAt(k));
        this.add(h || 1, 1 << i);
      }
      for (const part of d.proseParts ?? []) {
        let letters = 0;
        for (let k = 0; k < part.length; k++) {
          const c = part.charCodeAt(k) - 97;
          if (c >= 0 && c < 26) letters |= 1 << c;
        }
        this.parts.push({ part, bits: 1 << i, letters });
      }
      if (d.proseReads) this.shapes.push({ reads: d.proseReads, bits: 1 << i });
    });
  }

  private add(h: number, bits: number): void {
    let k = h & (RUN_SLOTS - 1);
    while (this.hashes[k] !== 0 && this.hashes[k] !== h) k = (k + 1) & (RUN_SLOTS - 1);
    if (this.hashes[k] === 0 && ++this.used > RUN_SLOTS / 2) throw new Error('ProseIndex: too many words');
    this.hashes[k] = h;
    this.bits[k] = (this.bits[k] as number) | bits;
  }
  private used = 0;

  /** The detectors' bits for a run's hash (0 for a run no detector lists). A hash of 0 is 1 here (0 marks a free slot). */
  private lookup(run: number): number {
    const h = run || 1;
    const hashes = this.hashes;
    for (let k = h & (RUN_SLOTS - 1); ; k = (k + 1) & (RUN_SLOTS - 1)) {
      const at = hashes[k] as number;
      if (at === h) return this.bits[k] as number;
      if (at === 0) return 0;
    }
  }

  /** The bits of the detectors that read the value (lower case, with its flags); -1 when all do. */
  readers(s: string, flags: number): number {
    let bits = 0;
    for (let i = 0; i < this.reads.length; i++) if (flags & (this.reads[i] as number)) bits |= 1 << i;
    if (bits === this.all) return -1;
    // Each run of letters hashed as it is read, its slot ORed in at its end: no string is made. The letters seen
    // rule out most parts without a search.
    const n = s.length;
    let seen = 0;
    let inRun = false;
    let h = RUN_SEED;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 97 && c <= 122) {
        h = runHash(h, c);
        seen |= 1 << (c - 97);
        inRun = true;
        continue;
      }
      if (c > 127) return -1;
      if (inRun) {
        bits |= this.lookup(h);
        inRun = false;
        h = RUN_SEED;
      }
    }
    if (inRun) bits |= this.lookup(h);
    if (seen === 0) return -1;
    for (const p of this.parts)
      if (!(bits & p.bits) && (seen & p.letters) === p.letters && s.includes(p.part)) bits |= p.bits;
    for (const p of this.shapes) if (!(bits & p.bits) && p.reads(s)) bits |= p.bits;
    return bits;
  }
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
