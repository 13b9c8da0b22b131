import { z } from 'zod';
import type { PolicyMeta } from '../../core/policy.js';
import { compilePath } from './json-path.js';

/** A JSON Schema (object or boolean), as in an OpenAPI response. */
export const jsonSchema = z.union([z.boolean(), z.record(z.string(), z.unknown())]);

/** "200", "2XX" or "default", as OpenAPI keys responses. */
const statusKey = z.string().regex(/^([1-5](\d\d|XX)|default)$/, 'a status ("200"), a class ("2XX") or "default"');

/** JSONPath subset checked at load, so a typo fails at start with its field. */
export const jsonPath = z.string().superRefine((p, ctx) => {
  try {
    compilePath(p);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `bad JSON path: ${(e as Error).message}` });
  }
});

export const fieldRule = z
  .object({
    name: z.string().optional().describe('Named in the audit event ("rules[i]" otherwise).'),
    paths: z.array(jsonPath).min(1).describe("JSONPath subset: $.a.b, $.items[*].id, $..ssn, $['odd key']."),
    action: z
      .enum(['deny', 'allow'])
      .describe('deny removes what the paths match; allow keeps only what allow rules match (deny still wins).'),
    roles: z.array(z.string().min(1)).optional().describe('Applies only to callers with one of these roles.'),
    except_roles: z.array(z.string().min(1)).optional().describe('Applies unless the caller has one of these roles.'),
  })
  .strict();

export const schema = z
  .object({
    mode: z
      .enum(['strip', 'block'])
      .default('strip')
      .describe('strip removes what is not allowed; block withholds the whole answer (RESPONSE_BLOCKED, 502).'),
    spec: z
      .string()
      .optional()
      .describe(
        'OpenAPI 3.0 / 3.1 file: the response schema of the operation the request matches, for its status and content type (inline `responses` / `schema` apply where it declares none).',
      ),
    base_path: z
      .string()
      .regex(/^(\/[^\s?#]*)?$/, 'a path such as "/v1", or "" for none')
      .optional()
      .describe("The prefix the OpenAPI document's paths sit under (default: the path of its servers' URLs)."),
    match: z
      .enum(['upstream', 'request'])
      .default('upstream')
      .describe(
        'Which path finds the OpenAPI operation: the one sent upstream (after strip_prefix / rewrite) or the one the client sent.',
      ),
    schema: jsonSchema.optional().describe('One response schema for every JSON answer of the route (any status).'),
    responses: z
      .record(statusKey, jsonSchema)
      .optional()
      .describe('Response schemas by status as OpenAPI keys them ("200", "2XX", "default"); wins over `schema`.'),
    components: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('Target of local `$ref`s in the inline schemas ("#/components/schemas/User").'),
    undeclared: z
      .enum(['pass', 'block'])
      .default('pass')
      .describe('A JSON answer whose status has no schema: pass it (field rules still apply) or block it.'),
    fields: z.array(fieldRule).default([]).describe('Allow and deny lists by JSON path, optionally per role.'),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'response-filter',
  order: 2800,
  description:
    'Cuts JSON answers to what the response schema declares and what the caller may see (field rules by JSON path and role); strip or block.',
} as const satisfies PolicyMeta;
