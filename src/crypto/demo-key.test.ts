import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureDemoMasterKey } from './demo-key.js';
import { FileKeySource } from './file-key-source.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-demo-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ensureDemoMasterKey', () => {
  it('creates a 0600 key file once, then reuses it untouched', async () => {
    const dataDir = join(dir, 'data', 'nested');
    const first = await ensureDemoMasterKey(dataDir);
    expect(first).toEqual({ path: join(dataDir, 'master.keys'), created: true });
    expect((await stat(first.path)).mode & 0o777).toBe(0o600);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    const content = await readFile(first.path, 'utf8');
    expect(await (await FileKeySource.open(first.path)).versions()).toEqual([1]);

    const second = await ensureDemoMasterKey(dataDir);
    expect(second).toEqual({ path: first.path, created: false });
    expect(await readFile(first.path, 'utf8')).toBe(content);
  });

  it('agrees on one file when two starts race', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => ensureDemoMasterKey(dir)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await (await FileKeySource.open(join(dir, 'master.keys'))).versions()).toEqual([1]);
  });
});
