import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { EnvKeySource, Keyring } from '../crypto/index.js';
import { CREDENTIAL_MAC_PURPOSE } from '../services.js';
import { openStore, STORE_PURPOSE, type Store } from '../store/index.js';

/** For the authorization server's tests: a real store (SQLite in a temp dir, or a throwaway PostgreSQL schema). */
export const PG_URL = process.env.RAMPART_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestStore {
  store: Store;
  keyring: Keyring;
  /** The master key source, to open another keyring on the same state (another process, the CLI). */
  master: EnvKeySource;
  /** Another handle on the same database (a second worker or node). */
  reopen(): Promise<Store>;
  close(): Promise<void>;
}

export const silentLogger = pino({ level: 'silent' });

export async function openTestStore(kind: 'sqlite' | 'postgres'): Promise<TestStore> {
  const master = new EnvKeySource(randomBytes(32).toString('base64'));
  let keyring: Keyring | null = null;
  const dir = kind === 'sqlite' ? mkdtempSync(join(tmpdir(), 'rampart-authserver-')) : '';
  const schema = `rampart_as_${randomBytes(6).toString('hex')}`;
  const cfg = kind === 'sqlite' ? { kind, dataDir: dir } : { kind, url: PG_URL, schema };
  const open = () =>
    openStore(cfg, async (state) => {
      keyring ??= await Keyring.open({ source: master, state, purposes: [STORE_PURPOSE, CREDENTIAL_MAC_PURPOSE] });
      return keyring;
    });
  const store = await open();
  const handles: Store[] = [store];
  return {
    store,
    keyring: keyring as unknown as Keyring,
    master,
    reopen: async () => {
      const s = await open();
      handles.push(s);
      return s;
    },
    close: async () => {
      for (const h of handles) await h.close();
      if (kind === 'sqlite') rmSync(dir, { recursive: true, force: true });
      else {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        try {
          await c.query(`drop schema if exists ${schema} cascade`);
        } finally {
          await c.end();
        }
      }
    },
  };
}
