import { z } from 'zod';
import { bool, headerName, int, SENSITIVE_HEADER, secret } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

/** A claim name, or a dotted path into nested claims ("realm_access.roles"). */
const claimPath = z.string().regex(/^[A-Za-z0-9_:$-]+(\.[A-Za-z0-9_:$-]+)*$/, 'a claim name or a dotted path');
const queryName = z
  .string()
  .regex(/^[A-Za-z0-9_.\-[\]]{1,64}$/, 'a query parameter name: letters, digits, "_", ".", "-", "[" and "]"');
/** A JSON field name in a PDP answer. */
const fieldName = z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'a field name: letters, digits and "_"');

/**
 * Where the AuthZEN resource id is read: "route" (the route's name), "path", "param:<name>" (a path parameter),
 * "query:<name>" or "header:<name>".
 */
const idSource = z
  .string()
  .regex(
    /^(route|path|param:[A-Za-z0-9_*-]{1,64}|query:[A-Za-z0-9_.\-[\]]{1,64}|header:[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64})$/,
    'one of: route, path, param:<name>, query:<name>, header:<name>',
  );

/** Query parameter names never sent to a PDP: credentials that some clients put in URLs. */
export const SENSITIVE_QUERY =
  /^(api[_-]?key|apikey|access_token|id_token|refresh_token|token|client_secret|password|key)$/i;

export const opaSchema = z
  .object({
    path: z
      .string()
      .regex(
        /^[A-Za-z0-9_]+(\/[A-Za-z0-9_]+)*$/,
        'a document path: segments of letters, digits and "_" separated by "/" (no leading slash)',
      )
      .describe('Document evaluated: POST {url}/v1/data/<path> (e.g. "httpapi/authz" or "httpapi/authz/allow").'),
    result_field: fieldName
      .default('allow')
      .describe('When the result is an object, its boolean field that decides. A boolean result decides itself.'),
    reason_field: fieldName
      .default('reason')
      .describe('When the result is an object, its string field recorded as the reason of the decision.'),
  })
  .strict();

export const authzenSchema = z
  .object({
    subject_type: z
      .string()
      .min(1)
      .max(64)
      .default('user')
      .describe('subject.type sent for a caller with an identity ("anonymous" for one without).'),
    resource: z
      .object({
        type: z.string().min(1).max(64).default('route').describe('resource.type sent.'),
        id: z
          .union([idSource, z.array(idSource).min(1).max(8)])
          .default('route')
          .describe(
            'Where resource.id is read: route, path, param:<name>, query:<name> or header:<name>; a list tries each in turn. With none present the request is denied.',
          ),
      })
      .strict()
      .prefault({})
      .describe('The resource of the evaluation.'),
    action: z
      .enum(['method', 'crud'])
      .default('method')
      .describe(
        'action.name: the HTTP method, or "crud" for the spec\'s can_read (GET, HEAD), can_create (POST), can_update (PUT, PATCH), can_delete (DELETE), can_access (others).',
      ),
  })
  .strict();

