import { z } from 'zod';
import { int, ratio } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

export const schema = z
  .object({
    max_in_flight: int(1)
      .default(1000)
      .describe('Requests in flight in this process (all routes) that count as full load.'),
    max_event_loop_delay_ms: int(1)
      .default(200)
      .describe('Event-loop delay (p99 over the last sample interval) that counts as full load.'),
    sample_interval_ms: int(50, 10_000)
      .default(500)
      .describe('How often the event-loop delay is sampled (the p99 of each interval; never per request).'),
    retry_after_s: int(1, 3600).default(5).describe('Retry-After on a shed request.'),
    shed_at: z
      .object({
        low: ratio().default(0.6),
        normal: ratio().default(0.8),
        high: ratio().default(0.95),
      })
      .strict()
      .default({ low: 0.6, normal: 0.8, high: 0.95 })
      .refine((s) => s.low <= s.normal && s.normal <= s.high, 'shed_at must rise: low <= normal <= high')
      .describe(
        'Load (the larger of in-flight / max_in_flight and event-loop delay / max_event_loop_delay_ms) at which each priority starts being shed. Critical routes are never shed.',
      ),
    recover_below: ratio()
      .default(0.8)
      .describe('Hysteresis: a priority being shed is served again once the load falls below shed_at × recover_below.'),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'load-shed',
  order: 120,
  description:
    'Under overload (event-loop delay or requests in flight past thresholds) answers 503 OVERLOADED with Retry-After, lowest route priority first; recovers by itself.',
} as const satisfies PolicyMeta;
