import { randomUUID } from 'node:crypto';
import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import { aadFor, type FieldCipher, type KeyStateStore } from '../crypto/types.js';
import { type Database, type Dialect, writeTransaction } from './kysely.js';
import { migrate, schemaVersion } from './migrations.js';
import {
  type Consumer,
  type ConsumerRepo,
  type ConsumerStatus,
  type Credential,
  type CredentialKind,
  type CredentialRepo,
  type JsonObject,
  type OAuthClient,
  type OAuthClientRepo,
  type OAuthPayload,
  type OAuthPayloadRepo,
  type OwnershipRecord,
  type OwnershipRepo,
  type Secret,
  type SigningKey,
  type SigningKeyRepo,
  type SigningKeyStatus,
  type Store,
  StoreError,
  type TimeInput,
  type TokenVaultRepo,
  type VaultToken,
} from './types.js';

/** The FieldCipher purpose of every store column: one data key for the store, rotated as one. */
export const PURPOSE = 'store';

/**
 * Every encrypted column, and the only ones. The aad names the entity field rather than the physical column, so a
 * later column rename does not invalidate ciphertexts; the row id in it makes a ciphertext copied to another row
 * fail to decrypt.
 */
export const SECRET_COLUMNS = [
  { table: 'credentials', id: 'id', column: 'secret_enc', field: 'secret' },
  { table: 'oauth_clients', id: 'client_id', column: 'secret_enc', field: 'secret' },
  { table: 'signing_keys', id: 'kid', column: 'private_jwk_enc', field: 'private_jwk' },
  { table: 'vault_tokens', id: 'token', column: 'value_enc', field: 'value' },
] as const;

const CONSUMER_STATUS: readonly ConsumerStatus[] = ['active', 'disabled'];
const CREDENTIAL_KINDS: readonly CredentialKind[] = ['api-key', 'client-secret', 'mtls', 'basic', 'hmac'];
const KEY_STATUS: readonly SigningKeyStatus[] = ['active', 'retired'];
/** Ids per touchLastUsed statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const TOUCH_CHUNK = 500;

export class SqlStore implements Store {
  readonly consumers: ConsumerRepo;
  readonly credentials: CredentialRepo;
  readonly clients: OAuthClientRepo;
  readonly signingKeys: SigningKeyRepo;
  readonly ownership: OwnershipRepo;
  readonly oauthPayloads: OAuthPayloadRepo;
  readonly tokens: TokenVaultRepo;

  constructor(
    /** For the store's own tests and migrations; everything else goes through the repositories. */
    readonly db: Kysely<Database>,
    readonly kind: Dialect,
    private readonly cipher: FieldCipher,
    private readonly release: () => Promise<void> = () => db.destroy(),
  ) {
    this.consumers = consumerRepo(db, kind);
    this.credentials = credentialRepo(db, this.crypt);
    this.clients = clientRepo(db, this.crypt);
    this.signingKeys = signingKeyRepo(db, this.crypt);
    this.ownership = ownershipRepo(db);
    this.oauthPayloads = oauthPayloadRepo(db);
    this.tokens = tokenVaultRepo(db, this.crypt);
  }

  private readonly crypt: Crypt = {
    encrypt: (table, field, id, value) => this.cipher.encrypt(PURPOSE, value, aadFor(table, field, id)),
    decrypt: (table, field, id, ciphertext) => {
      try {
        return this.cipher.decrypt(PURPOSE, ciphertext, aadFor(table, field, id));
      } catch (e) {
        // This one says where to look; the cipher's error stays as the cause (it names no secret either), so a
        // caller can tell an unknown key version (another node rotated: reload the keyring) from tampering.
        throw new StoreError(
          'undecryptable',
          `${table}.${field} of "${id}" does not decrypt: wrong key, tampered, or copied from another row`,
          { cause: e },
        );
      }
    },
  };

  keyState(): KeyStateStore {
    return keyStateStore(this.db, this.kind);
  }

  migrate(): Promise<number> {
    return migrate(this.db, this.kind);
  }

  schemaVersion(): Promise<number> {
    return schemaVersion(this.db);
  }

  async reencryptStale(): Promise<number> {
    let count = 0;
    for (const { table, id, column, field } of SECRET_COLUMNS) {
      const rows = await sql<{ id: string; ct: string }>`select ${sql.ref(id)} as id, ${sql.ref(column)} as ct
        from ${sql.table(table)} where ${sql.ref(column)} is not null`.execute(this.db);
      for (const row of rows.rows) {
        if (!this.cipher.isStale(PURPOSE, row.ct)) continue;
        const plain = this.crypt.decrypt(table, field, row.id, row.ct);
        const next = this.crypt.encrypt(table, field, row.id, plain);
        plain.fill(0);
        // Compare-and-set: a node that re-encrypted (or a caller that replaced) the secret meanwhile wins.
        const res = await sql`update ${sql.table(table)} set ${sql.ref(column)} = ${next}
          where ${sql.ref(id)} = ${row.id} and ${sql.ref(column)} = ${row.ct}`.execute(this.db);
        count += Number(res.numAffectedRows ?? 0n);
      }
    }
    return count;
  }

  close(): Promise<void> {
    return this.release();
  }
}

