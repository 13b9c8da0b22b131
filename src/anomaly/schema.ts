import { z } from 'zod';
import { bool, int, ratio, secret } from '../config/types.js';

const severity = z.enum(['low', 'medium', 'high', 'critical']);

/** What every detector has: on/off, the alert's severity, and the optional deny-list action. */
function detector<T extends z.ZodRawShape>(shape: T, defaults: { severity: z.infer<typeof severity> }) {
  return z
    .object({
      enabled: bool().default(true),
      severity: severity.default(defaults.severity),
      deny_for_s: int(1, 7 * 86_400)
        .optional()
        .describe(
          "Also put the alert's client address on the dynamic deny list for this many seconds (off by default: an alert alone blocks nothing).",
        ),
      ...shape,
    })
    .strict();
}

const window = (d: number) => int(1, 86_400).default(d).describe('Sliding window, in seconds.');

export const anomalySchema = z
  .object({
    enabled: bool().default(true),
    cooldown_s: int(0, 86_400)
      .default(300)
      .describe('After an alert, the same detector stays silent for the same source this long (no alert storms).'),
    max_keys: int(100, 10_000_000)
      .default(50_000)
      .describe('Most sources/routes/paths each detector tracks; the least recently seen are forgotten first.'),
    webhook: z
      .object({
        url: z.url(),
        secret: secret()
          .optional()
          .describe(
            'HMAC-SHA256 key: X-Rampart-Signature: sha256=hex(HMAC(secret, X-Rampart-Timestamp + "." + body)).',
          ),
        timeout_ms: int(100, 60_000).default(5_000),
        retries: int(0, 20).default(5).describe('Further attempts after a 5xx, 429 or connection error.'),
        max_queue: int(1, 100_000).default(1_000).describe('Alerts waiting for the webhook; the oldest go first.'),
      })
      .strict()
      .optional()
      .describe('POSTs each alert as JSON. Alerts always go to the audit log as well ("anomaly.<detector>").'),
    detectors: z
      .object({
        auth_failure_burst: detector(
          { window_s: window(60), threshold: int(2, 1_000_000).default(20).describe('Failures from one address.') },
          { severity: 'high' },
        ).prefault({}),
        credential_stuffing: detector(
          {
            window_s: window(600),
            distinct_credentials: int(2, 100_000)
              .default(8)
              .describe('Different credentials (key ids, users) failing from one address.'),
          },
          { severity: 'high' },
        ).prefault({}),
        enumeration: detector(
          {
            window_s: window(120),
            distinct_ids: int(2, 100_000)
              .default(40)
              .describe('Different object ids on one route from one consumer (or address).'),
            min_denied_share: ratio()
              .default(0.5)
              .describe('Share of those requests answered 403/404 needed (a scan mostly misses).'),
          },
          { severity: 'high' },
        ).prefault({}),
        rate_baseline: detector(
          {
            interval_s: int(1, 3_600).default(60).describe('Length of one counting interval, in seconds.'),
            factor: z.number().min(1.5).max(10_000).default(10).describe('Alert above factor × the own baseline.'),
            floor: int(1, 10_000_000).default(300).describe('Never alert below this many requests per interval.'),
            warmup_intervals: int(1, 1_000).default(5).describe('Intervals seen before a baseline is trusted.'),
            alpha: ratio().default(0.2).describe('EWMA weight of the newest interval.'),
          },
          { severity: 'medium' },
        ).prefault({}),
        shadow_api: detector(
          {
            window_s: window(600),
            threshold: int(2, 1_000_000)
              .default(30)
              .describe('Requests to one undeclared path shape (ids folded to {id}).'),
            min_sources: int(1, 10_000).default(1).describe('Different consumers/addresses among them.'),
            ignore: z
              .array(z.string().startsWith('/'))
              .default(['/favicon.ico', '/robots.txt', '/.well-known/'])
              .describe('Path prefixes never reported (browser and crawler noise).'),
          },
          { severity: 'medium' },
        ).prefault({}),
        error_spike: detector(
          {
            window_s: window(60),
            min_requests: int(1, 10_000_000).default(50).describe('Requests on the route in the window first.'),
            min_share: ratio().default(0.2).describe('5xx share that is always too high.'),
            factor: z.number().min(1).max(1_000).default(3).describe('…and at least factor × the usual 5xx share.'),
            alpha: ratio().default(0.2).describe('EWMA weight of the newest window for the usual share.'),
          },
          { severity: 'high' },
        ).prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .describe(
    'Real-time anomaly detection on the audit stream: alerts (audit log + optional webhook), optional deny-list action.',
  );

export type AnomalyConfig = z.output<typeof anomalySchema>;
export type DetectorName = keyof AnomalyConfig['detectors'];
