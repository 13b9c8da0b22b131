import { z } from 'zod';
import { bool, headerName, int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

export const schema = z
  .object({
    hsts: z
      .object({
        enabled: bool().default(true),
        max_age: int(0).default(31_536_000),
        include_subdomains: bool().default(true),
        preload: bool().default(false),
      })
      .strict()
      .default({ enabled: true, max_age: 31_536_000, include_subdomains: true, preload: false })
      .describe('Strict-Transport-Security, sent on TLS connections only (RFC 6797).'),
    content_type_options: bool().default(true).describe('X-Content-Type-Options: nosniff'),
    frame_options: z.enum(['DENY', 'SAMEORIGIN', 'off']).default('DENY'),
    content_security_policy: z.string().default("default-src 'none'; frame-ancestors 'none'"),
    referrer_policy: z.string().default('no-referrer'),
    remove: z
      .array(headerName)
      .default(['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version'])
      .describe('Response headers that reveal the upstream stack.'),
    no_store_when_authenticated: bool()
      .default(true)
      .describe(
        'Cache-Control: no-store on answers to authenticated requests (an identity was established, or Authorization / Cookie was sent), unless the upstream set one.',
      ),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'security-headers',
  order: 400,
  description:
    'Safe response headers for APIs (nosniff, CSP, frame and referrer policy, HSTS on TLS) and strips stack banners.',
} as const satisfies PolicyMeta;
