// AssemblyScript, compiled to WebAssembly by scripts/build-wasm.ts (the module is json-scan.wasm.ts); not part of the
// TypeScript build. json-text.ts's splice for the common case, without its per-byte JavaScript: it reads the whole
// JSON text (string text 16 bytes a step with SIMD), checks the grammar as splice does, takes each string's gates as
// detectors.ts gatesOfJsonString does, masks the strings that are one whole email, "+" phone, SSN or card number
// (detectors.ts wholeFinding, mask), and reports what is left to JavaScript: strings to decode or to give to the
// regular expressions, card-sized numbers, keys that may be array indexes. Each change is an edit (start, end,
// replacement) in document order; JavaScript fills the edits of what it changes, and assemble() writes the answer.
// Masks made here are counted per detector, with the offset of the first, for the tally.
// The detectors' bits and indexes are detectors.ts DETECTORS order.
//
// Memory: [0, 128) the kind of each open container; [128, 240) counts of masked values; [SPLATS, BODY) constant
// vectors; the text from BODY, followed by 16 zero bytes (a 16-byte load may read past the text, and a zero is a
// control character, which ends a string scan); then, at offsets json-text.ts chooses, the reports (five i32: kind,
// start, end, edit or -1, gates), the edits (four i32: start, end, replacement's offset, its length or -1 for none)
// and the replacements. Positions are offsets from the text's start.

import {
  BODY,
  between,
  decodeEnd,
  digitRun,
  eq,
  initSplats,
  isDigit,
  literalEnd,
  numberEnd,
  splat,
  stops,
} from '../../core/json-lexer.as';

/** Nesting splice leaves to the walk (json-text.ts MAX_DEPTH). */
const MAX_DEPTH: i32 = 128;
/** Passed to the walk: the text is not JSON as splice reads it, too deep, or has more reports than `cap`. */
const FALLBACK: i32 = -1;
const FULL: i32 = -2;

/** A string value JavaScript reads itself (escapes, non-ASCII text, a secret's prefix): [start, end] its quotes. */
const E_STRING: i32 = 1;
/** A number of 13 or more characters, or with an exponent (a card number sent as a number): [start, end). */
const E_NUMBER: i32 = 2;
/** A key of 1-10 digits (maybe an array index, which the walk visits first): [start, end] are its quotes. */
const E_KEY_DIGITS: i32 = 3;
/** A key with an escape (decoded to check the escape and whether it is an index): its quotes. */
const E_KEY_ESCAPED: i32 = 4;
/** A string value with gates open that is not one whole masked value: its quotes, and its gates. */
const E_STRING_OPEN: i32 = 5;
/** Per detector (its index): how many values were masked here, and the offset of the first ([128, 240)). */
const FOUND: i32 = 128;
const FIRST: i32 = 184;

const EMAIL: i32 = 8;
const CARD: i32 = 10;
const US_SSN: i32 = 11;
const PHONE: i32 = 13;
const BIT_EMAIL: i32 = 1 << EMAIL;
const BIT_CARD: i32 = 1 << CARD;
const BIT_SSN: i32 = 1 << US_SSN;
const BIT_PHONE: i32 = 1 << PHONE;
const IBAN_NINO: i32 = (1 << 9) | (1 << 12);
const SECRET_BITS: i32 = 0xff;
const CARD_SSN_PHONE: i32 = BIT_CARD | BIT_SSN | BIT_PHONE;
/** detectors.ts MIN_LENGTH: shorter strings are never scanned. */
const MIN_LENGTH: i32 = 8;
/** wholeFinding's answers besides a detector's index. */
const NOT_WHOLE: i32 = -1;
const NONE: i32 = -2;

/** Where the reports, edits and replacements go, set by scan(). */
let reports: i32 = 0;
let edits: i32 = 0;
let rep: i32 = 0;
let count: i32 = 0;
let editCount: i32 = 0;
let cap: i32 = 0;

const OBJECT: u8 = 1;
const ARRAY: u8 = 2;

