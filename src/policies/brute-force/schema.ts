import { z } from 'zod';
import { int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

export const schema = z
  .object({
    max_failures: int(1, 1000)
      .default(5)
      .describe('Failed authentications allowed within window_s, per client address and per credential; then locked.'),
    window_s: int(1, 86_400).default(60).describe('Seconds over which failures are counted.'),
    lockout_s: int(1, 86_400).default(60).describe('First lockout, in seconds; it doubles on each repeat lockout.'),
    max_lockout_s: int(1, 604_800).default(3_600).describe('Longest lockout, in seconds.'),
    deny_ip_for_s: int(1, 604_800)
      .optional()
      .describe(
        'Also put an address that gets locked out on the dynamic deny list for this many seconds: every route with ip-filter `dynamic: true` then refuses it (403, in the connect phase), on every worker and node.',
      ),
    on_state_error: z
      .enum(['fail-open', 'fail-closed', 'local'])
      .default('local')
      .describe(
        'When the shared counters fail (Redis down): local counts in this process meanwhile (per process only), fail-open neither counts nor refuses, fail-closed answers 503 STATE_UNAVAILABLE. Logged at most every 10 s and counted in rampart_state_errors_total.',
      ),
  })
  .strict()
  .refine((c) => c.max_lockout_s >= c.lockout_s, {
    path: ['max_lockout_s'],
    message: 'max_lockout_s must be at least lockout_s',
  });

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'brute-force',
  order: 1000,
  description:
    'Locks out a client address or a credential after repeated failed authentications (429 + Retry-After), doubling on repeats; counts exact across workers and nodes through the shared state, and may add the address to the dynamic deny list.',
} as const satisfies PolicyMeta;