export const schema = z
  .object({
    protocol: z
      .enum(['opa', 'authzen'])
      .describe(
        "Wire protocol of the policy decision point: OPA's data API, or the OpenID AuthZEN Authorization API 1.0 evaluation.",
      ),
    url: z
      .url({ protocol: /^https?$/, error: 'an http(s) URL' })
      .describe(
        'Base URL of the policy decision point; OPA is asked at {url}/v1/data/<opa.path>, AuthZEN at {url}/access/v1/evaluation.',
      ),
    opa: opaSchema.optional().describe('With protocol: opa (required there).'),
    authzen: authzenSchema.optional().describe('With protocol: authzen (defaults apply when absent).'),
    headers: z
      .array(headerName)
      .max(32)
      .default([])
      .describe(
        'Request headers sent to the PDP (an allowlist). Credential headers (authorization, cookie, api keys) are refused.',
      ),
    claims: z
      .array(claimPath)
      .max(32)
      .default([])
      .describe('Token claims sent to the PDP (names or dotted paths); absent ones are left out.'),
    query: z
      .union([z.enum(['all', 'none']), z.array(queryName).max(32)])
      .default('all')
      .describe(
        'Query parameters sent: all, none, or a list of names. Parameters named like credentials (api_key, access_token, token...) never are.',
      ),
    client_ip: bool().default(true).describe('Send the client address.'),
    anonymous: z
      .enum(['deny', 'ask'])
      .default('deny')
      .describe(
        'A request without identity (public route): deny it without asking (rule "default"), or ask the PDP with a null identity.',
      ),
    timeout_ms: int(10, 10_000)
      .default(200)
      .describe('Whole PDP call, connect to last byte; past it the request is denied (fail closed).'),
    max_response_bytes: int(64, 1_048_576)
      .default(16_384)
      .describe('Largest PDP answer read; a larger one counts as a failure (denied).'),
    auth: z
      .object({
        header: headerName.default('authorization').describe('Header that carries the credential to the PDP.'),
        scheme: z
          .string()
          .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]*$/, 'an auth scheme token, or "" for the bare secret')
          .default('Bearer')
          .describe('Prefix of the header value ("Bearer"); "" sends the secret alone.'),
        token: secret().describe('Credential the gateway presents to the PDP.'),
      })
      .strict()
      .optional()
      .describe('How the gateway authenticates to the PDP (a bearer token or a secret header).'),
    cache: z
      .object({
        max_entries: int(0, 1_000_000).default(10_000).describe('Most decisions kept; 0 turns the cache off.'),
        ttl_s: int(0, 3600)
          .default(10)
          .describe("How long an allow is reused (never past the identity's expiry); a PDP change shows after it."),
        deny_ttl_s: int(0, 300).default(1).describe('How long a deny is reused.'),
      })
      .strict()
      .prefault({})
      .describe(
        'Decisions cached per input (keyed by a hash of the fields sent, time left out), process-wide and across reloads; identical concurrent requests share one PDP call.',
      ),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const url = new URL(cfg.url);
    if (url.search || url.hash || url.username || url.password)
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'a base URL without query, fragment or credentials (use auth: for credentials)',
      });
    if (cfg.protocol === 'opa' && !cfg.opa)
      ctx.addIssue({
        code: 'custom',
        path: ['opa'],
        message: 'protocol opa needs opa.path (the document to evaluate)',
      });
    if (cfg.protocol === 'opa' && cfg.authzen)
      ctx.addIssue({ code: 'custom', path: ['authzen'], message: 'authzen: is for protocol authzen' });
    if (cfg.protocol === 'authzen' && cfg.opa)
      ctx.addIssue({ code: 'custom', path: ['opa'], message: 'opa: is for protocol opa' });
    cfg.headers.forEach((h, i) => {
      if (SENSITIVE_HEADER.test(h))
        ctx.addIssue({
          code: 'custom',
          path: ['headers', i],
          message: `"${h}" carries credentials: never sent to a PDP`,
        });
    });
    if (Array.isArray(cfg.query))
      cfg.query.forEach((q, i) => {
        if (SENSITIVE_QUERY.test(q))
          ctx.addIssue({ code: 'custom', path: ['query', i], message: `"${q}" looks like a credential: never sent` });
      });
    const ids = cfg.authzen?.resource.id;
    (Array.isArray(ids) ? ids : ids === undefined ? [] : [ids]).forEach((s, i) => {
      const [kind, name = ''] = s.split(/:(.*)/s);
      const bad =
        (kind === 'header' && SENSITIVE_HEADER.test(name)) || (kind === 'query' && SENSITIVE_QUERY.test(name));
      if (bad)
        ctx.addIssue({
          code: 'custom',
          path: ['authzen', 'resource', 'id', ...(Array.isArray(ids) ? [i] : [])],
          message: `"${name}" carries credentials: never sent to a PDP`,
        });
    });
  });

export type ExternalAuthzConfig = z.output<typeof schema>;
export type AuthzenConfig = z.output<typeof authzenSchema>;

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'external-authz',
  order: 2300,
  description:
    'External decision point: asks a policy service (OPA data API or OpenID AuthZEN evaluation) with the request metadata; bounded decision cache with coalescing; fails closed (403) on timeout or error.',
} as const satisfies PolicyMeta;
