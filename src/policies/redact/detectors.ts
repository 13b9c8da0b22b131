import { API_KEY_PATTERN } from '../../identity/api-key.js';

/**
 * Detectors for personal data and secrets in text. One combined regular expression finds candidates in a single
 * pass; each candidate is then checked (Luhn and card ranges, IBAN mod-97, SSN validity rules, a JWT's JSON
 * header), so numbers that merely look like a card, an IBAN or an SSN are left alone. Patterns need separators or
 * prefixes where bare digits would match ids and amounts (a phone needs "+" or separators; an SSN needs dashes).
 */

export const DETECTORS = [
  'private_key',
  'jwt',
  'aws_key',
  'github_token',
  'slack_token',
  'stripe_key',
  'google_api_key',
  'rampart_api_key',
  'email',
  'iban',
  'card',
  'us_ssn',
  'uk_nino',
  'phone',
] as const;

export type Detector = (typeof DETECTORS)[number];

/** Secrets (never partly shown) as opposed to personal data (masked so that a person can still tell which). */
export const SECRET_DETECTORS: ReadonlySet<Detector> = new Set([
  'private_key',
  'jwt',
  'aws_key',
  'github_token',
  'slack_token',
  'stripe_key',
  'google_api_key',
  'rampart_api_key',
]);

// Not preceded or followed by a character that would make the match part of a longer token.
const B = '(?<![A-Za-z0-9_\\-])';
const E = '(?![A-Za-z0-9_\\-])';
const D = '(?<![0-9A-Za-z])';
const DE = '(?![0-9A-Za-z])';

// wholeFinding decides whole email, "+" phone, SSN and card values without these expressions: a change to those four
// patterns (or to DETECTORS order) must be made there too (scanner-fast.test.ts compares the two on generated values).
const SOURCES: Record<Detector, string> = {
  private_key:
    '-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\\s\\S]{0,16384}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----',
  // Header and payload both base64url JSON objects ("eyJ"); a fourth part would make it a JWE, not a JWT.
  jwt: `${B}eyJ[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{0,1024}(?![A-Za-z0-9_.\\-])`,
  aws_key: `${B}(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}${E}`,
  github_token: `${B}(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})${E}`,
  slack_token: `${B}xox[abposr]-[A-Za-z0-9-]{10,250}${E}`,
  stripe_key: `${B}(?:sk|rk)_live_[A-Za-z0-9]{24,247}${E}`,
  google_api_key: `${B}AIza[0-9A-Za-z_-]{35}${E}`,
  rampart_api_key: `${B}${API_KEY_PATTERN.source.replaceAll('\\b', '')}${E}`,
  email: `${B}[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.){1,8}[A-Za-z]{2,24}${E}`,
  iban: `${D}[A-Z]{2}\\d{2}[A-Z0-9 ]{10,40}[A-Z0-9]${DE}`,
  // 13-19 digits, optionally grouped by single spaces or dashes.
  card: `${D}\\d[\\d -]{11,26}\\d${DE}`,
  us_ssn: `${D}\\d{3}-\\d{2}-\\d{4}${DE}`,
  uk_nino: `${D}[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\\d{2} ?\\d{2} ?\\d{2} ?[A-D]${DE}`,
  // "+" and 8-15 digits with optional separators, or a national number with separators: (415) 555-2671,
  // 415-555-2671, 020 7946 0958, 06 12 34 56 78. Plain digit runs are never phones (ids, amounts).
  phone:
    '(?<![\\w+])(?:\\+[1-9][\\d .()-]{6,22}\\d|\\(\\d{3}\\) ?\\d{3}[ .-]\\d{4}|\\d{3}[.-]\\d{3}[.-]\\d{4}|0\\d{1,4}(?:[ .-]\\d{2,4}){2,4})(?![\\w])',
};

export interface Finding {
  readonly type: Detector;
  readonly start: number;
  readonly end: number;
  readonly value: string;
}

/** In a gatesOfJsonString result: the string must be decoded first. */
export const DECODE = 16384;

