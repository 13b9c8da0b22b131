import { z } from 'zod';
import { bool, int, secret } from '../../config/types.js';

/** Retry with exponential backoff and full jitter: the delay before attempt n is random in [0, min(max, base·2ⁿ)]. */
const retrySchema = z
  .object({
    base_ms: int(1, 60_000).default(200).describe('First backoff step, in milliseconds.'),
    max_ms: int(1, 600_000).default(30_000).describe('Longest wait between two attempts, in milliseconds.'),
  })
  .strict();

/** The on-disk spool every event passes through before it is sent (dataDir/spool/<sink name>). */
const bufferSchema = z
  .object({
    max_bytes: int(64 * 1024, 64 * 1024 * 1024 * 1024)
      .default(256 * 1024 * 1024)
      .describe(
        'Cap of the spool on disk. While the SIEM is down events wait here; beyond the cap new events are dropped (rampart_audit_sink_dropped_total, logged as an error).',
      ),
    segment_bytes: int(4 * 1024, 1024 * 1024 * 1024)
      .default(4 * 1024 * 1024)
      .describe('Size at which the spool starts a new file; fully sent files are deleted.'),
    fsync: bool()
      .default(true)
      .describe(
        'fdatasync the spool after each audit batch: a power loss then loses no spooled event (one sync per batch).',
      ),
  })
  .strict();

const filterSchema = z
  .object({
    kinds: z
      .array(z.enum(['request', 'security', 'change', 'system']))
      .min(1)
      .optional()
      .describe('Only events of these kinds (default: all).'),
    min_severity: z
      .enum(['info', 'low', 'medium', 'high', 'critical'])
      .optional()
      .describe('Only events at least this severe (events without a severity count as info).'),
  })
  .strict();

const tlsSchema = z
  .object({
    ca: z.string().min(1).optional().describe('PEM CA bundle of the receiver (use ${file:...}; default: system CAs).'),
    verify: bool().default(true).describe('Verify the receiver certificate and name. Production refuses false.'),
    cert: z.string().min(1).optional().describe('PEM client certificate for mutual TLS (use ${file:...}).'),
    key: secret().optional().describe('PEM client key for mutual TLS (a secret).'),
    servername: z.string().min(1).optional().describe('Name to verify and send as SNI (default: host).'),
  })
  .strict();

const common = {
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, "_" and "-"')
    .describe('Unique name: labels the metrics and names the spool folder.'),
  enabled: bool().default(true),
  filter: filterSchema.optional(),
  retry: retrySchema.prefault({}),
  buffer: bufferSchema.prefault({}),
};

export const syslogSinkSchema = z
  .object({
    ...common,
    type: z.literal('syslog'),
    transport: z
      .enum(['udp', 'tcp', 'tls'])
      .default('tls')
      .describe(
        'udp: RFC 5426, one datagram per event, no delivery guarantee (a lost datagram is not noticed). tcp/tls: RFC 6587 octet counting, reconnects with backoff.',
      ),
    host: z.string().min(1),
    port: int(1, 65_535).default(6514),
    format: z
      .enum(['rfc5424', 'cef'])
      .default('rfc5424')
      .describe('rfc5424: structured data + the event JSON as MSG; cef: ArcSight CEF as MSG of an RFC 5424 line.'),
    facility: int(0, 23).default(13).describe('Syslog facility (13: log audit).'),
    app_name: z
      .string()
      .regex(/^[!-~]{1,48}$/)
      .default('rampart'),
    max_message_bytes: int(480, 65_000)
      .optional()
      .describe(
        'Longest syslog message; longer ones are truncated. Default: 2048 for udp (RFC 5426: what every receiver takes; no IP fragmentation), 32768 for tcp/tls (an audit event is at most 32 KB; raise the receiver limit to match, e.g. rsyslog maxMessageSize="64k").',
      ),
    tls: tlsSchema.prefault({}),
  })
  .strict();

export const httpSinkSchema = z
  .object({
    ...common,
    type: z.literal('http'),
    format: z
      .enum(['splunk_hec', 'elasticsearch_bulk'])
      .describe(
        'splunk_hec: POST of {time, host, source, sourcetype, event} objects; elasticsearch_bulk: _bulk NDJSON.',
      ),
    url: z.url().describe('HEC: https://splunk:8088/services/collector/event; Elasticsearch: https://es:9200/_bulk.'),
    token: secret()
      .optional()
      .describe(
        'Splunk HEC token (sent as "Authorization: Splunk <token>") or Elasticsearch API key (its encoded "id:api_key" form, sent as "ApiKey <key>").',
      ),
    index: z.string().min(1).optional().describe('HEC index, or the Elasticsearch index (default "rampart-audit").'),
    source: z.string().min(1).default('rampart'),
    sourcetype: z.string().min(1).default('rampart:audit'),
    batch_events: int(1, 10_000).default(500).describe('Most events in one request.'),
    batch_bytes: int(1024, 64 * 1024 * 1024)
      .default(4 * 1024 * 1024)
      .describe('Most body bytes in one request.'),
    timeout_ms: int(100, 600_000).default(10_000).describe('Connect-to-answer timeout of one request.'),
    tls: tlsSchema.omit({ servername: true }).prefault({}),
  })
  .strict();

export const sinkSchema = z.discriminatedUnion('type', [syslogSinkSchema, httpSinkSchema]);

export const sinksSchema = z
  .array(sinkSchema)
  .default([])
  .superRefine((sinks, ctx) => {
    const seen = new Set<string>();
    sinks.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate sink name "${s.name}"` });
      seen.add(s.name);
    });
  })
  .describe(
    'SIEM sinks: every audit event is spooled on disk, then sent (syslog RFC 5424/CEF, Splunk HEC, Elasticsearch).',
  );

export type SinkConfig = z.output<typeof sinkSchema>;
export type SyslogSinkConfig = z.output<typeof syslogSinkSchema>;
export type HttpSinkConfig = z.output<typeof httpSinkSchema>;
export type SinksConfig = z.output<typeof sinksSchema>;
