import { createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto';
import type { JWK } from 'jose';

/**
 * JWK and key-URL checks shared by the jwt policy's config schema and the key sets (jwks.ts). Only node:crypto at
 * run time: the config schema imports this, and validating a config must not load jose or undici.
 */

export const ASYMMETRIC_ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export const SYMMETRIC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
export type JwsAlg = (typeof ASYMMETRIC_ALGS)[number] | (typeof SYMMETRIC_ALGS)[number];

/** Members only a private (or symmetric) JWK has. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/**
 * Checks one public JWK (from a JWKS, the config or a PEM) and returns it trimmed to public members, or the
 * reason it is refused. Symmetric keys only where `allowSecret` (static config, never a JWKS).
 */
export function checkJwk(raw: unknown, opts: { allowSecret?: boolean } = {}): JWK | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'a key is not a JSON object';
  const k = raw as Record<string, unknown>;
  if (k.kid !== undefined && (typeof k.kid !== 'string' || k.kid.length > 1024)) return 'kid is not a string';
  for (const m of ['alg', 'use', 'crv', 'kty'] as const)
    if (k[m] !== undefined && typeof k[m] !== 'string') return `${m} is not a string`;
  if (k.kty === 'oct') {
    if (!opts.allowSecret) return 'symmetric (oct) keys are never taken from a key set';
    if (typeof k.k !== 'string' || Buffer.from(k.k, 'base64url').length < 32)
      return 'a symmetric key must be at least 32 bytes';
    return pick(k, ['kty', 'k', 'kid', 'alg', 'use']);
  }
  if (k.kty !== 'RSA' && k.kty !== 'EC' && k.kty !== 'OKP') return `unsupported kty ${String(k.kty)}`;
  if (PRIVATE_MEMBERS.some((m) => m in k)) return 'the key holds private key material';
  const pub = pick(k, ['kty', 'kid', 'alg', 'use', 'key_ops', 'n', 'e', 'crv', 'x', 'y']);
  try {
    const ko = createPublicKey({ key: pub as NodeJwk, format: 'jwk' });
    const bits = ko.asymmetricKeyDetails?.modulusLength;
    if (k.kty === 'RSA' && (bits === undefined || bits < 2048)) return 'RSA keys must have at least 2048 bits';
    if (k.kty === 'OKP' && k.crv !== 'Ed25519') return `unsupported OKP curve ${String(k.crv)}`;
  } catch {
    return 'not a valid public key';
  }
  return pub;
}

function pick(o: Record<string, unknown>, keys: string[]): JWK {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (o[key] !== undefined) out[key] = o[key];
  return out as JWK;
}

/** A PEM public key (SPKI) or certificate as a public JWK. */
export function pemToJwk(pem: string, kid?: string): JWK {
  const jwk = createPublicKey(pem).export({ format: 'jwk' }) as JWK;
  return kid ? { ...jwk, kid } : jwk;
}

/** Key documents only over https, or plain http to a loopback address (tests, a sidecar IdP). */
export function allowedKeyUrl(u: string): boolean {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname);
}
