/**
 * Keyring purposes named outside the store. A leaf module (no imports) so that policies and the config schema can
 * name a purpose without loading services.ts and with it the store drivers (better-sqlite3, pg, kysely).
 */

/** The keyring purpose whose data keys make the keyed hashes of API keys and other recognise-only secrets. */
export const CREDENTIAL_MAC_PURPOSE = 'credential-mac';
/** The audit log's purpose: its Ed25519 signing key is derived from this data key; archived segments are sealed with it. */
export const AUDIT_PURPOSE = 'audit';
