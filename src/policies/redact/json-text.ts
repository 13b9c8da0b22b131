import { isUtf8 } from 'node:buffer';
import { instantiate, WasmMemory, type WasmMemoryExport } from '../../core/wasm.js';
import { DECODE, DETECTORS, type Scanner } from './detectors.js';
import { JSON_SCAN_WASM } from './json-scan.wasm.js';

/**
 * Redaction of a JSON body on its text: one pass over the bytes finds the tokens (and checks the grammar), the
 * scanner takes each string value's gates as it reads it and looks only where a gate is open, and the answer is the
 * input with the findings spliced in (formatting kept). It does what JSON.parse, the walk over the values and
 * JSON.stringify did (same values scanned in the same order, same tally, same actions) for about half the cost;
 * strings with escapes or non-ASCII text are decoded one by one. Whatever it does not read exactly like the walk
 * it leaves to the walk (FALLBACK): text that is not valid JSON or not UTF-8, nesting at the depth limit, keys that
 * are array indexes (the walk visits them first). Where the walk lost data it does not: every member of a name
 * given twice is scanned (the walk saw the last one only, and passed an unchanged body on whole), and a member
 * named __proto__ stays.
 *
 * Two readers do this. Without `names` members and drops (the default config), json-scan.as.ts (WebAssembly, SIMD)
 * reads the text, masks the common whole values itself and reports the rest (spliceWasm); otherwise, and where it
 * runs out of room, splice reads it in JavaScript. json-scan.test.ts holds the two to the same answers and tallies.
 */

export const DROP: unique symbol = Symbol('drop');
export const FALLBACK = undefined;

export interface JsonTextHooks {
  readonly scanner: Scanner;
  /** Whether numbers (>= 1e12, safe integers) are looked at as card numbers. */
  readonly cards: boolean;
  /** Whether `string` may return DROP (an action is `remove`). */
  readonly drops: boolean;
  /** Detector bits (Scanner.enabledBits) whose action is the mask: json-scan.as.ts masks whole values of these. */
  readonly maskedBits: number;
  /** Counts `n` findings of a type masked without `string` (json-scan.as.ts). */
  found(type: string, n: number): void;
  /** Member names, lower case, whose values are redacted whatever they hold. */
  readonly names: ReadonlySet<string>;
  /** Their lengths: most keys are told apart without making a string of them. */
  readonly nameLengths: ReadonlySet<number>;
  /**
   * The redaction of a string value: the same string when nothing was found, or DROP. `open`: its gates, or -1;
   * `b`, `at`: where its text is in the body when it is that text itself (ASCII, no escapes).
   */
  string(text: string, open: number, b?: Uint8Array, at?: number): string | typeof DROP;
  /** The redaction of a `names` member's value; `value()` gives the text a hash is taken of. */
  field(value: () => string): string | typeof DROP;
}

/** Byte classes inside a string: 0 plain, then quote, backslash, control character (invalid), non-ASCII. */
const S_QUOTE = 1;
const S_ESCAPE = 2;
const S_CONTROL = 3;
const S_HIGH = 4;
const STRING_CLASS = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STRING_CLASS[c] = S_CONTROL;
for (let c = 0x80; c < 0x100; c++) STRING_CLASS[c] = S_HIGH;
STRING_CLASS[0x22] = S_QUOTE;
STRING_CLASS[0x5c] = S_ESCAPE;

/** What stringEnd tells besides where the string ends. */
const F_ESCAPED = 1;
const F_NON_ASCII = 2;

/**
 * The string whose text starts at i: (index of its closing quote) * 4 + flags, -1 when it has no closing quote or
 * holds a control character.
 */
function stringEnd(b: Buffer, i: number, n: number): number {
  let flags = 0;
  while (i < n) {
    const k = STRING_CLASS[b[i] as number];
    if (k === 0) i++;
    else if (k === S_QUOTE) return i * 4 + flags;
    else if (k === S_ESCAPE) {
      // The escape itself is checked by JSON.parse when the string is decoded.
      flags |= F_ESCAPED;
      i += 2;
    } else if (k === S_HIGH) {
      flags |= F_NON_ASCII;
      i++;
    } else return -1;
  }
  return -1;
}

