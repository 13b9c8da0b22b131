import { z } from 'zod';
import { cidrErrors } from '../../core/client-ip.js';

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
