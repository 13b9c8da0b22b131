import { z } from 'zod';
import { bool, headerName } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

export const schema = z
  .object({
    header: headerName.default('x-request-id').describe('Header that carries the id upstream and back.'),
    trust_incoming: bool()
      .default(false)
      .describe('Keep a well-formed id sent by the client (only behind a proxy you trust to set it).'),
    echo: bool().default(true).describe('Send the id back in the response.'),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'request-id',
  order: 100,
  description: 'Gives every request an id, sent upstream, echoed back and written to every log line.',
} as const satisfies PolicyMeta;
