import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EnvKeySource } from './env-key-source.js';
import { KeyringError } from './errors.js';

const k32 = () => randomBytes(32).toString('base64');

function failure(fn: () => unknown): KeyringError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KeyringError) return e;
    throw e;
  }
  throw new Error('expected a KeyringError');
}

describe('EnvKeySource', () => {
  it('reads a bare base64 key as version 1', async () => {
    const s = new EnvKeySource(`${k32()}\n`, 'env K');
    expect(s.kind).toBe('env');
    expect(await s.versions()).toEqual([1]);
  });

  it('reads a version list, newest first whatever the order', async () => {
    const s = new EnvKeySource(`1:${k32()}, 3:${k32()},2:${k32()}`);
    expect(await s.versions()).toEqual([3, 2, 1]);
  });

  it('wraps and unwraps with the aad and the version bound', async () => {
    const s = new EnvKeySource(`2:${k32()},1:${k32()}`);
    const dk = randomBytes(32);
    const w = await s.wrap(2, dk, 'dek/a/1');
    expect(w.length).toBe(12 + 32 + 16);
    expect((await s.unwrap(2, w, 'dek/a/1')).equals(dk)).toBe(true);
    await expect(s.unwrap(2, w, 'dek/b/1')).rejects.toMatchObject({ code: 'UNWRAP_FAILED' });
    await expect(s.unwrap(1, w, 'dek/a/1')).rejects.toMatchObject({ code: 'UNWRAP_FAILED' });
    await expect(s.unwrap(7, w, 'dek/a/1')).rejects.toMatchObject({ code: 'UNKNOWN_MASTER_VERSION' });
  });

  it('rejects keys of the wrong length, naming the source and never the key', () => {
    const short = randomBytes(16).toString('base64');
    const e = failure(() => new EnvKeySource(short, 'env RAMPART_MASTER_KEY'));
    expect(e.code).toBe('BAD_MASTER_KEY');
    expect(e.message).toContain('env RAMPART_MASTER_KEY');
    expect(e.message).toContain('16 bytes');
    expect(e.message).not.toContain(short);
    const long = randomBytes(33).toString('base64');
    expect(failure(() => new EnvKeySource(`2:${long},1:${k32()}`)).message).toMatch(/version 2 is 33 bytes/);
  });

  it('rejects bad base64', () => {
    const key = k32();
    for (const bad of [
      key.replace(/^./, '*'),
      key.replace(/=$/, ''),
      `${key.slice(0, 20)} ${key.slice(20)}`,
      key.replace(/[A-Za-z0-9]/, '-'),
    ]) {
      const e = failure(() => new EnvKeySource(bad, 'env K'));
      expect(e.code).toBe('BAD_MASTER_KEY');
      expect(e.message).toMatch(/not valid base64/);
      expect(e.message).not.toContain(bad);
    }
  });

  it('rejects a bad list', () => {
    for (const bad of [
      `x:${k32()}`,
      `0:${k32()}`,
      `1:${k32()},`,
      `1:${k32()},1:${k32()}`,
      `1${k32()},2:${k32()}`,
      `-1:${k32()}`,
    ]) {
      expect(failure(() => new EnvKeySource(bad, 'env K')).code, bad).toBe('BAD_MASTER_KEY');
    }
    expect(failure(() => new EnvKeySource(`1:${k32()},1:${k32()}`)).message).toMatch(/version 1 is listed twice/);
  });

  it('fromEnv refuses an unset or empty variable', () => {
    expect(failure(() => EnvKeySource.fromEnv('RAMPART_TEST_UNSET', {})).code).toBe('NO_MASTER_KEY');
    expect(failure(() => EnvKeySource.fromEnv('K', { K: '  ' })).code).toBe('NO_MASTER_KEY');
    expect(failure(() => new EnvKeySource('')).code).toBe('NO_MASTER_KEY');
    expect(EnvKeySource.fromEnv('K', { K: k32() })).toBeInstanceOf(EnvKeySource);
  });

  it('prints nothing secret when logged', () => {
    const key = k32();
    const s = new EnvKeySource(key);
    expect(JSON.stringify(s)).not.toContain(key);
    expect(JSON.stringify(s)).toBe('{"kind":"env"}');
  });
});
