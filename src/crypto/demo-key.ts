import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createKeyFile } from './file-key-source.js';

export interface DemoMasterKey {
  /** `<dataDir>/master.keys`, a FileKeySource file. */
  path: string;
  /** True when this call generated it: the caller must say so loudly (a key next to the data it protects). */
  created: boolean;
}

/**
 * Development mode only: a master key file generated on first start so the gateway runs without setup. Reused on
 * later starts, never overwritten (that would make every encrypted value unreadable). Production refuses to start
 * without a configured master key instead of calling this.
 */
export async function ensureDemoMasterKey(dataDir: string): Promise<DemoMasterKey> {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'master.keys');
  return { path, created: await createKeyFile(path) };
}
