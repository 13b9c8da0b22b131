import { z } from 'zod';
import { bool, headerName, httpMethod, int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';
import { compileIdentitySelector, IDENTITY_SELECTOR_HELP, parsePointer } from './selectors.js';

const ruleName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a rule name: letters, digits, ".", "_" and "-"')
  .describe('Names the rule in the decision record and the audit log (never in the answer).');

const resourceType = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'a resource type: letters, digits, ".", "_", ":" and "-"')
  .describe('Kind of object, e.g. "order": ownership records are kept per (type, id).');

const pointer = z
  .string()
  .max(512)
  .superRefine((p, ctx) => {
    const r = parsePointer(p);
    if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
  });

/** An identity value: compiled here so that a typo fails at load with its line. */
const identityValue = z
  .string()
  .superRefine((s, ctx) => {
    const r = compileIdentitySelector(s);
    if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
  })
  .describe(`An identity value: ${IDENTITY_SELECTOR_HELP}.`);

/** Where an object identifier is read on the request. */
const source = z
  .object({
    param: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a path parameter name, as in the route path "{id}"')
      .optional()
      .describe('A path parameter of the route ({id}).'),
    query: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a query parameter name: letters, digits, "_", "." and "-"')
      .optional()
      .describe(
        'A query parameter. Every occurrence is checked, and the bracket forms qs and PHP read into the same field (name[]=, name[0]=).',
      ),
    header: headerName.optional().describe('A request header, as sent upstream.'),
    body: pointer
      .optional()
      .describe(
        'A JSON pointer into the request body (RFC 6901), e.g. /account_id; "*" selects every array element (/items/*/account_id). A body that is not JSON is denied.',
      ),
  })
  .strict()
  .superRefine((s, ctx) => {
    const n = [s.param, s.query, s.header, s.body].filter((v) => v !== undefined).length;
    if (n !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of param, query, header or body' });
  });

const methods = z.array(httpMethod).min(1);

const binding = z
  .object({
    name: ruleName.optional(),
    from: source.describe('Where the identifier is read.'),
    equals: identityValue.optional().describe('The identifier must equal this identity value (a single value).'),
    in: identityValue
      .optional()
      .describe('The identifier must be this identity value or one of its elements (a list, e.g. account ids).'),
    methods: methods.optional().describe('Methods the binding applies to; every method when absent.'),
    optional: bool()
      .default(false)
      .describe(
        'Without the identifier the binding does not apply (instead of denying). A present but empty or malformed one is still denied.',
      ),
  })
  .strict()
  .superRefine((b, ctx) => {
    if ((b.equals === undefined) === (b.in === undefined))
      ctx.addIssue({ code: 'custom', message: 'give exactly one of equals or in' });
  });

const trackIdFrom = z
  .object({
    json: pointer
      .optional()
      .describe('A JSON pointer into the JSON answer, e.g. /id ("*" for every element: /items/*/id).'),
    location: z.literal(true).optional().describe("The last path segment of the answer's Location header."),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.json === undefined) === (s.location === undefined))
      ctx.addIssue({ code: 'custom', message: 'give exactly one of json or location' });
  });

const track = z
  .object({
    name: ruleName.optional(),
    type: resourceType,
    id_from: trackIdFrom.describe("Where the new object's id is read in the upstream's answer."),
    on: methods
      .default(['POST'])
      .describe(
        'Methods that create objects. Every 2xx answer to them (see status) must carry the id, else it is refused with 502: keep actions that share the method (POST /orders/{id}/cancel) on another route, or set status: [201].',
      ),
    status: z
      .array(int(200, 299))
      .min(1)
      .optional()
      .describe(
        'Answers that mean "created" (any 2xx when absent). If the upstream can answer a create with an existing object (an upsert), limit this to 201.',
      ),
    tenant_from: identityValue
      .optional()
      .describe("Also record the creator's tenant (a single identity value, e.g. identity.attributes.tenant)."),
  })
  .strict();

const protect = z
  .object({
    name: ruleName.optional(),
    type: resourceType,
    id_from: source.describe("Where the object's id is read on the request."),
    methods: methods
      .optional()
      .describe(
        'Methods the rule applies to; every method when absent (actions such as POST /orders/{id}/cancel included).',
      ),
    optional: bool()
      .default(false)
      .describe(
        'Without the id the rule does not apply (instead of denying): for a route that also serves the collection (/orders and /orders/{id}).',
      ),
    tenant_from: identityValue
      .optional()
      .describe(
        "Also allow callers of the owner's tenant: the caller's tenant (a value or a list). Defaults to the same block's track.tenant_from.",
      ),
  })
  .strict();