/** The end of the digits from i on. */
function digitsEnd(b: Buffer, i: number, n: number): number {
  while (i < n && (b[i] as number) >= 0x30 && (b[i] as number) <= 0x39) i++;
  return i;
}

/** The JSON number at i (grammar checked): its end * 2, + 1 when it has an exponent; -1 when there is none. */
function numberEnd(b: Buffer, i: number, n: number): number {
  if (b[i] === 0x2d) i++;
  if (i >= n) return -1;
  const c = b[i] as number;
  if (c === 0x30) i++;
  else if (c >= 0x31 && c <= 0x39) i = digitsEnd(b, i + 1, n);
  else return -1;
  if (i < n && b[i] === 0x2e) {
    const d = i + 1;
    i = digitsEnd(b, d, n);
    if (i === d) return -1;
  }
  if (i < n && (b[i] === 0x65 || b[i] === 0x45)) {
    let d = i + 1;
    if (d < n && (b[d] === 0x2b || b[d] === 0x2d)) d++;
    i = digitsEnd(b, d, n);
    if (i === d) return -1;
    return i * 2 + 1;
  }
  return i * 2;
}

/** End of the literal true, false or null at i, -1 when it is none of them. */
function literalEnd(b: Buffer, i: number, n: number): number {
  const c = b[i];
  if (c === 0x74) return i + 3 < n && b[i + 1] === 0x72 && b[i + 2] === 0x75 && b[i + 3] === 0x65 ? i + 4 : -1;
  if (c === 0x6e) return i + 3 < n && b[i + 1] === 0x75 && b[i + 2] === 0x6c && b[i + 3] === 0x6c ? i + 4 : -1;
  if (c === 0x66) {
    return i + 4 < n && b[i + 1] === 0x61 && b[i + 2] === 0x6c && b[i + 3] === 0x73 && b[i + 4] === 0x65 ? i + 5 : -1;
  }
  return -1;
}

/** A key the walk would visit before the others (Object.keys puts array indexes first, in numeric order). */
function isIndexKey(k: string): boolean {
  return /^(?:0|[1-9]\d{0,9})$/.test(k) && Number(k) <= 4294967294;
}

/** A replacement as JSON string text, in the latin1 view of UTF-8 bytes the output is built in. */
function jsonLatin1(v: string): string {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return Buffer.from(JSON.stringify(v)).toString('latin1');
  }
  return `"${v}"`;
}

/** Nesting the walk refuses (a block): containers inside this many others. */
export const MAX_DEPTH = 128;
/** Nesting this reader follows at all (inside a `names` value, which the walk does not enter); deeper: FALLBACK. */
const MAX_NESTING = 4096;
const OBJECT = 1;
const ARRAY = 2;
/** Per open container: kind, whether a member was kept (a dropped one then takes its leading comma), the comma
 * before the current member, whether the next comma goes with a dropped first member. Reused: one call at a time. */
const kindAt = new Uint8Array(MAX_NESTING);
const keptAt = new Uint8Array(MAX_NESTING);
const dropCommaAt = new Uint8Array(MAX_NESTING);
const commaAt = new Int32Array(MAX_NESTING);

/** Parser states: a value, a value or "]", a key or "}", a key, ":", then "," or a closing bracket. */
const VALUE = 0;
const VALUE_OR_END = 1;
const KEY_OR_END = 2;
const KEY = 3;
const COLON = 4;
const AFTER = 5;

/** The output: the input's latin1 view (byte i is character i) with replacements spliced in. */
class Splice {
  /** The output so far, joined once at the end. */
  readonly parts: string[] = [];
  last = 0;
  changed = false;
  topDropped = false;
  #text: string | null = null;
  constructor(readonly b: Buffer) {}

