import { z } from 'zod';
import { bool } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

export const schema = z
  .object({
    requests: bool()
      .default(true)
      .describe(
        'An event for every request (with the deciding rule and its security events); false keeps only the security events.',
      ),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'audit',
  order: 20,
  description:
    'Writes every request and its security events to the tamper-evident audit log (top-level `audit:`); set it globally so unrouted requests are audited too. With audit.durability sync, the response waits until its event is on disk.',
} as const satisfies PolicyMeta;
