import type { FieldCipher, KeyStateStore } from '../crypto/types.js';
import { createDb, ensureSchema, type StoreConfig } from './kysely.js';
import { latestVersion, migrate, newerSchemaError, schemaVersion } from './migrations.js';
import { keyStateStore, SqlStore } from './sql-store.js';
import { type Store, StoreError } from './types.js';

export type { StoreConfig } from './kysely.js';
export { PURPOSE as STORE_PURPOSE, SECRET_COLUMNS } from './sql-store.js';
export * from './types.js';

export interface OpenOptions {
  /**
   * Apply pending migrations while opening (the default). A cluster that migrates in a deploy step
   * (`rampart migrate`) passes false; the store then refuses a database at any other version than this code's.
   */
  migrate?: boolean;
}

/**
 * The cipher, or a function that makes it from the store's key state: the keyring keeps its wrapped data keys in
 * this store, so it can only open once the store is migrated, e.g.
 * `openStore(cfg, (state) => Keyring.open({ source, state, purposes: [STORE_PURPOSE] }))`.
 */
export type CipherInput = FieldCipher | ((keyState: KeyStateStore) => Promise<FieldCipher>);

/** Opens, and by default migrates, the store. Fails when the database is newer than this code. */
export async function openStore(cfg: StoreConfig, cipher: CipherInput, opts: OpenOptions = {}): Promise<Store> {
  const { db, release } = createDb(cfg);
  try {
    if (cfg.kind === 'postgres' && cfg.schema) await ensureSchema(db, cfg.schema);
    if (opts.migrate ?? true) await migrate(db, cfg.kind);
    else {
      const found = await schemaVersion(db);
      const known = latestVersion();
      if (found > known) throw newerSchemaError(found, known);
      if (found < known) {
        throw new StoreError(
          'schema_version',
          `store schema is at version ${found}, this Rampart needs ${known}: run "rampart migrate"`,
        );
      }
    }
    const fieldCipher = typeof cipher === 'function' ? await cipher(keyStateStore(db, cfg.kind)) : cipher;
    return new SqlStore(db, cfg.kind, fieldCipher, release);
  } catch (e) {
    await release().catch(() => {});
    throw e;
  }
}

/** Migrates without opening a store (`rampart migrate`): needs no keyring, since migrations touch no secret. */
export async function migrateStore(cfg: StoreConfig): Promise<{ from: number; to: number }> {
  const { db, release } = createDb(cfg);
  try {
    if (cfg.kind === 'postgres' && cfg.schema) await ensureSchema(db, cfg.schema);
    const from = await schemaVersion(db);
    return { from, to: await migrate(db, cfg.kind) };
  } finally {
    await release();
  }
}
