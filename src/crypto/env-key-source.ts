import type { KeyObject } from 'node:crypto';
import { KeyringError } from './errors.js';
import { decodeMasterKey, LocalMasterKeys } from './local-master-keys.js';
import type { KeySource } from './types.js';

/**
 * Master keys from one text value, usually an environment variable (or a config field given as `${env:...}` or
 * `${file:...}`): either the base64 of 32 bytes (version 1) or a list `3:BASE64,2:BASE64,1:BASE64`.
 * It cannot rotate itself: add a new version to the list, restart, then re-wrap (`Keyring.rewrap()`,
 * `rampart keyring rotate --master-env NAME`). Keep older versions listed until every node has re-wrapped.
 */
export class EnvKeySource implements KeySource {
  readonly kind = 'env';
  readonly #keys: LocalMasterKeys;

  /** `origin` names where the value came from in errors (never the value). */
  constructor(value: string, origin = 'master key') {
    this.#keys = new LocalMasterKeys(origin, parseKeyList(value, origin));
  }

  /** Reads `variable` from `env`; an unset or empty variable is NO_MASTER_KEY. */
  static fromEnv(variable: string, env: NodeJS.ProcessEnv = process.env): EnvKeySource {
    const origin = `env ${variable}`;
    const value = env[variable];
    if (!value?.trim()) throw new KeyringError('NO_MASTER_KEY', `${origin}: not set or empty`);
    return new EnvKeySource(value, origin);
  }

  async versions(): Promise<number[]> {
    return this.#keys.versions();
  }

  async wrap(version: number, dataKey: Buffer, aad: string): Promise<Buffer> {
    return this.#keys.wrap(version, dataKey, aad);
  }

  async unwrap(version: number, wrapped: Buffer, aad: string): Promise<Buffer> {
    return this.#keys.unwrap(version, wrapped, aad);
  }
}

const ENTRY = /^([1-9][0-9]{0,8}):(.*)$/s;

function parseKeyList(value: string, origin: string): Map<number, KeyObject> {
  const text = value.trim();
  if (!text) throw new KeyringError('NO_MASTER_KEY', `${origin}: empty`);
  const keys = new Map<number, KeyObject>();
  // Base64 holds neither ':' nor ',', so a bare value is unambiguous.
  if (!text.includes(':') && !text.includes(',')) {
    keys.set(1, decodeMasterKey(origin, 1, text));
    return keys;
  }
  const entries = text.split(',');
  entries.forEach((raw, i) => {
    const m = ENTRY.exec(raw.trim());
    if (!m) {
      throw new KeyringError(
        'BAD_MASTER_KEY',
        `${origin}: entry ${i + 1} of ${entries.length} is not VERSION:BASE64 (expected e.g. "2:BASE64,1:BASE64", versions from 1)`,
      );
    }
    const version = Number(m[1]);
    if (keys.has(version)) throw new KeyringError('BAD_MASTER_KEY', `${origin}: version ${version} is listed twice`);
    keys.set(version, decodeMasterKey(origin, version, (m[2] ?? '').trim()));
  });
  return keys;
}
