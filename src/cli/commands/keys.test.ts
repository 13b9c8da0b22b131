import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../test/unit-helpers.js';
import { loadConfigFile } from '../../config/load.js';
import { createKeyFile } from '../../crypto/file-key-source.js';
import { parseApiKey } from '../../identity/api-key.js';
import { CREDENTIAL_MAC_PURPOSE, openServices } from '../../services.js';
import { parseDuration, parseExpiry } from '../store.js';
import { register as registerConsumers } from './consumers.js';
import { register as registerKeys } from './keys.js';

// The commands run in process on a real SQLite store and keyring named by a real config file.
let dir: string;
let config: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-keys-cli-'));
  await createKeyFile(join(dir, 'master.keys'));
  config = join(dir, 'rampart.yaml');
  await writeFile(
    config,
    `listeners: [{ port: 0 }]
data_dir: ./data
keyring: { master_keys_file: ./master.keys }
store: {}
routes:
  - { name: orders, paths: ["/orders"], public: true }
`,
  );
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function run(...args: string[]): Promise<string> {
  const program = new Command('rampart').exitOverride();
  registerConsumers(program);
  registerKeys(program);
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(['node', 'rampart', ...args, '--config', config]);
  } finally {
    vi.restoreAllMocks();
  }
  return out;
}

async function json<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return JSON.parse(await run(...args, '--json')) as T;
}

describe('durations', () => {
  it('parses 90s, 15m, 24h, 30d, 2w and ISO times; refuses anything else', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('30d')).toBe(2_592_000_000);
    expect(parseDuration('2w')).toBe(1_209_600_000);
    expect(parseDuration('0s')).toBe(0);
    for (const bad of ['', '5', '1.5h', '-1d', '1y', 'h']) expect(parseDuration(bad), bad).toBeNull();
    expect(parseExpiry('1h', 1000).getTime()).toBe(3_601_000);
    expect(parseExpiry('2030-01-31T00:00:00Z').toISOString()).toBe('2030-01-31T00:00:00.000Z');
    expect(() => parseExpiry('tomorrow')).toThrow(/neither a duration/);
  });
});

