import { z } from 'zod';
import { bool, headerName, int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

export const schema = z
  .object({
    header: headerName.default('x-api-key').describe('Request header that carries the key.'),
    query_param: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a query parameter name: letters, digits, "_", "." and "-"')
      .optional()
      .describe(
        'Also accept the key in this query parameter (when the header is absent). Off unless set: URLs end up in access logs, browser history and Referer headers, so set it only on the route that needs it.',
      ),
    cache_ttl_ms: int(0, 1000)
      .default(500)
      .describe(
        'How long a worker reuses a credential lookup (found or not) before asking the store again: revocation, expiry changes, a disabled or deleted consumer take effect on every worker within this time (at most 1 s).',
      ),
    hide_credentials: bool()
      .default(true)
      .describe('Remove the key (header or query parameter) from the request sent upstream.'),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'api-key',
  order: 1200,
  description:
    'API keys (rmpk_…) from a header (or, only where a route says so, a query parameter), checked against the store: keyed hash compared in constant time, scopes, allowed routes, expiry, revocation within cache_ttl_ms on every worker.',
} as const satisfies PolicyMeta;
