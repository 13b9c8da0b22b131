import type { Config } from '../config/schema.js';
import type { SigningAlg } from './schema.js';

/** The `auth_server` block resolved once at start: every default filled in. */
export interface AuthServerSettings {
  readonly issuer: string;
  /** The `aud` of access tokens and the only resource indicator accepted. */
  readonly audience: string;
  /** Mount prefix on the gateway's listeners, e.g. "/oauth". */
  readonly path: string;
  readonly accessTokenTtlS: number;
  readonly signingAlg: SigningAlg;
  readonly overlapS: number;
}

/** Null when the config has no enabled `auth_server`. */
export function authServerSettings(config: Config): AuthServerSettings | null {
  const as = config.auth_server;
  if (!as?.enabled) return null;
  const issuer = as.issuer ?? defaultIssuer(config, as.path);
  return {
    issuer,
    audience: as.audience ?? new URL(issuer).origin,
    path: as.path,
    accessTokenTtlS: as.access_token_ttl_s,
    signingAlg: as.signing_alg,
    overlapS: as.key_rotation_overlap_s,
  };
}

/**
 * The first serving listener as a client on this machine reaches it: a wildcard bind address becomes
 * "localhost". Anything reached through another name (a load balancer, DNS) must set `auth_server.issuer`.
 */
function defaultIssuer(config: Config, path: string): string {
  const l = config.listeners.find((x) => !x.redirect_to_https) ?? config.listeners[0];
  if (!l) throw new Error('auth_server: no listener to derive the issuer from; set auth_server.issuer');
  const scheme = l.tls ? 'https' : 'http';
  const wildcard = l.host === '0.0.0.0' || l.host === '::' || l.host === '';
  const host = wildcard ? 'localhost' : l.host.includes(':') ? `[${l.host}]` : l.host;
  const port = (scheme === 'https' && l.port === 443) || (scheme === 'http' && l.port === 80) ? '' : `:${l.port}`;
  return `${scheme}://${host}${port}${path}`;
}
