import { z } from 'zod';
import { headerName, SENSITIVE_HEADER } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

/** Connection-level headers the proxy owns; editing them would break framing or smuggle requests. */
export const RESERVED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
  'host',
  'proxy-connection',
]);

const name = headerName.refine((h) => !RESERVED.has(h), { message: 'this header is managed by the proxy' });
const edits = z
  .object({
    // Values of credential headers count as secrets: inline ones are refused in production.
    set: z
      .record(name, z.string())
      .meta({ secretWhenKey: SENSITIVE_HEADER.source })
      .default({})
      .describe('Replace (or create) these headers.'),
    add: z
      .record(name, z.string())
      .meta({ secretWhenKey: SENSITIVE_HEADER.source })
      .default({})
      .describe('Append a value to these headers.'),
    remove: z.array(name).default([]).describe('Remove these headers.'),
  })
  .strict();

export const schema = z
  .object({
    request: edits.default({ set: {}, add: {}, remove: [] }).describe('Edits to the request sent upstream.'),
    response: edits.default({ set: {}, add: {}, remove: [] }).describe('Edits to the response sent to the client.'),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'headers',
  order: 900,
  description: 'Sets, appends or removes request headers sent upstream and response headers sent back.',
} as const satisfies PolicyMeta;
