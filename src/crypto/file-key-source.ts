import { type KeyObject, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { KEY_BYTES } from './aes-gcm.js';
import { KeyringError } from './errors.js';
import { decodeMasterKey, isVersion, LocalMasterKeys } from './local-master-keys.js';
import { createPrivateFileExclusive, readPrivateFile, writePrivateFileAtomic } from './private-file.js';
import type { KeySource } from './types.js';

/** The on-disk shape of a master key file. */
export interface KeyFile {
  keys: { version: number; key: string; created: string }[];
}

/**
 * Master keys in a JSON file `{ "keys": [{ "version": n, "key": "base64", "created": iso }] }`, mode 0600 or
 * stricter (refused otherwise). `rotate()` appends a random version. The file is re-read when a version is missing
 * and on `versions()`, so a rotation made by `rampart keyring rotate` in another process is picked up.
 */
export class FileKeySource implements KeySource {
  readonly kind = 'file';
  readonly path: string;
  #keys: LocalMasterKeys;

  private constructor(path: string, keys: LocalMasterKeys) {
    this.path = path;
    this.#keys = keys;
  }

  /** Throws NO_MASTER_KEY when the file is missing, INSECURE_KEY_FILE when group or others may read it. */
  static async open(path: string): Promise<FileKeySource> {
    const abs = resolve(path);
    return new FileKeySource(abs, toKeys(abs, await readKeyFile(abs)));
  }

  async versions(): Promise<number[]> {
    await this.#refresh();
    return this.#keys.versions();
  }

  async wrap(version: number, dataKey: Buffer, aad: string): Promise<Buffer> {
    if (!this.#keys.has(version)) await this.#refresh();
    return this.#keys.wrap(version, dataKey, aad);
  }

  async unwrap(version: number, wrapped: Buffer, aad: string): Promise<Buffer> {
    if (!this.#keys.has(version)) await this.#refresh();
    return this.#keys.unwrap(version, wrapped, aad);
  }

  /**
   * Appends version max+1 and replaces the file atomically. It re-reads the file first so a version added
   * elsewhere is kept; two rotations at the same instant on one file can still lose one (run one at a time).
   */
  async rotate(): Promise<number> {
    const file = await readKeyFile(this.path);
    const version = Math.max(0, ...file.keys.map((k) => k.version)) + 1;
    file.keys.push(newKeyEntry(version));
    const keys = toKeys(this.path, file);
    await writePrivateFileAtomic(this.path, serialize(file));
    this.#keys = keys;
    return version;
  }

  async #refresh(): Promise<void> {
    this.#keys = toKeys(this.path, await readKeyFile(this.path));
  }
}

/**
 * Creates a key file holding one random version 1, mode 0600, unless the path exists (then false; the file is left
 * alone). Atomic: a concurrent reader never sees a partial file.
 */
export async function createKeyFile(path: string): Promise<boolean> {
  return createPrivateFileExclusive(resolve(path), serialize({ keys: [newKeyEntry(1)] }));
}

function newKeyEntry(version: number): KeyFile['keys'][number] {
  const bytes = randomBytes(KEY_BYTES);
  const key = bytes.toString('base64');
  bytes.fill(0);
  return { version, key, created: new Date().toISOString() };
}

function serialize(file: KeyFile): string {
  return `${JSON.stringify({ keys: [...file.keys].sort((a, b) => b.version - a.version) }, null, 2)}\n`;
}

async function readKeyFile(path: string): Promise<KeyFile> {
  const r = await readPrivateFile(path, true);
  if (!r.ok) {
    if (r.reason === 'missing') throw new KeyringError('NO_MASTER_KEY', `master key file ${path}: no such file`);
    if (r.reason === 'loose-mode') {
      throw new KeyringError(
        'INSECURE_KEY_FILE',
        `master key file ${path} is readable or writable by group or others (${r.detail}): run "chmod 600 ${path}"`,
      );
    }
    throw new KeyringError('BAD_KEY_FILE', `master key file ${path}: ${r.detail}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(r.text);
  } catch {
    // JSON.parse's message quotes the text around the error: that could be key material, so it is not passed on.
    throw new KeyringError('BAD_KEY_FILE', `master key file ${path}: not valid JSON`);
  }
  const keys = (raw as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys))
    throw new KeyringError('BAD_KEY_FILE', `master key file ${path}: expected { "keys": [...] }`);
  const out: KeyFile = { keys: [] };
  keys.forEach((k: unknown, i) => {
    const e = k as { version?: unknown; key?: unknown; created?: unknown } | null;
    if (
      !e ||
      !isVersion(e.version) ||
      typeof e.key !== 'string' ||
      (e.created !== undefined && typeof e.created !== 'string')
    ) {
      throw new KeyringError(
        'BAD_KEY_FILE',
        `master key file ${path}: keys[${i}] needs "version" (integer from 1), "key" (base64) and "created" (ISO date)`,
      );
    }
    out.keys.push({ version: e.version, key: e.key, created: e.created ?? '' });
  });
  return out;
}

function toKeys(path: string, file: KeyFile): LocalMasterKeys {
  const origin = `master key file ${path}`;
  if (!file.keys.length) throw new KeyringError('NO_MASTER_KEY', `${origin}: holds no key`);
  const keys = new Map<number, KeyObject>();
  for (const k of file.keys) {
    if (keys.has(k.version)) throw new KeyringError('BAD_KEY_FILE', `${origin}: version ${k.version} appears twice`);
    keys.set(k.version, decodeMasterKey(origin, k.version, k.key));
  }
  return new LocalMasterKeys(origin, keys);
}
