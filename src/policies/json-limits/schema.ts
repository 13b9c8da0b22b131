import { z } from 'zod';
import { bool, int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

export const schema = z
  .object({
    max_depth: int(1, 1000).default(32).describe('Deepest nesting of objects and arrays.'),
    max_keys: int(1, 1_000_000).default(1000).describe('Most keys in one object.'),
    max_array_length: int(1, 10_000_000).default(10_000).describe('Most items in one array.'),
    max_string_bytes: int(1).default(1_048_576).describe('Longest string (key or value), in bytes as sent.'),
    max_total_bytes: int(2)
      .optional()
      .describe('Largest JSON body in bytes (default: the body cap of request-limits, at most 8 MiB).'),
    sniff_untyped: bool()
      .default(true)
      .describe(
        'Also check bodies sent without a Content-Type that start like JSON ("{" or "["): an upstream may parse them as JSON anyway.',
      ),
  })
  .strict();

export type JsonLimitsConfig = z.output<typeof schema>;

/**
 * Name, position and description in the one ordered list (registered in policies/schemas.ts). Right after the
 * identity gate (2000), so an anonymous body is never parsed, and before authorization (object-access reads ids from
 * JSON bodies): nothing parses a body these limits have not checked.
 */
export const meta = {
  name: 'json-limits',
  order: 2050,
  description:
    'Structural limits on every JSON request body (depth, keys, array length, string length, size) and refusal of duplicate keys, __proto__ / constructor.prototype keys, NUL and malformed Unicode, in one linear pass before the body is parsed once.',
} as const satisfies PolicyMeta;
