import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKeyFile, FileKeySource, type KeyFile } from './file-key-source.js';

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-keys-'));
  path = join(dir, 'master.keys');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mode = async (p: string) => (await stat(p)).mode & 0o777;
const readKeys = async () => JSON.parse(await readFile(path, 'utf8')) as KeyFile;
async function write(file: unknown, m = 0o600): Promise<void> {
  await writeFile(path, JSON.stringify(file), { mode: m });
  await chmod(path, m);
}

describe('FileKeySource', () => {
  it('creates a 0600 file with version 1 and refuses to overwrite it', async () => {
    expect(await createKeyFile(path)).toBe(true);
    expect(await mode(path)).toBe(0o600);
    const before = await readFile(path, 'utf8');
    expect(await createKeyFile(path)).toBe(false);
    expect(await readFile(path, 'utf8')).toBe(before);
    const file = await readKeys();
    expect(file.keys).toHaveLength(1);
    expect(file.keys[0]?.version).toBe(1);
    expect(Buffer.from(file.keys[0]?.key ?? '', 'base64').length).toBe(32);
    expect(Number.isNaN(Date.parse(file.keys[0]?.created ?? ''))).toBe(false);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a file readable by group or others', async () => {
    await createKeyFile(path);
    for (const m of [0o644, 0o640, 0o604, 0o660]) {
      await chmod(path, m);
      await expect(FileKeySource.open(path)).rejects.toMatchObject({
        code: 'INSECURE_KEY_FILE',
        message: expect.stringContaining(`chmod 600 ${path}`),
      });
    }
    await chmod(path, 0o400);
    expect(await (await FileKeySource.open(path)).versions()).toEqual([1]);
  });

  it('refuses a missing file, bad JSON and bad entries without echoing the content', async () => {
    await expect(FileKeySource.open(path)).rejects.toMatchObject({ code: 'NO_MASTER_KEY' });
    const secret = randomBytes(16).toString('base64');
    await writeFile(path, `{ "keys": [ ${secret} ] }`, { mode: 0o600 });
    const err = await FileKeySource.open(path).catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'BAD_KEY_FILE' });
    expect((err as Error).message).not.toContain(secret);
    await write({ keys: [{ version: 1, key: secret, created: '' }] });
    await expect(FileKeySource.open(path)).rejects.toMatchObject({
      code: 'BAD_MASTER_KEY',
      message: expect.stringContaining(path),
    });
    await write({ keys: [{ version: 0, key: randomBytes(32).toString('base64'), created: '' }] });
    await expect(FileKeySource.open(path)).rejects.toMatchObject({ code: 'BAD_KEY_FILE' });
    const k = randomBytes(32).toString('base64');
    await write({
      keys: [
        { version: 1, key: k, created: '' },
        { version: 1, key: k, created: '' },
      ],
    });
    await expect(FileKeySource.open(path)).rejects.toMatchObject({ code: 'BAD_KEY_FILE' });
    await write({ keys: [] });
    await expect(FileKeySource.open(path)).rejects.toMatchObject({ code: 'NO_MASTER_KEY' });
  });

  it('rotate() appends a random version atomically with mode 0600; old versions still unwrap', async () => {
    await createKeyFile(path);
    const s = await FileKeySource.open(path);
    const dk = randomBytes(32);
    const w1 = await s.wrap(1, dk, 'a');
    expect(await s.rotate()).toBe(2);
    expect(await s.rotate()).toBe(3);
    expect(await s.versions()).toEqual([3, 2, 1]);
    expect(await mode(path)).toBe(0o600);
    const file = await readKeys();
    expect(file.keys.map((k) => k.version)).toEqual([3, 2, 1]);
    expect(new Set(file.keys.map((k) => k.key)).size).toBe(3);
    expect((await s.unwrap(1, w1, 'a')).equals(dk)).toBe(true);
    expect((await s.unwrap(3, await s.wrap(3, dk, 'a'), 'a')).equals(dk)).toBe(true);
    expect((await readdir(dir)).sort()).toEqual(['master.keys']);
  });

  it('picks up a version another process added', async () => {
    await createKeyFile(path);
    const a = await FileKeySource.open(path);
    const b = await FileKeySource.open(path);
    await a.rotate();
    const dk = randomBytes(32);
    const w = await a.wrap(2, dk, 'x');
    expect((await b.unwrap(2, w, 'x')).equals(dk)).toBe(true);
    expect(await b.versions()).toEqual([2, 1]);
  });

  it('rotate() refuses a file that was made readable meanwhile', async () => {
    await createKeyFile(path);
    const s = await FileKeySource.open(path);
    await chmod(path, 0o644);
    await expect(s.rotate()).rejects.toMatchObject({ code: 'INSECURE_KEY_FILE' });
    expect((await readKeys()).keys).toHaveLength(1);
  });
});
