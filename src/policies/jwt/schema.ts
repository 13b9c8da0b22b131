import { z } from 'zod';
import { bool, headerName, int, secret } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';
import { ASYMMETRIC_ALGS, allowedKeyUrl, checkJwk, pemToJwk, SYMMETRIC_ALGS } from '../../identity/jwk.js';

/** A claim name (tried as is first, so "https://example.com/roles" works) or a dotted path ("realm_access.roles"). */
const claimPath = z.string().min(1).max(256);

const keyUrl = z
  .string()
  .refine(allowedKeyUrl, 'an https URL (plain http only to a loopback address), without credentials');

/** `none` is not in the list, so it cannot be configured. */
const algorithm = z
  .enum([...ASYMMETRIC_ALGS, ...SYMMETRIC_ALGS])
  .describe('A JWS algorithm. HS* only with static symmetric keys; "none" does not exist here.');

/** Static keys: a public JWK, a PEM public key or certificate (usually `${file:...}`), or an HMAC secret. */
const staticKey = z.union([
  z
    .string()
    .regex(/-----BEGIN (PUBLIC KEY|CERTIFICATE)-----/, 'a PEM public key or certificate')
    .describe('PEM public key (SPKI) or certificate, e.g. ${file:keys/idp.pem}.'),
  z
    .object({ pem: z.string().min(1), kid: z.string().min(1).optional() })
    .strict()
    .describe('A PEM public key or certificate with the kid its tokens carry.'),
  z
    .object({
      secret: secret().describe('HMAC key (at least 32 bytes): ${env:NAME} or ${file:PATH}.'),
      kid: z.string().min(1).optional(),
    })
    .strict()
    .describe('A symmetric key for HS256/384/512 (only with `algorithms` set to HS* and no other key).'),
  z
    .object({ kty: z.enum(['RSA', 'EC', 'OKP']) })
    .loose()
    .describe('A public JWK (RSA, EC or OKP Ed25519). Private members are refused.'),
]);

/** Claim checks and claim-to-identity mapping, shared by configured issuers and the built-in one. */
const checks = {
  audiences: z
    .array(z.string().min(1))
    .min(1)
    .describe('The token\'s "aud" must name at least one of these (RFC 9068 §4).'),
  required_claims: z.array(z.string().min(1)).default([]).describe('Claims that must be present.'),
  typ: z
    .string()
    .min(1)
    .optional()
    .describe('Required JWT "typ" header, e.g. "at+jwt" (RFC 9068); compared without "application/" and case.'),
  clock_skew_s: int(0, 300).default(30).describe('Tolerance for exp, nbf and iat, seconds.'),
  max_age_s: int(1, 31_536_000).optional().describe('When set, tokens older than this (by "iat") are refused.'),
  consumer_claim: claimPath.default('sub').describe('Claim naming the caller (the identity subject).'),
  roles_claim: claimPath.optional().describe('Claim holding roles (array or space-separated string).'),
  scopes_claim: claimPath
    .optional()
    .describe('Claim holding scopes; default "scope" (space-separated) or else "scp" (array).'),
  cert_bound: z
    .enum(['off', 'if_present', 'required'])
    .default('if_present')
    .describe(
      'RFC 8705 certificate-bound tokens: check cnf."x5t#S256" against the mTLS client certificate when the token carries one (if_present), always (required), or never (off).',
    ),
};

const issuer = z
  .object({
    issuer: z.string().min(1).describe('The exact "iss" of the tokens.'),
    discovery: z
      .union([bool(), keyUrl])
      .optional()
      .describe('OIDC discovery: true derives <issuer>/.well-known/openid-configuration, or give the URL.'),
    jwks_uri: keyUrl.optional().describe('The JWKS URL (instead of discovery).'),
    keys: z.array(staticKey).min(1).optional().describe('Static keys (instead of a JWKS).'),
    algorithms: z
      .array(algorithm)
      .min(1)
      .optional()
      .describe('Allowed algorithms; default all asymmetric ones (RS*, PS*, ES*, EdDSA).'),
    ...checks,
  })
  .strict()
  .superRefine((iss, ctx) => {
    const sources = [iss.discovery !== undefined && iss.discovery !== false, !!iss.jwks_uri, !!iss.keys].filter(
      Boolean,
    ).length;
    if (sources !== 1)
      ctx.addIssue({ code: 'custom', message: 'give exactly one key source: discovery, jwks_uri or keys' });
    if (iss.discovery === true && !allowedKeyUrl(iss.issuer))
      ctx.addIssue({
        code: 'custom',
        path: ['issuer'],
        message: 'discovery: true needs an https issuer (plain http only on loopback)',
      });
    const hs = (iss.algorithms ?? []).filter((a) => a.startsWith('HS'));
    const keys = iss.keys ?? [];
    const secrets = keys.filter((k) => typeof k === 'object' && 'secret' in k).length;
    // One kind of key per issuer: HMAC and public keys side by side is how key-confusion attacks start.
    if (hs.length && hs.length !== iss.algorithms?.length)
      ctx.addIssue({ code: 'custom', path: ['algorithms'], message: 'HS* algorithms cannot be mixed with others' });
    if (hs.length && (!iss.keys || secrets !== keys.length))
      ctx.addIssue({
        code: 'custom',
        path: ['algorithms'],
        message: 'HS* algorithms need static symmetric keys (keys: [{ secret }]) and no other key source',
      });
    if (secrets && !hs.length)
      ctx.addIssue({
        code: 'custom',
        path: ['keys'],
        message: 'symmetric keys need algorithms: [HS256|HS384|HS512] set explicitly',
      });
    keys.forEach((k, i) => {
      const why = staticKeyProblem(k);
      if (why) ctx.addIssue({ code: 'custom', path: ['keys', i], message: why });
    });
  });

