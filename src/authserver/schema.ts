import { z } from 'zod';
import { bool, int } from '../config/types.js';

/** Signing algorithms the built-in authorization server can generate keys for (asymmetric only: never HMAC). */
export const SIGNING_ALGS = ['ES256', 'EdDSA', 'RS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

const httpUrl = (what: string) =>
  z
    .string()
    .describe(what)
    .superRefine((u, ctx) => {
      const p = URL.canParse(u) ? new URL(u) : undefined;
      if (!p?.host || !/^https?:$/.test(p.protocol))
        ctx.addIssue({ code: 'custom', message: 'not an http(s) URL, e.g. https://api.example.com/oauth' });
      else if (p.search || p.hash || u.includes('?') || u.includes('#'))
        ctx.addIssue({ code: 'custom', message: 'no query or fragment' });
    })
    .transform((u) => u.replace(/\/+$/, ''));

/** `auth_server:` — the built-in OAuth 2.0 authorization server for machine clients (oidc-provider). */
export const authServerSchema = z
  .object({
    enabled: bool().default(true),
    issuer: httpUrl(
      'The `iss` of its tokens and the base of its endpoints, as clients reach it. Default: the first listener (scheme, host, port) plus `path`.',
    ).optional(),
    path: z
      .string()
      .regex(/^(\/[A-Za-z0-9._~-]+)+$/, 'a path like /oauth: no trailing "/", no parameters or wildcards')
      .default('/oauth')
      .describe('Where the gateway serves it (token, JWKS, introspection, revocation, discovery), ahead of routing.'),
    audience: z
      .string()
      .min(1)
      .refine((a) => URL.canParse(a) && !a.includes('#'), 'an absolute URI without a fragment')
      .optional()
      .describe(
        'The `aud` of its access tokens (the resource indicator clients may send). Default: the origin of the issuer, i.e. this gateway.',
      ),
    access_token_ttl_s: int(60, 3600).default(300).describe('Lifetime of access tokens (seconds).'),
    signing_alg: z
      .enum(SIGNING_ALGS)
      .default('ES256')
      .describe('Algorithm of newly generated signing keys; a change takes effect as a key rotation.'),
    key_rotation_overlap_s: int(60, 30 * 86_400)
      .default(3600)
      .describe(
        'After a rotation, how long the previous signing key stays published in the JWKS (at least access_token_ttl_s).',
      ),
  })
  .strict();

export type AuthServerConfig = z.output<typeof authServerSchema>;

type AddIssue = (path: PropertyKey[], message: string) => void;

/**
 * Checks across sections (run from the config's superRefine on raw values, so every problem is reported in one
 * run): the server needs the store, an issuer it can name, and must not shadow routes.
 */
export function authServerIssues(root: Record<string, unknown>, add: AddIssue): void {
  const obj = (v: unknown): Record<string, unknown> =>
    v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  if (root.auth_server === undefined) return;
  const as = obj(root.auth_server);
  if (as.enabled === false || as.enabled === 'false') return;
  if (root.store === undefined) {
    add(['auth_server'], 'the authorization server keeps clients, tokens and signing keys in the store: add `store:`');
  }
  const ttl = Number(as.access_token_ttl_s ?? 300);
  const overlap = Number(as.key_rotation_overlap_s ?? 3600);
  if (Number.isFinite(ttl) && Number.isFinite(overlap) && overlap < ttl) {
    add(
      ['auth_server', 'key_rotation_overlap_s'],
      `must be at least access_token_ttl_s (${ttl}): tokens signed by the previous key must keep verifying until they expire`,
    );
  }
  if (as.issuer === undefined) {
    const first = obj(list(root.listeners).find((l) => obj(l).redirect_to_https === undefined));
    if (first.port === 0 || first.port === '0')
      add(['auth_server', 'issuer'], 'set the issuer: the first listener has port 0 (chosen at start)');
  }
  const path = typeof as.path === 'string' ? as.path : '/oauth';
  list(root.routes).forEach((r, i) => {
    list(obj(r).paths).forEach((p, j) => {
      if (typeof p === 'string' && (p === path || p.startsWith(`${path}/`) || p.startsWith(`${path}*`)))
        add(['routes', i, 'paths', j], `under auth_server.path (${path}), which the authorization server answers`);
    });
  });
}
