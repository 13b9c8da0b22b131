import { z } from 'zod';
import type { PolicyMeta } from '../../core/policy.js';
import { jsonPath } from '../response-filter/schema.js';

export const schema = z
  .object({
    fields: z
      .array(jsonPath)
      .min(1)
      .describe('Response members to encrypt for the caller (JSONPath subset: $.card.number, $.items[*].ssn).'),
    key_attribute: z
      .string()
      .min(1)
      .default('encryption_jwk')
      .describe(
        "The consumer attribute holding the caller's public JWK (EC P-256/384/521, X25519 or RSA >= 2048 bits), as a JSON object or JSON text.",
      ),
    on_missing_key: z
      .enum(['block', 'remove'])
      .default('block')
      .describe(
        'A caller without a usable key: block the answer (FIELD_ENCRYPTION_UNAVAILABLE) or remove the fields. Never clear text.',
      ),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'field-encryption',
  order: 2900,
  description:
    "Encrypts chosen response fields as JWE (ECDH-ES+A256KW or RSA-OAEP-256, A256GCM) for the caller's registered public key, so only the end client reads them.",
} as const satisfies PolicyMeta;
