// AssemblyScript, compiled to WebAssembly by scripts/build-wasm.ts (the module is json-values.wasm.ts); not part of the
// TypeScript build. The detection engine's reader for a JSON body (json-values.ts): it checks the grammar as
// JSON.parse would (any doubt: JavaScript's path reads the body), and computes each string's character flags
// (common.ts rawFlags) 16 bytes a step with SIMD. Strings that walkJson (parse.ts) and the engine's pre-filter let pass
// without a detector are dropped here; the rest are reported with the key they sit under. Keys are reported where
// they may be ones walkJson inspects itself (parse.ts keyShape decides, in JavaScript).
//
// Memory: [0, 2048) the open containers (16 bytes each: kind, the name's start and end, whether the name has an escape
// or a byte >= 0x80); then the tables JavaScript writes once (json-values.ts): character flags, the key bytes that
// make a key suspect, the bytes of a plain token; [SPLATS, BODY) constant vectors; the text from BODY, then 16 zero
// bytes; then the reports (six i32: kind, start, end, the name's start and end, the flags) at an offset JavaScript
// chooses. Positions are offsets from the text's start; a string's start is its first character, its end its closing
// quote.
import {
  BODY,
  between,
  decodeEnd,
  eq,
  initSplats,
  literalEnd,
  numberEnd,
  splat,
  stops,
} from '../core/json-lexer.as';

const MAX_DEPTH: i32 = 128;
/** common.ts CHAR_FLAG as i32 (-1 for "." "_" "-", whose flag depends on the character before), 127 = HIGH. */
const FLAGS: i32 = 2048;
/** The flags set by a character and the one before it, and DIGIT_START: five i32 after the table. */
const F_DIGIT_START: i32 = FLAGS + 512;
const F_DOTDOT: i32 = FLAGS + 516;
const F_UNDERSCORE2: i32 = FLAGS + 520;
const F_DASH2: i32 = FLAGS + 524;
const F_DASH_OPT: i32 = FLAGS + 528;
/** The flags a string may hold and still skip the detectors (the engine's pre-filter without a blank): AT, DIGIT_START. */
const F_QUIET: i32 = FLAGS + 532;
/** parse.ts KEY_CHAR's suspect bytes: 1 each. */
const KEY_BAD: i32 = 2688;
/** parse.ts PLAIN: 1 for each byte of a plain token. */
const PLAIN: i32 = 2816;
const SEQ: i32 = -1;

/** A string value to inspect. */
const R_VALUE: i32 = 1;
/** A key parse.ts keyShape must look at. */
const R_KEY: i32 = 2;
/** Either has an escape or a byte >= 0x80: JavaScript decodes it. */
const R_DECODE: i32 = 4;
/** A value's name (its key) has one. */
const R_NAME_DECODE: i32 = 8;
const FALLBACK: i32 = -1;
const FULL: i32 = -2;

/** walkJson's plainToken reads at most this many characters. */
const PLAIN_MAX: i32 = 256;
/** "rototype" as a little-endian u64. */
const ROTOTYPE: u64 = 0x657079746f746f72;
const LOWER8: u64 = 0x2020202020202020;

const OBJECT: i32 = 1;
const ARRAY: i32 = 2;

const VALUE: i32 = 0;
const VALUE_OR_END: i32 = 1;
const KEY_OR_END: i32 = 2;
const KEY: i32 = 3;
const COLON: i32 = 4;
const AFTER: i32 = 5;

let reports: i32 = 0;
let count: i32 = 0;
let cap: i32 = 0;

/** What the last valueScan() or keyScan() saw. */
let sDecode: i32 = 0;
/** valueScan: 1 when the string may skip the detectors; keyScan: 1 when keyShape cannot find the key suspect. */
let sQuiet: i32 = 0;
/** valueScan: the string's flags (without an escape or a byte >= 0x80). */
let sFlags: i32 = 0;

/** Whether "rototype" (any case) starts at one of the `r` bits (block at i). */
@inline
function rototypeAt(i: i32, r: i32): bool {
  while (r != 0) {
    if ((load<u64>(i + ctz<i32>(r)) | LOWER8) == ROTOTYPE) return true;
    r &= r - 1;
  }
  return false;
}

