import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvKeySource } from './env-key-source.js';
import { KeyringError, type KeyringErrorCode } from './errors.js';
import { createKeyFile, FileKeySource } from './file-key-source.js';
import { FileKeyState } from './key-state-file.js';
import { Keyring } from './keyring.js';
import { aadFor, type KeyStateStore, type WrappedDataKey } from './types.js';

let dir: string;
let keysPath: string;
let statePath: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-keyring-'));
  keysPath = join(dir, 'master.keys');
  statePath = join(dir, 'keyring.json');
  await createKeyFile(keysPath);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function openRing(purposes: string[] = ['secrets', 'tokens']): Promise<Keyring> {
  return Keyring.open({ source: await FileKeySource.open(keysPath), state: new FileKeyState(statePath), purposes });
}

function code(fn: () => unknown): KeyringErrorCode | 'no error' {
  try {
    fn();
    return 'no error';
  } catch (e) {
    if (e instanceof KeyringError) return e.code;
    throw e;
  }
}

async function readState(): Promise<WrappedDataKey[]> {
  return (JSON.parse(await readFile(statePath, 'utf8')) as { keys: WrappedDataKey[] }).keys;
}

/** Rewrites the sealed part of a ciphertext (nonce | ct | tag) through `edit`. */
function editSealed(ct: string, edit: (b: Buffer) => Buffer): string {
  const [fmt, version, data] = ct.split('.') as [string, string, string];
  return `${fmt}.${version}.${edit(Buffer.from(data, 'base64url')).toString('base64url')}`;
}
function flip(at: (b: Buffer) => number) {
  return (b: Buffer) => {
    const c = Buffer.from(b);
    const i = at(c);
    c[i] = (c[i] ?? 0) ^ 0x01;
    return c;
  };
}

const AAD = aadFor('consumers', 'api_key', '42');

