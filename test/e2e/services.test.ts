import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { openServices, type Services } from '../../src/services.js';
import { latestVersion } from '../../src/store/migrations.js';
import { freePort, killRampart, LogSink, spawnRampart, tmpFile } from '../helpers.js';

const SECRET = `sk_live_${randomBytes(12).toString('hex')}`;
const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

function config(extra: string, dataDir: string): string {
  return `
listeners: [{ port: 0 }]
metrics: { enabled: false }
data_dir: ${dataDir}
${extra}
`;
}

async function open(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<{ services: Services; logs: LogSink }> {
  const logs = new LogSink();
  const dir = mkdtempSync(join(tmpdir(), 'rampart-svc-'));
  const loaded = parseConfig(yaml, join(dir, 'rampart.yaml'), dir, { ...process.env, ...env });
  const services = await openServices(loaded.config, join(dir, 'rampart.yaml'), createLogger('info', logs));
  if (!services) throw new Error('no services');
  return { services, logs };
}

/** Stores a consumer and a credential carrying SECRET; returns the credential id. */
async function storeSecret(s: Services): Promise<string> {
  const c = await s.store.consumers.create({ name: `alice-${randomBytes(3).toString('hex')}` });
  const cred = await s.store.credentials.create({
    consumer_id: c.id,
    kind: 'api-key',
    key_id: `kid_${randomBytes(6).toString('hex')}`,
    secret: SECRET,
  });
  return cred.id;
}

describe('store and keyring opened by the gateway', () => {
  const toClose: Services[] = [];
  afterAll(async () => {
    for (const s of toClose) await s.close();
  });

  it('development: generates a 0600 master key, encrypts secrets in SQLite, survives master and data-key rotation', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rampart-data-'));
    const { services, logs } = await open(config('environment: development\nstore: {}', dataDir));
    toClose.push(services);
    expect(statSync(join(dataDir, 'master.keys')).mode & 0o777).toBe(0o600);
    expect(logs.lines.some((l) => String(l.msg).startsWith('DEVELOPMENT: generated a master key'))).toBe(true);

    const id = await storeSecret(services);
    expect((await services.store.credentials.getSecret(id))?.toString()).toBe(SECRET);
    const onDisk = () =>
      Buffer.concat(
        ['rampart.db', 'rampart.db-wal']
          .map((f) => join(dataDir, f))
          .filter((f) => existsSync(f))
          .map((f) => readFileSync(f)),
      ).toString('latin1');
    expect(onDisk()).not.toContain(SECRET);
    expect(onDisk()).toContain('alice-');

    // Master rotation while reads keep going: every read succeeds.
    let reads = 0;
    let failures = 0;
    let rotating = true;
    const reader = (async () => {
      while (rotating) {
        const v = await services.store.credentials.getSecret(id).catch(() => null);
        if (v?.toString() === SECRET) reads++;
        else failures++;
        // SQLite answers synchronously under its promise: yield so the rotation's file I/O can run.
        await new Promise((r) => setImmediate(r));
      }
    })();
    const r = await services.keyring.rotateMaster();
    rotating = false;
    await reader;
    expect(r.masterVersion).toBe(2);
    expect(failures).toBe(0);
    expect(reads).toBeGreaterThan(0);

    // A new data key: old ciphertexts still decrypt, then re-encryption moves them to the newest version.
    await services.keyring.rotateDataKey('store');
    expect((await services.store.credentials.getSecret(id))?.toString()).toBe(SECRET);
    expect(await services.store.reencryptStale()).toBeGreaterThan(0);
    expect(await services.store.reencryptStale()).toBe(0);
    expect((await services.store.credentials.getSecret(id))?.toString()).toBe(SECRET);
    expect(onDisk()).not.toContain(SECRET);
  });

  it('production: PostgreSQL with a master key from the environment; pg_dump holds no plaintext secret', async () => {
    const schema = `rampart_svc_${randomBytes(4).toString('hex')}`;
    const key = randomBytes(32).toString('base64');
    const { services } = await open(
      config(
        `keyring: { master_key: "\${env:TEST_MASTER_KEY}" }\nstore: { kind: postgres, url: "\${env:TEST_PG_URL}", schema: ${schema} }`,
        '/tmp',
      ),
      { TEST_MASTER_KEY: key, TEST_PG_URL: PG_URL },
    );
    try {
      const id = await storeSecret(services);
      expect((await services.store.credentials.getSecret(id))?.toString()).toBe(SECRET);
      const dump = execFileSync('pg_dump', [
        '-h',
        '127.0.0.1',
        '-U',
        'postgres',
        '--schema',
        schema,
        'test',
      ]).toString();
      expect(dump).toContain('alice-');
      expect(dump).not.toContain(SECRET);
      expect(dump).not.toContain(key);
    } finally {
      await services.close();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop schema ${schema} cascade`);
      await c.end();
    }
  });
});

describe('rampart reencrypt', () => {
  it('moves secrets under an older data key to the newest one, by command', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rampart-data-'));
    const file = tmpFile('rampart.yaml', config('environment: development\nstore: {}', dataDir));
    const dir = join(file, '..');
    const loaded = parseConfig(readFileSync(file, 'utf8'), file, dir);
    const services = await openServices(loaded.config, file, createLogger('silent'));
    if (!services) throw new Error('no services');
    const id = await storeSecret(services);
    await services.keyring.rotateDataKey('store');
    await services.close();

    const sp = spawnRampart(['reencrypt', '--config', file]);
    expect(await sp.exited).toBe(0);
    expect(sp.logs.map((l) => l.raw).join('\n')).toContain('re-encrypted 1 value(s)');

    const again = await openServices(loaded.config, file, createLogger('silent'));
    if (!again) throw new Error('no services');
    try {
      expect((await again.store.credentials.getSecret(id))?.toString()).toBe(SECRET);
      expect(await again.store.reencryptStale()).toBe(0);
    } finally {
      await again.close();
    }
  });
});

describe('rampart keyring --config', () => {
  it("rotates the master key of the gateway's own store and master key file; secrets stay readable", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rampart-data-'));
    const file = tmpFile('rampart.yaml', config('environment: development\nstore: {}', dataDir));
    const loaded = parseConfig(readFileSync(file, 'utf8'), file, join(file, '..'));
    const first = await openServices(loaded.config, file, createLogger('silent'));
    if (!first) throw new Error('no services');
    const id = await storeSecret(first);
    await first.close();

    const rotate = spawnRampart(['keyring', 'rotate', '--config', file]);
    expect(await rotate.exited).toBe(0);
    expect(rotate.logs.map((l) => l.raw).join('\n')).toMatch(/version 1 → 2/);
    const status = spawnRampart(['keyring', 'status', '--config', file]);
    expect(await status.exited).toBe(0);
    expect(status.logs.map((l) => l.raw).join('\n')).toMatch(/store: newest 1; v1 under master 2/);

    const after = await openServices(loaded.config, file, createLogger('silent'));
    if (!after) throw new Error('no services');
    try {
      expect((await after.store.credentials.getSecret(id))?.toString()).toBe(SECRET);
    } finally {
      await after.close();
    }
  });
});

describe('rampart start with a store', () => {
  it('refuses to start in production without a master key', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rampart-data-'));
    const file = tmpFile('rampart.yaml', config('store: {}', dataDir).replace('port: 0', `port: ${await freePort()}`));
    const sp = spawnRampart(['start', '--config', file, '--workers', '1']);
    expect(await sp.exited).toBe(1);
    expect(sp.stderr.join('')).toMatch(/no master key/);
    expect(existsSync(join(dataDir, 'rampart.db'))).toBe(false);
  });

  it('starts in production with a master key from the environment, migrating the store first', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rampart-data-'));
    const port = await freePort();
    const file = tmpFile(
      'rampart.yaml',
      config('keyring: { master_key: "${env:RAMPART_MASTER_KEY}" }\nstore: {}', dataDir).replace(
        'port: 0',
        `port: ${port}`,
      ),
    );
    const sp = spawnRampart(['start', '--config', file, '--workers', '1'], {
      RAMPART_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    try {
      const open = await sp.waitFor((l) => l.msg === 'store open');
      expect(open.schema_version).toBe(latestVersion());
      await sp.waitFor((l) => l.msg === 'listening');
      expect(statSync(join(dataDir, 'rampart.db')).mode & 0o777).toBe(0o600);
      sp.proc.kill('SIGTERM');
      expect(await sp.exited).toBe(0);
    } finally {
      await killRampart(sp);
    }
  });
});
