import { z } from 'zod';
import { bool, int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

/** An exact value, or one with a single "*" (compiled at load; see policy.ts for what "*" may span). */
const pattern = z
  .string()
  .min(1)
  .refine((s) => s.split('*').length <= 2, { message: 'at most one "*" per pattern' });

const MATCHERS = ['san_uri', 'san_dns', 'san_email', 'cn', 'subject', 'issuer'] as const;

export const rule = z
  .object({
    san_uri: pattern.optional().describe('A URI SAN, e.g. "spiffe://acme.example/ns/prod/*" ("*" spans anything).'),
    san_dns: pattern.optional().describe('A DNS SAN, case-insensitive, e.g. "*.svc.acme.example" ("*" is one label).'),
    san_email: pattern
      .optional()
      .describe('An email SAN, case-insensitive ("*" stays within the local part or domain).'),
    cn: pattern.optional().describe("The subject's common name."),
    subject: pattern
      .optional()
      .describe('The whole subject DN as "O=Acme,CN=alice", in the certificate\'s order ("*" stays within one RDN).'),
    issuer: pattern.optional().describe('The issuer DN, same form as subject.'),
    consumer: z.string().min(1).describe('Name of the consumer a matching certificate maps to.'),
  })
  .strict()
  .refine((r) => MATCHERS.some((k) => r[k] !== undefined), {
    message: `a rule needs at least one of ${MATCHERS.join(', ')}`,
  });

export type MatchRule = z.output<typeof rule>;

export const schema = z
  .object({
    fingerprints: bool()
      .optional()
      .describe(
        'Look the certificate up by its SHA-256 fingerprint among the store\'s "mtls" credentials (`rampart certs bind`). Default: on when a store is configured.',
      ),
    match: z
      .array(rule)
      .default([])
      .describe(
        'Rules tried in order after the fingerprint; every field given in a rule must match; the first match wins.',
      ),
    require: bool()
      .default(false)
      .describe(
        'Refuse (401) a verified certificate that maps to no consumer; otherwise other identity policies may still recognise the caller.',
      ),
    cache_ttl_ms: int(0, 1000)
      .default(500)
      .describe(
        'How long a store lookup is reused; a revoked binding or disabled consumer is refused after at most this.',
      ),
  })
  .strict();

export type MtlsIdentityConfig = z.output<typeof schema>;

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'mtls-identity',
  order: 1100,
  description:
    'Maps a verified client certificate to a consumer: by its fingerprint bound in the store (`rampart certs bind`) or by SAN/subject rules.',
} as const satisfies PolicyMeta;
