import { z } from 'zod';
import { bool, headerName, int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';

const UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "500ms", "10s", "1m", "1h", "1d" → milliseconds, or null. */
export function parseWindow(w: string): number | null {
  const m = /^([1-9][0-9]{0,9})(ms|s|m|h|d)$/.exec(w);
  return m ? Number(m[1]) * UNITS_MS[m[2] as keyof typeof UNITS_MS] : null;
}

/** What a counter is kept per: parts joined, so ["consumer", "route"] is one counter per consumer and route. */
export const KEY_PART =
  /^(ip|consumer|credential|subject|route|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|claim:[A-Za-z0-9_.:-]+)$/;

/**
 * One part of a counter key (ip, consumer, credential, subject, route, header:<name>, claim:<name>), the same in
 * rate-limit, quota and concurrency-limit; header names are folded to lower case.
 */
export const keyPart = () =>
  z
    .string()
    .regex(KEY_PART, 'ip, consumer, credential, subject, route, header:<name> or claim:<name>')
    .transform((k) => (k.startsWith('header:') ? `header:${k.slice(7).toLowerCase()}` : k));

const limit = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "." and "-" (it appears in the RateLimit headers)')
      .describe('Names the limit in the counters and the RateLimit / RateLimit-Policy headers.'),
    limit: int(1, 1_000_000_000).describe('Units (requests, or the cost of each) allowed per window.'),
    window: z
      .string()
      .refine((w) => parseWindow(w) !== null, 'a duration such as "500ms", "10s", "1m", "1h" or "1d"')
      .optional()
      .describe('The window, e.g. "1s", "1m", "1h" (or window_ms).'),
    window_ms: int(1, 366 * 86_400_000)
      .optional()
      .describe('The window in milliseconds (or window).'),
    algorithm: z
      .enum(['gcra', 'sliding-window'])
      .default('gcra')
      .describe(
        'gcra: a steady rate of limit/window with bursts up to `burst` (smooth, one value per key); sliding-window: at most `limit` in any window.',
      ),
    burst: int(1, 1_000_000_000)
      .optional()
      .describe('gcra only: units allowed at once above the steady rate (default: limit, a whole window at once).'),
    key: z
      .array(keyPart())
      .min(1)
      .default(['ip'])
      .describe(
        'What the counter is kept per, parts combined: ip (after trusted proxies), consumer, credential, subject, route, header:<name>, claim:<name>. A part the request lacks (no identity on a public route, no such header) falls back to the client IP.',
      ),
    cost: z
      .union([int(0, 1_000_000_000), z.object({ header: headerName }).strict()])
      .default(1)
      .describe(
        'Units one request uses: a number, or { header: name } to read an integer from a request header (absent or 0: 1, since the client writes it; not an integer: 400). A request costing more than `limit` is always refused.',
      ),
  })
  .strict()
  .superRefine((l, ctx) => {
    if ((l.window === undefined) === (l.window_ms === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'set exactly one of window and window_ms', path: ['window'] });
    }
    if (l.burst !== undefined && l.algorithm !== 'gcra') {
      ctx.addIssue({ code: 'custom', message: 'burst applies to the gcra algorithm only', path: ['burst'] });
    }
  });

export const schema = z
  .object({
    limits: z
      .array(limit)
      .min(1)
      .superRefine((ls, ctx) => {
        const seen = new Set<string>();
        ls.forEach((l, i) => {
          if (seen.has(l.name))
            ctx.addIssue({ code: 'custom', message: `duplicate limit "${l.name}"`, path: [i, 'name'] });
          seen.add(l.name);
        });
      })
      .describe(
        'Every limit a request must pass, checked in this order (put the strictest first): a refused request uses nothing from the limits after the one that refused it, but has used one unit from those before it.',
      ),
    headers: bool()
      .default(true)
      .describe('Send RateLimit-Policy and RateLimit on successful responses too (always sent on a 429).'),
    ipv6_prefix: int(32, 128)
      .default(64)
      .describe(
        'IPv6 clients are counted per network of this prefix length (a subscriber usually holds a whole /64, so counting per address would let it rotate addresses to escape the limit); 128 counts every address apart. IPv4 is counted per address.',
      ),
    on_state_error: z
      .enum(['fail-open', 'fail-closed', 'local'])
      .default('local')
      .describe(
        'When the shared counters fail (Redis down): local counts in this process meanwhile (exact per process only), fail-open lets requests through, fail-closed answers 503 STATE_UNAVAILABLE. Logged at most every 10 s and counted in rampart_state_errors_total; the next request tries the shared counters again.',
      ),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'rate-limit',
  order: 2400,
  description:
    'Named rate limits (GCRA or sliding window) per IP, consumer, credential, subject, route, header or claim, exact across workers and nodes through the shared state; 429 with Retry-After and the IETF RateLimit / RateLimit-Policy headers.',
} as const satisfies PolicyMeta;