export interface Scanner {
  readonly detectors: readonly Detector[];
  /** The detectors on, as a mask of detectorBit()s. */
  readonly enabledBits: number;
  /** Calls `onMatch` for each verified finding in order; returns the replaced text, or the same string if none. */
  replace(text: string, onMatch: (f: Finding) => string): string;
  /** Whether the text holds at least one verified finding. */
  test(text: string): boolean;
  /**
   * Reads the JSON string whose text starts at b[i] (UTF-8 bytes, n of them) up to its closing quote, taking the
   * gates of its text as replace() would: (index of the quote) * 32768 + the gates; + DECODE instead of gates when
   * the text has an escape or non-ASCII characters (decode it, then replace()); -1 when the string is not valid
   * (no closing quote, a control character). `w`: a Uint16Array view of b's bytes from byte `shift` (0 or 1: a
   * view must start at an even address), read to skip plain text faster; the result is the same without it.
   */
  gatesOfJsonString(b: Uint8Array, i: number, n: number, w?: Uint16Array | null, shift?: number): number;
  /** The gates replace() takes for a text (gatesOfJsonString must agree; tests compare them). */
  gates(text: string): number;
  /** replace() for a text whose gates the caller took (gatesOfJsonString, not 0). */
  replaceOpen(text: string, open: number, onMatch: (f: Finding) => string): string;
  /**
   * replaceOpen() for the text of a JSON string read from b[at, at + text.length) (ASCII, no escapes): a text that
   * is one common value (an email, a "+" phone, an SSN, a card number) is decided from the bytes (wholeFinding).
   */
  replaceJson(text: string, open: number, b: Uint8Array, at: number, onMatch: (f: Finding) => string): string;
}

/**
 * Cheap gates decide which detectors can match a string at all, so most strings (ids, names, dates) never meet a
 * regular expression: email needs "@", a card 13 digits, an SSN 9 digits and a dash, a phone 8 digits, IBAN and
 * NINO six digits and "[A-Z]{2} ?\d{2}" (which both patterns start with), secrets one of their fixed prefixes. One
 * expression is compiled per set of open gates, on first use (a handful in practice; bounded). A gate that a
 * pattern's match implies (IBAN / NINO, secrets) only saves time; the digit gates also decide which patterns meet
 * in one expression, and so which candidate wins where two overlap: they stay as they are.
 */
const SECRET_PREFIX = /AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|xox[abposr]-|[sr]k_live_|AIza|rmpk_|eyJ|-----BEGIN/;
const MAX_COMPILED = 256;

/** Bit of each detector in a gate mask (its index in DETECTORS). */
const BIT = Object.fromEntries(DETECTORS.map((d, i) => [d, 1 << i])) as Record<Detector, number>;
export const detectorBit = (d: Detector): number => BIT[d];
const SECRET_BITS = [...SECRET_DETECTORS].reduce((m, d) => m | BIT[d], 0);
const MIN_LENGTH = 8;

/**
 * What a character means to the gates (see gatesOf), most frequent first: the loop's first tests take letters,
 * digits and capitals; the rest (separators, "@", and "A", "J", "_", "-", which a secret's prefix needs) is rarer.
 */
const G_OTHER = 0;
const G_DIGIT = 1;
const G_UPPER = 2;
const G_SPACE = 3;
const G_DASH = 4;
const G_PHONE_SEP = 5;
const G_AT = 6;
const G_UNDERSCORE = 7;
const G_UPPER_HINT = 8;
const GATE_CLASS = new Uint8Array(65536);
for (let c = 48; c <= 57; c++) GATE_CLASS[c] = G_DIGIT;
for (let c = 65; c <= 90; c++) GATE_CLASS[c] = G_UPPER;
GATE_CLASS[32] = G_SPACE;
GATE_CLASS[45] = G_DASH;
for (const c of '.()+') GATE_CLASS[c.charCodeAt(0)] = G_PHONE_SEP;
GATE_CLASS[64] = G_AT;
GATE_CLASS[95] = G_UNDERSCORE;
GATE_CLASS[65] = G_UPPER_HINT;
GATE_CLASS[74] = G_UPPER_HINT;

/** What IBAN and NINO both start with; two capitals in a row and six digits come first, as a cheaper gate. */
const CAPS_DIGITS = /[A-Z]{2} ?\d{2}/;

/**
 * Whether the character c (one of "A", "J", "_", "-") can be part of a secret's prefix, from its neighbours (0 at
 * the ends): every alternative of SECRET_PREFIX holds one such character in such a place.
 */
function secretHint(c: number, prev: number, next: number): boolean {
  switch (c) {
    case 65: // AKIA ASIA ABIA ACCA AIza
      return next === 75 || next === 83 || next === 66 || next === 67 || next === 73;
    case 74: // eyJ
      return prev === 121;
    case 95: // gh[pousr]_ github_pat_ [sr]k_live_ rmpk_
      return (
        prev === 112 || prev === 111 || prev === 117 || prev === 115 || prev === 114 || prev === 98 || prev === 107
      );
    case 45: // xox[abposr]- -----BEGIN
      return next === 45 || prev === 97 || prev === 98 || prev === 112 || prev === 111 || prev === 115 || prev === 114;
    default:
      return false;
  }
}

