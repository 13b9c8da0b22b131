import { describe, expect, it } from 'vitest';
import { generateApiKey } from '../../identity/api-key.js';
import {
  compileScanner,
  DECODE,
  DETECTORS,
  type Detector,
  isCard,
  isIban,
  isPhone,
  isUsSsn,
  luhn,
  mask,
} from './detectors.js';

const scanner = compileScanner([...DETECTORS]);

/** What the scanner finds in a text: [type, value] pairs. */
function find(text: string, s = scanner): [Detector, string][] {
  const out: [Detector, string][] = [];
  s.replace(text, (f) => {
    out.push([f.type, f.value]);
    return f.value;
  });
  return out;
}

// Test values are built at run time so that secret scanners do not flag this file.
const aws = `AKIA${'IOSFODNN7EXAMPLE'}`;
const ghp = `ghp_${'a1B2c3D4e5F6g7H8i9J0'.repeat(2).slice(0, 36)}`;
const slack = `xoxb-${'1234567890'}-${'abcdefABCDEF'}`;
const stripe = `sk_live_${'4eC39HqLyjWDarjtT1zdp7dc'}`;
const google = `AIza${'SyA-1234567890abcdefghijklmnopqrstu'}`;
const jwt = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"1234567890"}').toString('base64url')}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;
const pem = `-----BEGIN ${'RSA PRIVATE'} KEY-----\nMIIEowIBAAKCAQEA7\n-----END ${'RSA PRIVATE'} KEY-----`;

describe('redaction detectors: true positives', () => {
  it.each([
    ['email', 'write to alice.smith+tag@mail.example.co.uk today', 'alice.smith+tag@mail.example.co.uk'],
    ['card', 'card 4111 1111 1111 1111 on file', '4111 1111 1111 1111'],
    ['card', 'visa:4111111111111111', '4111111111111111'],
    ['card', 'mc 5555-5555-5555-4444.', '5555-5555-5555-4444'],
    ['card', 'amex 378282246310005', '378282246310005'],
    ['card', '2-series 2223003122003222', '2223003122003222'],
    ['iban', 'pay to DE89 3704 0044 0532 0130 00 EUR', 'DE89 3704 0044 0532 0130 00'],
    ['iban', 'GB82WEST12345698765432', 'GB82WEST12345698765432'],
    ['us_ssn', 'ssn 536-90-4399', '536-90-4399'],
    ['uk_nino', 'NI AB123456C', 'AB123456C'],
    ['uk_nino', 'NI AB 12 34 56 C', 'AB 12 34 56 C'],
    ['phone', 'call +1 415 555 2671 now', '+1 415 555 2671'],
    ['phone', 'call +447946095812', '+447946095812'],
    ['phone', 'US (415) 555-2671', '(415) 555-2671'],
    ['phone', 'US 415-555-2671', '415-555-2671'],
    ['phone', 'FR 06 12 34 56 78', '06 12 34 56 78'],
    ['phone', 'UK 020 7946 0958', '020 7946 0958'],
    ['aws_key', `key=${aws}`, aws],
    ['github_token', `token ${ghp}`, ghp],
    ['slack_token', slack, slack],
    ['stripe_key', stripe, stripe],
    ['google_api_key', `k=${google}`, google],
    ['jwt', `Bearer ${jwt}`, jwt],
    ['private_key', `x ${pem} y`, pem],
  ] as [Detector, string, string][])('%s in %j', (type, text, value) => {
    expect(find(text)).toEqual([[type, value]]);
  });

  it('finds Rampart API keys', () => {
    const { key } = generateApiKey();
    expect(find(`use ${key}`)).toEqual([['rampart_api_key', key]]);
  });
});

describe('redaction detectors: false positives left alone', () => {
  it.each([
    ['a 16-digit number that fails Luhn', '4111 1111 1111 1112'],
    ['Luhn-valid digits outside every card range', '0000000000000000'],
    ['an order id', 'order 1234567890123456'],
    ['an IBAN with a wrong check digit', 'DE88 3704 0044 0532 0130 00'],
    ['an SSN with area 000', '000-12-3456'],
    ['an SSN with area 666', '666-12-3456'],
    ['an SSN with area 9xx', '912-12-3456'],
    ['an SSN with group 00', '536-00-4399'],
    ['an SSN without dashes (too many ids look like it)', '536904399'],
    ['a NINO with a reserved prefix', 'GB123456C'],
    ['an ISO date', '2024-01-15'],
    ['a European date', '01-02-2024'],
    ['a timestamp', '1717171717171'],
    ['a plain 10-digit id', 'id 4155552671'],
    ['a version string', 'v1.2.3-beta.4'],
    ['an amount', 'EUR 1,234,567.89'],
    ['a UUID', '550e8400-e29b-41d4-a716-446655440000'],
    ['a JWE (five parts is not a JWT)', `${jwt}.Zm9v.YmFy`],
    ['a JWT-shaped string whose header is not JSON', 'eyJhbGciOiJI.eyJzdWIiOiIx.abc'],
    ['an email-like path', 'user@localhost'],
    ['an AWS-like key inside a longer token', `x${aws}y`],
  ])('%s', (_name, text) => {
    expect(find(text)).toEqual([]);
  });
});

