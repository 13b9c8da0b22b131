import type { KeyStateStore } from '../crypto/types.js';

/**
 * The durable-entity store: one interface, one shared test suite (store.suite.ts), two backends (embedded SQLite,
 * PostgreSQL for clusters). Timestamps are ISO-8601 UTC strings (`Date#toISOString()`), so they compare as text.
 * Entities never carry plaintext secrets: a secret comes back only from the `get…Secret` call that asks for it.
 */

export type Timestamp = string;
/** Accepted wherever a time goes in; stored normalised with `toISOString()`. */
export type TimeInput = Date | string;
export type Secret = string | Buffer;
export type JsonObject = { [key: string]: unknown };

export interface Page {
  /** Default 100, at most 1000. */
  limit?: number;
  /** Keyset pagination: only rows whose id sorts after this one (results are ordered by id). */
  after?: string;
}

export type ConsumerStatus = 'active' | 'disabled';

export interface Consumer {
  id: string;
  /** Unique. */
  name: string;
  status: ConsumerStatus;
  groups: string[];
  attributes: JsonObject;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface NewConsumer {
  id?: string;
  name: string;
  status?: ConsumerStatus;
  groups?: string[];
  attributes?: JsonObject;
}

export type ConsumerPatch = Partial<Pick<Consumer, 'name' | 'status' | 'groups' | 'attributes'>>;

export interface ConsumerRepo {
  create(c: NewConsumer): Promise<Consumer>;
  get(id: string): Promise<Consumer | null>;
  getByName(name: string): Promise<Consumer | null>;
  list(f?: { status?: ConsumerStatus; group?: string } & Page): Promise<Consumer[]>;
  update(id: string, patch: ConsumerPatch): Promise<Consumer | null>;
  /** Also deletes the consumer's credentials and OAuth clients (they must not outlive it). */
  delete(id: string): Promise<boolean>;
}

export type CredentialKind = 'api-key' | 'client-secret' | 'mtls' | 'basic' | 'hmac';

export interface Credential {
  id: string;
  consumer_id: string;
  kind: CredentialKind;
  /** Public lookup id (e.g. the key prefix, a certificate fingerprint); unique. */
  key_id: string;
  /** A keyed hash computed by the caller, stored as given; null for kinds that have none (mTLS). */
  secret_hash: string | null;
  /** Whether an encrypted secret is held (read it with `getSecret`). */
  has_secret: boolean;
  scopes: string[];
  routes: string[];
  expires_at: Timestamp | null;
  revoked_at: Timestamp | null;
  last_used_at: Timestamp | null;
  created_at: Timestamp;
}

export interface NewCredential {
  id?: string;
  consumer_id: string;
  kind: CredentialKind;
  key_id: string;
  secret_hash?: string | null;
  /** A secret the gateway must be able to read back (an upstream credential): encrypted at rest. */
  secret?: Secret | null;
  scopes?: string[];
  routes?: string[];
  expires_at?: TimeInput | null;
}

export interface CredentialPatch {
  scopes?: string[];
  routes?: string[];
  expires_at?: TimeInput | null;
  /** Replaces (or with null, removes) the encrypted secret. */
  secret?: Secret | null;
}

export interface CredentialRepo {
  create(c: NewCredential): Promise<Credential>;
  get(id: string): Promise<Credential | null>;
  getByKeyId(keyId: string): Promise<Credential | null>;
  /** `active: true`: neither revoked nor expired now; `false`: the others. */
  list(f?: { consumer_id?: string; kind?: CredentialKind; active?: boolean } & Page): Promise<Credential[]>;
  update(id: string, patch: CredentialPatch): Promise<Credential | null>;
  /** Sets revoked_at once; false when the credential is missing or already revoked. */
  revoke(id: string, at?: TimeInput): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  /** One statement per 500 ids; never moves last_used_at backwards (workers flush out of order). */
  touchLastUsed(ids: readonly string[], at: TimeInput): Promise<void>;
  getSecret(id: string): Promise<Buffer | null>;
}

export interface OAuthClient {
  client_id: string;
  consumer_id: string;
  /** Whether an encrypted (readable) secret is held. */
  has_secret: boolean;
  /** A keyed hash of the client secret computed by the caller (`keyring.mac`), stored as given, or null. */
  secret_hash: string | null;
  /** The client's public keys (a JWKS) for `private_key_jwt`, or null. */
  jwks: JsonObject | null;
  grant_types: string[];
  scopes: string[];
  created_at: Timestamp;
}

export interface NewOAuthClient {
  client_id?: string;
  consumer_id: string;
  /**
   * A secret the gateway must read back, encrypted at rest (only client_secret_jwt would need one). The built-in
   * authorization server keeps `secret_hash` instead and never sets this.
   */
  secret?: Secret | null;
  secret_hash?: string | null;
  jwks?: JsonObject | null;
  grant_types?: string[];
  scopes?: string[];
}

export interface OAuthClientPatch {
  grant_types?: string[];
  scopes?: string[];
  secret?: Secret | null;
  secret_hash?: string | null;
  jwks?: JsonObject | null;
}

export interface OAuthClientRepo {
  create(c: NewOAuthClient): Promise<OAuthClient>;
  get(clientId: string): Promise<OAuthClient | null>;
  list(f?: { consumer_id?: string } & Page): Promise<OAuthClient[]>;
  update(clientId: string, patch: OAuthClientPatch): Promise<OAuthClient | null>;
  delete(clientId: string): Promise<boolean>;
  getSecret(clientId: string): Promise<Buffer | null>;
}

/**
 * One stored object of the built-in authorization server (oidc-provider's adapter models: issued access tokens,
 * replay-detection ids of client assertions, ...), keyed by (model, id).
 */
export interface OAuthPayload {
  model: string;
  id: string;
  payload: JsonObject;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
  /** Past this time the row is as good as gone: reads skip it and `deleteExpired` removes it. */
  expires_at: Timestamp | null;
  consumed_at: Timestamp | null;
}

export interface NewOAuthPayload {
  model: string;
  id: string;
  payload: JsonObject;
  grant_id?: string | null;
  user_code?: string | null;
  uid?: string | null;
  expires_at?: TimeInput | null;
}

export interface OAuthPayloadRepo {
  /** Inserts, or replaces the payload, indexes and expiry of an existing row (consumed_at is kept). */
  upsert(p: NewOAuthPayload): Promise<void>;
  /**
   * Inserts only when (model, id) is free or its row has expired; true when this call took it. Atomic across
   * workers and nodes: two concurrent claims of one id, one wins (replay detection).
   */
  claim(p: NewOAuthPayload): Promise<boolean>;
  /** The row unless missing or expired. */
  get(model: string, id: string): Promise<OAuthPayload | null>;
  getByUserCode(model: string, userCode: string): Promise<OAuthPayload | null>;
  getByUid(model: string, uid: string): Promise<OAuthPayload | null>;
  /** Sets consumed_at once; false when missing, expired or already consumed. */
  consume(model: string, id: string, at?: TimeInput): Promise<boolean>;
  delete(model: string, id: string): Promise<boolean>;
  /** Deletes every row of the grant, of every model; returns the count. */
  deleteByGrantId(grantId: string): Promise<number>;
  /** Deletes rows expired at `now`; returns the count. */
  deleteExpired(now?: TimeInput): Promise<number>;
}

export type SigningKeyStatus = 'active' | 'retired';

export interface SigningKey {
  kid: string;
  alg: string;
  public_jwk: JsonObject;
  status: SigningKeyStatus;
  created_at: Timestamp;
}

export interface NewSigningKey {
  kid?: string;
  alg: string;
  public_jwk: JsonObject;
  private_jwk: JsonObject;
  status?: SigningKeyStatus;
}

export interface SigningKeyRepo {
  create(k: NewSigningKey): Promise<SigningKey>;
  get(kid: string): Promise<SigningKey | null>;
  list(f?: { status?: SigningKeyStatus } & Page): Promise<SigningKey[]>;
  setStatus(kid: string, status: SigningKeyStatus): Promise<boolean>;
  delete(kid: string): Promise<boolean>;
  getPrivateJwk(kid: string): Promise<JsonObject | null>;
}

export interface OwnershipRecord {
  resource_type: string;
  resource_id: string;
  /** A consumer id or another subject (a JWT `sub`): no foreign key, owners need not be local consumers. */
  owner_id: string;
  tenant: string | null;
  created_at: Timestamp;
}

export type NewOwnership = Omit<OwnershipRecord, 'created_at' | 'tenant'> & { tenant?: string | null };

export interface OwnershipRepo {
  /** Inserts, or replaces owner and tenant of an existing record (keeps created_at): a deliberate transfer. */
  upsert(r: NewOwnership): Promise<OwnershipRecord>;
  /**
   * Inserts only if the resource has no owner yet and returns whichever record now stands. Recording the owner
   * of a newly created resource uses this, so a create that reuses an id cannot take someone else's resource.
   */
  claim(r: NewOwnership): Promise<{ record: OwnershipRecord; created: boolean }>;
  get(resourceType: string, resourceId: string): Promise<OwnershipRecord | null>;
  /** Ordered by (resource_type, resource_id); `after` continues from the last record of the previous page. */
  list(f?: {
    owner_id?: string;
    tenant?: string;
    resource_type?: string;
    limit?: number;
    after?: { resource_type: string; resource_id: string };
  }): Promise<OwnershipRecord[]>;
  delete(resourceType: string, resourceId: string): Promise<boolean>;
}

/**
 * The token vault of the `tokenize` policy: a value a request carried (a card number) is replaced by a token before
 * it reaches the upstream, and kept here encrypted (the `store` data key, bound to the token) until detokenised.
 */
export interface VaultToken {
  token: string;
  /** The kind of value ("card", a route-chosen label); for audits and cleanup, never the value. */
  kind: string;
  created_at: Timestamp;
  expires_at: Timestamp | null;
}

export interface TokenVaultRepo {
  /**
   * Stores the value under the token unless the token exists (deterministic tokens map one value to one token):
   * true when this call inserted it.
   */
  put(t: { token: string; kind: string; value: Secret; expires_at?: TimeInput | null }): Promise<boolean>;
  /** The token's value, or null when missing, expired or (with `kind`) of another kind. */
  reveal(token: string, kind?: string): Promise<Buffer | null>;
  get(token: string): Promise<VaultToken | null>;
  delete(token: string): Promise<boolean>;
  /** Deletes tokens expired at `now`; returns the count. */
  deleteExpired(now?: TimeInput): Promise<number>;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  readonly consumers: ConsumerRepo;
  readonly credentials: CredentialRepo;
  readonly clients: OAuthClientRepo;
  readonly signingKeys: SigningKeyRepo;
  readonly ownership: OwnershipRepo;
  readonly oauthPayloads: OAuthPayloadRepo;
  readonly tokens: TokenVaultRepo;
  /** The keyring's wrapped data keys, in the `keyring_keys` table, so every node of a cluster shares them. */
  keyState(): KeyStateStore;
  /** Applies pending migrations; returns the schema version. Safe to run again and from several nodes at once. */
  migrate(): Promise<number>;
  schemaVersion(): Promise<number>;
  /** Re-encrypts every secret column the cipher reports stale (after a data-key rotation); returns the count. */
  reencryptStale(): Promise<number>;
  close(): Promise<void>;
}

/**
 * conflict: a unique value is taken; invalid: bad input or a missing referenced row; schema_version: the database
 * is newer (or, without migrating, older) than this code; undecryptable: a secret column failed to decrypt
 * (wrong key, tampering, or a ciphertext copied from another row).
 */
export type StoreErrorCode = 'conflict' | 'invalid' | 'schema_version' | 'undecryptable';

/** Messages name tables, columns and public ids only; never a secret, a hash or a ciphertext. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