/**
 * The mask from the counts of one pass (gatesOf, gatesOfJsonString), IBAN, NINO and secrets aside: "@", 6 digits,
 * a run of 13 digits in [0-9 -] for a card and 9 for an SSN, 8 in [0-9 .()+-] for a phone.
 */
function openGates(digits: number, cardMax: number, phoneMax: number, at: boolean): number {
  let open = at ? BIT.email : 0;
  if (digits >= 6) {
    if (cardMax >= 13) open |= BIT.card;
    if (cardMax >= 9) open |= BIT.us_ssn;
    if (phoneMax >= 8) open |= BIT.phone;
  }
  return open;
}
const IBAN_NINO = BIT.iban | BIT.uk_nino;

/**
 * The detectors that could match the text, as a mask limited to `enabled` (a mask too); 0 when none can. One pass
 * counts what openGates needs and notes two capitals in a row and the characters a secret's prefix needs; only
 * then, for the few strings with them, the tests of what IBAN / NINO and a secret start with.
 */
function gatesOf(text: string, enabled: number): number {
  let digits = 0;
  let cardRun = 0;
  let cardMax = 0;
  let phoneRun = 0;
  let phoneMax = 0;
  let at = false;
  let caps = false;
  let hint = false;
  let upper = -2;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const k = GATE_CLASS[text.charCodeAt(i)];
    if (k === G_OTHER) {
      cardRun = 0;
      phoneRun = 0;
    } else if (k === G_DIGIT) {
      digits++;
      if (++cardRun > cardMax) cardMax = cardRun;
      if (++phoneRun > phoneMax) phoneMax = phoneRun;
    } else if (k === G_UPPER || k === G_UPPER_HINT) {
      cardRun = 0;
      phoneRun = 0;
      if (upper === i - 1) caps = true;
      upper = i;
      if (k === G_UPPER_HINT) hint = true;
    } else if (k === G_DASH)
      hint = true; // inside both kinds of run, like a space
    else if (k === G_PHONE_SEP) cardRun = 0;
    else if (k !== G_SPACE) {
      cardRun = 0;
      phoneRun = 0;
      if (k === G_AT) at = true;
      else if (k === G_UNDERSCORE) hint = true;
    }
  }
  let open = openGates(digits, cardMax, phoneMax, at) & enabled;
  if (caps && digits >= 6 && enabled & IBAN_NINO && CAPS_DIGITS.test(text)) open |= IBAN_NINO & enabled;
  // The shortest secret (a Slack token) is 15 characters: shorter strings skip the prefix test.
  if (hint && n >= 15 && enabled & SECRET_BITS && SECRET_PREFIX.test(text)) open |= SECRET_BITS & enabled;
  return open;
}

/**
 * Byte classes of gatesOfJsonString's main loop. Outside a digit run the run counters are 0, so spaces, capitals
 * and the phone separators ".()+" change nothing there and share the class of letters (J_PLAIN): the loop's
 * common case is one lookup and one test. A digit starts a run, read by its own loop (RUN_CLASS).
 */
const J_PLAIN = 0;
const J_DIGIT = 1;
const J_HINT = 2; // "A", "J", "_", "-": may be part of a secret's prefix (secretHint)
const J_AT = 3;
const J_QUOTE = 4;
const J_DECODE = 5;
const J_INVALID = 6;
const JSON_CLASS = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) JSON_CLASS[c] = J_INVALID;
for (let c = 0x80; c < 0x100; c++) JSON_CLASS[c] = J_DECODE;
for (let c = 48; c <= 57; c++) JSON_CLASS[c] = J_DIGIT;
for (const c of 'AJ_-') JSON_CLASS[c.charCodeAt(0)] = J_HINT;
JSON_CLASS[64] = J_AT;
JSON_CLASS[0x22] = J_QUOTE;
JSON_CLASS[0x5c] = J_DECODE;
/**
 * Pairs of J_PLAIN bytes, by the 16-bit word they make (either byte order: both must be plain): plain stretches are
 * skipped two bytes at a time through a Uint16Array view of the body, about 2.5 times faster than byte by byte.
 */
