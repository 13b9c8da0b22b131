import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { API_KEY_LENGTH, API_KEY_PATTERN, API_KEY_PREFIX, checksumOf, generateApiKey, parseApiKey } from './api-key.js';

const SHAPE = /^rmpk_[a-z2-7]{16}_[0-9A-Za-z]{43}[0-9A-Za-z]{6}$/;

/** Replaces the character at i, keeping the rest. */
function swap(s: string, i: number, c: string): string {
  return s.slice(0, i) + c + s.slice(i + 1);
}

describe('API key format', () => {
  it('generates prefixed keys of fixed length and shape with a lowercase base32 key id', () => {
    for (let i = 0; i < 200; i++) {
      const { key, keyId } = generateApiKey();
      expect(key).toHaveLength(API_KEY_LENGTH);
      expect(API_KEY_LENGTH).toBe(71);
      expect(key).toMatch(SHAPE);
      expect(key.startsWith(`${API_KEY_PREFIX}${keyId}_`)).toBe(true);
      expect(keyId).toMatch(/^[a-z2-7]{16}$/);
    }
  });

  it('never repeats a key id or a secret, and spreads secret digits over the whole alphabet', () => {
    const ids = new Set<string>();
    const secrets = new Set<string>();
    const seen = new Map<string, number>();
    const n = 2000;
    for (let i = 0; i < n; i++) {
      const { key, keyId } = generateApiKey();
      ids.add(keyId);
      const secret = key.slice(22, 65);
      secrets.add(secret);
      for (const c of secret) seen.set(c, (seen.get(c) ?? 0) + 1);
    }
    expect(ids.size).toBe(n);
    expect(secrets.size).toBe(n);
    // 86,000 digits over 62 symbols: ~1387 each; a biased mapping (e.g. plain byte % 62) would skew the first eight.
    expect(seen.size).toBe(62);
    for (const count of seen.values()) expect(count).toBeGreaterThan(1200);
    for (const count of seen.values()) expect(count).toBeLessThan(1580);
  });

  it('ends with the CRC32 of the rest as 6 base62 digits (checkable offline by a scanner)', () => {
    const { key } = generateApiKey();
    const body = key.slice(0, -6);
    expect(key.slice(-6)).toBe(checksumOf(body));
    const digits = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    const decoded = [...key.slice(-6)].reduce((v, c) => v * 62 + digits.indexOf(c), 0);
    expect(decoded).toBe(crc32(body));
    expect(checksumOf('')).toBe('000000'); // crc32('') = 0, zero-padded
  });

  it('is found by the scanner pattern in text, and parses back', () => {
    const { key, keyId } = generateApiKey();
    const text = `config:\n  token: "${key}"\n  other: rmpk_notakey\n`;
    const found = text.match(API_KEY_PATTERN);
    expect(found).toEqual([key]);
    expect(parseApiKey(key)).toEqual({ key, keyId });
  });

  it('rejects every malformed key', () => {
    const { key } = generateApiKey();
    const bad: unknown[] = [
      undefined,
      null,
      42,
      ['x'],
      '',
      key.slice(0, -1),
      `${key}x`,
      ` ${key}`.slice(0, API_KEY_LENGTH),
      key.toUpperCase(),
      `RMPK_${key.slice(5)}`,
      `rmpx_${key.slice(5)}`,
      swap(key, 21, '-'), // the separator
      swap(key, 5, 'A'), // upper case in the key id
      swap(key, 5, '1'), // not base32
      swap(key, 30, '-'), // base64url, not base62
      swap(key, 30, '_'),
      swap(key, 40, '+'),
      'x'.repeat(1_000_000),
    ];
    for (const b of bad) expect(parseApiKey(b), String(b).slice(0, 80)).toBeNull();
  });

  it('rejects a key with one character changed anywhere (checksum), without a store lookup', () => {
    const { key } = generateApiKey();
    let rejected = 0;
    for (let i = 5; i < key.length; i++) {
      if (i === 21) continue;
      const c = key[i] === 'a' ? 'b' : 'a';
      const typo = swap(key, i, c);
      if (parseApiKey(typo) === null) rejected++;
    }
    expect(rejected).toBe(key.length - 6);
  });

  it('rejects two adjacent characters swapped', () => {
    const { key } = generateApiKey();
    for (let i = 22; i < 64; i++) {
      if (key[i] === key[i + 1]) continue;
      const t = key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2);
      expect(parseApiKey(t)).toBeNull();
    }
  });

  it('parses malformed input cheaply (a million inputs, time printed)', () => {
    const { key } = generateApiKey();
    const inputs = [key.slice(1), `${key}x`, swap(key, 70, key[70] === 'a' ? 'b' : 'a'), 'x'.repeat(10_000)];
    const t = performance.now();
    let n = 0;
    for (let i = 0; i < 250_000; i++) for (const s of inputs) if (parseApiKey(s) === null) n++;
    const ms = performance.now() - t;
    expect(n).toBe(1_000_000);
    console.log(`parseApiKey: 1e6 malformed inputs in ${ms.toFixed(0)} ms`);
  });
});