/** One rule, or a list of them (several object types on one route). */
function oneOrMany<T extends z.ZodType>(s: T) {
  return z.union([s, z.array(s).min(1).max(16)]);
}

export const schema = z
  .object({
    bindings: z
      .array(binding)
      .max(64)
      .default([])
      .describe(
        "Binding rules: an identifier in the request must equal or belong to a value of the caller's identity (`{ from: { param: id }, equals: identity.attributes.user_id }`).",
      ),
    track: oneOrMany(track)
      .optional()
      .describe(
        "Ownership tracking: on a 2xx answer to a create, the new object's id is read from the answer and the caller recorded as its owner (insert-if-absent).",
      ),
    protect: oneOrMany(protect)
      .optional()
      .describe(
        'Tracked objects: only the owner, their tenant (with tenant_from) or bypass_roles may read, update or delete.',
      ),
    untracked: z
      .enum(['deny', 'allow', 'external'])
      .default('deny')
      .describe(
        'A protected object with no ownership record (not created through the gateway): deny; allow; or external: object-access records no allow for the request and a later external-authz policy on the route must allow it (without one the request is denied). allow is safe only if the upstream knows each object by one spelling of its id: one that also serves ORD_7 or 007 for ord_7 or 7 would serve a tracked object under an untracked spelling.',
      ),
    bypass_roles: z
      .array(z.string().min(1))
      .max(32)
      .default([])
      .describe('Roles that may reach every object (the object rules are not checked for them).'),
    deny_as: z
      .enum(['forbidden', 'not_found'])
      .default('forbidden')
      .describe(
        'Answer to a deny: 403 FORBIDDEN, or 404 OBJECT_NOT_FOUND so that ids cannot be probed (existence stays hidden when untracked objects are denied too).',
      ),
    cache: z
      .object({
        ttl_ms: int(0, 3_600_000)
          .default(60_000)
          .describe(
            'How long a worker reuses a found owner. Ownership changes only by an explicit transfer, which reaches every worker within this time.',
          ),
        negative_ttl_ms: int(0, 10_000)
          .default(1_000)
          .describe(
            'How long a worker reuses "no owner recorded" (an object created through another worker is found after this).',
          ),
      })
      .strict()
      .prefault({})
      .describe('Ownership lookups, cached process-wide in a bounded LRU (100k entries, 32 MiB).'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const tracks = cfg.track === undefined ? [] : Array.isArray(cfg.track) ? cfg.track : [cfg.track];
    const protects = cfg.protect === undefined ? [] : Array.isArray(cfg.protect) ? cfg.protect : [cfg.protect];
    if (cfg.bindings.length === 0 && tracks.length === 0 && protects.length === 0)
      ctx.addIssue({ code: 'custom', message: 'no rules: give bindings, protect or track', path: ['bindings'] });
    const names = new Map<string, string>();
    const seen = (name: string | undefined, path: PropertyKey[]) => {
      if (name === undefined) return;
      const first = names.get(name);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'name'],
          message: `rule name "${name}" is used twice (also by ${first})`,
        });
      else names.set(name, path.join('.'));
    };
    cfg.bindings.forEach((b, i) => {
      seen(b.name, ['bindings', i]);
    });
    const many = (k: 'track' | 'protect', i: number) => (Array.isArray(cfg[k]) ? [k, i] : [k]);
    tracks.forEach((t, i) => {
      seen(t.name, many('track', i));
    });
    protects.forEach((p, i) => {
      seen(p.name, many('protect', i));
    });
  });

export type ObjectAccessConfig = z.output<typeof schema>;
export type SourceConfig = z.output<typeof source>;

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'object-access',
  order: 2200,
  description:
    "Object-level authorization against BOLA (OWASP API1): binding rules tie an id in the path, query, header or JSON body to the caller's identity; ownership tracking records who created an object from the upstream's answer and then lets only the owner, their tenant or bypass roles reach it. Deny by default.",
} as const satisfies PolicyMeta;
