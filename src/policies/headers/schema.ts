import { z } from 'zod';
import { headerName, SENSITIVE_HEADER } from '../../config/types.js';

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
