import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrateStore, openStore } from './index.js';
import { SQLITE_FILE } from './kysely.js';
import { latestVersion } from './migrations.js';
import { runStoreSuite } from './store.suite.js';
import { TestCipher } from './test-cipher.js';

const dataDir = join(mkdtempSync(join(tmpdir(), 'rampart-store-')), 'data');
const cipher = new TestCipher();
const open = () => openStore({ kind: 'sqlite', dataDir }, cipher);

afterAll(() => rmSync(join(dataDir, '..'), { recursive: true, force: true }));

runStoreSuite(
  'sqlite',
  open,
  // What sits on disk: the database file and the write-ahead log (recent writes live only there until a checkpoint).
  async () => {
    const file = join(dataDir, SQLITE_FILE);
    const wal = `${file}-wal`;
    return Buffer.concat([
      readFileSync(file),
      ...(statSync(wal, { throwIfNoEntry: false }) ? [readFileSync(wal)] : []),
    ]);
  },
  { rotate: () => cipher.rotate() },
);

describe('store: sqlite files', () => {
  it('keeps the data directory 0700 and the database and its WAL 0600', async () => {
    const store = await open();
    try {
      await store.consumers.create({ name: `mode-${Date.now()}` });
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      for (const f of [SQLITE_FILE, `${SQLITE_FILE}-wal`, `${SQLITE_FILE}-shm`]) {
        expect(statSync(join(dataDir, f)).mode & 0o777, f).toBe(0o600);
      }
    } finally {
      await store.close();
    }
  });
});

describe('store: sqlite across processes', () => {
  it('waits for another process that holds the write lock, then migrates', async () => {
    const dir = join(dataDir, '..', 'locked');
    mkdirSync(dir, { mode: 0o700 });
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const db = require('better-sqlite3')(process.argv[1]);
         db.pragma('journal_mode = WAL');
         db.exec('begin immediate');
         process.stdout.write('locked\\n');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400);
         db.exec('commit');`,
        join(dir, SQLITE_FILE),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = once(holder, 'exit');
    await once(holder.stdout, 'data');
    const started = Date.now();
    const store = await openStore({ kind: 'sqlite', dataDir: dir }, cipher);
    try {
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      expect(await store.schemaVersion()).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
    const [code] = await exited;
    expect(code).toBe(0);
  });
});

describe('store: opening', () => {
  it('with migrate: false refuses a database that is behind, and opens it once migrated', async () => {
    const dir = join(dataDir, '..', 'deploy-step');
    await expect(openStore({ kind: 'sqlite', dataDir: dir }, cipher, { migrate: false })).rejects.toMatchObject({
      code: 'schema_version',
      message: /run "rampart migrate"/,
    });
    expect(await migrateStore({ kind: 'sqlite', dataDir: dir })).toEqual({ from: 0, to: latestVersion() });
    expect(await migrateStore({ kind: 'sqlite', dataDir: dir })).toEqual({
      from: latestVersion(),
      to: latestVersion(),
    });
    const store = await openStore({ kind: 'sqlite', dataDir: dir }, cipher, { migrate: false });
    await store.close();
  });

  it('makes the cipher from the key state when given a function (the keyring lives in the store)', async () => {
    const dir = join(dataDir, '..', 'keyring-in-store');
    const key = { purpose: 'store', version: 1, masterVersion: 1, wrapped: 'd3JhcHBlZA==', createdAt: 'now' };
    const store = await openStore({ kind: 'sqlite', dataDir: dir }, async (state) => {
      expect(await state.load()).toEqual([]);
      await state.save([key]);
      return cipher;
    });
    try {
      expect(await store.keyState().load()).toEqual([key]);
      const c = await store.consumers.create({ name: 'k' });
      await store.credentials.create({ consumer_id: c.id, kind: 'api-key', key_id: 'k', secret: 's' });
      expect((await store.credentials.getSecret((await store.credentials.getByKeyId('k'))!.id))?.toString()).toBe('s');
    } finally {
      await store.close();
    }
  });
});
