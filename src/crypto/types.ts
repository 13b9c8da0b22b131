/**
 * The keyring's contract with its callers (stores, policies) and with where its state lives.
 * Callers only ever see `FieldCipher`; key sources and key-state stores are pluggable behind it.
 */

/** Encrypts and decrypts one field of one row. Everything secret at rest goes through this. */
export interface FieldCipher {
  /**
   * AES-256-GCM under the newest data key of `purpose`, a random 96-bit nonce, and `aad` (see aadFor) bound in.
   * Returns a self-describing text: the format version and the purpose's data key version travel with it (the master
   * version does not: re-wrapping under a new master leaves data keys, and so ciphertexts, unchanged).
   */
  encrypt(purpose: string, plaintext: Buffer | string, aad: string): string;
  /** Throws on any tampering, a wrong aad (a ciphertext moved to another row/column) or an unknown key version. */
  decrypt(purpose: string, ciphertext: string, aad: string): Buffer;
  /** True when `ciphertext` is not under the newest data key of `purpose` (re-encryption pending). */
  isStale(purpose: string, ciphertext: string): boolean;
}

/** Binds a ciphertext to its place: table, column and row id. */
export function aadFor(table: string, column: string, rowId: string): string {
  return `${table}\u0000${column}\u0000${rowId}`;
}

/** A master key version (the KEK). Never written anywhere by the keyring; it comes from a KeySource. */
export interface MasterKey {
  version: number;
  /** 32 bytes. */
  key: Buffer;
}

/**
 * Where master keys come from: an environment variable, a 0600 file, later a KMS or Vault transit.
 * `wrap`/`unwrap` let a remote backend keep the master key to itself; local sources implement them with
 * AES-256-GCM.
 */
export interface KeySource {
  readonly kind: string;
  /** Versions available, newest first. */
  versions(): Promise<number[]>;
  wrap(version: number, dataKey: Buffer, aad: string): Promise<Buffer>;
  unwrap(version: number, wrapped: Buffer, aad: string): Promise<Buffer>;
  /** Creates a new newest version (file source); sources that cannot rotate themselves throw. */
  rotate?(): Promise<number>;
}

/** A data key as stored: wrapped by a master key version. */
export interface WrappedDataKey {
  purpose: string;
  version: number;
  masterVersion: number;
  /** nonce | ciphertext | tag, base64. */
  wrapped: string;
  createdAt: string;
}

/** Where wrapped data keys live: a file on one machine, a store table in a cluster (shared by every node). */
export interface KeyStateStore {
  load(): Promise<WrappedDataKey[]>;
  /** Replaces the whole set atomically (rotation re-wraps every key). */
  save(keys: WrappedDataKey[]): Promise<void>;
}