const VALUE: i32 = 0;
const VALUE_OR_END: i32 = 1;
const KEY_OR_END: i32 = 2;
const KEY: i32 = 3;
const COLON: i32 = 4;
const AFTER: i32 = 5;

/** What valueEnd() saw in a string. */
let sDigits: i32 = 0;
let sAt: i32 = 0;
let sHint: i32 = 0;
let sUpper: i32 = 0;
/** The last stringEnd or valueEnd met an escape or a byte >= 0x80: JavaScript decodes the string. */
let sDecode: i32 = 0;

/**
 * A string's scan stopped at p (a quote, a backslash, a control character or a byte >= 0x80): the index of its
 * closing quote, -1 when it has none or holds a control character; sDecode set when it has an escape or non-ASCII.
 */
@inline
function stoppedAt(p: i32, end: i32): i32 {
  if (p >= end) return -1;
  const c = <i32>load<u8>(p);
  if (c == 0x22) return p;
  if (c < 0x20) return -1;
  sDecode = 1;
  return decodeEnd(p, end);
}

/**
 * The string whose text starts at i: the index of its closing quote, -1 when it has none or holds a control
 * character. sDecode tells whether it has an escape or a byte >= 0x80.
 */
function stringEnd(i: i32, end: i32): i32 {
  sDecode = 0;
  for (;;) {
    const v = v128.load(i);
    const stop = stops(v);
    if (stop == 0) {
      i += 16;
      continue;
    }
    return stoppedAt(i + ctz<i32>(stop), end);
  }
}

/**
 * stringEnd for a value: also sets, over its text before the closing quote (when it has no escape or non-ASCII
 * byte), sDigits, the number of digits; sAt, whether it holds "@"; sHint, whether it holds a character a secret's
 * prefix holds ("A", "J", "_", "-"); sUpper, whether it holds a capital.
 */
function valueEnd(i: i32, end: i32): i32 {
  let digits = 0;
  let ats = 0;
  let hints = 0;
  let ups = 0;
  sDecode = 0;
  for (;;) {
    const v = v128.load(i);
    const stop = stops(v);
    // The bytes of this block before the stop (all 16 without one).
    const inside = stop == 0 ? 0xffff : (1 << ctz<i32>(stop)) - 1;
    digits += popcnt<i32>(i8x16.bitmask(between(v, 0x30, 0x39)) & inside);
    ats |= i8x16.bitmask(eq(v, 0x40)) & inside;
    hints |=
      i8x16.bitmask(v128.or(v128.or(eq(v, 0x41), eq(v, 0x4a)), v128.or(eq(v, 0x5f), eq(v, 0x2d)))) & inside;
    ups |= i8x16.bitmask(between(v, 0x41, 0x5a)) & inside;
    if (stop == 0) {
      i += 16;
      continue;
    }
    sDigits = digits;
    sAt = ats;
    sHint = hints;
    sUpper = ups;
    return stoppedAt(i + ctz<i32>(stop), end);
  }
}

/** Whether the key text [s, e) (ASCII, no escape) is 1-10 digits. */
function digitsOnly(s: i32, e: i32): bool {
  const len = e - s;
  if (len < 1 || len > 10) return false;
  const v = v128.load(s);
  const d = i8x16.bitmask(between(v, 0x30, 0x39));
  const inside = (1 << len) - 1;
  return (d & inside) == inside;
}

@inline
function isUpper(c: i32): bool {
  return c >= 0x41 && c <= 0x5a;
}

@inline
function isAlnum(c: i32): bool {
  return isDigit(c) || isUpper(c) || (c >= 0x61 && c <= 0x7a);
}

