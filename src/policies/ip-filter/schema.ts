import { z } from 'zod';
import { bool } from '../../config/types.js';
import { cidrErrors } from '../../core/client-ip.js';
import type { PolicyMeta } from '../../core/policy.js';

/** One address or CIDR, checked at load so that a bad rule fails with its field path (`deny.2`). */
const cidr = z.string().superRefine((c, ctx) => {
  for (const e of cidrErrors([c])) ctx.addIssue({ code: 'custom', message: e.message });
});

export const schema = z
  .object({
    allow: z
      .array(cidr)
      .optional()
      .describe(
        'Only these addresses and CIDRs (IPv4 or IPv6; IPv4-mapped IPv6 counts as IPv4) may connect: everything else is refused. Absent: no allow list.',
      ),
    deny: z.array(cidr).default([]).describe('Addresses and CIDRs refused with 403 IP_DENIED. Deny wins over allow.'),
    dynamic: bool()
      .default(true)
      .describe(
        'Also refuse addresses on the dynamic deny list (entries with an expiry that brute-force or anomaly detection add to the shared state; shared across nodes with Redis). Needs the shared state; without one only the static lists apply.',
      ),
    on_state_error: z
      .enum(['fail-open', 'fail-closed'])
      .default('fail-open')
      .describe(
        'When the dynamic deny list cannot be read (Redis down): fail-open lets the request through on the static lists alone (logged, at most every 10 s); fail-closed answers 503 STATE_UNAVAILABLE.',
      ),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'ip-filter',
  order: 150,
  description:
    'Allow and deny lists of IPv4/IPv6 CIDRs on the client address from trusted proxies only (deny wins; an allow list refuses the rest), plus a dynamic deny list with expiry in the shared state. Runs in the connect phase.',
} as const satisfies PolicyMeta;
