import { z } from 'zod';
import { bool, int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';
import { jsonPath } from '../response-filter/schema.js';

export const schema = z
  .object({
    fields: z
      .array(jsonPath)
      .default([])
      .describe('Request JSON members replaced by tokens before the upstream sees them ($.card.number).'),
    kind: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,31}$/)
      .default('card')
      .describe('Label kept with each token (what kind of value it stands for); detokenize restores only its kind.'),
    deterministic: bool()
      .default(false)
      .describe(
        'false: a random token per value sent; true: one token per value (a keyed HMAC, keyring purpose "tokenize"), so the upstream can join on it. Changes after a data-key rotation.',
      ),
    ttl_seconds: int(1)
      .optional()
      .describe('Tokens (and the values they hold) expire after this long; kept until deleted otherwise.'),
    detokenize: bool()
      .default(false)
      .describe('On this route, tokens in the JSON answer are replaced by their values (for `roles` only).'),
    detokenize_fields: z
      .array(jsonPath)
      .optional()
      .describe('Where tokens may be restored in the answer; anywhere a whole string is a token when not given.'),
    roles: z
      .array(z.string().min(1))
      .default([])
      .describe('Callers allowed to receive restored values; with none listed, every caller of the route.'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!c.fields.length && !c.detokenize) {
      ctx.addIssue({ code: 'custom', path: ['fields'], message: 'name fields to tokenize, or set detokenize: true' });
    }
  });

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'tokenize',
  order: 2950,
  description:
    'Replaces request fields (card numbers) by tokens before the upstream, keeps the values encrypted in the store, and restores them only on routes and for roles allowed to (PCI scope reduction).',
} as const satisfies PolicyMeta;