describe('Keyring encrypt/decrypt', () => {
  it('round-trips strings, binary and empty values', async () => {
    const ring = await openRing();
    expect(ring.decrypt('secrets', ring.encrypt('secrets', 'héllo wörld', AAD), AAD).toString('utf8')).toBe(
      'héllo wörld',
    );
    const bin = randomBytes(1000);
    expect(ring.decrypt('secrets', ring.encrypt('secrets', bin, AAD), AAD).equals(bin)).toBe(true);
    expect(ring.decrypt('secrets', ring.encrypt('secrets', '', AAD), AAD).length).toBe(0);
  });

  it('has the rk1.<version>.<base64url> format and a fresh nonce every time', async () => {
    const ring = await openRing();
    const cts = Array.from({ length: 50 }, () => ring.encrypt('secrets', 'same plaintext', AAD));
    for (const ct of cts) expect(ct).toMatch(/^rk1\.1\.[A-Za-z0-9_-]+$/);
    expect(new Set(cts).size).toBe(cts.length);
    const nonces = cts.map((ct) =>
      Buffer.from(ct.split('.')[2] ?? '', 'base64url')
        .subarray(0, 12)
        .toString('hex'),
    );
    expect(new Set(nonces).size).toBe(cts.length);
    // 12-byte nonce + 14 bytes of data + 16-byte tag
    expect(Buffer.from(cts[0]?.split('.')[2] ?? '', 'base64url').length).toBe(12 + 14 + 16);
  });

  it('refuses a tampered nonce, ciphertext, tag, version or aad', async () => {
    const ring = await openRing();
    await ring.rotateDataKey('secrets'); // version 2 exists, so editing the version to 1 reaches GCM
    const ct = ring.encrypt('secrets', 'the plaintext', AAD);
    expect(ct.startsWith('rk1.2.')).toBe(true);
    expect(
      code(() =>
        ring.decrypt(
          'secrets',
          editSealed(
            ct,
            flip(() => 0),
          ),
          AAD,
        ),
      ),
    ).toBe('DECRYPT_FAILED'); // nonce
    expect(
      code(() =>
        ring.decrypt(
          'secrets',
          editSealed(
            ct,
            flip(() => 14),
          ),
          AAD,
        ),
      ),
    ).toBe('DECRYPT_FAILED'); // body
    expect(
      code(() =>
        ring.decrypt(
          'secrets',
          editSealed(
            ct,
            flip((b) => b.length - 1),
          ),
          AAD,
        ),
      ),
    ).toBe('DECRYPT_FAILED'); // tag
    expect(code(() => ring.decrypt('secrets', ct.replace('rk1.2.', 'rk1.1.'), AAD))).toBe('DECRYPT_FAILED'); // version
    expect(code(() => ring.decrypt('secrets', ct.replace('rk1.2.', 'rk1.9.'), AAD))).toBe('UNKNOWN_KEY_VERSION');
    expect(code(() => ring.decrypt('secrets', ct, aadFor('consumers', 'api_key', '43')))).toBe('DECRYPT_FAILED');
    expect(code(() => ring.decrypt('secrets', ct, aadFor('consumers', 'password', '42')))).toBe('DECRYPT_FAILED');
    expect(ring.decrypt('secrets', ct, AAD).toString()).toBe('the plaintext');
  });

  it('refuses truncated and malformed text', async () => {
    const ring = await openRing();
    const ct = ring.encrypt('secrets', 'the plaintext', AAD);
    const data = ct.split('.')[2] ?? '';
    for (const bad of [
      '',
      'rk1',
      'rk1.1.',
      `rk2.1.${data}`,
      `rk1.01.${data}`,
      `rk1.0.${data}`,
      `rk1.1.${data}=`,
      `rk1.1.${data.replace(/.$/, '+')}`,
      `rk1.1.${Buffer.alloc(27).toString('base64url')}`, // shorter than nonce + tag
      ` ${ct}`,
    ]) {
      expect(
        code(() => ring.decrypt('secrets', bad, AAD)),
        bad,
      ).toBe('MALFORMED_CIPHERTEXT');
    }
    // cutting the tag short leaves something long enough to parse, and GCM refuses it
    expect(
      code(() =>
        ring.decrypt(
          'secrets',
          editSealed(ct, (b) => b.subarray(0, b.length - 4)),
          AAD,
        ),
      ),
    ).toBe('DECRYPT_FAILED');
    expect(['DECRYPT_FAILED', 'MALFORMED_CIPHERTEXT']).toContain(
      code(() => ring.decrypt('secrets', ct.slice(0, -4), AAD)),
    );
  });

  it('refuses a ciphertext swapped between two rows', async () => {
    const ring = await openRing();
    const alice = ring.encrypt('secrets', 'alice-secret', aadFor('users', 'token', 'alice'));
    const bob = ring.encrypt('secrets', 'bob-secret', aadFor('users', 'token', 'bob'));
    expect(code(() => ring.decrypt('secrets', bob, aadFor('users', 'token', 'alice')))).toBe('DECRYPT_FAILED');
    expect(code(() => ring.decrypt('secrets', alice, aadFor('users', 'token', 'bob')))).toBe('DECRYPT_FAILED');
    expect(ring.decrypt('secrets', alice, aadFor('users', 'token', 'alice')).toString()).toBe('alice-secret');
  });

  it('refuses a ciphertext of another purpose, even at the same version', async () => {
    const ring = await openRing();
    const ct = ring.encrypt('secrets', 'x', AAD);
    expect(code(() => ring.decrypt('tokens', ct, AAD))).toBe('DECRYPT_FAILED');
    expect(code(() => ring.decrypt('nope', ct, AAD))).toBe('UNKNOWN_PURPOSE');
    expect(code(() => ring.encrypt('nope', 'x', AAD))).toBe('UNKNOWN_PURPOSE');
  });

  it('keeps key material and plaintext out of error messages', async () => {
    const ring = await openRing();
    const ct = ring.encrypt('secrets', 'PLAINTEXT-MARKER', AAD);
    const keys = JSON.parse(await readFile(keysPath, 'utf8')) as { keys: { key: string }[] };
    try {
      ring.decrypt('secrets', ct, 'other');
      expect.unreachable();
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).not.toContain('PLAINTEXT-MARKER');
      expect(msg).not.toContain(ct.split('.')[2]);
      for (const k of keys.keys) expect(msg).not.toContain(k.key);
    }
    // and a Keyring printed by accident shows nothing
    expect(JSON.stringify(ring)).toBe('{}');
  });

  it('rejects invalid purpose names', async () => {
    const ring = await openRing();
    await expect(ring.rotateDataKey('bad\u0000purpose')).rejects.toMatchObject({ code: 'INVALID_PURPOSE' });
    await expect(openRing(['a b'])).rejects.toMatchObject({ code: 'INVALID_PURPOSE' });
  });
});