  /** The latin1 view, made on first need. */
  text(): string {
    if (this.#text === null) this.#text = this.b.toString('latin1');
    return this.#text;
  }

  /** Part of the latin1 view (without making all of it for a few parts, as the WebAssembly path needs them). */
  slice(start: number, end: number): string {
    return this.#text !== null ? this.#text.slice(start, end) : this.b.toString('latin1', start, end);
  }

  replace(start: number, end: number, rep: string): void {
    this.parts.push(this.text().slice(this.last, start), rep);
    this.last = end;
    this.changed = true;
  }

  /** Drops the member or element from `start` to `end`, in the container at `level`, and one comma with it. */
  drop(level: number, start: number, end: number): void {
    this.changed = true;
    if (level < 0) {
      this.topDropped = true;
      return;
    }
    if (keptAt[level] === 1) {
      // ", member": from the comma before it.
      this.parts.push(this.text().slice(this.last, commaAt[level]));
    } else {
      // The first member so far: "member," up to the comma after it, if one comes.
      this.parts.push(this.text().slice(this.last, start));
      dropCommaAt[level] = 1;
    }
    this.last = end;
  }

  /**
   * The result of a string value or number b[start, end) scanned as `value`. `raw`: the value is the JSON text
   * itself (printable ASCII, no quote or backslash), and so is the result: the scanner keeps the text around its
   * findings, and masks and hashes are made of the finding's own characters, "*", "[", "]", ":", "." and base64url.
   */
  scanned(
    level: number,
    member: number,
    start: number,
    end: number,
    value: string,
    r: string | typeof DROP,
    raw: boolean,
  ): void {
    if (r === DROP) {
      this.drop(level, member, end);
      return;
    }
    if (r !== value) {
      // A raw string keeps its own quotes (in the text around the replacement); a number becomes a string.
      if (!raw) this.replace(start, end, jsonLatin1(r));
      else if (this.b[start] === 0x22) this.replace(start + 1, end - 1, r);
      else this.replace(start, end, `"${r}"`);
    }
    if (level >= 0) keptAt[level] = 1;
  }

  /**
   * A `names` member's value b[start, end) is complete; `decoded` when it is a string (a string equal to its
   * redaction stays as it is, like in the walk; any other value is replaced).
   */
  field(h: JsonTextHooks, level: number, member: number, start: number, end: number, decoded: string | null): void {
    const b = this.b;
    const rep = h.field(() => decoded ?? JSON.stringify(JSON.parse(b.toString('utf8', start, end))));
    this.scanned(level, member, start, end, decoded as string, rep, false);
  }

  result(): Buffer | null {
    if (!this.changed) return null;
    if (this.topDropped) return Buffer.from('null');
    this.parts.push(this.text().slice(this.last));
    return Buffer.from(this.parts.join(''), 'latin1');
  }
}

/**
 * The redacted body, null when nothing changed, FALLBACK when the walk must decide. Throws what the hooks throw
 * (a block): the caller then runs the walk, whose tally and order are the reference. `inPlace`: the answer may be
 * written over b (which must then be the caller's alone), and is then a view of it.
 */
export function redactJsonText(b: Buffer, h: JsonTextHooks, inPlace = false): Buffer | null | typeof FALLBACK {
  if (!isUtf8(b)) return FALLBACK;
  try {
    // No member is dropped and none is redacted by its name: WebAssembly reads the grammar and JavaScript visits only
    // what it reports. Otherwise (or when it runs out of room for reports) splice reads it all.
    if (wasmOrNull !== null && h.names.size === 0 && !h.drops && b.length <= WASM_MAX) {
      let out: ReturnType<typeof spliceWasm>;
      try {
        out = spliceWasm(b, h, inPlace);
      } finally {
        // The module's memory outlives the call: neither the text nor the answer (personal data the detectors do not
        // look for, such as names) nor any piece of it stays in it. What else is left there (offsets) shows nothing.
        mem.bytes.fill(0, WASM_BODY, WASM_BODY + b.length);
        // The 16 bytes after the answer too: assemble's last 16-byte copy may have written there (its overrun).
        if (answerLength > 0) mem.bytes.fill(0, answerAt, answerAt + answerLength + 16);
        answerLength = 0;
        // The replacements, the module's masks and JavaScript's: a string JavaScript decoded is replaced whole, with
        // what it holds besides its findings (a name).
        if (repTo > repFrom) mem.bytes.fill(0, repFrom, repTo);
        repFrom = repTo = 0;
      }
      if (out !== false) return out;
    }
    return splice(b, h);
  } catch (e) {
    // A bad escape: not JSON for JSON.parse either.
    if (e instanceof SyntaxError) return FALLBACK;
    throw e;
  }
}

/** A Uint16Array view of b for gatesOfJsonString, from its first even address, and that address's offset (0, 1). */
function wordsOf(b: Buffer): [Uint16Array, number] {
  const shift = b.byteOffset & 1;
  return [new Uint16Array(b.buffer, b.byteOffset + shift, (b.length - shift) >> 1), shift];
}

/**
 * The string value whose opening quote is at `start`, not a `names` member's, scanned as the walk scans it: the
 * index after its closing quote, -1 when it is not valid.
 */
function stringValue(
  o: Splice,
  h: JsonTextHooks,
  level: number,
  member: number,
  start: number,
  words: Uint16Array,
  shift: number,
): number {
  const b = o.b;
  const r = h.scanner.gatesOfJsonString(b, start + 1, b.length, words, shift);
  if (r < 0) return -1;
  const open = r & 32767;
  const e = (r - open) / 32768;
  const i = e + 1;
  if (open === 0) {
    if (level >= 0) keptAt[level] = 1;
  } else if (open !== DECODE) scanRaw(o, h, level, member, start, e, open);
  else {
    const text = JSON.parse(b.toString('utf8', start, i)) as string;
    o.scanned(level, member, start, i, text, h.string(text, -1), false);
  }
  return i;
}

/** The string value from the quote at `start` to the one at `e`, its text as it is (ASCII, no escape), with its gates. */
function scanRaw(o: Splice, h: JsonTextHooks, level: number, member: number, start: number, e: number, open: number) {
  const raw = o.slice(start + 1, e);
  o.scanned(level, member, start, e + 1, raw, h.string(raw, open, o.b, start + 1), true);
}

/**
 * A number b[start, end) of 13 characters or more, or with an exponent: scanned when it is a card-sized integer
 * (card numbers sent as JSON numbers). Whether it was.
 */
function cardNumber(o: Splice, h: JsonTextHooks, level: number, member: number, start: number, end: number): boolean {
  if (!h.cards) return false;
  const v = Number(o.slice(start, end));
  if (!(v >= 1e12 && Number.isSafeInteger(v))) return false;
  const digits = String(v);
  o.scanned(level, member, start, end, digits, h.string(digits, -1), true);
  return true;
}

interface JsonScan {
  readonly memory: WasmMemoryExport;
  scan(n: number, reports: number, edits: number, rep: number, cap: number, enabled: number, masked: number): number;
  repEnd(): number;
  edited(): number;
  assemble(n: number, edits: number, count: number, out: number): number;
}
/**
 * The WebAssembly pass (json-scan.as.ts), instantiated once per process; its calls are synchronous, one at a time.
 * null where the runtime cannot compile it (no WebAssembly SIMD): splice then reads every text.
 */
const wasmOrNull = instantiate<JsonScan>(JSON_SCAN_WASM);
/** Used only where wasmOrNull is not null (redactJsonText checks it). */
const wasm = wasmOrNull as JsonScan;
/** Where json-scan.as.ts reads the text (its container stack and constants come first). */
const WASM_BODY = 8192;
/** Texts up to this size are copied into its memory (which then stays that large); longer ones go to splice. */
const WASM_MAX = 4 << 20;
/** Reports per text at most (36 bytes each with the edit); a text with more goes to splice. */
const MAX_REPORTS = 65536;
/** What json-scan.as.ts reports (its E_ constants). */
const R_STRING = 1;
const R_NUMBER = 2;
const R_KEY_DIGITS = 3;
const R_KEY_ESCAPED = 4;
const R_STRING_OPEN = 5;
/** Where json-scan.as.ts counts the values it masked, per detector index, and the offset of each one's first. */
const WASM_FOUND = 128 >> 2;
const WASM_FIRST = 184 >> 2;
const mem = new WasmMemory(wasmOrNull?.memory ?? null);

/**
 * Splice's output for the WebAssembly path: a change JavaScript makes fills the edit of the report being handled,
 * its replacement written into the module's memory after the others; assemble() then writes the answer.
 */
class WasmSplice extends Splice {
  /** The edit of the report being handled. */
  edit = 0;
  constructor(
    b: Buffer,
    readonly edits: number,
    /** Where the next replacement goes. */
    public rep: number,
  ) {
    super(b);
  }