describe('redaction checks', () => {
  it('Luhn, IIN ranges, IBAN mod-97 and SSN rules', () => {
    expect(luhn('79927398713')).toBe(true);
    expect(luhn('79927398710')).toBe(false);
    expect(isCard('4111111111111111')).toBe(true);
    expect(isCard('9111111111111117')).toBe(false);
    expect(isIban('NL91ABNA0417164300')).toBe(true);
    expect(isIban('NL91ABNA0417164301')).toBe(false);
    expect(isUsSsn('078-05-1120')).toBe(false);
    expect(isUsSsn('123-45-6789')).toBe(true);
  });

  it('masks keep only what lets a person recognise their data; secrets are fully replaced', () => {
    const m = (type: Detector, value: string) => mask({ type, value, start: 0, end: value.length });
    expect(m('email', 'alice@example.com')).toBe('a***@example.com');
    expect(m('card', '4111 1111 1111 1111')).toBe('************1111');
    expect(m('iban', 'DE89 3704 0044 0532 0130 00')).toBe('DE****************3000');
    expect(m('us_ssn', '536-90-4399')).toBe('***-**-4399');
    expect(m('phone', '+1 415 555 2671')).toBe('*********71');
    expect(m('aws_key', aws)).toBe('[REDACTED:aws_key]');
  });

  it('finds neighbouring values a greedy pattern would swallow', () => {
    expect(find('cards 4111111111111111 5555555555554444 ok')).toEqual([
      ['card', '4111111111111111'],
      ['card', '5555555555554444'],
    ]);
    expect(find('paid with 4111 1111 1111 1111 2024')).toEqual([['card', '4111 1111 1111 1111']]);
    expect(find('IBAN GB82WEST12345698765432 VIA SEPA')).toEqual([['iban', 'GB82WEST12345698765432']]);
  });

  it('only enabled detectors run', () => {
    const emailOnly = compileScanner(['email']);
    expect(find('a@example.com 4111111111111111', emailOnly)).toEqual([['email', 'a@example.com']]);
  });
});

describe('JSON strings read as bytes (the JSON text path)', () => {
  const texts = [
    'write to alice.smith+tag@mail.example.co.uk today',
    'card 4111 1111 1111 1111 on file',
    'mc 5555-5555-5555-4444.',
    'pay to DE89 3704 0044 0532 0130 00 EUR',
    'GB82WEST12345698765432',
    'ssn 536-90-4399',
    'NI AB 12 34 56 C',
    'call +1 415 555 2671 now',
    'US (415) 555-2671',
    'FR 06 12 34 56 78',
    `key=${aws}`,
    `token ${ghp}`,
    slack,
    stripe,
    `k=${google}`,
    `Bearer ${jwt}`,
    '2024-01-15T10:00:00Z',
    '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA',
    'SW1A 1AA',
    'order 1234567890123456',
    '1-----------1 555-55-5555',
    'AB12',
    'short',
    '',
  ];

  it('takes the gates replace() takes, so replaceOpen finds what replace finds', () => {
    for (const text of texts) {
      const b = Buffer.from(`{"k":${JSON.stringify(text)}}`);
      const r = scanner.gatesOfJsonString(b, 6, b.length);
      const open = r & 32767;
      expect((r - open) / 32768).toBe(b.length - 2);
      const got: [Detector, string][] = [];
      if (open !== 0) {
        scanner.replaceOpen(text, open, (f) => {
          got.push([f.type, f.value]);
          return f.value;
        });
      }
      expect(got).toEqual(find(text));
    }
  });

  it('sends strings with escapes or non-ASCII text to be decoded, refuses control characters', () => {
    const read = (json: string) => scanner.gatesOfJsonString(Buffer.from(json), 1, Buffer.byteLength(json));
    expect(read('"alice\\u0040example.com"') & 32767).toBe(DECODE);
    expect(read('"Zoë 4111 1111 1111 1111"') & 32767).toBe(DECODE);
    expect(read('"a\\"b" x') >= 0).toBe(true);
    expect(read('"tab\there"')).toBe(-1);
    expect(read('"no end')).toBe(-1);
  });

  it('phone checks: digits and separators', () => {
    expect(isPhone('+44 20 7946 0958')).toBe(true);
    expect(isPhone('+1 (415) 555-2671')).toBe(true);
    expect(isPhone('415-555-2671')).toBe(true);
    expect(isPhone('020 7946 0958')).toBe(true);
    expect(isPhone('01-02-2024')).toBe(false);
    expect(isPhone('415 - 555-2671')).toBe(false);
    expect(isPhone('+1234567')).toBe(false);
  });
});
