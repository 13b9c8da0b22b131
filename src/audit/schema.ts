import { z } from 'zod';
import { anomalySchema } from '../anomaly/schema.js';
import { bool, int } from '../config/types.js';
import { sinksSchema } from './sinks/schema.js';

const UNITS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 365 * 86_400_000 } as const;

/** "90s", "15m", "24h", "30d", "2w", "7y" → milliseconds, or null. */
export function parseAge(s: string): number | null {
  const m = /^([1-9][0-9]{0,6})([smhdwy])$/.exec(s);
  return m ? Number(m[1]) * UNITS[m[2] as keyof typeof UNITS] : null;
}

const age = () =>
  z.string().refine((s) => parseAge(s) !== null, 'a duration such as "90s", "24h", "30d", "2w" or "7y"');

/** Top-level `audit:` block: the tamper-evident audit log (src/audit). */
export const auditSchema = z
  .object({
    enabled: bool().default(true),
    dir: z
      .string()
      .min(1)
      .default('audit')
      .describe(
        'Folder of the hash-chained segments; relative to data_dir. One chain per process (see docs/architecture.md).',
      ),
    node_id: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional()
      .describe('Names this node in events; default: hostname.'),
    durability: z
      .enum(['async', 'sync'])
      .default('async')
      .describe(
        'async: a response never waits; a process crash loses at most the events not yet written (flush_ms), a machine crash those not yet fsynced (fsync_ms). sync: a response is sent only after its event is fsynced.',
      ),
    flush_ms: int(1, 10_000)
      .default(50)
      .describe('async: longest an event waits before its batch is written to the segment file.'),
    fsync_ms: int(0, 60_000)
      .default(1000)
      .describe(
        'async: longest a written batch waits for fdatasync (0: every batch). Written data survives a process crash; this bounds what a machine crash can lose.',
      ),
    batch_max: int(1, 100_000).default(1024).describe('Events per write at most (group commit).'),
    queue_max: int(1, 10_000_000)
      .default(200_000)
      .describe('async: events waiting at most; past it events are dropped and an audit.dropped event counts them.'),
    checkpoint_every: int(1, 10_000_000).default(1000).describe('A signed checkpoint after this many records.'),
    checkpoint_ms: int(100, 3_600_000).default(5000).describe('... or after this long with unsigned records.'),
    segment_max_bytes: int(4096, 2 ** 40)
      .default(64 * 1024 * 1024)
      .describe('Rotate the segment past this size.'),
    segment_max_age: age().default('1d').describe('Rotate the segment after this long.'),
    retention: z
      .record(z.string().regex(/^[a-z][a-z0-9_.]*$/), age())
      .default({ request: '30d', security: '365d', change: '7y', system: '7y' })
      .describe(
        'Max age by event type ("auth.failure") or kind (request, security, change, system); a segment is deleted once every event in it has expired, with a signed record of the deletion.',
      ),
    include: z
      .object({ requests: bool().default(true).describe('Write an event for every request (the audit policy).') })
      .strict()
      .default({ requests: true }),
    sinks: sinksSchema.optional(),
    anomaly: anomalySchema.optional(),
  })
  .strict();

export type AuditConfig = z.output<typeof auditSchema>;

/** The retention (ms) of an event type: its own entry, else its kind's, else 7 years. */
export function retentionOf(cfg: Pick<AuditConfig, 'retention'>, kind: string, type: string): number {
  const r = cfg.retention[type] ?? cfg.retention[kind];
  return (r === undefined ? null : parseAge(r)) ?? UNITS.y * 7;
}
