/**
 * Generated values for the redaction scanner's tests: the shapes its detectors look for (cards, SSNs, phones,
 * emails, dates), changed by a character or wrapped in text, and random mixes of the characters its gates read.
 */

/** A small deterministic generator (so a failure can be reproduced by its seed); the high bits, the random ones. */
export function rng(seed: number) {
  let s = seed;
  return (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff;
    return (s >>> 15) % n;
  };
}
export type R = (n: number) => number;

export const pick = (r: R, chars: string) => chars[r(chars.length)] as string;
export const many = (r: R, chars: string, n: number) => Array.from({ length: n }, () => pick(r, chars)).join('');
export const DIGITS = '0123456789';
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** What the gates and patterns care about, and some of what they do not. */
export const RICH = `${DIGITS}${DIGITS} -.()+@AJ_-KSBCIeyGBXWZk:/,;#$=%abcxyz`;
const CARDS = [
  '4111111111111111',
  '5555555555554444',
  '378282246310005',
  '6011111111111117',
  '3530111333300000',
  '30569309025904',
  '4222222222222',
  '6200000000000005',
  '2223003122003222',
  '4111111111111111111',
];

/** A card number as people write it: grouped by spaces or dashes (sometimes badly), sometimes off by a digit. */
function cardLike(r: R): string {
  let d = CARDS[r(CARDS.length)] as string;
  if (r(4) === 0) d = d.slice(0, r(d.length)) + pick(r, DIGITS) + d.slice(r(d.length));
  if (r(3) === 0) return d;
  let out = '';
  for (let i = 0; i < d.length; i++) {
    if (i > 0 && r(4) === 0) out += r(8) === 0 ? pick(r, ' -') + pick(r, ' -') : pick(r, r(6) === 0 ? ' -' : ' ');
    out += d[i];
  }
  return out;
}

function ssnLike(r: R): string {
  const special = ['078-05-1120', '219-09-9999', '000-12-3456', '666-12-3456', '912-34-5678', '123-00-4567'];
  if (r(4) === 0) return special[r(special.length)] as string;
  return `${many(r, DIGITS, 3)}-${many(r, DIGITS, 2)}-${many(r, DIGITS, 4)}`;
}

function phoneLike(r: R): string {
  return `+${pick(r, r(8) === 0 ? DIGITS : '123456789')}${many(r, `${DIGITS}${DIGITS} .()-`, 4 + r(24))}${pick(r, DIGITS)}`;
}

function emailLike(r: R): string {
  const local = many(r, r(6) === 0 ? `${ALNUM}._%+-!` : `${ALNUM}._%+-`, r(6) === 0 ? 60 + r(10) : 1 + r(12));
  const labels = Array.from({ length: 1 + (r(5) === 0 ? r(10) : r(3)) }, () =>
    many(r, r(5) === 0 ? `${ALNUM}--` : ALNUM, r(8) === 0 ? 60 + r(6) : 1 + r(8)),
  );
  const tld = many(r, r(8) === 0 ? 'abcXYZ1' : 'abcdefghijklmnopqrstuvwxyzABC', r(8) === 0 ? r(27) : 2 + r(4));
  return `${local}@${labels.join('.')}.${tld}`;
}

/** A date or an ISO 8601 timestamp, with the parts APIs add or drop. */
function dateLike(r: R): string {
  const d = (n: number) => many(r, r(3) ? '0123' : DIGITS, n);
  let v = `${d(4)}-${d(2)}-${d(2)}`;
  if (r(4) === 0) return v;
  v += `${pick(r, 'TTT ')}${d(2)}:${d(2)}`;
  if (r(6)) v += `:${d(2)}`;
  if (r(2)) v += `${pick(r, '..,')}${d(r(12))}`;
  const zone = r(5);
  if (zone === 0) v += `${pick(r, '+-')}${d(2)}:${d(2)}`;
  else if (zone <= 2) v += pick(r, 'ZZz');
  return v;
}

/** One generated value: a shape, a shape changed by one character or with text around it, or a random mix. */
export function value(r: R): string {
  const shapes = [cardLike, ssnLike, phoneLike, emailLike, dateLike];
  const k = r(10);
  if (k === 9) return many(r, RICH, r(40));
  let v = (shapes[r(shapes.length)] as (r: R) => string)(r);
  if (k === 7) {
    const at = r(v.length + 1);
    v = v.slice(0, at) + (r(2) ? pick(r, RICH) : '') + v.slice(at + r(2));
  }
  if (k === 8) v = r(2) ? `${many(r, RICH, r(4))}${v}` : `${v}${many(r, RICH, r(4))}`;
  return v;
}