/** Why a static key is unusable, or null. Runs at load so a bad key fails the config, not the first request. */
function staticKeyProblem(k: z.output<typeof staticKey>): string | null {
  try {
    if (typeof k === 'string') return problemOf(checkJwk(pemToJwk(k)));
    if ('pem' in k) return problemOf(checkJwk(pemToJwk(k.pem as string, k.kid as string | undefined)));
    if ('secret' in k)
      return Buffer.byteLength(k.secret as string) < 32 ? 'a symmetric key must be at least 32 bytes' : null;
    return problemOf(checkJwk(k));
  } catch {
    return 'not a PEM public key or certificate';
  }
}
const problemOf = (r: unknown) => (typeof r === 'string' ? r : null);

export const schema = z
  .object({
    issuers: z
      .array(issuer)
      .default([])
      .describe('Trusted token issuers. The built-in authorization server is trusted without an entry.'),
    builtin_issuer: z
      .object({
        enabled: bool().default(true).describe('Trust the built-in authorization server (when it runs).'),
        audiences: checks.audiences
          .optional()
          .describe('The token\'s "aud" must name one of these; default: the server\'s own audience, when it has one.'),
        required_claims: checks.required_claims,
        typ: checks.typ,
        clock_skew_s: checks.clock_skew_s,
        max_age_s: checks.max_age_s,
        consumer_claim: checks.consumer_claim,
        roles_claim: checks.roles_claim,
        scopes_claim: checks.scopes_claim,
        cert_bound: checks.cert_bound,
      })
      .strict()
      .prefault({})
      .describe('Checks for tokens of the built-in authorization server (revocation is always checked).'),
    header: headerName
      .default('authorization')
      .describe('Header carrying the token: "Authorization: Bearer <jwt>", or the bare token in another header.'),
    opaque_tokens: z
      .enum(['pass', 'refuse'])
      .default('pass')
      .describe(
        'A bearer token that is not shaped like a JWT (three dot-separated parts): leave it to a later identity policy such as introspection (pass), or refuse it here (refuse). Either way a route with no other taker answers 401.',
      ),
    max_token_bytes: int(256, 65_536).default(8192).describe('Longer tokens are refused without verification.'),
    consumer_lookup: bool()
      .default(false)
      .describe(
        'Map the subject to a consumer in the store (by name, then id; the client_id through OAuth clients) for its id, groups and attributes. A disabled consumer is refused.',
      ),
    cache: z
      .object({
        enabled: bool().default(true).describe('false verifies every token on every request.'),
        max_entries: int(1, 1_000_000).default(10_000),
        max_ttl_s: int(1, 86_400)
          .default(300)
          .describe("Longest a verification is reused; never past the token's exp."),
      })
      .strict()
      .prefault({})
      .describe(
        'Verified tokens, keyed by a hash of the token. A hit still checks that the signing key is in the current set, the certificate binding and revocation.',
      ),
    jwks: z
      .object({
        refresh_s: int(1, 86_400).default(300).describe('Background refresh period of remote key sets.'),
        cooldown_s: int(1, 3600)
          .default(30)
          .describe('At most one refetch per this many seconds when a token names an unknown kid.'),
        max_stale_s: int(1, 604_800)
          .default(21_600)
          .describe(
            'Keys stay in use this long after the last good fetch while refreshes fail (IdP down); then 503. Keys older than this are refetched before use.',
          ),
        timeout_ms: int(100, 60_000).default(5000).describe('Whole fetch of a JWKS or discovery document.'),
        max_bytes: int(1024, 4_194_304).default(524_288).describe('Largest JWKS or discovery document read.'),
      })
      .strict()
      .prefault({})
      .describe('Remote key sets (one per URL for the whole process, kept across reloads).'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.issuers.forEach((i, n) => {
      if (seen.has(i.issuer))
        ctx.addIssue({ code: 'custom', path: ['issuers', n, 'issuer'], message: 'issuer listed twice' });
      seen.add(i.issuer);
    });
  });

export type JwtConfig = z.output<typeof schema>;
export type IssuerConfig = z.output<typeof issuer>;
export type StaticKeyConfig = z.output<typeof staticKey>;

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'jwt',
  order: 1300,
  description:
    'JWT / OIDC access tokens: keys by discovery, JWKS or static keys; per-issuer algorithms; iss/aud/exp/nbf/iat with bounded skew; certificate-bound tokens (RFC 8705); verified tokens cached.',
} as const satisfies PolicyMeta;