describe('Keyring state', () => {
  it('creates data keys for listed purposes at open and saves them wrapped', async () => {
    await openRing(['secrets']);
    const state = await readState();
    expect(state.map((k) => [k.purpose, k.version, k.masterVersion])).toEqual([['secrets', 1, 1]]);
    // opening again reuses the saved key: old ciphertexts decrypt
    const a = await openRing(['secrets']);
    const ct = a.encrypt('secrets', 'v', AAD);
    const b = await openRing(['secrets', 'tokens']);
    expect(b.decrypt('secrets', ct, AAD).toString()).toBe('v');
    expect((await readState()).map((k) => k.purpose).sort()).toEqual(['secrets', 'tokens']);
  });

  it('refuses a state wrapped by another master key', async () => {
    await openRing(['secrets']);
    const other = new EnvKeySource(randomBytes(32).toString('base64'));
    await expect(Keyring.open({ source: other, state: new FileKeyState(statePath) })).rejects.toMatchObject({
      code: 'UNWRAP_FAILED',
    });
  });

  it('refuses a wrapped data key moved to another purpose in the state', async () => {
    await openRing(['secrets', 'tokens']);
    const state = await readState();
    const secrets = state.find((k) => k.purpose === 'secrets')!;
    const tokens = state.find((k) => k.purpose === 'tokens')!;
    tokens.wrapped = secrets.wrapped;
    await new FileKeyState(statePath).save(state);
    await expect(openRing([])).rejects.toMatchObject({ code: 'UNWRAP_FAILED' });
  });

  it('refuses a state that swaps a key in use for another one', async () => {
    const ring = await openRing(['secrets']);
    const ct = ring.encrypt('secrets', 'v', AAD);
    await rm(statePath);
    await openRing(['secrets']); // another "v1" for secrets, as a restore from elsewhere would give
    await expect(ring.reload()).rejects.toMatchObject({ code: 'STATE_CONFLICT' });
    expect(ring.decrypt('secrets', ct, AAD).toString()).toBe('v'); // unchanged in memory
  });

  it('retries when another writer overwrites its save', async () => {
    const file = new FileKeyState(statePath);
    let raced = false;
    const racy: KeyStateStore = {
      load: () => file.load(),
      async save(keys) {
        await file.save(keys);
        if (!raced) {
          raced = true;
          await file.save([]); // another node's stale save lands right after ours
        }
      },
    };
    const ring = await Keyring.open({ source: await FileKeySource.open(keysPath), state: racy, purposes: ['secrets'] });
    expect(raced).toBe(true);
    expect((await readState()).map((k) => k.purpose)).toEqual(['secrets']);
    const other = await openRing([]);
    expect(other.decrypt('secrets', ring.encrypt('secrets', 'v', AAD), AAD).toString()).toBe('v');
  });
});

