import pino, { type Logger } from 'pino';

/**
 * Paths never written to a log, whatever a caller passes: credentials in headers, and any field named like a
 * secret. Access log lines carry no headers at all; this is the net under everything else.
 */
export const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.secret',
  '*.token',
  '*.api_key',
  '*.key',
  'config.upstreams.*.tls.key',
];

export function createLogger(level: string, dest?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[Redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Asynchronous, buffered writes keep logging off the request's critical path; flushed at shutdown and every
    // 250 ms, so a quiet gateway's lines ("listening", "config reloaded") are not held back until 4 KiB pile up.
    dest ?? pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 250 }),
  );
}