describe('rampart consumers / keys', () => {
  it('manages a consumer: create, list, show, update, disable, enable', async () => {
    const c = await json('consumers', 'create', 'alice', '--group', 'staff', '--group', 'ops', '--attr', 'tier=gold');
    expect(c).toMatchObject({
      name: 'alice',
      status: 'active',
      groups: ['staff', 'ops'],
      attributes: { tier: 'gold' },
    });
    await expect(run('consumers', 'create', 'alice')).rejects.toThrow(/already exists/);
    await expect(run('consumers', 'create', 'bad name')).rejects.toThrow(/not a valid consumer name/);

    expect(await run('consumers', 'list')).toMatch(/alice {2}active {2}groups: staff,ops/);
    const shown = await json('consumers', 'show', String(c.id));
    expect(shown).toMatchObject({ name: 'alice', credentials: [] });
    expect(await json('consumers', 'show', 'alice')).toMatchObject({ id: c.id });

    const u = await json(
      'consumers',
      'update',
      'alice',
      '--group',
      'admins',
      '--attr',
      'region=eu',
      '--unset-attr',
      'tier',
    );
    expect(u).toMatchObject({ groups: ['admins'], attributes: { region: 'eu' } });
    expect(await json('consumers', 'disable', 'alice')).toMatchObject({ status: 'disabled' });
    expect(await json<unknown[]>('consumers', 'list', '--status', 'disabled')).toHaveLength(1);
    expect(await json('consumers', 'enable', 'alice')).toMatchObject({ status: 'active' });
    await expect(run('consumers', 'show', 'nobody')).rejects.toThrow(/no consumer with id or name "nobody"/);
  });

  it('creates a key, printing it once; lists keys without it; rotates with grace; revokes; deletes', async () => {
    await json('consumers', 'create', 'bob');
    const text = await run('keys', 'create', 'bob', '--scope', 'orders:read', '--route', 'orders', '--expires', '30d');
    const key = /^(rmpk_\S+)$/m.exec(text)?.[1] ?? '';
    const parsed = parseApiKey(key);
    expect(parsed).not.toBeNull();
    expect(text).toMatch(/only time the key is shown/);

    // the store holds the keyed hash of exactly this key
    const services = await openServices(loadConfigFile(config).config, config, silentLogger);
    try {
      const cred = await services?.store.credentials.getByKeyId(parsed?.keyId ?? '');
      expect(cred).toMatchObject({ kind: 'api-key', scopes: ['orders:read'], routes: ['orders'] });
      expect(services?.keyring.verifyMac(CREDENTIAL_MAC_PURPOSE, key, cred?.secret_hash ?? '')).toBe(true);
      expect(cred?.secret_hash).not.toContain(key.slice(22));
      const lifetime = Date.parse(cred?.expires_at ?? '') - Date.now();
      expect(lifetime).toBeGreaterThan(29.9 * 86_400_000);
    } finally {
      await services?.close();
    }

    const listed = await run('keys', 'list', '--consumer', 'bob', '--json');
    const shown = await run('consumers', 'show', 'bob', '--json');
    for (const out of [listed, shown, await run('keys', 'list')]) {
      expect(out).toContain(parsed?.keyId);
      expect(out).not.toContain(key);
      expect(out).not.toContain(key.slice(22, 65));
    }
    const [k] = JSON.parse(listed) as { id: string; status: string; consumer: string }[];
    expect(k).toMatchObject({ status: 'active', consumer: 'bob' });

    const before = Date.now();
    const rotated = await json<{ key: string; credential: Record<string, unknown>; rotated: Record<string, unknown> }>(
      'keys',
      'rotate',
      `rmpk_${parsed?.keyId}`,
      '--grace',
      '1h',
    );
    expect(parseApiKey(rotated.key)).not.toBeNull();
    expect(rotated.key).not.toBe(key);
    expect(rotated.credential).toMatchObject({ scopes: ['orders:read'], routes: ['orders'], status: 'active' });
    // the new key gets the old one's lifetime (30 days) again, from now
    expect(Date.parse(String(rotated.credential.expires_at)) - before).toBeGreaterThan(29.9 * 86_400_000);
    const graceEnd = Date.parse(String(rotated.rotated.expires_at));
    expect(graceEnd - before).toBeGreaterThanOrEqual(3_600_000 - 5);
    expect(graceEnd - Date.now()).toBeLessThanOrEqual(3_600_000);
    expect(await json<unknown[]>('keys', 'list', '--consumer', 'bob')).toHaveLength(2);

    const revoked = await json('keys', 'revoke', String(rotated.credential.id));
    expect(revoked).toMatchObject({ revoked: rotated.credential.id });
    await expect(run('keys', 'revoke', String(rotated.credential.id))).rejects.toThrow(/already revoked/);
    await expect(run('keys', 'rotate', String(rotated.credential.id))).rejects.toThrow(/is revoked/);
    const statuses = (await json<{ id: string; status: string }[]>('keys', 'list', '--consumer', 'bob')).map(
      (x) => x.status,
    );
    expect(statuses.sort()).toEqual(['active', 'revoked']);

    expect(await json('keys', 'delete', k?.id ?? '')).toMatchObject({ deleted: k?.id });
    await expect(run('keys', 'delete', k?.id ?? '')).rejects.toThrow(/no API key/);
    expect(await json('consumers', 'delete', 'bob')).toMatchObject({ name: 'bob', credentials: 1 });
    expect(await json<unknown[]>('keys', 'list')).toHaveLength(0);
  });

  it('refuses bad input before touching the store', async () => {
    await json('consumers', 'create', 'carol');
    await expect(run('keys', 'create', 'carol', '--expires', '2001-01-01T00:00:00Z')).rejects.toThrow(/in the past/);
    await expect(run('keys', 'create', 'carol', '--scope', 'a b')).rejects.toThrow(/not a valid scope/);
    await expect(run('keys', 'create', 'nobody')).rejects.toThrow(/no consumer/);
    await expect(run('keys', 'rotate', 'x', '--grace', 'soon')).rejects.toThrow(/--grace "soon"/);
    expect(await json<unknown[]>('keys', 'list', '--consumer', 'carol')).toHaveLength(0);
  });
});
