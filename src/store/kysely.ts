import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';

/** Row shapes as stored: JSON as text and timestamps as ISO text in both dialects, so one mapping serves both. */
export interface Database {
  schema_migrations: { version: number; name: string; applied_at: string };
  consumers: {
    id: string;
    name: string;
    status: string;
    groups: string;
    attributes: string;
    created_at: string;
    updated_at: string;
  };
  credentials: {
    id: string;
    consumer_id: string;
    kind: string;
    key_id: string;
    secret_hash: string | null;
    secret_enc: string | null;
    scopes: string;
    routes: string;
    expires_at: string | null;
    revoked_at: string | null;
    last_used_at: string | null;
    created_at: string;
  };
  oauth_clients: {
    client_id: string;
    consumer_id: string;
    secret_enc: string | null;
    grant_types: string;
    scopes: string;
    created_at: string;
    /** Migration 2. */
    secret_hash: string | null;
    jwks: string | null;
  };
  oauth_payloads: {
    model: string;
    id: string;
    payload: string;
    grant_id: string | null;
    user_code: string | null;
    uid: string | null;
    expires_at: string | null;
    consumed_at: string | null;
  };
  signing_keys: {
    kid: string;
    alg: string;
    public_jwk: string;
    private_jwk_enc: string;
    status: string;
    created_at: string;
  };
  ownership: {
    resource_type: string;
    resource_id: string;
    owner_id: string;
    tenant: string | null;
    created_at: string;
  };
  keyring_keys: { purpose: string; version: number; master_version: number; wrapped: string; created_at: string };
  /** Migration 3. */
  vault_tokens: { token: string; kind: string; value_enc: string; created_at: string; expires_at: string | null };
}

export type StoreConfig = { kind: 'sqlite'; dataDir: string } | { kind: 'postgres'; url: string; schema?: string };

export type Dialect = StoreConfig['kind'];

export const SQLITE_FILE = 'rampart.db';

/** A plain lower-case identifier: it goes into search_path and CREATE SCHEMA, so nothing that needs quoting. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface DbHandle {
  db: Kysely<Database>;
  /** Closes the connection(s), or for a shared SQLite connection drops this handle's reference. */
  release(): Promise<void>;
}

export function createDb(cfg: StoreConfig): DbHandle {
  if (cfg.kind === 'postgres') {
    const db = postgresDb(cfg.url, cfg.schema);
    return { db, release: () => db.destroy() };
  }
  return sqliteHandle(cfg.dataDir);
}

/**
 * One SQLite connection per file per process. better-sqlite3 is synchronous: a second connection in the same
 * process that waits for the write lock (busy_timeout) blocks the very thread that must commit to release it,
 * and both fail with "database is locked". Sharing the connection makes Kysely's connection mutex queue them.
 * Separate processes (workers) each have their own connection and wait on each other as SQLite intends.
 */
const sqliteHandles = new Map<string, { db: Kysely<Database>; refs: number }>();

function sqliteHandle(dataDir: string): DbHandle {
  const file = resolve(dataDir, SQLITE_FILE);
  let entry = sqliteHandles.get(file);
  if (!entry) {
    entry = { db: sqliteDb(dataDir, file), refs: 0 };
    sqliteHandles.set(file, entry);
  }
  entry.refs++;
  const shared = entry;
  let released = false;
  return {
    db: shared.db,
    release: async () => {
      if (released) return;
      released = true;
      if (--shared.refs > 0) return;
      sqliteHandles.delete(file);
      await shared.db.destroy();
    },
  };
}

function sqliteDb(dataDir: string, file: string): Kysely<Database> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Create the file 0600 before SQLite opens it, and tighten one made by hand: it holds hashes and ciphertexts.
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
  // SQLite gives -wal and -shm the database file's mode; the 077 umask covers anything it creates otherwise.
  // process.umask cannot be set in worker threads; there the file modes above are what protects the files.
  const umask = trySetUmask(0o077);
  let database: SqliteDatabase.Database | undefined;
  try {
    database = new SqliteDatabase(file);
    // Several worker processes share the file; wait for the writer instead of failing with SQLITE_BUSY.
    database.pragma('busy_timeout = 5000');
    database.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a power cut may lose the last transactions but never corrupts the database.
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
  } catch (e) {
    database?.close();
    throw e;
  } finally {
    if (umask !== undefined) process.umask(umask);
  }
  return new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
}

function trySetUmask(mask: number): number | undefined {
  try {
    return process.umask(mask);
  } catch {
    return undefined;
  }
}

function postgresDb(url: string, schema: string | undefined): Kysely<Database> {
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(`store: PostgreSQL schema "${schema}" must match ${SCHEMA_NAME}`);
  }
  const pool = new pg.Pool({ connectionString: url });
  // An idle connection that drops emits 'error' on the pool, which would otherwise crash the process; the pool
  // discards that connection by itself and queries on a live one report their own errors.
  pool.on('error', () => {});
  return new Kysely<Database>({
    dialect: new PostgresDialect({
      pool,
      onCreateConnection: async (conn) => {
        if (schema) await conn.executeQuery(CompiledQuery.raw(`set search_path to ${schema}`));
      },
    }),
  });
}

/** Creates the configured PostgreSQL schema when missing (checked first: CREATE needs a privilege we may lack). */
export async function ensureSchema(db: Kysely<Database>, schema: string): Promise<void> {
  const found = await sql<{ one: number }>`select 1 as one from pg_namespace where nspname = ${schema}`.execute(db);
  if (found.rows.length === 0) await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
}

/**
 * Runs `fn` in a write transaction on one connection. SQLite takes the write lock up front (BEGIN IMMEDIATE): a
 * deferred transaction that reads first fails with SQLITE_BUSY, busy_timeout or not, when another process wrote
 * in between. Kysely's own transaction() begins deferred.
 */
export function writeTransaction<T>(
  db: Kysely<Database>,
  dialect: Dialect,
  fn: (tx: Kysely<Database>) => Promise<T>,
): Promise<T> {
  return db.connection().execute(async (tx) => {
    await sql.raw(dialect === 'sqlite' ? 'begin immediate' : 'begin').execute(tx);
    try {
      const result = await fn(tx);
      await sql`commit`.execute(tx);
      return result;
    } catch (e) {
      await sql`rollback`.execute(tx).catch(() => {});
      throw e;
    }
  });
}