/**
 * The string value whose text starts at s: the index of its closing quote, -1 when it has none or holds a control
 * character. Sets sDecode (an escape or a byte >= 0x80: its flags are JavaScript's to compute) and sQuiet: no escape,
 * no "rototype" in any case, and either a plain token (walkJson skips it) or flags the engine's pre-filter passes
 * without a blank.
 */
function valueScan(s: i32, end: i32): i32 {
  let f = 0;
  let plain = true;
  let proto = false;
  let i = s;
  sDecode = 0;
  sQuiet = 0;
  for (;;) {
    const v = v128.load(i);
    const stop = stops(v);
    const inside = stop == 0 ? 0xffff : (1 << ctz<i32>(stop)) - 1;
    const lower = v128.or(v, splat(0x20));
    const r = i8x16.bitmask(eq(lower, 0x72)) & inside;
    if (r != 0 && !proto) proto = rototypeAt(i, r);
    // Letters and digits set no flag: only the other bytes are looked up.
    let special = ~i8x16.bitmask(v128.or(between(lower, 0x61, 0x7a), between(v, 0x30, 0x39))) & inside;
    while (special != 0) {
      const p = i + ctz<i32>(special);
      const c = <i32>load<u8>(p);
      const t = load<i32>(FLAGS + (c << 2));
      if (t == SEQ) {
        const prev = <i32>load<u8>(p - 1);
        if (c == 0x2e) {
          if (prev == 0x2e) f |= load<i32>(F_DOTDOT);
        } else if (c == 0x5f) {
          if (prev == 0x5f) f |= load<i32>(F_UNDERSCORE2);
        } else if (prev == 0x2d) f |= load<i32>(F_DASH2);
        else if (prev == 0x20) f |= load<i32>(F_DASH_OPT);
      } else f |= t;
      if (load<u8>(PLAIN + c) == 0) plain = false;
      special &= special - 1;
    }
    if (stop == 0) {
      i += 16;
      continue;
    }
    const q = i + ctz<i32>(stop);
    if (q >= end) return -1;
    const c = <i32>load<u8>(q);
    if (c == 0x22) {
      const first = <i32>load<u8>(s);
      if (q > s && first >= 0x30 && first <= 0x39) f |= load<i32>(F_DIGIT_START);
      if (!proto && ((plain && q - s <= PLAIN_MAX) || (f & ~load<i32>(F_QUIET)) == 0)) sQuiet = 1;
      sFlags = f;
      return q;
    }
    if (c < 0x20) return -1;
    sDecode = 1;
    return decodeEnd(q, end);
  }
}

/**
 * The key whose text starts at s: the index of its closing quote, -1 when it has none or holds a control character.
 * sQuiet is 0 when keyShape may find it suspect (a suspect byte, "__", a leading "$", "rototype" in any case) and
 * sDecode when it has an escape or a byte >= 0x80 (JavaScript decodes it and asks keyShape).
 */
function keyScan(s: i32, end: i32): i32 {
  let bad = false;
  let prev = 0;
  let i = s;
  sDecode = 0;
  for (;;) {
    if (i >= end) return -1;
    const c = <i32>load<u8>(i);
    if (c == 0x22) break;
    if (c == 0x5c || c >= 0x80) {
      sDecode = 1;
      sQuiet = 0;
      return decodeEnd(i, end);
    }
    if (c < 0x20) return -1;
    if (load<u8>(KEY_BAD + c) != 0 || (c == 0x5f && prev == 0x5f)) bad = true;
    prev = c;
    i++;
  }
  if (load<u8>(s) == 0x24) bad = true;
  if (!bad && i - s >= 8) {
    for (let p = s; p + 8 <= i; p++) {
      if ((load<u64>(p) | LOWER8) == ROTOTYPE) {
        bad = true;
        break;
      }
    }
  }
  sQuiet = bad ? 0 : 1;
  return i;
}

