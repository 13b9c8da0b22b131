import { z } from 'zod';
import { cidrErrors } from '../../core/client-ip.js';
import type { PolicyMeta } from '../../core/policy.js';

export const schema = z
  .object({
    trusted: z
      .object({
        cidrs: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .describe('Client addresses (after trusted_proxies) that may ask for the decision header.'),
        roles: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .describe('Roles of which the caller must have at least one to ask for it.'),
      })
      .strict()
      .superRefine((t, ctx) => {
        if (!t.cidrs && !t.roles)
          ctx.addIssue({ code: 'custom', path: [], message: 'give cidrs:, roles: or both (both must then hold)' });
        for (const e of cidrErrors(t.cidrs ?? []))
          ctx.addIssue({ code: 'custom', path: ['cidrs', e.index], message: e.message });
      })
      .describe('Who may see decisions: every criterion given must hold (an address in cidrs AND one of roles).'),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'decision-debug',
  // Lowest of the response phases that touch the answer (they run in reverse order), so the header is added last,
  // after every other policy has decided and decorated, and on local errors (a 403) too.
  order: 50,
  description:
    'Trusted callers that send `x-rampart-debug: decision` get `x-rampart-decision` listing each authorization decision as "effect policy:rule" (never reasons). Trusted: every configured criterion holds (client address, role).',
} as const satisfies PolicyMeta;