/** Backs the keyring's state with the `keyring_keys` table; usable before a cipher exists (the keyring needs it). */
export function keyStateStore(db: Kysely<Database>, kind: Dialect): KeyStateStore {
  return {
    async load() {
      const rows = await db.selectFrom('keyring_keys').selectAll().orderBy('purpose').orderBy('version').execute();
      return rows.map((r) => ({
        purpose: r.purpose,
        version: Number(r.version),
        masterVersion: Number(r.master_version),
        wrapped: r.wrapped,
        createdAt: r.created_at,
      }));
    },
    async save(keys) {
      await writeTransaction(db, kind, async (tx) => {
        // Readers keep reading the old set until commit; a second saver waits instead of interleaving.
        if (kind === 'postgres') await sql`lock table keyring_keys in exclusive mode`.execute(tx);
        await tx.deleteFrom('keyring_keys').execute();
        if (keys.length === 0) return;
        const rows = keys.map((k) => ({
          purpose: k.purpose,
          version: k.version,
          master_version: k.masterVersion,
          wrapped: k.wrapped,
          created_at: k.createdAt,
        }));
        await guard('keyring_keys', {}, tx.insertInto('keyring_keys').values(rows).execute());
      });
    },
  };
}

interface Crypt {
  encrypt(table: string, field: string, id: string, value: Secret): string;
  decrypt(table: string, field: string, id: string, ciphertext: string): Buffer;
}

