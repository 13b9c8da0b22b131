import { randomBytes } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import type { ClientMetadata } from 'oidc-provider';
import type { Keyring } from '../crypto/keyring.js';
import { CREDENTIAL_MAC_PURPOSE } from '../crypto/purposes.js';
import type { JsonObject, OAuthClient, Store } from '../store/types.js';

/**
 * OAuth clients of the built-in authorization server: machine clients of a consumer, in the store's
 * `oauth_clients`. A client proves itself with a secret (client_secret_basic / client_secret_post) of which the
 * store keeps only a keyed hash, or with a JWT signed by a key of its registered public JWKS (private_key_jwt).
 */

/** Recognisable to secret scanners: `\brmcs_[0-9A-Za-z]{43}\b`. */
export const CLIENT_SECRET_PREFIX = 'rmcs_';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** RFC 6749 scope-token: printable ASCII without space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** Extra client metadata carrying the registered scopes (the provider's own `scope` must list them all up front). */
export const SCOPES_METADATA = 'rampart_scopes';

/** Uniform random characters of `alphabet` (rejection sampling: no modulo bias). */
function randomString(alphabet: string, length: number): string {
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < limit && out.length < length) out += alphabet[b % alphabet.length];
    }
  }
  return out;
}

/** 256 random bits; shown once to the client's owner. */
export function newClientSecret(): string {
  return CLIENT_SECRET_PREFIX + randomString(BASE62, 43);
}

export function newClientId(): string {
  return `rmc_${randomString(BASE32, 20)}`;
}

/** What the store keeps of a client secret: HMAC-SHA256 under the keyring's credential-mac data key. */
export function hashClientSecret(keyring: Keyring, secret: string): string {
  return keyring.mac(CREDENTIAL_MAC_PURPOSE, secret);
}

/** Constant-time check of a presented secret against the stored hash (any data-key version still held). */
export function checkClientSecret(keyring: Keyring, presented: string, hash: string): boolean {
  return keyring.verifyMac(CREDENTIAL_MAC_PURPOSE, presented, hash);
}

/**
 * A client's public JWKS for private_key_jwt, checked: asymmetric signing keys only, no private parts (a pasted
 * private key is refused rather than stored), each importable.
 */
export async function parseClientJwks(input: unknown): Promise<JsonObject> {
  const keys = (input as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > 10)
    throw new Error('a JWKS is {"keys": [ ... ]} with 1 to 10 public keys');
  const out: JsonObject[] = [];
  for (const [i, k] of keys.entries()) {
    const jwk = k as JWK;
    if (!jwk || typeof jwk !== 'object' || !['EC', 'OKP', 'RSA'].includes(String(jwk.kty)))
      throw new Error(`keys[${i}]: kty must be EC, OKP or RSA (asymmetric signing keys only)`);
    if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((f) => f in jwk))
      throw new Error(`keys[${i}] holds private key material: register the public key only`);
    if (jwk.use !== undefined && jwk.use !== 'sig') throw new Error(`keys[${i}]: use must be "sig"`);
    try {
      await importJWK(jwk, jwk.alg ?? (jwk.kty === 'EC' ? 'ES256' : jwk.kty === 'OKP' ? 'EdDSA' : 'RS256'));
    } catch (e) {
      throw new Error(`keys[${i}] is not a usable public key: ${(e as Error).message}`);
    }
    out.push(jwk as JsonObject);
  }
  return { keys: out };
}

export function checkScopes(scopes: readonly string[]): string[] {
  for (const s of scopes) if (!SCOPE_TOKEN.test(s)) throw new Error(`"${s}" is not a scope (no spaces or quotes)`);
  return [...new Set(scopes)];
}

export interface RegisteredClient {
  client: OAuthClient;
  /** The secret in clear, for secret clients; never stored, shown once. */
  secret: string | null;
}

/** Registers a client_credentials client: with `jwks` it authenticates with private_key_jwt, else with a secret. */
export async function registerClient(
  store: Store,
  keyring: Keyring,
  c: { consumer_id: string; scopes: readonly string[]; jwks?: unknown; client_id?: string },
): Promise<RegisteredClient> {
  const scopes = checkScopes(c.scopes);
  const jwks = c.jwks === undefined ? null : await parseClientJwks(c.jwks);
  const secret = jwks ? null : newClientSecret();
  const client = await store.clients.create({
    client_id: c.client_id ?? newClientId(),
    consumer_id: c.consumer_id,
    grant_types: ['client_credentials'],
    scopes,
    jwks,
    secret_hash: secret === null ? null : hashClientSecret(keyring, secret),
  });
  return { client, secret };
}

/**
 * The client as oidc-provider sees it, or undefined when it cannot use this server (no client_credentials
 * grant, no way to authenticate). `client_secret` carries the stored hash: the provider's compareClientSecret
 * is replaced by checkClientSecret, and nothing that would need the secret itself (client_secret_jwt, HS*
 * algorithms, encryption) is enabled.
 */
export function clientMetadata(c: OAuthClient): ClientMetadata | undefined {
  if (!c.grant_types.includes('client_credentials')) return undefined;
  const common = {
    client_id: c.client_id,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    [SCOPES_METADATA]: c.scopes,
  };
  if (c.jwks) return { ...common, token_endpoint_auth_method: 'private_key_jwt', jwks: c.jwks as never };
  if (c.secret_hash)
    return { ...common, token_endpoint_auth_method: 'client_secret_basic', client_secret: c.secret_hash };
  return undefined;
}
