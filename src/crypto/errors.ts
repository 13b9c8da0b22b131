/**
 * Stable codes: callers and tests match on `code`, never on the message. Messages name the source, file, purpose
 * and versions involved, never key material or plaintext.
 */
export type KeyringErrorCode =
  /** The ciphertext text is not `rk1.<version>.<base64url>` or is too short to hold a nonce and a tag. */
  | 'MALFORMED_CIPHERTEXT'
  /** The ciphertext names a data key version this keyring does not hold (reload() after another node rotated). */
  | 'UNKNOWN_KEY_VERSION'
  /** No data key exists for the purpose yet (list it in `Keyring.open({ purposes })`). */
  | 'UNKNOWN_PURPOSE'
  /** A purpose name outside `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`. */
  | 'INVALID_PURPOSE'
  /** Authentication failed: tampered, truncated, or moved to another row, column or purpose. */
  | 'DECRYPT_FAILED'
  /** No master key is configured (unset variable, empty value, empty key file). */
  | 'NO_MASTER_KEY'
  /** A master key that is not exactly 32 bytes of valid base64, or a malformed version list. */
  | 'BAD_MASTER_KEY'
  /** A data key is wrapped under a master version the key source does not have. */
  | 'UNKNOWN_MASTER_VERSION'
  /** A wrapped data key did not authenticate under its master version (wrong master key or tampered state). */
  | 'UNWRAP_FAILED'
  /** The master key file is readable or writable by group or others. */
  | 'INSECURE_KEY_FILE'
  /** The master key file cannot be read or is not in the expected JSON shape. */
  | 'BAD_KEY_FILE'
  /** The key state (wrapped data keys) cannot be read or is not in the expected shape. */
  | 'BAD_STATE'
  /** Two different keys under the same purpose and version, or the state kept changing under a rotation. */
  | 'STATE_CONFLICT'
  /** The key source cannot create master versions itself (e.g. an environment variable). */
  | 'ROTATE_UNSUPPORTED';

export class KeyringError extends Error {
  constructor(
    readonly code: KeyringErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'KeyringError';
  }
}
