import { z } from 'zod';
import { bool } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

const toggles = z
  .object({
    path: bool().default(true).describe('Path parameters.'),
    query: bool().default(true).describe('Query parameters (and unknown ones, see allow_unknown_query).'),
    headers: bool().default(true).describe('Header parameters.'),
    cookies: bool().default(true).describe('Cookie parameters.'),
    body: bool().default(true).describe('The body: media type, JSON / form / multipart content against its schema.'),
  })
  .strict();

export const schema = z
  .object({
    spec: z
      .string()
      .min(1)
      .describe(
        'The OpenAPI 3.0 or 3.1 document (YAML or JSON), relative to the config file; $refs to relative files are followed.',
      ),
    strict: bool()
      .default(true)
      .describe('Refuse requests the document has no operation for (404, or 405 with Allow); false lets them through.'),
    validate: toggles.default({ path: true, query: true, headers: true, cookies: true, body: true }),
    base_path: z
      .string()
      .regex(/^(\/[^\s?#]*)?$/, 'a path such as "/v1", or "" for none')
      .optional()
      .describe(
        "The prefix the document's paths sit under in the upstream path (default: the path of the document's servers URLs).",
      ),
    allow_unknown_query: bool().default(false).describe('Let query parameters the operation does not declare through.'),
    match: z
      .enum(['upstream', 'request'])
      .default('upstream')
      .describe(
        'Which path to find the operation by: the one sent upstream (after strip_prefix / rewrite: the document describes the upstream) or the one the client sent.',
      ),
    compile: z
      .enum(['auto', 'eager', 'lazy'])
      .default('auto')
      .describe(
        "When to compile each operation's validators: eager at load (a broken schema fails the load), lazy on first use (cached), auto: eager up to 300 operations.",
      ),
  })
  .strict();

export type RequestValidationConfig = z.output<typeof schema>;

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'request-validation',
  order: 2600,
  description:
    'Validates requests against an OpenAPI 3.0 / 3.1 operation: path, query, header and cookie parameters (every style), the media type and the JSON, form or multipart body (ajv), readOnly fields refused; unknown operations refused in strict mode. Errors point at the field without echoing it.',
} as const satisfies PolicyMeta;