/** A report; false when there is no room. */
function report(kind: i32, start: i32, end: i32, level: i32): bool {
  if (count == cap) return false;
  const r = reports + count * 24;
  store<i32>(r, sFlags, 20);
  store<i32>(r, level >= 0 && load<i32>(level << 4, 12) != 0 ? kind | R_NAME_DECODE : kind);
  store<i32>(r, start - BODY, 4);
  store<i32>(r, end - BODY, 8);
  if (level < 0) {
    store<i32>(r, -1, 12);
    store<i32>(r, -1, 16);
  } else {
    store<i32>(r, load<i32>(level << 4, 4) - BODY, 12);
    store<i32>(r, load<i32>(level << 4, 8) - BODY, 16);
  }
  count++;
  return true;
}

/**
 * Reads the n bytes of JSON text at BODY: the number of reports (at most `capacity`, at `reportsAt`), FALLBACK when
 * the text is not JSON as JSON.parse reads it or nests deeper than MAX_DEPTH, FULL when it has more reports.
 */
export function scan(n: i32, reportsAt: i32, capacity: i32): i32 {
  initSplats();
  reports = reportsAt;
  cap = capacity;
  count = 0;
  const end = BODY + n;
  let i = BODY;
  let level = -1;
  let state = VALUE;
  for (;;) {
    let c = 0;
    while (i < end) {
      c = <i32>load<u8>(i);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
      i++;
    }
    if (i >= end) break;
    if (state == AFTER) {
      if (c == 0x2c) {
        if (level < 0) return FALLBACK;
        state = load<i32>(level << 4) == OBJECT ? KEY : VALUE;
        i++;
        continue;
      }
      if (level < 0 || c != (load<i32>(level << 4) == OBJECT ? 0x7d : 0x5d)) return FALLBACK;
    } else if (state == KEY || state == KEY_OR_END) {
      if (c == 0x22) {
        const e = keyScan(i + 1, end);
        sFlags = 0;
        if (e < 0) return FALLBACK;
        if (sQuiet == 0 && !report(sDecode ? R_KEY | R_DECODE : R_KEY, i + 1, e, -1)) return FULL;
        // The key names the values under it.
        store<i32>(level << 4, i + 1, 4);
        store<i32>(level << 4, e, 8);
        store<i32>(level << 4, sDecode, 12);
        i = e + 1;
        if (load<u8>(i) == 0x3a) {
          i++;
          state = VALUE;
        } else state = COLON;
        continue;
      }
      if (c != 0x7d || state != KEY_OR_END) return FALLBACK;
    } else if (state == COLON) {
      if (c != 0x3a) return FALLBACK;
      i++;
      state = VALUE;
      continue;
    } else if (c != 0x5d || state != VALUE_OR_END) {
      // A value.
      if (c == 0x7b || c == 0x5b) {
        if (level + 1 >= MAX_DEPTH) return FALLBACK;
        // An array's items are named by its own name (walkJson passes it down); an object's by their keys.
        const from = level << 4;
        level++;
        const at = level << 4;
        store<i32>(at, c == 0x7b ? OBJECT : ARRAY);
        store<i32>(at, from < 0 ? BODY - 1 : load<i32>(from, 4), 4);
        store<i32>(at, from < 0 ? BODY - 1 : load<i32>(from, 8), 8);
        store<i32>(at, from < 0 ? 0 : load<i32>(from, 12), 12);
        state = c == 0x7b ? KEY_OR_END : VALUE_OR_END;
        i++;
        continue;
      }
      state = AFTER;
      if (c == 0x22) {
        const e = valueScan(i + 1, end);
        if (e < 0) return FALLBACK;
        if (sQuiet == 0 && !report(sDecode ? R_VALUE | R_DECODE : R_VALUE, i + 1, e, level)) return FULL;
        i = e + 1;
        if (load<u8>(i) == 0x2c && level >= 0) {
          i++;
          state = load<i32>(level << 4) == OBJECT ? KEY : VALUE;
        }
        continue;
      }
      const number = c == 0x2d || (c >= 0x30 && c <= 0x39);
      const r = number ? numberEnd(i, end) : literalEnd(i, end) * 2;
      if (r < 0) return FALLBACK;
      i = (r - (r & 1)) / 2;
      continue;
    }
    // A closing bracket.
    i++;
    level--;
    state = AFTER;
  }
  if (level != -1 || state != AFTER) return FALLBACK;
  return count;
}