/**
 * detectors.ts gatesOfJsonString for the ASCII text [s, e) of a string without escapes (e its closing quote), 16
 * bytes a step: the gates, or -1 when a secret's prefix may be in it (JavaScript tests the prefixes). A run of
 * digits there (digits with " .()+-" between them) holds as many digits as the longest stretch of [0-9 .()+-] it
 * lies in, and a card's run as the longest stretch of [0-9 -]: those stretches are counted from bit masks, carried
 * from one block to the next. The neighbours each rule reads (two capitals before two digits, a secret prefix's
 * characters around "A", "J", "_", "-") come from loads one to three bytes off; the opening quote before the text
 * and the closing quote after it match none of them, as the string's ends do in gatesOfJsonString. The text is
 * MIN_LENGTH or longer (stringValue), and its digits, "@", capitals and secret-prefix characters were counted by
 * valueEnd.
 */
function gatesOf(s: i32, e: i32, enabled: i32): i32 {
  const length = e - s;
  // What valueEnd() saw decides whether IBAN / NINO's capitals and a secret's prefix need looking for at all.
  const wantCaps = sUpper != 0 && (enabled & IBAN_NINO) != 0;
  const wantHint = sHint != 0 && length >= 15 && (enabled & SECRET_BITS) != 0;
  let cardMax = 0;
  let phoneMax = 0;
  let card = 0;
  let phone = 0;
  let caps = 0;
  for (let i = s; i < e; i += 16) {
    const inside = e - i >= 16 ? 0xffff : (1 << (e - i)) - 1;
    const v = v128.load(i);
    const dv = between(v, 0x30, 0x39);
    const d = i8x16.bitmask(dv) & inside;
    const space = eq(v, 0x20);
    const dash = eq(v, 0x2d);
    const c = i8x16.bitmask(v128.or(dv, v128.or(space, dash))) & inside;
    const ph =
      c | (i8x16.bitmask(v128.or(v128.or(eq(v, 0x2e), eq(v, 0x2b)), between(v, 0x28, 0x29))) & inside);
    card = stretches(c, d, card, inside);
    if (maxCount > cardMax) cardMax = maxCount;
    phone = stretches(ph, d, phone, inside);
    if (maxCount > phoneMax) phoneMax = maxCount;
    if (wantCaps && d != 0) {
      // Two digits after two capitals, or after two capitals and a space.
      const vp = v128.load(i - 1);
      const upPP = between(v128.load(i - 2), 0x41, 0x5a);
      const twoCaps = v128.or(
        v128.and(between(vp, 0x41, 0x5a), upPP),
        v128.and(v128.and(eq(vp, 0x20), upPP), between(v128.load(i - 3), 0x41, 0x5a)),
      );
      caps |= i8x16.bitmask(v128.and(v128.and(dv, between(v128.load(i + 1), 0x30, 0x39)), twoCaps)) & inside;
    }
    if (!wantHint) continue;
    // The characters a secret's prefix turns on are rare in text: each is looked at alone (secretHintAt).
    let at = i8x16.bitmask(v128.or(v128.or(eq(v, 0x41), eq(v, 0x4a)), v128.or(eq(v, 0x5f), dash))) & inside;
    while (at != 0) {
      if (secretHintAt(i + ctz<i32>(at))) return -1;
      at &= at - 1;
    }
  }
  let open = sAt != 0 ? BIT_EMAIL : 0;
  if (sDigits >= 6) open |= digitGates(cardMax, phoneMax);
  open &= enabled;
  if (caps != 0 && sDigits >= 6) open |= IBAN_NINO & enabled;
  return open;
}

/**
 * detectors.ts secretHint at the character p of a string's text (its neighbours there are the text's, or a quote):
 * "A" before K S B C I, "J" after "y", "_" after p o u s r b k, "-" before "-" or after a b p o s r.
 */
function secretHintAt(p: i32): bool {
  const c = <i32>load<u8>(p);
  const prev = <i32>load<u8>(p - 1);
  if (c == 0x41) {
    const next = <i32>load<u8>(p + 1);
    return next == 0x4b || next == 0x53 || next == 0x42 || next == 0x43 || next == 0x49;
  }
  if (c == 0x4a) return prev == 0x79;
  if (c == 0x5f)
    return prev == 0x70 || prev == 0x6f || prev == 0x75 || prev == 0x73 || prev == 0x72 || prev == 0x62 || prev == 0x6b;
  return (
    load<u8>(p + 1) == 0x2d ||
    prev == 0x61 ||
    prev == 0x62 ||
    prev == 0x70 ||
    prev == 0x6f ||
    prev == 0x73 ||
    prev == 0x72
  );
}

