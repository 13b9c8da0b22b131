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
  /** Calls `onMatch` for each verified finding in order; returns the replaced text, or the same string if none. */
  replace(text: string, onMatch: (f: Finding) => string): string;
  /** Whether the text holds at least one verified finding. */
  test(text: string): boolean;
  /**
   * Reads the JSON string whose text starts at b[i] (UTF-8 bytes, n of them) up to its closing quote, taking the
   * gates of its text as replace() would: (index of the quote) * 32768 + the gates; + DECODE instead of gates when
   * the text has an escape or non-ASCII characters (decode it, then replace()); -1 when the string is not valid
   * (no closing quote, a control character).
   */
  gatesOfJsonString(b: Uint8Array, i: number, n: number): number;
  /** replace() for a text whose gates the caller took (gatesOfJsonString, not 0). */
  replaceOpen(text: string, open: number, onMatch: (f: Finding) => string): string;
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
const G_QUOTE = 9;
const G_DECODE = 10;
const G_INVALID = 11;
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
/** The same for the bytes of a JSON string: its end, what must be decoded first, what it may not hold. */
const JSON_GATE_CLASS = GATE_CLASS.slice(0, 256);
for (let c = 0; c < 0x20; c++) JSON_GATE_CLASS[c] = G_INVALID;
for (let c = 0x80; c < 0x100; c++) JSON_GATE_CLASS[c] = G_DECODE;
JSON_GATE_CLASS[0x5c] = G_DECODE;
JSON_GATE_CLASS[0x22] = G_QUOTE;

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

/** gatesOf over the bytes of a JSON string (see Scanner.gatesOfJsonString): the same counts, byte for character. */
function gatesOfJsonString(b: Uint8Array, i: number, n: number, enabled: number): number {
  const start = i;
  let digits = 0;
  let cardRun = 0;
  let cardMax = 0;
  let phoneRun = 0;
  let phoneMax = 0;
  let at = false;
  let hint = false;
  let upper = -2;
  // Where the first two capitals in a row end (IBAN and NINO are looked for from there), -1 when none.
  let pair = -1;
  for (; i < n; i++) {
    const k = JSON_GATE_CLASS[b[i] as number];
    if (k === G_OTHER) {
      cardRun = 0;
      phoneRun = 0;
    } else if (k === G_DIGIT) {
      digits++;
      if (++cardRun > cardMax) cardMax = cardRun;
      if (++phoneRun > phoneMax) phoneMax = phoneRun;
    } else if (k === G_UPPER) {
      cardRun = 0;
      phoneRun = 0;
      if (upper === i - 1 && pair < 0) pair = i;
      upper = i;
    } else if (k === G_QUOTE) break;
    else if (k === G_DASH) {
      if (!hint) hint = secretHint(45, i > start ? (b[i - 1] as number) : 0, b[i + 1] as number);
    } else if (k === G_PHONE_SEP) cardRun = 0;
    else if (k === G_UPPER_HINT || k === G_AT || k === G_UNDERSCORE) {
      cardRun = 0;
      phoneRun = 0;
      const c = b[i] as number;
      if (k === G_AT) at = true;
      else {
        if (!hint) hint = secretHint(c, i > start ? (b[i - 1] as number) : 0, b[i + 1] as number);
        if (k === G_UPPER_HINT) {
          if (upper === i - 1 && pair < 0) pair = i;
          upper = i;
        }
      }
    } else if (k === G_DECODE) return decodeEnd(b, i, n);
    else if (k !== G_SPACE) return -1;
  }
  if (i >= n) return -1;
  const length = i - start;
  if (length < MIN_LENGTH) return i * 32768;
  let open = openGates(digits, cardMax, phoneMax, at) & enabled;
  if (pair >= 0 && digits >= 6 && enabled & IBAN_NINO && capsDigits(b, pair, i)) open |= IBAN_NINO & enabled;
  if (hint && length >= 15 && enabled & SECRET_BITS && SECRET_PREFIX.test(asciiOf(b, start, i))) {
    open |= SECRET_BITS & enabled;
  }
  return i * 32768 + open;
}

/** CAPS_DIGITS.test over bytes, from the end of the first two capitals in a row (`from`). */
function capsDigits(b: Uint8Array, from: number, end: number): boolean {
  for (let i = from; i + 2 < end; i++) {
    if (!isUpper(b[i] as number) || !isUpper(b[i - 1] as number)) continue;
    let j = i + 1;
    if (b[j] === 32) j++;
    if (j + 1 < end && isDigit(b[j] as number) && isDigit(b[j + 1] as number)) return true;
  }
  return false;
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
    replace: scan,
    test(text) {
      let hit = false;
      scan(text, (f) => {
        hit = true;
        return f.value;
      });
      return hit;
    },
    gatesOfJsonString: (b, i, n) => gatesOfJsonString(b, i, n, enabledBits),
    replaceOpen: run,
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
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  // Where the last `keep` digits start, and whether a separator lies among them.
  let from = v.length;
  let seen = 0;
  let sep = false;
  while (from > 0 && seen < keep) {
    const c = v.charCodeAt(--from);
    if (c >= 48 && c <= 57) seen++;
    else sep = true;
  }
  let tail = v.slice(from);
  if (sep) {
    tail = '';
    for (let i = from; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c >= 48 && c <= 57) tail += v[i];
    }
  }
  const stars = Math.max(0, n - keep);
  return (stars <= STARS.length ? STARS.slice(0, stars) : '*'.repeat(stars)) + tail;
}
