import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * API key format, one operation per export:
 *
 *   rmpk_<key id: 16 × [a-z2-7]>_<secret: 43 × [0-9A-Za-z]><checksum: 6 × [0-9A-Za-z]>
 *
 * - `rmpk_` makes a leaked key recognisable to secret scanners (GitHub push protection, gitleaks, trufflehog).
 * - The key id (80 random bits, lowercase base32) is public: the store looks the credential up by it.
 * - The secret holds 256 random bits (43 base62 digits hold 256.03). Base62 rather than base64url keeps the whole key
 *   one "word" (no `-`) so a double-click selects all of it, as GitHub's tokens do.
 * - The checksum is CRC32 of everything before it, 6 base62 digits: a scanner can tell a real key from random text
 *   offline, and the gateway refuses a typo before any lookup. It is no integrity protection (anyone can compute it).
 *
 * Scanner pattern: `\brmpk_[a-z2-7]{16}_[0-9A-Za-z]{49}\b`.
 */
export const API_KEY_PREFIX = 'rmpk_';
export const API_KEY_ID_LENGTH = 16;
export const API_KEY_SECRET_LENGTH = 43;
export const API_KEY_CHECKSUM_LENGTH = 6;
/** Every key has exactly this length: 5 + 16 + 1 + 43 + 6. */
export const API_KEY_LENGTH =
  API_KEY_PREFIX.length + API_KEY_ID_LENGTH + 1 + API_KEY_SECRET_LENGTH + API_KEY_CHECKSUM_LENGTH;
/** A scanner's regular expression for leaked keys (the checksum then separates real ones from look-alikes). */
export const API_KEY_PATTERN = /\brmpk_[a-z2-7]{16}_[0-9A-Za-z]{49}\b/g;

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BODY_LENGTH = API_KEY_LENGTH - API_KEY_CHECKSUM_LENGTH;
const SEP_AT = API_KEY_PREFIX.length + API_KEY_ID_LENGTH;

export interface ParsedApiKey {
  /** The whole key as presented (what the store's keyed hash covers). */
  readonly key: string;
  /** The public lookup id (`credentials.key_id`). */
  readonly keyId: string;
}

/** A new random key. Shown to its owner once; the store keeps only `keyring.mac(CREDENTIAL_MAC_PURPOSE, key)`. */
export function generateApiKey(): ParsedApiKey {
  const id = randomBytes(10); // 80 bits = 16 base32 digits exactly
  let keyId = '';
  for (let i = 0; i < 10; i += 5) {
    // 5 bytes = 40 bits = 8 digits, most significant first.
    let v = 0;
    for (let j = 0; j < 5; j++) v = v * 256 + (id[i + j] as number);
    for (let j = 7; j >= 0; j--) keyId += BASE32[Math.floor(v / 2 ** (j * 5)) % 32];
  }
  const body = `${API_KEY_PREFIX}${keyId}_${randomBase62(API_KEY_SECRET_LENGTH)}`;
  return { key: body + checksumOf(body), keyId };
}

/**
 * Strict parse of a presented key: exact length, prefix, alphabets and checksum, checked with character codes and
 * no regular expression, so anything malformed (or oversized) costs a length compare or a short loop. Null when
 * malformed; a well-formed key still has to be verified against the store.
 */
export function parseApiKey(s: unknown): ParsedApiKey | null {
  if (typeof s !== 'string' || s.length !== API_KEY_LENGTH || !s.startsWith(API_KEY_PREFIX)) return null;
  if (s.charCodeAt(SEP_AT) !== 95 /* _ */) return null;
  for (let i = API_KEY_PREFIX.length; i < SEP_AT; i++) {
    const c = s.charCodeAt(i);
    // a-z, 2-7
    if (!((c >= 97 && c <= 122) || (c >= 50 && c <= 55))) return null;
  }
  let sum = 0;
  for (let i = SEP_AT + 1; i < API_KEY_LENGTH; i++) {
    const d = base62Digit(s.charCodeAt(i));
    if (d < 0) return null;
    if (i >= BODY_LENGTH) sum = sum * 62 + d;
  }
  if (sum !== crc32(s.slice(0, BODY_LENGTH))) return null;
  return { key: s, keyId: s.slice(API_KEY_PREFIX.length, SEP_AT) };
}

/** The 6-digit base62 CRC32 a key ends with, for a key body (`rmpk_<id>_<secret>`). */
export function checksumOf(body: string): string {
  let v = crc32(body);
  let out = '';
  for (let i = 0; i < API_KEY_CHECKSUM_LENGTH; i++) {
    out = BASE62[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out;
}

/** Uniform base62 digits by rejection sampling (bytes ≥ 248 = 4 × 62 are dropped, so `% 62` has no bias). */
function randomBase62(n: number): string {
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n + 8)) {
      if (b >= 248) continue;
      out += BASE62[b % 62];
      if (out.length === n) break;
    }
  }
  return out;
}

function base62Digit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 90) return c - 55;
  if (c >= 97 && c <= 122) return c - 61;
  return -1;
}