/** numberGates: not a number as a card, an SSN or a phone number is written (gatesOf decides). */
const UNKNOWN: i32 = -3;

/**
 * gatesOf for what most strings with six digits are, a number written with blanks and dashes (a card number, an SSN,
 * a phone number after its "+"), in 32 characters at most: every digit is in the one stretch of [0-9 -] (and of
 * [0-9 .()+-]), so both counts are its digits; no capital is there, and no secret's prefix (each holds a letter), so
 * JavaScript need not test them even where gatesOf would ask it to ("--"). UNKNOWN for any other text.
 */
function numberGates(s: i32, e: i32, enabled: i32): i32 {
  const len = e - s;
  const v = v128.load(s);
  let m = i8x16.bitmask(v128.or(between(v, 0x30, 0x39), v128.or(eq(v, 0x20), eq(v, 0x2d))));
  if (len > 16) {
    const w = v128.load(s + 16);
    m |= i8x16.bitmask(v128.or(between(w, 0x30, 0x39), v128.or(eq(w, 0x20), eq(w, 0x2d)))) << 16;
  }
  const all = len == 32 ? -1 : (1 << len) - 1;
  // A leading "+" is in the phone's stretch and outside the card's, which then starts after it.
  if (load<u8>(s) == 0x2b) m |= 1;
  if ((m & all) != all) return UNKNOWN;
  return digitGates(sDigits, sDigits) & enabled;
}

/** The gates the longest stretch of digits opens: in [0-9 -] (cards, SSNs) and in [0-9 .()+-] (phone numbers). */
@inline
function digitGates(cardMax: i32, phoneMax: i32): i32 {
  let open = 0;
  if (cardMax >= 13) open |= BIT_CARD;
  if (cardMax >= 9) open |= BIT_SSN;
  if (phoneMax >= 8) open |= BIT_PHONE;
  return open;
}

/** The most digits in one stretch of the last stretches() call. */
let maxCount: i32 = 0;

/**
 * The stretches of 1 bits in the 16-bit mask `m` (a block; `inside`, its bits that are text), with the digits `d` in
 * each: sets maxCount to the most digits in one, the first stretch adding `carry` (the digits of a stretch the block
 * before ended in) when it starts at bit 0. Returns the carry for the next block: the digits of the stretch that
 * reaches bit 15, else 0.
 */
function stretches(m: i32, d: i32, carry: i32, inside: i32): i32 {
  if (m == inside) {
    // One stretch over all of the block that is text (a card's or a phone's digits).
    maxCount = popcnt<i32>(d) + carry;
    return inside == 0xffff ? maxCount : 0;
  }
  let most = 0;
  let next = 0;
  if ((m & 1) == 0) carry = 0;
  while (m != 0) {
    const start = ctz<i32>(m);
    // m holds 16 bits: the stretch ends at bit 15 at the latest.
    const len = ctz<i32>(~(m >> start));
    const stretch = ((1 << len) - 1) << start;
    let count = popcnt<i32>(d & stretch);
    if (start == 0) count += carry;
    if (count > most) most = count;
    if (start + len >= 16) next = count;
    m &= ~stretch;
  }
  maxCount = most;
  return next;
}

/** detectors.ts ssnBytesValid. */
function ssnValid(s: i32): bool {
  const area = (<i32>load<u8>(s) - 48) * 100 + (<i32>load<u8>(s + 1) - 48) * 10 + (<i32>load<u8>(s + 2) - 48);
  const group = (<i32>load<u8>(s + 4) - 48) * 10 + (<i32>load<u8>(s + 5) - 48);
  const serial =
    (<i32>load<u8>(s + 7) - 48) * 1000 +
    (<i32>load<u8>(s + 8) - 48) * 100 +
    (<i32>load<u8>(s + 9) - 48) * 10 +
    (<i32>load<u8>(s + 10) - 48);
  if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0) return false;
  return !((area == 78 && group == 5 && serial == 1120) || (area == 219 && group == 9 && serial == 9999));
}

