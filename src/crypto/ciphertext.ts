import { NONCE_BYTES, TAG_BYTES } from './aes-gcm.js';
import { decodeBase64Url } from './base64.js';
import { KeyringError } from './errors.js';

/**
 * `rk1.<data key version>.<base64url(nonce | ciphertext | tag)>`. `rk1` is the format version: a later format
 * (another cipher, a longer nonce) gets `rk2` and both stay readable. The master version is not in it: the data
 * key is the same under every master version, so a master rotation never makes a ciphertext stale.
 */
export const FORMAT = 'rk1';
const TEXT = /^rk1\.([1-9][0-9]{0,8})\.([A-Za-z0-9_-]+)$/;

export interface ParsedCiphertext {
  version: number;
  sealed: Buffer;
}

export function formatCiphertext(version: number, sealed: Buffer): string {
  return `${FORMAT}.${version}.${sealed.toString('base64url')}`;
}

export function parseCiphertext(text: string): ParsedCiphertext {
  const m = typeof text === 'string' ? TEXT.exec(text) : null;
  const sealed = m?.[2] === undefined ? null : decodeBase64Url(m[2]);
  if (!m || !sealed || sealed.length < NONCE_BYTES + TAG_BYTES) {
    throw new KeyringError(
      'MALFORMED_CIPHERTEXT',
      `not a keyring ciphertext (${FORMAT}.<version>.<data>), or truncated`,
    );
  }
  return { version: Number(m[1]), sealed };
}

/**
 * What GCM authenticates besides the data: format, purpose and key version (so none can be edited in the text,
 * and a ciphertext of one purpose never opens as another) and the caller's aad (table, column, row). The aad
 * goes last and purposes hold no NUL, so no two different tuples give the same bytes.
 */
export function gcmAad(purpose: string, version: number, aad: string): Buffer {
  return Buffer.from(`${FORMAT}\u0000${purpose}\u0000${version}\u0000${aad}`, 'utf8');
}