describe('Keyring master rotation', () => {
  it('re-wraps every data key under the new master; old ciphertexts still decrypt everywhere', async () => {
    const ring = await openRing();
    await ring.rotateDataKey('secrets');
    const before = [ring.encrypt('secrets', 's', AAD), ring.encrypt('tokens', 't', AAD)];
    const r = await ring.rotateMaster();
    expect(r.previousMasterVersion).toBe(1);
    expect(r.masterVersion).toBe(2);
    expect(r.rewrapped.map((k) => `${k.purpose}:${k.version}:${k.fromMasterVersion}`).sort()).toEqual([
      'secrets:1:1',
      'secrets:2:1',
      'tokens:1:1',
    ]);
    const state = await readState();
    expect(state.every((k) => k.masterVersion === 2)).toBe(true);
    const masterFile = JSON.parse(await readFile(keysPath, 'utf8')) as { keys: { version: number }[] };
    expect(masterFile.keys.map((k) => k.version)).toEqual([2, 1]);

    // no ciphertext became stale: data keys are unchanged
    expect(before.map((ct, i) => ring.isStale(i ? 'tokens' : 'secrets', ct))).toEqual([false, false]);
    expect(ring.decrypt('secrets', before[0]!, AAD).toString()).toBe('s');
    const second = await openRing([]);
    expect(second.decrypt('secrets', before[0]!, AAD).toString()).toBe('s');
    expect(second.decrypt('tokens', before[1]!, AAD).toString()).toBe('t');
    expect(second.decrypt('secrets', ring.encrypt('secrets', 'after', AAD), AAD).toString()).toBe('after');
  });

  it('keeps encrypting and decrypting while rotateMaster runs', async () => {
    const ring = await openRing();
    const old = ring.encrypt('secrets', 'old', AAD);
    let done = false;
    let rounds = 0;
    const failures: unknown[] = [];
    const serve = (async () => {
      while (!done) {
        try {
          const aad = aadFor('t', 'c', String(rounds));
          const ct = ring.encrypt('secrets', `value ${rounds}`, aad);
          if (ring.decrypt('secrets', ct, aad).toString() !== `value ${rounds}`) failures.push(rounds);
          if (ring.decrypt('secrets', old, AAD).toString() !== 'old') failures.push(`old@${rounds}`);
        } catch (e) {
          failures.push(e);
        }
        rounds++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 3; i++) await ring.rotateMaster();
    done = true;
    await serve;
    expect(failures).toEqual([]);
    expect(rounds).toBeGreaterThan(3);
    expect((await readState()).every((k) => k.masterVersion === 4)).toBe(true);
  });

  it('lets another node pick up a master rotation through reload()', async () => {
    const a = await openRing();
    const b = await openRing([]); // opened before the rotation, with its own view of the key file
    await a.rotateMaster();
    await a.rotateDataKey('secrets');
    const ct = a.encrypt('secrets', 'from a', AAD);
    expect(code(() => b.decrypt('secrets', ct, AAD))).toBe('UNKNOWN_KEY_VERSION');
    await b.reload();
    expect(b.decrypt('secrets', ct, AAD).toString()).toBe('from a');
    expect(
      b
        .status()
        .purposes.find((p) => p.purpose === 'secrets')
        ?.keys.map((k) => k.masterVersion),
    ).toEqual([2, 2]);
  });

  it('refuses rotateMaster on a source that cannot rotate; rewrap() takes a version added to it', async () => {
    const k1 = randomBytes(32).toString('base64');
    const k2 = randomBytes(32).toString('base64');
    const state = new FileKeyState(statePath);
    const v1 = await Keyring.open({ source: new EnvKeySource(k1), state, purposes: ['secrets'] });
    const ct = v1.encrypt('secrets', 'x', AAD);
    await expect(v1.rotateMaster()).rejects.toMatchObject({ code: 'ROTATE_UNSUPPORTED' });

    const both = new EnvKeySource(`2:${k2},1:${k1}`);
    const ring = await Keyring.open({ source: both, state });
    const r = await ring.rewrap();
    expect(r).toEqual({ masterVersion: 2, rewrapped: [{ purpose: 'secrets', version: 1, fromMasterVersion: 1 }] });
    expect((await ring.rewrap()).rewrapped).toEqual([]);
    // once re-wrapped, version 1 of the master key can go
    const only2 = await Keyring.open({ source: new EnvKeySource(`2:${k2}`), state });
    expect(only2.decrypt('secrets', ct, AAD).toString()).toBe('x');
  });
});

describe('Keyring data key rotation', () => {
  it('new ciphertexts use the new version; isStale and reencrypt move old ones', async () => {
    const ring = await openRing();
    const rows = ['1', '2', '3'].map((id) => ({ id, ct: ring.encrypt('secrets', `row ${id}`, aadFor('t', 'c', id)) }));
    expect(rows.every((r) => !ring.isStale('secrets', r.ct))).toBe(true);

    expect(await ring.rotateDataKey('secrets')).toEqual({ purpose: 'secrets', version: 2, previous: 1 });
    expect(ring.encrypt('secrets', 'n', AAD).startsWith('rk1.2.')).toBe(true);
    expect(ring.encrypt('tokens', 'n', AAD).startsWith('rk1.1.')).toBe(true); // other purposes untouched
    expect(rows.every((r) => ring.isStale('secrets', r.ct))).toBe(true);
    expect(ring.decrypt('secrets', rows[0]!.ct, aadFor('t', 'c', '1')).toString()).toBe('row 1');

    for (const r of rows) {
      const moved = ring.reencrypt('secrets', r.ct, aadFor('t', 'c', r.id));
      expect(moved.startsWith('rk1.2.')).toBe(true);
      expect(ring.isStale('secrets', moved)).toBe(false);
      expect(ring.reencrypt('secrets', moved, aadFor('t', 'c', r.id))).toBe(moved); // current: unchanged
      expect(ring.decrypt('secrets', moved, aadFor('t', 'c', r.id)).toString()).toBe(`row ${r.id}`);
    }
    // reencrypt checks the aad: a row swap is not laundered into a valid ciphertext
    expect(code(() => ring.reencrypt('secrets', rows[0]!.ct, aadFor('t', 'c', '2')))).toBe('DECRYPT_FAILED');

    const state = await readState();
    expect(state.filter((k) => k.purpose === 'secrets').map((k) => k.version)).toEqual([2, 1]);
    expect(ring.status().purposes.find((p) => p.purpose === 'secrets')?.newest).toBe(2);
  });

  it('a version newer than ours (another node rotated) is not stale', async () => {
    const a = await openRing();
    const b = await openRing([]);
    await a.rotateDataKey('secrets');
    expect(b.isStale('secrets', a.encrypt('secrets', 'x', AAD))).toBe(false);
  });

  it('creates a new purpose at version 1', async () => {
    const ring = await openRing([]);
    expect(await ring.rotateDataKey('fresh')).toEqual({ purpose: 'fresh', version: 1, previous: null });
    expect(ring.decrypt('fresh', ring.encrypt('fresh', 'x', AAD), AAD).toString()).toBe('x');
  });

  it('serialises concurrent rotations in one instance', async () => {
    const ring = await openRing();
    const rs = await Promise.all([ring.rotateDataKey('secrets'), ring.rotateMaster(), ring.rotateDataKey('secrets')]);
    expect(rs[0]).toMatchObject({ version: 2 });
    expect(rs[2]).toMatchObject({ version: 3 });
    const state = await readState();
    expect(state.filter((k) => k.purpose === 'secrets').map((k) => [k.version, k.masterVersion])).toEqual([
      [3, 2],
      [2, 2],
      [1, 2],
    ]);
  });
});