/** detectors.ts issuerAccepts. */
function issuerAccepts(p2: i32, p3: i32, p4: i32, n: i32): bool {
  if (p2 >= 40 && p2 <= 49) return n == 13 || n == 16 || n == 19;
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n == 16;
  if (p2 == 34 || p2 == 37) return n == 15;
  if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649)) return n >= 16 && n <= 19;
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19;
  if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) return n >= 14 && n <= 19;
  if (p2 == 62) return n >= 16 && n <= 19;
  if (p2 == 50 || (p2 >= 56 && p2 <= 69)) return n >= 12 && n <= 19;
  return false;
}

/** detectors.ts isCardBytes: one separator kind, never doubled; 13-19 digits of a known issuer; the Luhn check. */
function isCard(s: i32, e: i32): bool {
  // valueEnd counted the digits: the Luhn check runs from the left, a digit doubled when an odd number follow it.
  const total = sDigits;
  if (total < 13 || total > 19) return false;
  let double = (total & 1) == 0;
  let sum = 0;
  let sep = 0;
  let prevSep = false;
  let n = 0;
  let p4 = 0;
  let p3 = 0;
  let p2 = 0;
  for (let i = s; i < e; i++) {
    const c = <i32>load<u8>(i);
    if (isDigit(c)) {
      let x = c - 48;
      if (n < 4) p4 = p4 * 10 + x;
      if (n == 1) p2 = p4;
      if (n == 2) p3 = p4;
      n++;
      if (double) {
        x *= 2;
        if (x > 9) x -= 9;
      }
      sum += x;
      double = !double;
      prevSep = false;
    } else if (c == 0x20 || c == 0x2d) {
      if (prevSep || (sep != 0 && sep != c)) return false;
      sep = c;
      prevSep = true;
    } else return false;
  }
  return issuerAccepts(p2, p3, p4, n) && sum % 10 == 0;
}

/** detectors.ts isWholeEmail. */
function isWholeEmail(s: i32, e: i32): bool {
  let i = s;
  for (; i < e; i++) {
    const x = <i32>load<u8>(i);
    if (x == 0x40) break;
    if (!isAlnum(x) && x != 0x2e && x != 0x5f && x != 0x25 && x != 0x2b && x != 0x2d) return false;
  }
  if (i == s || i - s > 64 || i == e) return false;
  let labels = 0;
  let from = i + 1;
  for (i = from; i < e; i++) {
    const x = <i32>load<u8>(i);
    if (x != 0x2e) {
      if (!isAlnum(x) && x != 0x2d) return false;
      continue;
    }
    const len = i - from;
    if (len < 1 || len > 63 || ++labels > 8 || load<u8>(from) == 0x2d || load<u8>(i - 1) == 0x2d) return false;
    from = i + 1;
  }
  if (labels == 0 || e - from < 2 || e - from > 24) return false;
  for (i = from; i < e; i++) {
    const x = <i32>load<u8>(i) | 32;
    if (x < 0x61 || x > 0x7a) return false;
  }
  return true;
}

