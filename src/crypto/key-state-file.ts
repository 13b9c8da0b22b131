import { resolve } from 'node:path';
import { KeyringError } from './errors.js';
import { readPrivateFile, writePrivateFileAtomic } from './private-file.js';
import type { KeyStateStore, WrappedDataKey } from './types.js';
import { parseWrappedDataKeys } from './wrapped-data-key.js';

/**
 * Wrapped data keys in one JSON file `{ "format": 1, "keys": [...] }` (single node; a cluster uses a store table
 * shared by every node). The keys in it are encrypted by the master key; it is still written 0600, as it says which
 * purposes and versions exist. Saves replace the file atomically, so a crash mid-rotation leaves the old set.
 */
export class FileKeyState implements KeyStateStore {
  readonly path: string;

  constructor(path: string) {
    this.path = resolve(path);
  }

  /** A missing file is an empty state (first start). */
  async load(): Promise<WrappedDataKey[]> {
    const origin = `key state file ${this.path}`;
    const r = await readPrivateFile(this.path, false);
    if (!r.ok) {
      if (r.reason === 'missing') return [];
      throw new KeyringError('BAD_STATE', `${origin}: ${r.detail}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(r.text);
    } catch {
      throw new KeyringError('BAD_STATE', `${origin}: not valid JSON`);
    }
    const doc = raw as { format?: unknown; keys?: unknown } | null;
    if (doc?.format !== 1) throw new KeyringError('BAD_STATE', `${origin}: expected { "format": 1, "keys": [...] }`);
    return parseWrappedDataKeys(doc.keys, origin);
  }

  async save(keys: WrappedDataKey[]): Promise<void> {
    const sorted = [...keys].sort((a, b) => a.purpose.localeCompare(b.purpose) || b.version - a.version);
    await writePrivateFileAtomic(this.path, `${JSON.stringify({ format: 1, keys: sorted }, null, 2)}\n`);
  }
}
