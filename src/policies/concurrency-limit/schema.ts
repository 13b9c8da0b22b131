import { z } from 'zod';
import { int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';
import { keyPart } from '../rate-limit/schema.js';

export const schema = z
  .object({
    limit: int(1, 1_000_000).describe('Most requests in flight at once per key.'),
    key: z
      .array(keyPart())
      .min(1)
      .default(['consumer'])
      .describe(
        'What requests are counted per, parts combined (as rate-limit): [consumer] (default; anonymous callers by IP), [route] for a cap on a whole route, [ip] ...',
      ),
    status: z
      .union([z.literal(429), z.literal(503)])
      .default(429)
      .describe(
        '429 CONCURRENCY_LIMITED (a client rationed) or 503 CONCURRENCY_SATURATED (an upstream protected) when the limit is reached.',
      ),
    retry_after_s: int(1, 3600).default(1).describe('Retry-After sent with the refusal, in seconds.'),
    slot_ttl_s: int(1, 86_400)
      .default(300)
      .describe(
        'A slot not released within this time is freed by itself: what a crashed worker held comes back. A request (or WebSocket) that lasts longer stops counting after it.',
      ),
    ipv6_prefix: int(32, 128).default(64).describe('IPv6 clients are counted per network of this prefix length.'),
    on_state_error: z
      .enum(['fail-open', 'fail-closed', 'local'])
      .default('local')
      .describe(
        'When the shared state fails (Redis down): local counts the slots of this process meanwhile, fail-open lets requests through, fail-closed answers 503 STATE_UNAVAILABLE. Logged at most every 10 s and counted in rampart_state_errors_total.',
      ),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'concurrency-limit',
  order: 2440,
  description:
    'Caps requests in flight per consumer, route, IP or other key, exact across workers and nodes through the shared state; a slot is taken in the request phase and given back when the request has finished (log phase), or lapses after slot_ttl_s.',
} as const satisfies PolicyMeta;
