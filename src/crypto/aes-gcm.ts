import { createCipheriv, createDecipheriv, type KeyObject, randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;
/** 96-bit random nonces: the GCM size that needs no extra hashing; safe for about 2^32 messages per key. */
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/** AES-256-GCM: returns nonce | ciphertext | tag. */
export function seal(key: KeyObject, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/**
 * The inverse of seal; null on any failure so each caller can raise its own error code. GCM verifies the tag in
 * constant time inside OpenSSL, so no comparison happens here.
 */
export function unseal(key: KeyObject, sealed: Buffer, aad: Buffer): Buffer | null {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) return null;
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
  try {
    // authTagLength pins the tag size: without it a truncated 4-byte tag would be accepted.
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    return null;
  }
}