/** detectors.ts wholeFinding: a detector's index, NONE, or NOT_WHOLE (the regular expressions decide). */
function wholeFinding(s: i32, e: i32, open: i32): i32 {
  const n = e - s;
  const c = <i32>load<u8>(s);
  if (c == 0x2b) {
    if ((open & BIT_PHONE) == 0 || (open & ~CARD_SSN_PHONE) != 0 || n < 9 || n > 25) return NOT_WHOLE;
    const c1 = <i32>load<u8>(s + 1);
    if (c1 < 0x31 || c1 > 0x39 || !isDigit(<i32>load<u8>(e - 1))) return NOT_WHOLE;
    let d = 0;
    let seps = 0;
    for (let i = s + 1; i < e; i++) {
      const x = <i32>load<u8>(i);
      if (isDigit(x)) {
        d++;
        seps = 0;
      } else if (x == 0x20 || x == 0x2e || x == 0x28 || x == 0x29 || x == 0x2d) {
        if (++seps == 3) return NOT_WHOLE;
      } else return NOT_WHOLE;
    }
    return d >= 8 && d <= 15 ? PHONE : NOT_WHOLE;
  }
  if (isDigit(c)) {
    if ((open & ~BIT_PHONE) == BIT_SSN) {
      if (n != 11 || load<u8>(s + 3) != 0x2d || load<u8>(s + 6) != 0x2d) return NOT_WHOLE;
      for (let i = s; i < e; i++) if (i != s + 3 && i != s + 6 && !isDigit(<i32>load<u8>(i))) return NOT_WHOLE;
      return ssnValid(s) ? US_SSN : NONE;
    }
    if ((open & BIT_CARD) == 0 || (open & ~CARD_SSN_PHONE) != 0 || n < 13 || n > 28) return NOT_WHOLE;
    return isDigit(<i32>load<u8>(e - 1)) && isCard(s, e) ? CARD : NOT_WHOLE;
  }
  return open == BIT_EMAIL && isWholeEmail(s, e) ? EMAIL : NOT_WHOLE;
}

/** A character of \w (the phone pattern's look-behind also refuses "+"). */
@inline
function isWord(c: i32): bool {
  return isAlnum(c) || c == 0x5f;
}

/** The length of the run of digits at i (it ends at the text's end at the latest: zeros follow the text). */
@inline
function isPhoneSep(c: i32): bool {
  return c == 0x20 || c == 0x2e || c == 0x2d;
}

/**
 * Whether detectors.ts's phone pattern may match somewhere in the text [s, e): false only where none of its four
 * alternatives can start (a "+" and a digit; "(" and three digits; three digits, "." or "-", three digits; a "0" not
 * after a word character, then 1-4 digits and two groups of a separator and 2-4 digits, each run of digits whole, as
 * the pattern's end needs). A string whose only open gate is phone's and that fails this holds no finding: dates and
 * times open that gate with their eight digits.
 */
function phoneMayMatch(s: i32, e: i32): bool {
  for (let p = s; p < e; p++) {
    const c = <i32>load<u8>(p);
    if (c == 0x2b) {
      const n = <i32>load<u8>(p + 1);
      if (n >= 0x31 && n <= 0x39) return true;
    } else if (c == 0x28) {
      if (digitRun(p + 1) >= 3) return true;
    } else if (isDigit(c)) {
      const run = digitRun(p);
      const after = <i32>load<u8>(p + run);
      if (run >= 3 && (after == 0x2e || after == 0x2d) && digitRun(p + run + 1) >= 3) return true;
      if (c == 0x30 && run >= 2 && run <= 5 && (p == s || !(isWord(<i32>load<u8>(p - 1)) || load<u8>(p - 1) == 0x2b))) {
        // "0" and 1-4 more digits, then groups of a separator and 2-4 digits: two are enough for a match.
        let q = p + run;
        let groups = 0;
        while (groups < 2 && isPhoneSep(<i32>load<u8>(q))) {
          const g = digitRun(q + 1);
          if (g < 2 || g > 4) break;
          q += 1 + g;
          groups++;
        }
        if (groups == 2) return true;
      }
      // The rest of this run cannot start an alternative the run's first digit did not (each needs its whole run).
      p += run - 1;
    }
  }
  return false;
}

