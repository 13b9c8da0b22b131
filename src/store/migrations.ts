import { type Kysely, sql } from 'kysely';
import { type Database, type Dialect, writeTransaction } from './kysely.js';
import { StoreError } from './types.js';

/**
 * Versioned, forward-only migrations, written once for both dialects with Kysely's schema builder: JSON and
 * timestamps are text everywhere (ISO-8601 UTC, so they sort as text). Never edit a shipped migration; add one.
 * Columns ending in `_enc` hold FieldCipher ciphertexts and nothing else.
 */
export interface Migration {
  version: number;
  name: string;
  up(db: Kysely<Database>, dialect: Dialect): Promise<void>;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'consumers, credentials, oauth clients, signing keys, ownership, keyring keys',
    async up(db) {
      await db.schema
        .createTable('consumers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('active', 'disabled')`))
        .addColumn('groups', 'text', (c) => c.notNull())
        .addColumn('attributes', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('credentials')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // A consumer's credentials go with it: a deleted consumer must not keep working keys.
        .addColumn('consumer_id', 'text', (c) => c.notNull().references('consumers.id').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull().unique())
        .addColumn('secret_hash', 'text')
        .addColumn('secret_enc', 'text')
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('routes', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('revoked_at', 'text')
        .addColumn('last_used_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('credentials_consumer_idx').on('credentials').column('consumer_id').execute();

      await db.schema
        .createTable('oauth_clients')
        .addColumn('client_id', 'text', (c) => c.primaryKey())
        .addColumn('consumer_id', 'text', (c) => c.notNull().references('consumers.id').onDelete('cascade'))
        .addColumn('secret_enc', 'text')
        .addColumn('grant_types', 'text', (c) => c.notNull())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('oauth_clients_consumer_idx').on('oauth_clients').column('consumer_id').execute();

      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('private_jwk_enc', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('active', 'retired')`))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      // No foreign key on owner_id: owners may be subjects from an identity provider, not local consumers.
      await db.schema
        .createTable('ownership')
        .addColumn('resource_type', 'text', (c) => c.notNull())
        .addColumn('resource_id', 'text', (c) => c.notNull())
        .addColumn('owner_id', 'text', (c) => c.notNull())
        .addColumn('tenant', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('ownership_pk', ['resource_type', 'resource_id'])
        .execute();
      await db.schema.createIndex('ownership_owner_idx').on('ownership').column('owner_id').execute();

      await db.schema
        .createTable('keyring_keys')
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('master_version', 'integer', (c) => c.notNull())
        .addColumn('wrapped', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('keyring_keys_pk', ['purpose', 'version'])
        .execute();
    },
  },
  {
    version: 2,
    name: 'built-in authorization server: hashed client secrets, client public keys, oauth_payloads',
    async up(db) {
      // A keyed hash (keyring.mac) of the client secret: the token endpoint only needs to recognise it.
      await db.schema.alterTable('oauth_clients').addColumn('secret_hash', 'text').execute();
      // The client's public JWKS (JSON) for private_key_jwt.
      await db.schema.alterTable('oauth_clients').addColumn('jwks', 'text').execute();

      // oidc-provider's models (issued tokens, replay-detection ids, ...) shared by every worker and node.
      await db.schema
        .createTable('oauth_payloads')
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('grant_id', 'text')
        .addColumn('user_code', 'text')
        .addColumn('uid', 'text')
        .addColumn('expires_at', 'text')
        .addColumn('consumed_at', 'text')
        .addPrimaryKeyConstraint('oauth_payloads_pk', ['model', 'id'])
        .execute();
      await db.schema.createIndex('oauth_payloads_grant_idx').on('oauth_payloads').column('grant_id').execute();
      await db.schema.createIndex('oauth_payloads_expires_idx').on('oauth_payloads').column('expires_at').execute();
      await db.schema
        .createIndex('oauth_payloads_user_code_idx')
        .on('oauth_payloads')
        .columns(['model', 'user_code'])
        .execute();
      await db.schema.createIndex('oauth_payloads_uid_idx').on('oauth_payloads').columns(['model', 'uid']).execute();
    },
  },
  {
    version: 3,
    name: 'token vault of the tokenize policy',
    async up(db) {
      // value_enc: a FieldCipher ciphertext bound to the token (aad), so a value copied to another token fails.
      await db.schema
        .createTable('vault_tokens')
        .addColumn('token', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('value_enc', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .execute();
      await db.schema.createIndex('vault_tokens_expires_idx').on('vault_tokens').column('expires_at').execute();
    },
  },
];

export function latestVersion(migrations: readonly Migration[] = MIGRATIONS): number {
  return migrations.at(-1)?.version ?? 0;
}

/** The applied version, 0 for an empty database. */
export async function schemaVersion(db: Kysely<Database>): Promise<number> {
  const found = await db
    .selectFrom('schema_migrations')
    .select((eb) => eb.fn.max('version').as('v'))
    .executeTakeFirst()
    .catch((e: unknown) => {
      if (isMissingTable(e)) return undefined;
      throw e;
    });
  return Number(found?.v ?? 0);
}

function isMissingTable(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err.code === '42P01' || /no such table/.test(err.message ?? '');
}

export function newerSchemaError(found: number, known: number): StoreError {
  return new StoreError(
    'schema_version',
    `store schema is at version ${found}, newer than this Rampart knows (${known}): upgrade Rampart, or restore a backup taken before the upgrade`,
  );
}

/**
 * Applies every migration above the database's version, all in one transaction, and returns the new version.
 * Concurrent runs (workers, cluster nodes starting together) serialise on a lock; the later ones find nothing
 * to do. A database newer than this code is refused rather than used with a schema we do not understand.
 */
export async function migrate(
  db: Kysely<Database>,
  dialect: Dialect,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number> {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`store: migration ${m.name} has version ${m.version}, expected ${i + 1}`);
  });
  const known = latestVersion(migrations);
  return writeTransaction(db, dialect, async (tx) => {
    // SQLite's BEGIN IMMEDIATE already excludes other writers; PostgreSQL needs a lock that spans the DDL below.
    // Keyed by schema, so installs in different schemas of one database do not wait for each other.
    if (dialect === 'postgres') {
      await sql`select pg_advisory_xact_lock(hashtext('rampart.migrate.' || current_schema()))`.execute(tx);
    }
    await tx.schema
      .createTable('schema_migrations')
      .ifNotExists()
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('applied_at', 'text', (c) => c.notNull())
      .execute();
    const current = await schemaVersion(tx);
    if (current > known) throw newerSchemaError(current, known);
    for (const m of migrations.slice(current)) {
      await m.up(tx, dialect);
      await tx
        .insertInto('schema_migrations')
        .values({ version: m.version, name: m.name, applied_at: new Date().toISOString() })
        .execute();
    }
    return Math.max(current, known);
  });
}
