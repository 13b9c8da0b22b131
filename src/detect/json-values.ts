/**
 * The strings of a JSON body the detectors must see, read by json-values.as.ts (WebAssembly, SIMD) instead of
 * `toString()`, `JSON.parse` and walkJson: the module checks the grammar, computes each string's character flags and
 * drops those walkJson and the engine's pre-filter would let pass without a detector (ids, codes, numbers in strings,
 * one-word values). What it reports is decoded here and handed over with the key it sits under. It reads no JSON
 * pointer: the engine uses it to clear a body, and reads a body with a finding again with JSON.parse (engine.ts).
 */
import { instantiate, WasmMemory, type WasmMemoryExport } from '../core/wasm.js';
import { CHAR_FLAG, F, HIGH } from './detectors/common.js';
import { JSON_VALUES_WASM } from './json-values.wasm.js';
import { KEY_CHAR, KEY_SUSPECT, PLAIN } from './parse.js';

interface JsonValuesModule {
  readonly memory: WasmMemoryExport;
  scan(n: number, reports: number, cap: number): number;
}

const wasm = instantiate<JsonValuesModule>(JSON_VALUES_WASM);
const mem = new WasmMemory(wasm?.memory ?? null);

/** json-values.as.ts's layout. */
const FLAGS = 2048;
const KEY_BAD = 2688;
const PLAIN_AT = 2816;
const BODY = 8192;
const R_VALUE = 1;
const R_DECODE = 4;
const R_NAME_DECODE = 8;
/** Reports per body at most: a body with more is read by JSON.parse (which the engine caps at MAX_VALUES anyway). */
const MAX_REPORTS = 2048;

if (wasm) {
  mem.reserve(BODY);
  const words = mem.words;
  for (let c = 0; c < 128; c++) words[(FLAGS >> 2) + c] = CHAR_FLAG[c] as number;
  // rawFlags: DEL sets HIGH (the module stops at bytes >= 0x80 itself).
  words[(FLAGS >> 2) + 127] = HIGH;
  words[(FLAGS >> 2) + 128] = F.DIGIT_START;
  words[(FLAGS >> 2) + 129] = F.DOTDOT;
  words[(FLAGS >> 2) + 130] = F.UNDERSCORE2;
  words[(FLAGS >> 2) + 131] = F.DASH2;
  words[(FLAGS >> 2) + 132] = F.DASH_OPT;
  // The engine's pre-filter lets a value with these flags alone (and no blank) pass.
  words[(FLAGS >> 2) + 133] = F.DIGIT_START | F.AT;
  for (let c = 0; c < 128; c++) {
    mem.bytes[KEY_BAD + c] = (KEY_CHAR[c] as number) & KEY_SUSPECT ? 1 : 0;
    mem.bytes[PLAIN_AT + c] = PLAIN[c] as number;
  }
}

/** Whether the module runs here (no WebAssembly SIMD: the engine reads every body with JSON.parse). */
export const jsonValuesReady = wasm !== null;
/** The module's memory as it is now (a test checks that no body stays in it). */
export function wasmMemoryOf(): Uint8Array {
  return mem.bytes;
}

/** Bodies up to this size are copied into the module's memory (which then stays that large). */
export const JSON_VALUES_MAX = 4 << 20;

/**
 * A string's text [s, e) (offsets from the body's start; e is its closing quote), decoded; null if JSON refuses it.
 * `latin1` is the body as latin1 (its offsets are the bytes'): slicing it is far cheaper than a Buffer call per string.
 */
function text(body: Buffer, latin1: string, s: number, e: number, decode: boolean): string | null {
  if (!decode) return latin1.slice(s, e);
  try {
    return JSON.parse(body.toString('utf8', s - 1, e + 1)) as string;
  } catch {
    return null;
  }
}

/**
 * Calls `value(raw, name, flags, lower)` for each string of the JSON body the detectors must see (name: walkJson's, the
 * key it sits under in lower case, or the array's; flags: rawFlags(raw), and lower: raw.toLowerCase(), both undefined
 * for a string with an escape or a byte >= 0x80) and `key(key)` for each key that may be suspect, in document order.
 * True when the body was read to its end and every call returned true; false when it must be read with JSON.parse: not
 * JSON as JSON.parse reads it, nested too deep, too many reports, or a call returned false.
 */
export function jsonValues(
  body: Buffer,
  value: (raw: string, name: string, flags: number | undefined, lower: string | undefined) => boolean,
  key: (key: string) => boolean,
): boolean {
  const module = wasm as JsonValuesModule;
  const n = body.length;
  const reports = (BODY + n + 16 + 3) & ~3;
  mem.reserve(reports + MAX_REPORTS * 24);
  mem.bytes.set(body, BODY);
  // 16-byte loads may read past the text: zeros there end any string scan.
  mem.bytes.fill(0, BODY + n, BODY + n + 16);
  try {
    const count = module.scan(n, reports, MAX_REPORTS);
    if (count < 0) return false;
    if (count === 0) return true;
    const words = mem.words;
    const latin1 = body.toString('latin1');
    // One lower-casing of the body instead of one per string: offsets hold (lower-casing Latin-1 keeps lengths), and
    // only ASCII strings are sliced from it (the others are decoded, and the engine lower-cases them itself).
    let lower: string | null = null;
    let nameStart = -2;
    let name = '';
    for (let k = 0; k < count; k++) {
      const r = (reports >> 2) + k * 6;
      const kind = words[r] as number;
      const raw = text(body, latin1, words[r + 1] as number, words[r + 2] as number, (kind & R_DECODE) !== 0);
      if (raw === null) return false;
      if (!(kind & R_VALUE)) {
        if (!key(raw)) return false;
        continue;
      }
      // walkJson's name: the key's first 128 characters in lower case.
      const ns = words[r + 3] as number;
      if (ns !== nameStart) {
        nameStart = ns;
        const k0 = ns < 0 ? '' : text(body, latin1, ns, words[r + 4] as number, (kind & R_NAME_DECODE) !== 0);
        if (k0 === null) return false;
        name = k0.length > 128 ? k0.slice(0, 128).toLowerCase() : k0.toLowerCase();
      }
      if (kind & R_DECODE) {
        if (!value(raw, name, undefined, undefined)) return false;
        continue;
      }
      if (lower === null) lower = latin1.toLowerCase();
      if (!value(raw, name, words[r + 5], lower.slice(words[r + 1] as number, words[r + 2] as number))) return false;
    }
    return true;
  } finally {
    // Request bodies carry passwords and personal data: nothing of one stays in the module's memory.
    mem.bytes.fill(0, BODY, BODY + n + 16);
  }
}