const PLAIN_PAIR = new Uint8Array(65536);
for (let w = 0; w < 65536; w++)
  PLAIN_PAIR[w] = JSON_CLASS[w & 255] === J_PLAIN && JSON_CLASS[w >>> 8] === J_PLAIN ? 1 : 0;
/** Inside a digit run: 1 digit, 2 space, 3 dash, 4 ".()+" (ends a card's run, not a phone's), 0 the run's end. */
const RUN_CLASS = new Uint8Array(256);
for (let c = 48; c <= 57; c++) RUN_CLASS[c] = 1;
RUN_CLASS[32] = 2;
RUN_CLASS[45] = 3;
for (const c of '.()+') RUN_CLASS[c.charCodeAt(0)] = 4;

/**
 * gatesOf over the bytes of a JSON string (see Scanner.gatesOfJsonString): the same gates, byte for character.
 * A run of [0-9 .()+-] is read at once; "[A-Z]{2} ?\d{2}" (IBAN, NINO) is checked where a run starts, the only
 * place its digits can start.
 */
function gatesOfJsonString(
  b: Uint8Array,
  w: Uint16Array | null,
  shift: number,
  i: number,
  n: number,
  enabled: number,
): number {
  const start = i;
  // Word j of w holds bytes shift + 2j and shift + 2j + 1: the words wholly before n.
  const wEnd = (n - shift) >> 1;
  let digits = 0;
  let cardMax = 0;
  let phoneMax = 0;
  let at = false;
  let hint = false;
  let capsDigits = false;
  if (i >= n) return -1;
  // The class of b[i]: each branch reads the next byte's (the common one, J_PLAIN, in one test).
  let k = JSON_CLASS[b[i] as number] as number;
  for (;;) {
    if (k === J_PLAIN) {
      let next = i + 1;
      if (w !== null) {
        // From the word holding byte i + 1 on, while both bytes are plain (b[i] is).
        let j = (next - shift) >> 1;
        while (j < wEnd && PLAIN_PAIR[w[j] as number] === 1) j++;
        if (shift + 2 * j > next) next = shift + 2 * j;
      }
      i = next;
      if (i >= n) return -1;
      k = JSON_CLASS[b[i] as number] as number;
      continue;
    }
    if (k === J_DIGIT) {
      if (!capsDigits && i + 1 < n && isDigit(b[i + 1] as number)) {
        const p = i - 1 >= start && b[i - 1] === 32 ? i - 2 : i - 1;
        capsDigits = p - 1 >= start && isUpper(b[p] as number) && isUpper(b[p - 1] as number);
      }
      let card = 0;
      let phone = 0;
      let r = 1;
      for (;;) {
        if (r === 1) {
          card++;
          phone++;
        } else if (r === 4) {
          if (card > cardMax) cardMax = card;
          card = 0;
        } else if (r === 3) {
          // Never the run's first byte: its neighbour before is in the string.
          if (!hint) hint = secretHint(45, b[i - 1] as number, b[i + 1] as number);
        } else if (r === 0) break;
        if (++i >= n) return -1;
        r = RUN_CLASS[b[i] as number] as number;
      }
      if (card > cardMax) cardMax = card;
      if (phone > phoneMax) phoneMax = phone;
      digits += phone;
      k = JSON_CLASS[b[i] as number] as number;
      continue;
    }
    if (k === J_QUOTE) break;
    if (k === J_HINT) {
      if (!hint) hint = secretHint(b[i] as number, i > start ? (b[i - 1] as number) : 0, b[i + 1] as number);
    } else if (k === J_AT) at = true;
    else if (k === J_DECODE) return decodeEnd(b, i, n);
    else return -1;
    if (++i >= n) return -1;
    k = JSON_CLASS[b[i] as number] as number;
  }
  const length = i - start;
  if (length < MIN_LENGTH) return i * 32768;
  let open = openGates(digits, cardMax, phoneMax, at) & enabled;
  if (capsDigits && digits >= 6 && enabled & IBAN_NINO) open |= IBAN_NINO & enabled;
  if (hint && length >= 15 && enabled & SECRET_BITS && SECRET_PREFIX.test(asciiOf(b, start, i))) {
    open |= SECRET_BITS & enabled;
  }
  return i * 32768 + open;
}

function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** The rest of gatesOfJsonString for a string with an escape or non-ASCII text: only where it ends. */
function decodeEnd(b: Uint8Array, i: number, n: number): number {
  while (i < n) {
    const c = b[i] as number;
    if (c === 0x22) return i * 32768 + DECODE;
    if (c === 0x5c) i += 2;
    else if (c < 0x20) return -1;
    else i++;
  }
  return -1;
}

