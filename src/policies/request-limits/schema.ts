import { z } from 'zod';
import { int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

export const schema = z
  .object({
    max_body_bytes: int(0).default(1_048_576).describe('Largest request body (413 above it), checked while streaming.'),
    max_url_length: int(16).default(8192).describe('Longest request target, path and query (414 above it).'),
    max_headers: int(1).default(100).describe('Most request header fields (431 above it).'),
    max_header_bytes: int(16).default(8192).describe('Longest single header value (431 above it).'),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'request-limits',
  order: 200,
  description: 'Caps URL length, header count and size, and body size before anything reads the body.',
} as const satisfies PolicyMeta;