/** detectors.ts mask for a whole value [s, e) of detector `d`, written at `rep`: its length. */
function writeMask(d: i32, s: i32, e: i32): i32 {
  let o = rep;
  if (d == EMAIL) {
    let at = e - 1;
    while (load<u8>(at) != 0x40) at--;
    store<u8>(o++, load<u8>(s));
    store<u8>(o++, 0x2a);
    store<u8>(o++, 0x2a);
    store<u8>(o++, 0x2a);
    memory.copy(o, at, e - at);
    o += e - at;
  } else if (d == US_SSN) {
    memory.copy(o, s, e - s);
    store<u8>(o, 0x2a);
    store<u8>(o + 1, 0x2a);
    store<u8>(o + 2, 0x2a);
    store<u8>(o + 4, 0x2a);
    store<u8>(o + 5, 0x2a);
    o += e - s;
  } else {
    // Card and phone: "*" for every digit but the last 4 (2), separators dropped.
    const keep = d == CARD ? 4 : 2;
    // valueEnd counted the value's digits.
    const digits = sDigits;
    let seen = 0;
    for (let i = s; i < e; i++) {
      const c = <i32>load<u8>(i);
      if (!isDigit(c)) continue;
      store<u8>(o++, seen < digits - keep ? 0x2a : c);
      seen++;
    }
  }
  const length = o - rep;
  rep = o;
  return length;
}

/** An edit; false when there is no room. */
function edit(start: i32, end: i32, at: i32, length: i32): bool {
  if (editCount == cap) return false;
  const e = edits + editCount * 16;
  store<i32>(e, start - BODY);
  store<i32>(e, end - BODY, 4);
  store<i32>(e, at, 8);
  store<i32>(e, length, 12);
  editCount++;
  return true;
}

/** A report, with an edit that changes nothing yet for values (JavaScript fills it); false when there is no room. */
function report(kind: i32, start: i32, end: i32, gates: i32): bool {
  if (count == cap) return false;
  const r = reports + count * 20;
  store<i32>(r, kind);
  store<i32>(r, start - BODY, 4);
  store<i32>(r, end - BODY, 8);
  store<i32>(r, gates, 16);
  if (kind == E_KEY_DIGITS || kind == E_KEY_ESCAPED) store<i32>(r, -1, 12);
  else {
    store<i32>(r, editCount, 12);
    if (!edit(start, end, 0, -1)) return false;
  }
  count++;
  return true;
}

/** The string value whose text is [s, e): masked here, reported, or nothing to do; false when out of room. */
function stringValue(s: i32, e: i32, enabled: i32, masked: i32): bool {
  const len = e - s;
  if (sDecode) return report(E_STRING, s - 1, e, 0);
  if (len < MIN_LENGTH) return true;
  // Without 6 digits only email's gate can open (the digit gates, IBAN and NINO need 6), unless a secret's prefix may
  // be there (from 15 characters), which gatesOf tells exactly; with 6, gatesOf measures the runs of digits (numberGates
  // first, for a number written with blanks and dashes).
  let open = sAt != 0 ? BIT_EMAIL & enabled : 0;
  if (sDigits >= 6 || (len >= 15 && sHint != 0)) {
    open = sDigits >= 6 && len <= 32 ? numberGates(s, e, enabled) : UNKNOWN;
    if (open == UNKNOWN) open = gatesOf(s, e, enabled);
  }
  if (open == 0) return true;
  if (open < 0) return report(E_STRING, s - 1, e, 0);
  if (open == BIT_PHONE && !phoneMayMatch(s, e)) return true;
  const d = wholeFinding(s, e, open);
  if (d == NONE) return true;
  if (d == NOT_WHOLE || (masked & (1 << d)) == 0) return report(E_STRING_OPEN, s - 1, e, open);
  // Masked here: counted (JavaScript adds the counts to the tally in document order, from each detector's first).
  const at = rep;
  if (!edit(s, e, at, writeMask(d, s, e))) return false;
  const counter = FOUND + (d << 2);
  if (load<i32>(counter) == 0) store<i32>(FIRST + (d << 2), s - BODY);
  store<i32>(counter, load<i32>(counter) + 1);
  return true;
}

/** How many edits the last scan wrote. */
export function edited(): i32 {
  return editCount;
}

/** Where the next replacement goes (JavaScript writes its own after these). */
export function repEnd(): i32 {
  return rep;
}