/** An ASCII byte range as a string (only for the rare secret-prefix test). */
function asciiOf(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}

/**
 * Shortcuts for a JSON string that is one whole value of a common shape (an answer's "email", "phone", "ssn" and
 * "card" members), read from its bytes: the finding the regular expression would make, decided without running it.
 * Each applies only where the expression's first match is provably the whole text at its start (the gates `open`
 * say which patterns the expression holds, in DETECTORS order; the shape says which of them matches there first,
 * and that its greedy match is the whole text) and the check accepts the whole text; anything else is left to the
 * expression (null). NONE: the expression finds nothing (an SSN-shaped text that fails the SSA rules).
 */
const NONE = '';
const CARD_SSN_PHONE = BIT.card | BIT.us_ssn | BIT.phone;

function wholeFinding(b: Uint8Array, s: number, e: number, open: number): Detector | typeof NONE | null {
  const n = e - s;
  const c = b[s] as number;
  if (c === 43) {
    // "+" [1-9] [\d .()-]{6,22} \d: phone's first alternative; card and SSN cannot match at a "+".
    if ((open & BIT.phone) === 0 || (open & ~CARD_SSN_PHONE) !== 0 || n < 9 || n > 25) return null;
    const c1 = b[s + 1] as number;
    if (c1 < 49 || c1 > 57 || !isDigit(b[e - 1] as number)) return null;
    // isPhone: 8-15 digits after a "+", never three separators in a row.
    let d = 0;
    let seps = 0;
    for (let i = s + 1; i < e; i++) {
      const x = b[i] as number;
      if (isDigit(x)) {
        d++;
        seps = 0;
      } else if (x === 32 || x === 46 || x === 40 || x === 41 || x === 45) {
        if (++seps === 3) return null;
      } else return null;
    }
    return d >= 8 && d <= 15 ? 'phone' : null;
  }
  if (isDigit(c)) {
    if ((open & ~BIT.phone) === BIT.us_ssn) {
      // \d{3}-\d{2}-\d{4}: SSN comes before phone and matches the whole text; its check alone decides.
      if (n !== 11 || b[s + 3] !== 45 || b[s + 6] !== 45) return null;
      for (let i = s; i < e; i++) if (i !== s + 3 && i !== s + 6 && !isDigit(b[i] as number)) return null;
      return ssnBytesValid(b, s) ? 'us_ssn' : NONE;
    }
    // \d [\d -]{11,26} \d: card comes before SSN and phone and takes the whole text; isCard checks the rest.
    if ((open & BIT.card) === 0 || (open & ~CARD_SSN_PHONE) !== 0 || n < 13 || n > 28) return null;
    return isDigit(b[e - 1] as number) && isCardBytes(b, s, e) ? 'card' : null;
  }
  return open === BIT.email && isWholeEmail(b, s, e) ? 'email' : null;
}

/** ssnShapeValid for "ddd-dd-dddd" at b[s]. */
function ssnBytesValid(b: Uint8Array, s: number): boolean {
  const d = (i: number) => (b[s + i] as number) - 48;
  const area = d(0) * 100 + d(1) * 10 + d(2);
  if (area === 0 || area === 666 || area >= 900) return false;
  if (d(4) === 0 && d(5) === 0) return false;
  if (d(7) === 0 && d(8) === 0 && d(9) === 0 && d(10) === 0) return false;
  const group = d(4) * 10 + d(5);
  const serial = d(7) * 1000 + d(8) * 100 + d(9) * 10 + d(10);
  // The famous advertising numbers 078-05-1120 and 219-09-9999.
  return !((area === 78 && group === 5 && serial === 1120) || (area === 219 && group === 9 && serial === 9999));
}

/** isCard over b[s, e). */
function isCardBytes(b: Uint8Array, s: number, e: number): boolean {
  let sep = 0;
  let prevSep = false;
  let n = 0;
  for (let i = s; i < e; i++) {
    const c = b[i] as number;
    if (c >= 48 && c <= 57) {
      if (n === 20) return false;
      CARD_DIGITS[n++] = c - 48;
      prevSep = false;
    } else if (c === 32 || c === 45) {
      if (prevSep || (sep !== 0 && sep !== c)) return false;
      sep = c;
      prevSep = true;
    } else return false;
  }
  return cardDigitsValid(n);
}

