import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileKeyState } from './key-state-file.js';
import type { WrappedDataKey } from './types.js';

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-state-'));
  path = join(dir, 'keyring.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const key = (purpose: string, version: number): WrappedDataKey => ({
  purpose,
  version,
  masterVersion: 1,
  wrapped: Buffer.alloc(60, version).toString('base64'),
  createdAt: '2026-01-01T00:00:00.000Z',
});

describe('FileKeyState', () => {
  it('is empty before the first save', async () => {
    expect(await new FileKeyState(path).load()).toEqual([]);
  });

  it('saves atomically with mode 0600 and loads what it saved', async () => {
    const s = new FileKeyState(path);
    const keys = [key('b', 1), key('a', 1), key('a', 2)];
    await s.save(keys);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await s.load()).toEqual([key('a', 2), key('a', 1), key('b', 1)]);
    // a replaced file stays 0600 even if it had been loosened
    await chmod(path, 0o644);
    await s.save([key('a', 1)]);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ format: 1, keys: [key('a', 1)] });
  });

  it('refuses malformed state with the file named', async () => {
    const s = new FileKeyState(path);
    for (const bad of [
      'not json',
      '{"keys": []}',
      '{"format": 1, "keys": {}}',
      JSON.stringify({ format: 1, keys: [{ ...key('a', 1), version: 0 }] }),
      JSON.stringify({ format: 1, keys: [{ ...key('a', 1), wrapped: 'not base64!' }] }),
      JSON.stringify({ format: 1, keys: [{ ...key('a', 1), purpose: 'a\u0000b' }] }),
      JSON.stringify({ format: 1, keys: [key('a', 1), key('a', 1)] }),
    ]) {
      await writeFile(path, bad);
      await expect(s.load(), bad).rejects.toMatchObject({ code: 'BAD_STATE', message: expect.stringContaining(path) });
    }
  });
});
