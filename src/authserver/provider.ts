import Provider, { type Configuration, errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import type { Keyring } from '../crypto/keyring.js';
import { CREDENTIAL_MAC_PURPOSE } from '../crypto/purposes.js';
import type { Store } from '../store/types.js';
import { storeAdapter } from './adapter.js';
import { checkClientSecret, SCOPES_METADATA } from './clients.js';
import type { KeyState } from './keys.js';
import type { AuthServerSettings } from './settings.js';
import { jwtTokenParam, recordIssuedTokens } from './tokens.js';

/** Client assertion algorithms (private_key_jwt): asymmetric only, so no secret can ever serve as a key. */
const ASSERTION_ALGS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'PS256', 'PS384', 'PS512', 'RS256'] as const;

export interface ProviderDeps {
  settings: AuthServerSettings;
  store: Store;
  keyring: Keyring;
  logger: Logger;
  /** The current signing keys; the provider is rebuilt when the published set changes. */
  keys: () => KeyState;
}

/**
 * One oidc-provider instance: client credentials only, JWT access tokens for one resource (the gateway), client
 * auth by hashed secret or private_key_jwt, introspection and revocation. Built again on every change of the
 * published keys (its keystore is fixed at construction); the storage is shared, so nothing is lost.
 */
export function buildProvider(deps: ProviderDeps): Provider {
  const { settings, store, keyring, logger } = deps;
  const state = deps.keys();
  type Owned = (
    ctx: KoaContextWithOIDC,
    client: { clientId: string },
    token: { clientId?: string },
  ) => Promise<boolean>;
  // A client learns about its own tokens only (RFC 7662 §2.1 leaves who may introspect to the server).
  const ownTokensOnly: Owned = async (_ctx, client, token) => token.clientId === client.clientId;
  // RFC 7009 §2.1: a token of another client is refused with an error, not silently kept.
  const revokeOwnOnly: Owned = async (_ctx, client, token) => {
    if (token.clientId !== client.clientId)
      throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
    return true;
  };

  const configuration: Configuration = {
    adapter: storeAdapter(store),
    jwks: { keys: state.privateJwks as never },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      id_token_signed_response_alg: state.signingAlg as never,
    },
    extraClientMetadata: { properties: [SCOPES_METADATA] },
    responseTypes: ['none'],
    enabledJWA: { clientAuthSigningAlgValues: [...ASSERTION_ALGS] },
    ttl: { ClientCredentials: settings.accessTokenTtlS },
    clockTolerance: 5,
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      userinfo: { enabled: false },
      // Off: the gateway's JWT check does not verify DPoP proofs, so a DPoP binding would be a false promise.
      dPoP: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      registration: { enabled: false },
      introspection: { enabled: true, allowedPolicy: ownTokensOnly },
      revocation: { enabled: true, allowedPolicy: revokeOwnOnly },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => settings.audience,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource, client) => {
          if (resource !== settings.audience) throw new errors.InvalidTarget();
          const registered = ((client as unknown as Record<string, unknown>)[SCOPES_METADATA] ?? []) as string[];
          // Refused, not silently narrowed: a client asking for more than it was given is misconfigured.
          const allowed = new Set(registered);
          for (const s of (ctx.oidc.params?.scope as string | undefined)?.split(' ') ?? []) {
            if (s && !allowed.has(s)) throw new errors.InvalidScope('requested scope is not allowed', s);
          }
          const { signingKid, signingAlg } = deps.keys();
          return {
            scope: registered.join(' '),
            audience: settings.audience,
            accessTokenTTL: settings.accessTokenTtlS,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: signingAlg as never, kid: signingKid } },
          };
        },
      },
    },
    formats: { customizers: { jwt: recordIssuedTokens(store) } },
  };

  const provider = new Provider(settings.issuer, configuration);
  // The supported hook for hashed client secrets (panva/node-oidc-provider#631): `client_secret` holds the keyed
  // hash, and the presented secret is MACed and compared in constant time.
  provider.Client.prototype.compareClientSecret = async function compare(
    this: { clientSecret?: string },
    actual: string,
  ) {
    if (typeof this.clientSecret !== 'string') return false;
    // A secret registered after a data-key rotation elsewhere (the CLI): load that key rather than refuse it.
    await keyring.ensureMacKey(CREDENTIAL_MAC_PURPOSE, this.clientSecret);
    return checkClientSecret(keyring, actual, this.clientSecret);
  };
  provider.use(jwtTokenParam(['/token/introspection', '/token/revocation'], settings.issuer, () => deps.keys().jwks));

  // The provider answers 5xx as `server_error` and reports the cause here; 4xx are the client's business.
  provider.on('server_error', (_ctx, err) =>
    logger.error({ err: { message: err.message, name: err.name } }, 'authorization server error'),
  );
  const refused = (event: string) => (ctx: KoaContextWithOIDC, err: errors.OIDCProviderError) =>
    logger.debug({ event, error: err.error, client_id: ctx.oidc?.client?.clientId }, 'authorization refused');
  provider.on('grant.error', refused('grant.error'));
  provider.on('introspection.error', refused('introspection.error'));
  provider.on('revocation.error', refused('revocation.error'));
  // Koa's own errors (outside the provider's routes) go to the log, not to stderr.
  (provider as unknown as NodeJS.EventEmitter).on('error', (err: Error) =>
    logger.warn({ err: { message: err.message } }, 'authorization server'),
  );
  return provider;
}
