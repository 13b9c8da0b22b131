/**
 * Strict decoders. Buffer.from(s, 'base64') skips characters it does not know and ignores bad padding, so a typo in
 * a key would silently give other bytes; a ciphertext would become malleable in its text form. Canonical only.
 */
const STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const URL = /^[A-Za-z0-9_-]*$/;

/** Standard alphabet with padding (what `openssl rand -base64 32` prints); null when not canonical. */
export function decodeBase64(text: string): Buffer | null {
  if (!STD.test(text)) return null;
  const buf = Buffer.from(text, 'base64');
  return buf.toString('base64') === text ? buf : null;
}

/** URL-safe alphabet without padding; null when not canonical (e.g. stray low bits in the last character). */
export function decodeBase64Url(text: string): Buffer | null {
  if (!URL.test(text)) return null;
  const buf = Buffer.from(text, 'base64url');
  return buf.toString('base64url') === text ? buf : null;
}