function consumerRepo(db: Kysely<Database>, dialect: Dialect): ConsumerRepo {
  type Row = Database['consumers'];
  const from = (r: Row): Consumer => ({
    id: r.id,
    name: r.name,
    status: r.status as ConsumerStatus,
    groups: JSON.parse(r.groups) as string[],
    attributes: JSON.parse(r.attributes) as JsonObject,
    created_at: r.created_at,
    updated_at: r.updated_at,
  });
  // JSON is text in both dialects; membership needs each one's JSON functions.
  const inGroup = (group: string): Expression<SqlBool> =>
    dialect === 'sqlite'
      ? sql<SqlBool>`exists (select 1 from json_each(consumers.groups) where json_each.value = ${group})`
      : sql<SqlBool>`consumers.groups::jsonb ? ${group}`;

  return {
    async create(c) {
      const t = now();
      const row: Row = {
        id: c.id ?? randomUUID(),
        name: c.name,
        status: oneOf('consumers.status', c.status ?? 'active', CONSUMER_STATUS),
        groups: JSON.stringify(c.groups ?? []),
        attributes: JSON.stringify(c.attributes ?? {}),
        created_at: t,
        updated_at: t,
      };
      await guard('consumers', { id: row.id, name: row.name }, db.insertInto('consumers').values(row).execute());
      return from(row);
    },
    async get(id) {
      const r = await db.selectFrom('consumers').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? from(r) : null;
    },
    async getByName(name) {
      const r = await db.selectFrom('consumers').selectAll().where('name', '=', name).executeTakeFirst();
      return r ? from(r) : null;
    },
    async list(f = {}) {
      let q = db.selectFrom('consumers').selectAll().orderBy('id').limit(limitOf(f.limit));
      if (f.status) q = q.where('status', '=', f.status);
      if (f.group !== undefined) q = q.where(inGroup(f.group));
      if (f.after !== undefined) q = q.where('id', '>', f.after);
      return (await q.execute()).map(from);
    },
    async update(id, p) {
      const set: Partial<Row> = { updated_at: now() };
      if (p.name !== undefined) set.name = p.name;
      if (p.status !== undefined) set.status = oneOf('consumers.status', p.status, CONSUMER_STATUS);
      if (p.groups !== undefined) set.groups = JSON.stringify(p.groups);
      if (p.attributes !== undefined) set.attributes = JSON.stringify(p.attributes);
      const q = db.updateTable('consumers').set(set).where('id', '=', id).returningAll().executeTakeFirst();
      const r = await guard('consumers', { name: p.name }, q);
      return r ? from(r) : null;
    },
    async delete(id) {
      const r = await db.deleteFrom('consumers').where('id', '=', id).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
  };
}

function credentialRepo(db: Kysely<Database>, crypt: Crypt): CredentialRepo {
  type Row = Database['credentials'];
  const from = ({ secret_enc, ...r }: Row): Credential => ({
    ...r,
    kind: r.kind as CredentialKind,
    has_secret: secret_enc !== null,
    scopes: JSON.parse(r.scopes) as string[],
    routes: JSON.parse(r.routes) as string[],
  });
  const seal = (id: string, s: Secret | null | undefined) =>
    s == null ? null : crypt.encrypt('credentials', 'secret', id, s);

  const repo: CredentialRepo = {
    async create(c) {
      const id = c.id ?? randomUUID();
      const row: Row = {
        id,
        consumer_id: c.consumer_id,
        kind: oneOf('credentials.kind', c.kind, CREDENTIAL_KINDS),
        key_id: c.key_id,
        secret_hash: c.secret_hash ?? null,
        secret_enc: seal(id, c.secret),
        scopes: JSON.stringify(c.scopes ?? []),
        routes: JSON.stringify(c.routes ?? []),
        expires_at: c.expires_at == null ? null : ts(c.expires_at),
        revoked_at: null,
        last_used_at: null,
        created_at: now(),
      };
      await guard(
        'credentials',
        { id, key_id: c.key_id, consumer_id: c.consumer_id },
        db.insertInto('credentials').values(row).execute(),
      );
      return from(row);
    },
    async get(id) {
      const r = await db.selectFrom('credentials').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? from(r) : null;
    },
    async getByKeyId(keyId) {
      const r = await db.selectFrom('credentials').selectAll().where('key_id', '=', keyId).executeTakeFirst();
      return r ? from(r) : null;
    },
    async list(f = {}) {
      let q = db.selectFrom('credentials').selectAll().orderBy('id').limit(limitOf(f.limit));
      if (f.consumer_id !== undefined) q = q.where('consumer_id', '=', f.consumer_id);
      if (f.kind !== undefined) q = q.where('kind', '=', f.kind);
      if (f.after !== undefined) q = q.where('id', '>', f.after);
      if (f.active !== undefined) {
        const t = now();
        q = q.where((eb) => {
          const usable = eb.and([
            eb('revoked_at', 'is', null),
            eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', t)]),
          ]);
          return f.active ? usable : eb.not(usable);
        });
      }
      return (await q.execute()).map(from);
    },
    async update(id, p) {
      const set: Partial<Row> = {};
      if (p.scopes !== undefined) set.scopes = JSON.stringify(p.scopes);
      if (p.routes !== undefined) set.routes = JSON.stringify(p.routes);
      if (p.expires_at !== undefined) set.expires_at = p.expires_at === null ? null : ts(p.expires_at);
      if (p.secret !== undefined) set.secret_enc = seal(id, p.secret);
      if (Object.keys(set).length === 0) return repo.get(id);
      const r = await db.updateTable('credentials').set(set).where('id', '=', id).returningAll().executeTakeFirst();
      return r ? from(r) : null;
    },
    async revoke(id, at = new Date()) {
      const r = await db
        .updateTable('credentials')
        .set({ revoked_at: ts(at) })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
    async delete(id) {
      const r = await db.deleteFrom('credentials').where('id', '=', id).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
    async touchLastUsed(ids, at) {
      const t = ts(at);
      const unique = [...new Set(ids)];
      for (let i = 0; i < unique.length; i += TOUCH_CHUNK) {
        await db
          .updateTable('credentials')
          .set({ last_used_at: t })
          .where('id', 'in', unique.slice(i, i + TOUCH_CHUNK))
          .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', t)]))
          .execute();
      }
    },
    async getSecret(id) {
      const r = await db.selectFrom('credentials').select('secret_enc').where('id', '=', id).executeTakeFirst();
      return r?.secret_enc ? crypt.decrypt('credentials', 'secret', id, r.secret_enc) : null;
    },
  };
  return repo;
}

function clientRepo(db: Kysely<Database>, crypt: Crypt): OAuthClientRepo {
  type Row = Database['oauth_clients'];
  const from = ({ secret_enc, ...r }: Row): OAuthClient => ({
    ...r,
    has_secret: secret_enc !== null,
    jwks: r.jwks === null ? null : (JSON.parse(r.jwks) as JsonObject),
    grant_types: JSON.parse(r.grant_types) as string[],
    scopes: JSON.parse(r.scopes) as string[],
  });
  const seal = (id: string, s: Secret | null | undefined) =>
    s == null ? null : crypt.encrypt('oauth_clients', 'secret', id, s);

  const repo: OAuthClientRepo = {
    async create(c) {
      const id = c.client_id ?? randomUUID();
      const row: Row = {
        client_id: id,
        consumer_id: c.consumer_id,
        secret_enc: seal(id, c.secret),
        grant_types: JSON.stringify(c.grant_types ?? []),
        scopes: JSON.stringify(c.scopes ?? []),
        created_at: now(),
        secret_hash: c.secret_hash ?? null,
        jwks: c.jwks == null ? null : JSON.stringify(c.jwks),
      };
      await guard(
        'oauth_clients',
        { client_id: id, consumer_id: c.consumer_id },
        db.insertInto('oauth_clients').values(row).execute(),
      );
      return from(row);
    },
    async get(clientId) {
      const r = await db.selectFrom('oauth_clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();
      return r ? from(r) : null;
    },
    async list(f = {}) {
      let q = db.selectFrom('oauth_clients').selectAll().orderBy('client_id').limit(limitOf(f.limit));
      if (f.consumer_id !== undefined) q = q.where('consumer_id', '=', f.consumer_id);
      if (f.after !== undefined) q = q.where('client_id', '>', f.after);
      return (await q.execute()).map(from);
    },
    async update(clientId, p) {
      const set: Partial<Row> = {};
      if (p.grant_types !== undefined) set.grant_types = JSON.stringify(p.grant_types);
      if (p.scopes !== undefined) set.scopes = JSON.stringify(p.scopes);
      if (p.secret !== undefined) set.secret_enc = seal(clientId, p.secret);
      if (p.secret_hash !== undefined) set.secret_hash = p.secret_hash;
      if (p.jwks !== undefined) set.jwks = p.jwks === null ? null : JSON.stringify(p.jwks);
      if (Object.keys(set).length === 0) return repo.get(clientId);
      const r = await db
        .updateTable('oauth_clients')
        .set(set)
        .where('client_id', '=', clientId)
        .returningAll()
        .executeTakeFirst();
      return r ? from(r) : null;
    },
    async delete(clientId) {
      const r = await db.deleteFrom('oauth_clients').where('client_id', '=', clientId).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
    async getSecret(clientId) {
      const r = await db
        .selectFrom('oauth_clients')
        .select('secret_enc')
        .where('client_id', '=', clientId)
        .executeTakeFirst();
      return r?.secret_enc ? crypt.decrypt('oauth_clients', 'secret', clientId, r.secret_enc) : null;
    },
  };
  return repo;
}

function signingKeyRepo(db: Kysely<Database>, crypt: Crypt): SigningKeyRepo {
  type Row = Database['signing_keys'];
  const from = ({ private_jwk_enc: _, ...r }: Row): SigningKey => ({
    ...r,
    status: r.status as SigningKeyStatus,
    public_jwk: JSON.parse(r.public_jwk) as JsonObject,
  });

  return {
    async create(k) {
      const kid = k.kid ?? randomUUID();
      const row: Row = {
        kid,
        alg: k.alg,
        public_jwk: JSON.stringify(k.public_jwk),
        private_jwk_enc: crypt.encrypt('signing_keys', 'private_jwk', kid, JSON.stringify(k.private_jwk)),
        status: oneOf('signing_keys.status', k.status ?? 'active', KEY_STATUS),
        created_at: now(),
      };
      await guard('signing_keys', { kid }, db.insertInto('signing_keys').values(row).execute());
      return from(row);
    },
    async get(kid) {
      const r = await db.selectFrom('signing_keys').selectAll().where('kid', '=', kid).executeTakeFirst();
      return r ? from(r) : null;
    },
    async list(f = {}) {
      let q = db.selectFrom('signing_keys').selectAll().orderBy('kid').limit(limitOf(f.limit));
      if (f.status !== undefined) q = q.where('status', '=', f.status);
      if (f.after !== undefined) q = q.where('kid', '>', f.after);
      return (await q.execute()).map(from);
    },
    async setStatus(kid, status) {
      const r = await db
        .updateTable('signing_keys')
        .set({ status: oneOf('signing_keys.status', status, KEY_STATUS) })
        .where('kid', '=', kid)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
    async delete(kid) {
      const r = await db.deleteFrom('signing_keys').where('kid', '=', kid).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
    async getPrivateJwk(kid) {
      const r = await db.selectFrom('signing_keys').select('private_jwk_enc').where('kid', '=', kid).executeTakeFirst();
      if (!r) return null;
      const plain = crypt.decrypt('signing_keys', 'private_jwk', kid, r.private_jwk_enc);
      try {
        return JSON.parse(plain.toString('utf8')) as JsonObject;
      } finally {
        plain.fill(0);
      }
    },
  };
}

function ownershipRepo(db: Kysely<Database>): OwnershipRepo {
  type Row = Database['ownership'];
  const rowOf = (r: Parameters<OwnershipRepo['upsert']>[0]): Row => ({
    resource_type: r.resource_type,
    resource_id: r.resource_id,
    owner_id: r.owner_id,
    tenant: r.tenant ?? null,
    created_at: now(),
  });
  const get = async (type: string, id: string): Promise<OwnershipRecord | null> =>
    (await db
      .selectFrom('ownership')
      .selectAll()
      .where('resource_type', '=', type)
      .where('resource_id', '=', id)
      .executeTakeFirst()) ?? null;

  return {
    async upsert(r) {
      return db
        .insertInto('ownership')
        .values(rowOf(r))
        .onConflict((oc) =>
          oc.columns(['resource_type', 'resource_id']).doUpdateSet((eb) => ({
            owner_id: eb.ref('excluded.owner_id'),
            tenant: eb.ref('excluded.tenant'),
          })),
        )
        .returningAll()
        .executeTakeFirstOrThrow();
    },
    async claim(r) {
      // Bounded retry: the standing record may be deleted between our insert and our read.
      for (let attempt = 0; attempt < 3; attempt++) {
        const inserted = await db
          .insertInto('ownership')
          .values(rowOf(r))
          .onConflict((oc) => oc.columns(['resource_type', 'resource_id']).doNothing())
          .returningAll()
          .executeTakeFirst();
        if (inserted) return { record: inserted, created: true };
        const standing = await get(r.resource_type, r.resource_id);
        if (standing) return { record: standing, created: false };
      }
      throw new Error(`ownership of ${r.resource_type}/${r.resource_id} kept changing while claiming it`);
    },
    get,
    async list(f = {}) {
      let q = db
        .selectFrom('ownership')
        .selectAll()
        .orderBy('resource_type')
        .orderBy('resource_id')
        .limit(limitOf(f.limit));
      if (f.owner_id !== undefined) q = q.where('owner_id', '=', f.owner_id);
      if (f.tenant !== undefined) q = q.where('tenant', '=', f.tenant);
      if (f.resource_type !== undefined) q = q.where('resource_type', '=', f.resource_type);
      const after = f.after;
      if (after) {
        q = q.where((eb) =>
          eb(eb.refTuple('resource_type', 'resource_id'), '>', eb.tuple(after.resource_type, after.resource_id)),
        );
      }
      return q.execute();
    },
    async delete(type, id) {
      const r = await db
        .deleteFrom('ownership')
        .where('resource_type', '=', type)
        .where('resource_id', '=', id)
        .executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
  };
}

function oauthPayloadRepo(db: Kysely<Database>): OAuthPayloadRepo {
  type Row = Database['oauth_payloads'];
  const from = (r: Row): OAuthPayload => ({ ...r, payload: JSON.parse(r.payload) as JsonObject });
  const rowOf = (p: Parameters<OAuthPayloadRepo['upsert']>[0]): Row => ({
    model: p.model,
    id: p.id,
    payload: JSON.stringify(p.payload),
    grant_id: p.grant_id ?? null,
    user_code: p.user_code ?? null,
    uid: p.uid ?? null,
    expires_at: p.expires_at == null ? null : ts(p.expires_at),
    consumed_at: null,
  });
  // Rows past expires_at are as good as gone until deleteExpired removes them.
  const live = (t: string) => (eb: ExpressionBuilder<Database, 'oauth_payloads'>) =>
    eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', t)]);
  const getBy = async (model: string, column: 'id' | 'user_code' | 'uid', value: string) => {
    const r = await db
      .selectFrom('oauth_payloads')
      .selectAll()
      .where('model', '=', model)
      .where(column, '=', value)
      .where(live(now()))
      .executeTakeFirst();
    return r ? from(r) : null;
  };

  return {
    async upsert(p) {
      await db
        .insertInto('oauth_payloads')
        .values(rowOf(p))
        .onConflict((oc) =>
          oc.columns(['model', 'id']).doUpdateSet((eb) => ({
            payload: eb.ref('excluded.payload'),
            grant_id: eb.ref('excluded.grant_id'),
            user_code: eb.ref('excluded.user_code'),
            uid: eb.ref('excluded.uid'),
            expires_at: eb.ref('excluded.expires_at'),
          })),
        )
        .execute();
    },
    async claim(p) {
      const t = now();
      // An expired row no longer holds the id: replace it, in the same statement, only if it has expired.
      const r = await db
        .insertInto('oauth_payloads')
        .values(rowOf(p))
        .onConflict((oc) =>
          oc
            .columns(['model', 'id'])
            .doUpdateSet((eb) => ({
              payload: eb.ref('excluded.payload'),
              grant_id: eb.ref('excluded.grant_id'),
              user_code: eb.ref('excluded.user_code'),
              uid: eb.ref('excluded.uid'),
              expires_at: eb.ref('excluded.expires_at'),
              consumed_at: null,
            }))
            .where('oauth_payloads.expires_at', 'is not', null)
            .where('oauth_payloads.expires_at', '<=', t),
        )
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
    },
    get: (model, id) => getBy(model, 'id', id),
    getByUserCode: (model, userCode) => getBy(model, 'user_code', userCode),
    getByUid: (model, uid) => getBy(model, 'uid', uid),
    async consume(model, id, at = new Date()) {
      const r = await db
        .updateTable('oauth_payloads')
        .set({ consumed_at: ts(at) })
        .where('model', '=', model)
        .where('id', '=', id)
        .where('consumed_at', 'is', null)
        .where(live(now()))
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
    async delete(model, id) {
      const r = await db
        .deleteFrom('oauth_payloads')
        .where('model', '=', model)
        .where('id', '=', id)
        .executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
    async deleteByGrantId(grantId) {
      const r = await db.deleteFrom('oauth_payloads').where('grant_id', '=', grantId).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
    async deleteExpired(at = new Date()) {
      const r = await db
        .deleteFrom('oauth_payloads')
        .where('expires_at', 'is not', null)
        .where('expires_at', '<=', ts(at))
        .executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

function tokenVaultRepo(db: Kysely<Database>, crypt: Crypt): TokenVaultRepo {
  const live = (t: string) => (eb: ExpressionBuilder<Database, 'vault_tokens'>) =>
    eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', t)]);
  return {
    async put(t) {
      if (!t.token || !t.kind) throw new StoreError('invalid', 'a vault token needs a token and a kind');
      const r = await db
        .insertInto('vault_tokens')
        .values({
          token: t.token,
          kind: t.kind,
          value_enc: crypt.encrypt('vault_tokens', 'value', t.token, t.value),
          created_at: now(),
          expires_at: t.expires_at == null ? null : ts(t.expires_at),
        })
        .onConflict((oc) => oc.column('token').doNothing())
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
    },
    async reveal(token, kind) {
      let q = db.selectFrom('vault_tokens').select('value_enc').where('token', '=', token).where(live(now()));
      if (kind !== undefined) q = q.where('kind', '=', kind);
      const r = await q.executeTakeFirst();
      return r ? crypt.decrypt('vault_tokens', 'value', token, r.value_enc) : null;
    },
    async get(token): Promise<VaultToken | null> {
      return (
        (await db
          .selectFrom('vault_tokens')
          .select(['token', 'kind', 'created_at', 'expires_at'])
          .where('token', '=', token)
          .where(live(now()))
          .executeTakeFirst()) ?? null
      );
    },
    async delete(token) {
      const r = await db.deleteFrom('vault_tokens').where('token', '=', token).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
    async deleteExpired(at = new Date()) {
      const r = await db
        .deleteFrom('vault_tokens')
        .where('expires_at', 'is not', null)
        .where('expires_at', '<=', ts(at))
        .executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

function now(): string {
  return new Date().toISOString();
}

/** One textual form for every stored time, so comparisons in SQL are text comparisons that follow time. */
function ts(t: TimeInput): string {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) throw new StoreError('invalid', `not a time: ${JSON.stringify(String(t))}`);
  return d.toISOString();
}

function limitOf(limit: number | undefined): number {
  if (limit === undefined) return 100;
  if (!Number.isInteger(limit) || limit < 1) throw new StoreError('invalid', `limit must be a positive integer`);
  return Math.min(limit, 1000);
}

function oneOf<T extends string>(field: string, value: T, allowed: readonly T[]): T {
  if (!allowed.includes(value)) throw new StoreError('invalid', `${field} must be one of ${allowed.join(', ')}`);
  return value;
}

/**
 * Turns constraint violations from either driver into StoreErrors. The message is built from `publicValues`
 * (ids, names, key ids) only: driver messages are dropped because PostgreSQL's can quote whole rows.
 */
async function guard<T>(table: string, publicValues: Record<string, string | undefined>, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const err = e as { code?: string; message?: string; constraint?: string; detail?: string };
    const code = err.code ?? '';
    if (code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      // SQLite: "UNIQUE constraint failed: t.a, t.b"; PostgreSQL: detail "Key (a, b)=(...) already exists".
      const list = /failed: (.+)$/.exec(err.message ?? '')?.[1] ?? /^Key \(([^)]+)\)=/.exec(err.detail ?? '')?.[1];
      const columns = list?.split(',').map((c) => c.trim().replace(/^\w+\./, '')) ?? [];
      const value = columns.length === 1 ? publicValues[columns[0]!] : undefined;
      throw new StoreError(
        'conflict',
        columns.length === 1
          ? `${table}.${columns[0]}${value === undefined ? '' : ` ${JSON.stringify(value)}`} already exists`
          : `${table}: a row with the same ${columns.length ? `(${columns.join(', ')})` : 'key'} already exists`,
      );
    }
    if (code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
      const consumer = publicValues.consumer_id;
      throw new StoreError('invalid', `${table}: consumer ${JSON.stringify(consumer ?? '?')} does not exist`);
    }
    if (
      code === '23514' ||
      code === 'SQLITE_CONSTRAINT_CHECK' ||
      code === '23502' ||
      code === 'SQLITE_CONSTRAINT_NOTNULL'
    ) {
      throw new StoreError('invalid', `${table}: a value breaks a column constraint`);
    }
    throw e;
  }
}
