/**
 * Who made a request, as identity policies establish it (api-key, jwt, introspection, mtls). Authorization,
 * rate limits and audit read only this, never the credential itself.
 */
export type IdentityKind = 'api-key' | 'jwt' | 'introspection' | 'mtls';

export interface Identity {
  readonly kind: IdentityKind;
  /** The consumer's id in the store when the credential maps to one, else null (a token for an unknown `sub`). */
  readonly consumerId: string | null;
  /** Stable name of the caller: the consumer's name, or the token's subject claim. */
  readonly subject: string;
  /** Which credential proved it: an API key's credential id, a token's `jti`, a certificate fingerprint. Never a secret. */
  readonly credentialId: string | null;
  /** The consumer's groups, or roles mapped from token claims. */
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  /** Consumer attributes (for ABAC and object-level rules). */
  readonly attributes: Readonly<Record<string, unknown>>;
  /** Verified token claims (jwt, introspection), else null. */
  readonly claims: Readonly<Record<string, unknown>> | null;
  /** Client id of an OAuth token (`client_id`/`azp`), else null. */
  readonly clientId: string | null;
  /** Epoch seconds after which the credential no longer holds, or null. */
  readonly expiresAt: number | null;
}

/** A route may accept several identity policies; the first to find its credential on the request decides. */
export interface IdentityPolicyInfo {
  /** One `WWW-Authenticate` challenge, e.g. `Bearer realm="rampart"` (the gate joins those of the route). */
  readonly challenge: string;
}

/**
 * The built-in authorization server as the jwt policy sees it (src/authserver): its tokens verify against these
 * keys with no network call, and a revoked token stops verifying.
 */
export interface LocalIssuer {
  /** The `iss` of its tokens. */
  readonly issuer: string;
  /** The `aud` of its access tokens (auth_server.audience; default: the gateway's own origin). */
  readonly audience?: string;
  /** Public signing keys (JWKS), retiring ones included during a rotation's overlap. */
  jwks(): { keys: Record<string, unknown>[] };
  /**
   * False once the access token with this `jti` was revoked (RFC 7009), or its client deleted or that client's
   * consumer disabled; answers from a cache at most 1 s old.
   */
  isActive(jti: string): Promise<boolean>;
}
