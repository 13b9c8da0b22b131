import { z } from 'zod';
import { bool, headerName, httpMethod, int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

/** Origins no allowlist means to include: a credentialed regex that matches one is refused at load. */
const BROAD_PROBES = [
  'null',
  'https://rampart-probe.invalid',
  'http://rampart-probe.invalid',
  'https://x.y.rampart-probe.invalid:8443',
];

export const schema = z
  .object({
    origins: z
      .array(z.string().min(1))
      .min(1)
      .describe('Allowed origins: exact ("https://app.example.com"), "*" (only without credentials), or "~regex".'),
    methods: z.array(httpMethod).default(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
    headers: z.array(headerName).default(['content-type', 'authorization']).describe('Request headers allowed.'),
    expose_headers: z.array(headerName).default([]),
    credentials: bool().default(false),
    max_age: int(0, 86400).default(600).describe('Seconds a preflight answer may be cached.'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    // Reflecting any origin together with credentials lets every site read authenticated answers.
    if (cfg.credentials && cfg.origins.includes('*')) {
      ctx.addIssue({ code: 'custom', path: ['origins'], message: '"*" cannot be combined with credentials: true' });
    }
    cfg.origins.forEach((o, i) => {
      if (o.startsWith('~')) {
        let re: RegExp;
        try {
          re = new RegExp(`^(?:${o.slice(1)})$`);
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: ['origins', i], message: `invalid regex: ${(e as Error).message}` });
          return;
        }
        // With credentials, a pattern that also matches origins nobody listed would reflect them: refuse it.
        const probe = cfg.credentials ? BROAD_PROBES.find((p) => re.test(p)) : undefined;
        if (probe) {
          ctx.addIssue({
            code: 'custom',
            path: ['origins', i],
            message: `with credentials: true this pattern is too broad (it matches "${probe}"); anchor it to your domains`,
          });
        }
      } else if (o !== '*' && !/^https?:\/\/[^/?#\s]+$/.test(o)) {
        ctx.addIssue({ code: 'custom', path: ['origins', i], message: 'an origin is scheme://host[:port], no path' });
      }
    });
  });

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'cors',
  order: 300,
  description: 'CORS with an origin allowlist; answers preflights; never reflects an unlisted origin.',
} as const satisfies PolicyMeta;
