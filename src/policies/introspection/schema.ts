import { z } from 'zod';
import { bool, int, secret } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

/** A claim name, or a dotted path into nested claims ("realm_access.roles"). */
const claimPath = z.string().regex(/^[A-Za-z0-9_:$-]+(\.[A-Za-z0-9_:$-]+)*$/, 'a claim name or a dotted path');
/** RFC 6749 scope-token: printable ASCII without space, quote or backslash. */
const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope is printable ASCII without spaces');

export const schema = z
  .object({
    endpoint: z
      .url({ protocol: /^https?$/, error: 'an http(s) URL' })
      .describe('The introspection endpoint (RFC 7662), e.g. https://idp.example/oauth2/introspect.'),
    client_id: z.string().min(1).describe('Client id the gateway authenticates with at the endpoint.'),
    client_secret: secret().describe('Client secret the gateway authenticates with at the endpoint.'),
    auth_method: z
      .enum(['client_secret_basic', 'client_secret_post'])
      .default('client_secret_basic')
      .describe('How the client secret is sent (RFC 6749 2.3.1): HTTP Basic, or form fields in the body.'),
    timeout_ms: int(50, 60_000)
      .default(2000)
      .describe('Whole introspection call, connect to last byte; past it the request gets 503.'),
    token_type_hint: z
      .string()
      .regex(/^[A-Za-z0-9_.-]*$/, 'a token type name')
      .default('access_token')
      .describe('token_type_hint sent with each call; "" sends none.'),
    skip_jwt: bool()
      .default(true)
      .describe('Leave tokens shaped like a JWT (three base64url segments) to the jwt policy on the same route.'),
    issuer: z.string().min(1).optional().describe('When set, the answer\'s "iss" must equal it.'),
    audiences: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('When set, the answer\'s "aud" must name at least one of these.'),
    required_scopes: z
      .array(scopeToken)
      .default([])
      .describe('Scopes the token must all hold; a valid token without them gets 403 insufficient_scope.'),
    claims: z
      .object({
        subject: z
          .array(claimPath)
          .min(1)
          .default(['sub', 'username'])
          .describe('Claims tried in order for the subject; the client_id is used when none is present.'),
        scopes: claimPath.default('scope').describe('Claim holding the scopes (space-separated string or array).'),
        roles: claimPath.optional().describe('Claim holding roles (array or space-separated string), if any.'),
      })
      .strict()
      .prefault({})
      .describe('Where the identity is read from in the introspection answer.'),
    cache: z
      .object({
        max_entries: int(0, 1_000_000).default(10_000).describe('Most answers kept; 0 turns the cache off.'),
        max_ttl_s: int(0, 3600)
          .default(60)
          .describe("Longest an active answer is reused; never past the token's exp. A revocation shows after it."),
        negative_ttl_s: int(0, 300).default(5).describe('How long an "active: false" answer is reused.'),
      })
      .strict()
      .prefault({})
      .describe('Answers cached per token (keyed by a hash), for the whole process and across reloads.'),
    max_response_bytes: int(256, 1_048_576)
      .default(65_536)
      .describe('Largest introspection answer read; a larger one counts as a failure (503).'),
    max_token_bytes: int(16, 16_384).default(4096).describe('Longer bearer tokens are refused without a call.'),
    retry_after_s: int(1, 3600).default(5).describe('Retry-After sent with 503 when the endpoint fails.'),
  })
  .strict();

export type IntrospectionConfig = z.output<typeof schema>;

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'introspection',
  order: 1400,
  description:
    'Opaque bearer tokens checked by OAuth 2.0 token introspection (RFC 7662); answers cached up to the token expiry; fails closed (503).',
} as const satisfies PolicyMeta;
