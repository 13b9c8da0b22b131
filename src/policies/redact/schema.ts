import { z } from 'zod';
import { bool } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';
import { DETECTORS } from './detectors.js';

export const ACTIONS = ['mask', 'hash', 'remove', 'block'] as const;
const action = z.enum(ACTIONS);
const detector = z.enum(DETECTORS);

export const schema = z
  .object({
    detectors: z
      .array(detector)
      .min(1)
      .default([...DETECTORS])
      .describe('What to look for in string values (and text bodies); all by default.'),
    action: action
      .default('mask')
      .describe(
        'mask keeps the last digits / the mail domain (secrets become [REDACTED:type]); hash puts a keyed HMAC (keyring) so values can be correlated but not guessed; remove drops the JSON member (or the text); block withholds the answer.',
      ),
    actions: z
      .partialRecord(detector, action)
      .default({})
      .describe('Per detector override of `action`, e.g. {private_key: block, email: hash}.'),
    field_names: z
      .array(z.string().min(1))
      .default([])
      .describe('JSON member names whose values are redacted whatever they hold (case-insensitive), e.g. password.'),
    text: bool().default(false).describe('Also scan text/* bodies (JSON bodies are always scanned).'),
    requests: bool()
      .default(false)
      .describe(
        'Also redact JSON request bodies before they are forwarded (routes to third parties); block refuses with 422.',
      ),
    upstream_errors: z
      .enum(['replace', 'pass'])
      .default('replace')
      .describe(
        'replace: an upstream 5xx that is an HTML page or holds a stack trace (Java, Python, Node, .NET, PHP, Ruby, Go) becomes problem+json UPSTREAM_ERROR.',
      ),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'redact',
  order: 2850,
  description:
    'Finds personal data and secrets (email, phone, cards with Luhn, IBAN, SSN/NINO, API keys, JWTs, private keys) in answers and masks, hashes, removes or blocks; replaces upstream error pages and stack traces.',
} as const satisfies PolicyMeta;
