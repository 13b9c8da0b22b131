import { createSecretKey, type KeyObject } from 'node:crypto';
import { KEY_BYTES, seal, unseal } from './aes-gcm.js';
import { decodeBase64 } from './base64.js';
import { KeyringError } from './errors.js';

/**
 * Master keys held in this process (env and file sources). They live as KeyObjects: the bytes stay in native memory
 * and a stray console.log or JSON.stringify of a source prints nothing secret.
 */
export class LocalMasterKeys {
  readonly #keys: ReadonlyMap<number, KeyObject>;

  /** `origin` names the source in errors, e.g. `env RAMPART_MASTER_KEY` or `/etc/rampart/master.keys`. */
  constructor(
    readonly origin: string,
    keys: ReadonlyMap<number, KeyObject>,
  ) {
    if (keys.size === 0) throw new KeyringError('NO_MASTER_KEY', `${origin}: no master key`);
    this.#keys = keys;
  }

  /** Newest first. */
  versions(): number[] {
    return [...this.#keys.keys()].sort((a, b) => b - a);
  }

  has(version: number): boolean {
    return this.#keys.has(version);
  }

  wrap(version: number, dataKey: Buffer, aad: string): Buffer {
    return seal(this.#key(version), dataKey, wrapAad(version, aad));
  }

  unwrap(version: number, wrapped: Buffer, aad: string): Buffer {
    const key = unseal(this.#key(version), wrapped, wrapAad(version, aad));
    if (!key) {
      throw new KeyringError(
        'UNWRAP_FAILED',
        `${this.origin}: a data key did not authenticate under master version ${version} (wrong master key, or the key state was altered)`,
      );
    }
    return key;
  }

  #key(version: number): KeyObject {
    const key = this.#keys.get(version);
    if (!key) {
      throw new KeyringError(
        'UNKNOWN_MASTER_VERSION',
        `${this.origin}: no master key version ${version} (has ${this.versions().join(', ')})`,
      );
    }
    return key;
  }
}

/** The master version is bound too, so a wrapped key cannot be presented as wrapped by another version. */
function wrapAad(version: number, aad: string): Buffer {
  return Buffer.from(`rampart-kek\u0000${version}\u0000${aad}`, 'utf8');
}

/** Decodes one base64 master key; the error names the source and version, never the value. */
export function decodeMasterKey(origin: string, version: number, base64: string): KeyObject {
  const bytes = decodeBase64(base64);
  if (!bytes) {
    throw new KeyringError(
      'BAD_MASTER_KEY',
      `${origin}: master key version ${version} is not valid base64 (standard alphabet with padding, e.g. from "openssl rand -base64 32")`,
    );
  }
  if (bytes.length !== KEY_BYTES) {
    const n = bytes.length;
    bytes.fill(0);
    throw new KeyringError(
      'BAD_MASTER_KEY',
      `${origin}: master key version ${version} is ${n} bytes; a master key is exactly ${KEY_BYTES} bytes`,
    );
  }
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return key;
}

export function isVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}