/**
 * The email pattern matches all of b[s, e): a local part of 1-64 [A-Za-z0-9._%+-], "@", 1-8 labels of 1-63
 * [A-Za-z0-9-] (not starting or ending with "-") each followed by ".", and a last label of 2-24 letters.
 */
function isWholeEmail(b: Uint8Array, s: number, e: number): boolean {
  let i = s;
  for (; i < e; i++) {
    const x = b[i] as number;
    if (x === 64) break;
    if (!isAlnum(x) && x !== 46 && x !== 95 && x !== 37 && x !== 43 && x !== 45) return false;
  }
  if (i === s || i - s > 64 || i === e) return false;
  let labels = 0;
  let from = i + 1;
  for (i = from; i < e; i++) {
    const x = b[i] as number;
    if (x !== 46) {
      if (!isAlnum(x) && x !== 45) return false;
      continue;
    }
    const len = i - from;
    if (len < 1 || len > 63 || ++labels > 8 || b[from] === 45 || b[i - 1] === 45) return false;
    from = i + 1;
  }
  // The last label: letters only (so no "-" either).
  if (labels === 0 || e - from < 2 || e - from > 24) return false;
  for (i = from; i < e; i++) {
    const x = (b[i] as number) | 32;
    if (x < 97 || x > 122) return false;
  }
  return true;
}

function isAlnum(c: number): boolean {
  return isDigit(c) || isUpper(c) || (c >= 97 && c <= 122);
}

export function compileScanner(enabled: readonly Detector[]): Scanner {
  const order = DETECTORS.filter((d) => enabled.includes(d));
  const enabledBits = order.reduce((m, d) => m | BIT[d], 0);
  const compiled = new Map<number, { re: RegExp; sub: Detector[]; verify: ((s: string) => number)[] }>();
  const regexFor = (open: number) => {
    let c = compiled.get(open);
    if (!c) {
      // In DETECTORS order, so that at one position a private key wins over the base64 inside it, and so on.
      const sub = order.filter((d) => open & BIT[d]);
      // One capture group per detector, in `sub` order (the sources themselves capture nothing).
      c = { re: new RegExp(sub.map((d) => `(${SOURCES[d]})`).join('|'), 'g'), sub, verify: sub.map((d) => VERIFY[d]) };
      if (compiled.size >= MAX_COMPILED) compiled.clear();
      compiled.set(open, c);
    }
    return c;
  };
  const run = (text: string, open: number, onMatch: (f: Finding) => string): string => {
    const { re, sub, verify } = regexFor(open);
    re.lastIndex = 0;
    let out = '';
    let last = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      let g = 1;
      while (m[g] === undefined && g < sub.length) g++;
      const value = m[0];
      const end = (verify[g - 1] as (s: string) => number)(value);
      if (end === 0) continue;
      const at = m.index;
      out +=
        text.slice(last, at) +
        onMatch({
          type: sub[g - 1] as Detector,
          start: at,
          end: at + end,
          value: end < value.length ? value.slice(0, end) : value,
        });
      last = at + end;
      // Every pattern takes at least one character: nothing more to find after a finding that ends the text.
      if (last === text.length) return out;
      // A greedy pattern may have taken a neighbouring value: scanning goes on right after the finding.
      re.lastIndex = last;
    }
    return last === 0 && out === '' ? text : out + text.slice(last);
  };
  const scan = (text: string, onMatch: (f: Finding) => string): string => {
    if (text.length < MIN_LENGTH) return text;
    const open = gatesOf(text, enabledBits);
    return open === 0 ? text : run(text, open, onMatch);
  };
  return {
    detectors: order,
    enabledBits,
    replace: scan,
    test(text) {
      let hit = false;
      scan(text, (f) => {
        hit = true;
        return f.value;
      });
      return hit;
    },
    gates: (text) => (text.length < MIN_LENGTH ? 0 : gatesOf(text, enabledBits)),
    gatesOfJsonString: (b, i, n, w = null, shift = 0) => gatesOfJsonString(b, w, shift, i, n, enabledBits),
    replaceOpen: run,
    replaceJson(text, open, b, at, onMatch) {
      const w = wholeFinding(b, at, at + text.length, open);
      if (w === null) return run(text, open, onMatch);
      return w === NONE ? text : onMatch({ type: w, start: 0, end: text.length, value: text });
    },
  };
}

export function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Issuer ranges (IIN) with their card lengths: Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro. */
export function knownIssuer(d: string): boolean {
  return issuerAccepts(Number(d.slice(0, 2)), Number(d.slice(0, 3)), Number(d.slice(0, 4)), d.length);
}