  override replace(start: number, end: number, rep: string): void {
    const length = rep.length;
    mem.reserve(this.rep + length);
    mem.buffer.write(rep, this.rep, 'latin1');
    repTo = this.rep + length;
    const e = (this.edits + this.edit * 16) >> 2;
    mem.words[e] = start;
    mem.words[e + 1] = end;
    mem.words[e + 2] = this.rep;
    mem.words[e + 3] = length;
    this.rep += length;
    this.changed = true;
  }
}

/** The WebAssembly module's memory as it is now (tests check what it keeps between calls). */
export function wasmMemory(): Uint8Array {
  return mem.bytes;
}

/** Where the last answer was assembled in the module's memory (zeroed after the call). */
let answerAt = 0;
let answerLength = 0;
/** The replacements the last call wrote in the module's memory (zeroed after the call). */
let repFrom = 0;
let repTo = 0;

/**
 * splice for a text without `names` members or drops, by json-scan.as.ts; false when it ran out of room for reports
 * (splice then reads the text).
 */
function spliceWasm(b: Buffer, h: JsonTextHooks, inPlace: boolean): Buffer | null | typeof FALLBACK | false {
  const n = b.length;
  const cap = Math.min(MAX_REPORTS, Math.floor(n / 3) + 4);
  const reports = (WASM_BODY + n + 16 + 3) & ~3;
  const edits = reports + cap * 20;
  const rep = edits + cap * 16;
  // The masks made in the module are at most 3 bytes longer than their value (an email's "a***").
  mem.reserve(rep + n + cap * 4);
  mem.bytes.set(b, WASM_BODY);
  // 16-byte loads may read past the text: zeros there end any string scan.
  mem.bytes.fill(0, WASM_BODY + n, WASM_BODY + n + 16);
  const count = wasm.scan(n, reports, edits, rep, cap, h.scanner.enabledBits, h.maskedBits);
  // Its masks, also where it gave up part-way.
  repFrom = rep;
  repTo = wasm.repEnd();
  if (count === -1) return FALLBACK;
  if (count < 0) return false;
  const o = new WasmSplice(b, edits, wasm.repEnd());
  // The module's own masks, by the offset of each detector's first: added to the tally where the document order
  // puts them among the findings JavaScript makes.
  const masked: number[] = [];
  for (let d = 0; d < DETECTORS.length; d++) if (mem.words[WASM_FOUND + d] !== 0) masked.push(d);
  if (masked.length > 1)
    masked.sort((x, y) => (mem.words[WASM_FIRST + x] as number) - (mem.words[WASM_FIRST + y] as number));
  let next = 0;
  const tallyBefore = (at: number) => {
    for (; next < masked.length && (mem.words[WASM_FIRST + (masked[next] as number)] as number) < at; next++) {
      const d = masked[next] as number;
      h.found(DETECTORS[d] as string, mem.words[WASM_FOUND + d] as number);
    }
  };
  let words: Uint16Array | null = null;
  let shift = 0;
  for (let k = 0; k < count; k++) {
    // mem.words is read again each time: a replacement written by JavaScript may have grown the memory.
    const r = (reports >> 2) + k * 5;
    const kind = mem.words[r];
    const start = mem.words[r + 1] as number;
    const end = mem.words[r + 2] as number;
    const gates = mem.words[r + 4] as number;
    o.edit = mem.words[r + 3] as number;
    if (next < masked.length) tallyBefore(start);
    if (kind === R_STRING_OPEN) scanRaw(o, h, -1, start, start, end, gates);
    else if (kind === R_STRING) {
      if (words === null) [words, shift] = wordsOf(b);
      if (stringValue(o, h, -1, start, start, words, shift) < 0) return FALLBACK;
    } else if (kind === R_NUMBER) cardNumber(o, h, -1, start, start, end);
    else if (kind === R_KEY_DIGITS) {
      if (isIndexKey(b.toString('latin1', start + 1, end))) return FALLBACK;
    } else if (kind === R_KEY_ESCAPED) {
      if (isIndexKey(JSON.parse(b.toString('utf8', start, end + 1)) as string)) return FALLBACK;
    }
  }
  tallyBefore(n);
  const changes = wasm.edited();
  if (masked.length === 0 && !o.changed) return null;
  const out = (o.rep + 3) & ~3;
  mem.reserve(out + n + (o.rep - rep) + 16);
  const length = wasm.assemble(n, edits, changes, out);
  answerAt = out;
  answerLength = length;
  // Over the text itself when it may be and the answer fits (masks are mostly shorter than what they mask): no new
  // buffer. Otherwise allocUnsafe (Buffer.from(view) would zero the new buffer before copying over all of it).
  const answer = inPlace && length <= n ? b.subarray(0, length) : Buffer.allocUnsafe(length);
  answer.set(mem.bytes.subarray(out, out + length));
  return answer;
}

function splice(b: Buffer, h: JsonTextHooks): Buffer | null | typeof FALLBACK {
  const n = b.length;
  const names = h.names.size > 0 ? h.names : null;
  const o = new Splice(b);
  // The body as 16-bit words, for the scanner to skip plain text faster (a body at an odd address, a slice of a
  // socket read, is viewed from its second byte).
  const [words, shift] = wordsOf(b);
  let level = -1;
  let state = VALUE;
  /** Where the current member (its key) or element starts. */
  let member = 0;
  /** The current member's name is one of `names`. */
  let fieldHit = false;
  /** Level of the `names` value being skipped (the walk does not enter it), -1 when none. */
  let skip = -1;
  let fieldStart = 0;
  let i = 0;
  for (;;) {
    let c = 0;
    for (; i < n; i++) {
      c = b[i] as number;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    }
    if (i >= n) break;
    if (state === AFTER) {
      if (c === 0x2c) {
        if (level < 0) return FALLBACK;
        if (skip < 0) {
          if (dropCommaAt[level] === 1) {
            o.replace(i, i + 1, '');
            dropCommaAt[level] = 0;
          }
          commaAt[level] = i;
        }
        state = kindAt[level] === OBJECT ? KEY : VALUE;
        i++;
        continue;
      }
      if (level < 0 || c !== (kindAt[level] === OBJECT ? 0x7d : 0x5d)) return FALLBACK;
    } else if (state === KEY || state === KEY_OR_END) {
      if (c === 0x22) {
        const r = stringEnd(b, i + 1, n);
        if (r < 0) return FALLBACK;
        const e = (r - (r & 3)) / 4;
        if (skip < 0) {
          member = i;
          let key: string | null = null;
          if (r & 3) {
            key = r & F_ESCAPED ? (JSON.parse(b.toString('utf8', i, e + 1)) as string) : b.toString('utf8', i + 1, e);
            if (isIndexKey(key)) return FALLBACK;
          } else {
            const k0 = b[i + 1] as number;
            if (k0 >= 0x30 && k0 <= 0x39 && isIndexKey(o.text().slice(i + 1, e))) return FALLBACK;
          }
          if (names !== null) {
            if (key !== null) fieldHit = names.has(key.toLowerCase());
            else
              fieldHit =
                h.nameLengths.has(e - i - 1) &&
                names.has(
                  o
                    .text()
                    .slice(i + 1, e)
                    .toLowerCase(),
                );
          }
        } else if (r & F_ESCAPED) JSON.parse(b.toString('utf8', i, e + 1));
        i = e + 1;
        // The colon right after the key, as JSON.stringify writes it; else the loop finds it.
        if (b[i] === 0x3a) {
          i++;
          state = VALUE;
        } else state = COLON;
        continue;
      }
      if (c !== 0x7d || state !== KEY_OR_END) return FALLBACK;
    } else if (state === COLON) {
      if (c !== 0x3a) return FALLBACK;
      i++;
      state = VALUE;
      continue;
    } else if (c !== 0x5d || state !== VALUE_OR_END) {
      // A value.
      const field = fieldHit && skip < 0;
      fieldHit = false;
      if (skip < 0 && level >= 0 && kindAt[level] === ARRAY) member = i;
      if (c === 0x7b || c === 0x5b) {
        if (level + 1 >= MAX_NESTING) return FALLBACK;
        if (skip < 0) {
          if (field) {
            skip = level + 1;
            fieldStart = i;
          } else {
            // The walk refuses nesting at its depth limit: let it, with its own tally.
            if (level + 1 >= MAX_DEPTH) return FALLBACK;
            if (level >= 0) keptAt[level] = 1;
          }
        }
        level++;
        kindAt[level] = c === 0x7b ? OBJECT : ARRAY;
        keptAt[level] = 0;
        dropCommaAt[level] = 0;
        state = c === 0x7b ? KEY_OR_END : VALUE_OR_END;
        i++;
        continue;
      }
      state = AFTER;
      const start = i;
      if (c === 0x22) {
        if (skip >= 0 || field) {
          const r = stringEnd(b, i + 1, n);
          if (r < 0) return FALLBACK;
          const e = (r - (r & 3)) / 4;
          i = e + 1;
          const decoded = r & F_ESCAPED ? (JSON.parse(b.toString('utf8', start, i)) as string) : null;
          if (skip >= 0) continue;
          if (e > start + 1) {
            o.field(
              h,
              level,
              member,
              start,
              i,
              decoded ?? (r & 3 ? b.toString('utf8', start + 1, e) : o.text().slice(start + 1, e)),
            );
            continue;
          }
          // "" is not redacted by name (the walk's rule), nor is there anything in it to scan.
          if (level >= 0) keptAt[level] = 1;
          continue;
        }
        i = stringValue(o, h, level, member, start, words, shift);
        if (i < 0) return FALLBACK;
        continue;
      }
      const number = c === 0x2d || (c >= 0x30 && c <= 0x39);
      const r = number ? numberEnd(b, i, n) : literalEnd(b, i, n) * 2;
      if (r < 0) return FALLBACK;
      const e = (r - (r & 1)) / 2;
      i = e;
      if (skip >= 0) continue;
      if (field && c !== 0x6e) {
        // null is not redacted by name (the walk's rule); other literals and numbers are.
        o.field(h, level, member, start, e, null);
        continue;
      }
      if (number && (e - start >= 13 || r & 1) && cardNumber(o, h, level, member, start, e)) continue;
      if (level >= 0) keptAt[level] = 1;
      continue;
    }
    // A closing bracket.
    i++;
    level--;
    state = AFTER;
    if (skip === level + 1) {
      skip = -1;
      o.field(h, level, member, fieldStart, i, null);
    }
  }
  if (level !== -1 || state !== AFTER) return FALLBACK;
  return o.result();
}
