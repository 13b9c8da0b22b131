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

export interface Scanner {
  readonly detectors: readonly Detector[];
  /** Calls `onMatch` for each verified finding in order; returns the replaced text, or the same string if none. */
  replace(text: string, onMatch: (f: Finding) => string): string;
  /** Whether the text holds at least one verified finding. */
  test(text: string): boolean;
}

/**
 * Cheap gates decide which detectors can match a string at all, so most strings (ids, names, dates) never meet a
 * regular expression: email needs "@", a card 13 digits, an SSN 9 digits and a dash, a phone 8 digits, IBAN and
 * NINO six digits and two capitals in a row, secrets one of their fixed prefixes. One expression is compiled per
 * set of open gates, on first use (a handful in practice; bounded).
 */
const SECRET_PREFIX = /AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|xox[abposr]-|[sr]k_live_|AIza|rmpk_|eyJ|-----BEGIN/;
const TWO_CAPITALS = /[A-Z]{2}/;
const MAX_COMPILED = 256;

/** Bit of each detector in a gate mask (its index in DETECTORS). */
const BIT = Object.fromEntries(DETECTORS.map((d, i) => [d, 1 << i])) as Record<Detector, number>;
const SECRET_BITS = [...SECRET_DETECTORS].reduce((m, d) => m | BIT[d], 0);

/** The detectors that could match the text, as a mask limited to `enabled` (a mask too). 0 when none can. */
function gatesOf(text: string, enabled: number): number {
  // One pass: all digits, the most digits in a run of [0-9 -] (cards, SSNs) and of [0-9 .()+-] (phones), "@".
  let digits = 0;
  let cardRun = 0;
  let cardMax = 0;
  let phoneRun = 0;
  let phoneMax = 0;
  let at = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      digits++;
      if (++cardRun > cardMax) cardMax = cardRun;
      if (++phoneRun > phoneMax) phoneMax = phoneRun;
    } else if (c === 32 || c === 45) {
      // space, "-": inside both kinds of run
    } else if (c === 46 || c === 40 || c === 41 || c === 43) {
      cardRun = 0; // ".", "(", ")", "+": phones only
    } else {
      cardRun = 0;
      phoneRun = 0;
      if (c === 64) at = true;
    }
  }
  let open = 0;
  if (at) open |= BIT.email;
  if (digits >= 6) {
    if (cardMax >= 13) open |= BIT.card;
    if (cardMax >= 9) open |= BIT.us_ssn;
    if (phoneMax >= 8) open |= BIT.phone;
    if (enabled & (BIT.iban | BIT.uk_nino) && TWO_CAPITALS.test(text)) open |= BIT.iban | BIT.uk_nino;
  }
  // The shortest secret (a Slack token) is 15 characters: shorter strings skip the prefix test.
  if (enabled & SECRET_BITS && text.length >= 15 && SECRET_PREFIX.test(text)) open |= SECRET_BITS;
  return open & enabled;
}

export function compileScanner(enabled: readonly Detector[]): Scanner {
  const order = DETECTORS.filter((d) => enabled.includes(d));
  const enabledBits = order.reduce((m, d) => m | BIT[d], 0);
  const compiled = new Map<number, { re: RegExp; sub: Detector[] }>();
  const regexFor = (open: number) => {
    let c = compiled.get(open);
    if (!c) {
      // In DETECTORS order, so that at one position a private key wins over the base64 inside it, and so on.
      const sub = order.filter((d) => open & BIT[d]);
      // One capture group per detector, in `sub` order (the sources themselves capture nothing).
      c = { re: new RegExp(sub.map((d) => `(${SOURCES[d]})`).join('|'), 'g'), sub };
      if (compiled.size >= MAX_COMPILED) compiled.clear();
      compiled.set(open, c);
    }
    return c;
  };
  const minLength = 8;
  const scan = (text: string, onMatch: (f: Finding) => string): string => {
    if (text.length < minLength) return text;
    const open = gatesOf(text, enabledBits);
    if (open === 0) return text;
    const { re, sub } = regexFor(open);
    re.lastIndex = 0;
    let out = '';
    let last = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      let g = 1;
      while (m[g] === undefined && g < sub.length) g++;
      const type = sub[g - 1] as Detector;
      const value = m[0];
      const end = VERIFY[type](value);
      if (end === 0) continue;
      const at = m.index;
      out +=
        text.slice(last, at) +
        onMatch({ type, start: at, end: at + end, value: end < value.length ? value.slice(0, end) : value });
      last = at + end;
      // A greedy pattern may have taken a neighbouring value: scanning goes on right after the finding.
      re.lastIndex = last;
    }
    return last === 0 && out === '' ? text : out + text.slice(last);
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
  };
}

function digitsOf(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) out += s[i];
  }
  return out;
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
  const d = digitsOf(s);
  if (/[ .()-]{3}/.test(s)) return false;
  if (s.startsWith('+')) return d.length >= 8 && d.length <= 15;
  if (s.startsWith('0')) {
    // National trunk-prefixed numbers: 9-11 digits, and not a date-like "01-02-2024" (a 4-digit last group).
    return d.length >= 9 && d.length <= 11 && !/[.-]\d{4}$/.test(s);
  }
  return d.length === 10;
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
  us_ssn: whole(isUsSsn),
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

/** "*" for every digit but the last `keep`, separators dropped: "4111 1111 1111 1111" → "************1111". */
function keepLastDigits(v: string, keep: number): string {
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  let tail = '';
  for (let i = v.length - 1; i >= 0 && tail.length < keep; i--) {
    const c = v.charCodeAt(i);
    if (c >= 48 && c <= 57) tail = v[i] + tail;
  }
  return '*'.repeat(Math.max(0, n - keep)) + tail;
}