function issuerAccepts(p2: number, p3: number, p4: number, n: number): boolean {
  if (p2 >= 40 && p2 <= 49) return n === 13 || n === 16 || n === 19;
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16;
  if (p2 === 34 || p2 === 37) return n === 15;
  if (p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649)) return n >= 16 && n <= 19;
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19;
  if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14 && n <= 19;
  if (p2 === 62) return n >= 16 && n <= 19;
  if (p2 === 50 || (p2 >= 56 && p2 <= 69)) return n >= 12 && n <= 19;
  return false;
}

/** Digits of a card candidate, reused: verification runs on every candidate and must not allocate. */
const CARD_DIGITS = new Uint8Array(32);

export function isCard(s: string): boolean {
  // Mixed or doubled separators ("4111-1111 1111", "4111  1111") are not how cards are written.
  let sep = 0;
  let prevSep = false;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (n === 20) return false;
      CARD_DIGITS[n++] = c - 48;
      prevSep = false;
    } else if (c === 32 || c === 45) {
      if (prevSep || (sep !== 0 && sep !== c)) return false;
      sep = c;
      prevSep = true;
    } else return false;
  }
  return cardDigitsValid(n);
}

/** The n digits in CARD_DIGITS: a card length, a known issuer, and the Luhn check. */
function cardDigitsValid(n: number): boolean {
  if (n < 13 || n > 19) return false;
  const d = CARD_DIGITS;
  const p2 = (d[0] as number) * 10 + (d[1] as number);
  const p3 = p2 * 10 + (d[2] as number);
  const p4 = p3 * 10 + (d[3] as number);
  if (!issuerAccepts(p2, p3, p4, n)) return false;
  let sum = 0;
  let double = false;
  for (let i = n - 1; i >= 0; i--) {
    let x = d[i] as number;
    if (double) {
      x *= 2;
      if (x > 9) x -= 9;
    }
    sum += x;
    double = !double;
  }
  return sum % 10 === 0;
}

/** IBAN lengths by country (ISO 13616 registry, common countries); others: 15-34. */
const IBAN_LENGTH: Record<string, number> = {
  AD: 24,
  AT: 20,
  BE: 16,
  BG: 22,
  CH: 21,
  CY: 28,
  CZ: 24,
  DE: 22,
  DK: 18,
  EE: 20,
  ES: 24,
  FI: 18,
  FR: 27,
  GB: 22,
  GR: 27,
  HR: 21,
  HU: 28,
  IE: 22,
  IS: 26,
  IT: 27,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  MC: 27,
  MT: 31,
  NL: 18,
  NO: 15,
  PL: 28,
  PT: 25,
  RO: 24,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  TR: 26,
  AE: 23,
  SA: 24,
  IL: 23,
  BR: 29,
  UA: 29,
};

