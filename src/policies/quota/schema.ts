import { z } from 'zod';
import { bool, headerName, int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';
import { keyPart } from '../rate-limit/schema.js';
import { isTimeZone } from './periods.js';

const units = int(0, 1_000_000_000_000);

/** Units allowed per calendar period; at least one period. */
const limits = z
  .object({
    hour: units.optional().describe('Units per clock hour.'),
    day: units.optional().describe('Units per calendar day (midnight to midnight in time_zone).'),
    week: units.optional().describe('Units per ISO week (Monday 00:00 to Monday 00:00 in time_zone).'),
    month: units.optional().describe('Units per calendar month (the 1st, 00:00, in time_zone).'),
  })
  .strict();

const plan = limits
  .extend({
    roles: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Callers with any of these roles (consumer groups, mapped token roles) are on this plan when their plan_attribute names none.',
      ),
  })
  .strict()
  .refine((p) => p.hour !== undefined || p.day !== undefined || p.week !== undefined || p.month !== undefined, {
    message: 'set at least one of hour, day, week, month',
  });

export const schema = z
  .object({
    limits: limits
      .refine((p) => Object.values(p).some((v) => v !== undefined), {
        message: 'set at least one of hour, day, week, month',
      })
      .optional()
      .describe('The quota for every caller, e.g. { month: 10000 } (or plans, for a quota per plan).'),
    plans: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "." and "-"'), plan)
      .optional()
      .describe(
        'Quotas per plan, e.g. { free: { month: 1000 }, pro: { month: 100000, roles: [admin] } }. A caller is on the plan its plan_attribute names, else the first plan listing one of its roles, else default_plan.',
      ),
    default_plan: z.string().optional().describe('The plan of a caller without one (required with plans).'),
    plan_attribute: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/)
      .default('plan')
      .describe("The consumer attribute (or, for tokens without a consumer, the claim) naming the caller's plan."),
    key: z
      .array(keyPart())
      .min(1)
      .default(['consumer'])
      .describe(
        'What the quota is counted per, parts combined (as rate-limit): default the consumer. A part the request lacks falls back to the client IP.',
      ),
    time_zone: z
      .string()
      .refine(isTimeZone, 'an IANA time zone such as "UTC" or "Europe/Paris"')
      .default('UTC')
      .describe(
        'Where periods begin: days at local midnight, months on the 1st (IANA name; daylight saving followed).',
      ),
    cost: z
      .union([int(0, 1_000_000_000), z.object({ header: headerName }).strict()])
      .default(1)
      .describe(
        'Units one request uses: a number, or { header: name } for an integer the client sends (absent or 0: 1). A request costing more than what is left is refused and uses nothing.',
      ),
    headers: bool()
      .default(true)
      .describe(
        'Send the quota headers on successful responses too (always on a 429): RateLimit-Policy / RateLimit items "quota-<period>" (w = the period\'s length in seconds, t = seconds to its end) and X-Quota-Limit, X-Quota-Remaining, X-Quota-Reset (seconds to the end of the period with the fewest units left).',
      ),
    ipv6_prefix: int(32, 128).default(64).describe('IPv6 clients are counted per network of this prefix length.'),
    on_state_error: z
      .enum(['fail-open', 'fail-closed', 'local'])
      .default('local')
      .describe(
        'When the shared counters fail (Redis down): local counts in this process meanwhile (from zero, exact per process only), fail-open lets requests through, fail-closed answers 503 STATE_UNAVAILABLE. Logged at most every 10 s and counted in rampart_state_errors_total; the next request tries the shared counters again.',
      ),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.limits === undefined) === (c.plans === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'set exactly one of limits and plans', path: ['limits'] });
    }
    if (c.plans !== undefined) {
      if (c.default_plan === undefined)
        ctx.addIssue({ code: 'custom', message: 'plans need a default_plan', path: ['default_plan'] });
      else if (!(c.default_plan in c.plans))
        ctx.addIssue({ code: 'custom', message: `no plan "${c.default_plan}" in plans`, path: ['default_plan'] });
    } else if (c.default_plan !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'default_plan applies with plans only', path: ['default_plan'] });
    }
  });

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'quota',
  order: 2420,
  description:
    'Quotas per calendar hour, day, week or month (in a time zone) per consumer or other key, with limits per plan; exact across workers and nodes through the shared state; 429 QUOTA_EXCEEDED with Retry-After to the next period, and quota headers.',
} as const satisfies PolicyMeta;