/**
 * Reads the n bytes of text at BODY: the number of reports (at most `capacity`), FALLBACK or FULL. `enabled`: the
 * detectors on; `masked`: those whose action is the mask. The states and checks are splice's, for a body without
 * `names` members.
 */
export function scan(n: i32, reportsAt: i32, editsAt: i32, repAt: i32, capacity: i32, enabled: i32, masked: i32): i32 {
  initSplats();
  reports = reportsAt;
  edits = editsAt;
  rep = repAt;
  cap = capacity;
  count = 0;
  editCount = 0;
  memory.fill(FOUND, 0, 112);
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
        state = load<u8>(level) == OBJECT ? KEY : VALUE;
        i++;
        continue;
      }
      if (level < 0 || c != (load<u8>(level) == OBJECT ? 0x7d : 0x5d)) return FALLBACK;
    } else if (state == KEY || state == KEY_OR_END) {
      if (c == 0x22) {
        const e = stringEnd(i + 1, end);
        if (e < 0) return FALLBACK;
        if (sDecode && hasEscape(i + 1, e)) {
          if (!report(E_KEY_ESCAPED, i, e, 0)) return FULL;
        } else if (!sDecode && isDigit(<i32>load<u8>(i + 1)) && digitsOnly(i + 1, e)) {
          if (!report(E_KEY_DIGITS, i, e, 0)) return FULL;
        }
        i = e + 1;
        // The colon right after the key, as JSON.stringify writes it (else the loop finds it).
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
        level++;
        store<u8>(level, c == 0x7b ? OBJECT : ARRAY);
        state = c == 0x7b ? KEY_OR_END : VALUE_OR_END;
        i++;
        continue;
      }
      state = AFTER;
      if (c == 0x22) {
        const e = valueEnd(i + 1, end);
        if (e < 0) return FALLBACK;
        if (!stringValue(i + 1, e, enabled, masked)) return FULL;
        i = e + 1;
        // A comma right after the value (else the loop finds what comes).
        if (load<u8>(i) == 0x2c && level >= 0) {
          i++;
          state = load<u8>(level) == OBJECT ? KEY : VALUE;
        }
        continue;
      }
      const number = c == 0x2d || (c >= 0x30 && c <= 0x39);
      const r = number ? numberEnd(i, end) : literalEnd(i, end) * 2;
      if (r < 0) return FALLBACK;
      const e = (r - (r & 1)) / 2;
      if (number && (e - i >= 13 || (r & 1) != 0)) {
        if (!report(E_NUMBER, i, e, 0)) return FULL;
      }
      i = e;
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

/** Whether the string text [i, e) holds a backslash (it may be only non-ASCII). */
function hasEscape(i: i32, e: i32): bool {
  for (; i < e; i++) if (load<u8>(i) == 0x5c) return true;
  return false;
}

/**
 * Copies n bytes from s to d 16 at a time, writing up to 15 bytes past d + n (memory.copy is a call out of the module,
 * dear for the short pieces an answer is made of). For assemble() only: each piece's overrun is written over by the
 * next; the last one's lies in the 16 bytes after the answer, which json-text.ts reserves and wipes with it.
 */
@inline
function copyOver(d: i32, s: i32, n: i32): void {
  for (let k = 0; k < n; k += 16) v128.store(d + k, v128.load(s + k));
}

/**
 * The answer: the text at BODY (n bytes) with the first `edits` edits that change something applied, written at
 * `out` (with room for 16 bytes more); its length.
 */
export function assemble(n: i32, editsAt: i32, total: i32, out: i32): i32 {
  let o = out;
  let last = BODY;
  for (let k = 0; k < total; k++) {
    const e = editsAt + k * 16;
    const length = load<i32>(e, 12);
    if (length < 0) continue;
    const start = BODY + load<i32>(e);
    copyOver(o, last, start - last);
    o += start - last;
    copyOver(o, load<i32>(e, 8), length);
    o += length;
    last = BODY + load<i32>(e, 4);
  }
  copyOver(o, last, BODY + n - last);
  return o + BODY + n - last - out;
}