export function isIban(s: string): boolean {
  const v = s.replace(/ /g, '');
  const want = IBAN_LENGTH[v.slice(0, 2)];
  if (want ? v.length !== want : v.length < 15 || v.length > 34) return false;
  const moved = v.slice(4) + v.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const c = ch.charCodeAt(0);
    const val = c >= 65 ? String(c - 55) : ch;
    for (const x of val) rem = (rem * 10 + (x.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

/** SSA rules: no area 000, 666 or 900-999, no group 00, no serial 0000, and not the famous advertising numbers. */
export function isUsSsn(s: string): boolean {
  const [a, g, n] = s.split('-') as [string, string, string];
  const area = Number(a);
  if (area === 0 || area === 666 || area >= 900) return false;
  if (g === '00' || n === '0000') return false;
  return s !== '078-05-1120' && s !== '219-09-9999';
}

const NINO_BAD_PREFIX = new Set(['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ']);

export function isUkNino(s: string): boolean {
  return !NINO_BAD_PREFIX.has(s.slice(0, 2));
}

export function isPhone(s: string): boolean {
  // One pass: the digits, and no three separators in a row.
  let d = 0;
  let seps = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      d++;
      seps = 0;
    } else if (c === 32 || c === 46 || c === 40 || c === 41 || c === 45) {
      if (++seps === 3) return false;
    } else seps = 0;
  }
  const first = s.charCodeAt(0);
  if (first === 43) return d >= 8 && d <= 15;
  if (first === 48) {
    // National trunk-prefixed numbers: 9-11 digits, and not a date-like "01-02-2024" (a 4-digit last group).
    return d >= 9 && d <= 11 && !endsWithDateYear(s);
  }
  return d === 10;
}

/** Ends with "." or "-" and four digits. */
function endsWithDateYear(s: string): boolean {
  const n = s.length;
  if (n < 5) return false;
  const sep = s.charCodeAt(n - 5);
  if (sep !== 46 && sep !== 45) return false;
  for (let i = n - 4; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** isUsSsn for what the pattern matched ("ddd-dd-dddd"), without splitting it. */
function ssnShapeValid(s: string): boolean {
  const area = (s.charCodeAt(0) - 48) * 100 + (s.charCodeAt(1) - 48) * 10 + (s.charCodeAt(2) - 48);
  if (area === 0 || area === 666 || area >= 900) return false;
  if (s.charCodeAt(4) === 48 && s.charCodeAt(5) === 48) return false;
  if (s.charCodeAt(7) === 48 && s.charCodeAt(8) === 48 && s.charCodeAt(9) === 48 && s.charCodeAt(10) === 48)
    return false;
  return s !== '078-05-1120' && s !== '219-09-9999';
}

export function isJwt(s: string): boolean {
  try {
    const header = JSON.parse(Buffer.from(s.slice(0, s.indexOf('.')), 'base64url').toString('utf8')) as unknown;
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

const all = (s: string) => s.length;
const whole = (check: (s: string) => boolean) => (s: string) => (check(s) ? s.length : 0);

/**
 * A greedy pattern may take a neighbouring group ("DE89 3704 0044 0532 0130 00 EUR", a card followed by a year):
 * the longest valid prefix that ends on a group boundary is the finding.
 */
function validPrefix(s: string, check: (p: string) => boolean): number {
  if (check(s)) return s.length;
  for (let end = s.length - 1; end > 0; end--) {
    const boundary = end === s.length || s[end] === ' ' || s[end] === '-';
    if (boundary && /[0-9A-Z]$/.test(s.slice(0, end)) && check(s.slice(0, end))) return end;
  }
  return 0;
}

/** For each detector: the length of the verified finding at the start of a candidate, 0 when it is none. */
const VERIFY: Record<Detector, (s: string) => number> = {
  private_key: all,
  jwt: whole(isJwt),
  aws_key: all,
  github_token: all,
  slack_token: all,
  stripe_key: all,
  google_api_key: all,
  rampart_api_key: all,
  email: all,
  iban: (s) => validPrefix(s, isIban),
  card: (s) => validPrefix(s, isCard),
  us_ssn: whole(ssnShapeValid),
  uk_nino: whole(isUkNino),
  phone: (s) => validPrefix(s, isPhone),
};

/** A mask that keeps what lets a person recognise their own data (last digits, the mail domain), never a secret. */
export function mask(f: Finding): string {
  const v = f.value;
  switch (f.type) {
    case 'email': {
      const at = v.lastIndexOf('@');
      return `${v[0]}***${v.slice(at)}`;
    }
    case 'card':
      return keepLastDigits(v, 4);
    case 'iban': {
      const c = v.replace(/ /g, '');
      return `${c.slice(0, 2)}${'*'.repeat(c.length - 6)}${c.slice(-4)}`;
    }
    case 'us_ssn':
      return `***-**-${v.slice(-4)}`;
    case 'uk_nino':
      return `${'*'.repeat(v.length - 1)}${v.slice(-1)}`;
    case 'phone':
      return keepLastDigits(v, 2);
    default:
      return `[REDACTED:${f.type}]`;
  }
}

const STARS = '*'.repeat(64);

/** "*" for every digit but the last `keep`, separators dropped: "4111 1111 1111 1111" → "************1111". */
function keepLastDigits(v: string, keep: number): string {
  // One pass from the end: where the last `keep` digits start, whether a separator lies among them, and how many
  // digits come before them (the stars).
  let from = v.length;
  let seen = 0;
  let sep = false;
  let stars = 0;
  for (let i = v.length - 1; i >= 0; i--) {
    const c = v.charCodeAt(i);
    const digit = c >= 48 && c <= 57;
    if (seen < keep) {
      from = i;
      if (digit) seen++;
      else sep = true;
    } else if (digit) stars++;
  }
  let tail = v.slice(from);
  if (sep) {
    tail = '';
    for (let i = from; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c >= 48 && c <= 57) tail += v[i];
    }
  }
  return (stars <= STARS.length ? STARS.slice(0, stars) : '*'.repeat(stars)) + tail;
}
