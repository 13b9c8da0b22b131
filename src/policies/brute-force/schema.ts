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
    'Locks out a client address or a credential after repeated failed authentications (429 + Retry-After), doubling on repeats; counts per process.',
} as const satisfies PolicyMeta;
