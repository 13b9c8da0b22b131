import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { register } from '../cli/commands/keyring.js';
import { EnvKeySource } from './env-key-source.js';
import { FileKeySource } from './file-key-source.js';
import { FileKeyState } from './key-state-file.js';
import { Keyring } from './keyring.js';
import { aadFor, type WrappedDataKey } from './types.js';

// The CLI command lives in src/cli/commands/keyring.ts; its test sits with the keyring it drives.
let dir: string;
let keys: string;
let state: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-cli-'));
  keys = join(dir, 'master.keys');
  state = join(dir, 'keyring.json');
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

async function run(...args: string[]): Promise<string> {
  const program = new Command('rampart').exitOverride();
  register(program);
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'rampart', ...args]);
  } finally {
    vi.restoreAllMocks();
  }
  return out;
}

const masterKeys = async () =>
  (JSON.parse(await readFile(keys, 'utf8')) as { keys: { key: string }[] }).keys.map((k) => k.key);
const stateKeys = async () => (JSON.parse(await readFile(state, 'utf8')) as { keys: WrappedDataKey[] }).keys;

describe('rampart keyring', () => {
  it('init, rotate-data-key, rotate, status: prints versions, never keys', async () => {
    expect(await run('keyring', 'init', '--master-keys', keys)).toMatch(/created .* with master key version 1/);
    await expect(run('keyring', 'init', '--master-keys', keys)).rejects.toThrow(/already exists/);

    const src = ['--master-keys', keys, '--state', state];
    expect(await run('keyring', 'rotate-data-key', 'secrets', ...src)).toMatch(/"secrets": created version 1/);
    const ring = await Keyring.open({ source: await FileKeySource.open(keys), state: new FileKeyState(state) });
    const ct = ring.encrypt('secrets', 'kept', aadFor('t', 'c', '1'));

    const rotated = await run('keyring', 'rotate-data-key', 'secrets', ...src);
    expect(rotated).toMatch(/"secrets": version 1 → 2 \(wrapped under master version 1\)/);

    const master = await run('keyring', 'rotate', ...src);
    expect(master).toMatch(/version 1 → 2/);
    expect(master).toMatch(
      /re-wrapped 2 data key\(s\) under master version 2: secrets v2 \(was master 1\), secrets v1 \(was master 1\)/,
    );
    expect((await stateKeys()).map((k) => k.masterVersion)).toEqual([2, 2]);

    const status = await run('keyring', 'status', ...src);
    expect(status).toContain('master key (file) versions: 2, 1');
    expect(status).toContain('secrets: newest 2; v2 under master 2, v1 under master 2');

    const all = rotated + master + status;
    for (const k of await masterKeys()) expect(all).not.toContain(k);
    for (const w of await stateKeys()) expect(all).not.toContain(w.wrapped);

    // the running instance reloads and keeps decrypting
    await ring.reload();
    expect(ring.decrypt('secrets', ct, aadFor('t', 'c', '1')).toString()).toBe('kept');
  });

  it('rotate with --master-env re-wraps under the newest listed version', async () => {
    const k1 = randomBytes(32).toString('base64');
    const k2 = randomBytes(32).toString('base64');
    await Keyring.open({ source: new EnvKeySource(k1), state: new FileKeyState(state), purposes: ['secrets'] });
    vi.stubEnv('RAMPART_TEST_MASTER', `2:${k2},1:${k1}`);
    try {
      const out = await run('keyring', 'rotate', '--master-env', 'RAMPART_TEST_MASTER', '--state', state);
      expect(out).toMatch(/newest version 2/);
      expect(out).toMatch(/secrets v1 \(was master 1\)/);
      expect(out).not.toContain(k1);
      expect(out).not.toContain(k2);
    } finally {
      vi.unstubAllEnvs();
    }
    expect((await stateKeys()).map((k) => k.masterVersion)).toEqual([2]);
  });

  it('needs exactly one master key source', async () => {
    await expect(run('keyring', 'status', '--state', state)).rejects.toThrow(
      /one of --master-keys FILE or --master-env NAME/,
    );
  });
});
