import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AuditSubscriber } from '../types.js';
import { sinkMetrics } from './metrics.js';
import type { SinksConfig } from './schema.js';
import { createTransport, Sink } from './sink.js';

export { type SinkConfig, type SinksConfig, sinksSchema } from './schema.js';
export { Sink } from './sink.js';

export interface SinkDeps {
  logger: Logger;
  /** The gateway's data folder: spools live in dataDir/spool/<sink name>[/<instance>]. */
  dataDir: string;
  /**
   * The writing process's audit chain ("main", "w1", ...): each process sends its own events, so each has its own
   * spool. A worker slot that no longer runs after a restart with fewer workers leaves its spool until it runs again.
   */
  instance?: string;
  /** prom-client registry (default: the global one). */
  metrics?: Registry;
}

/** One subscriber per enabled sink, each with its own spool and send loop. */
export function createSinks(config: SinksConfig, deps: SinkDeps): Sink[] {
  const metrics = sinkMetrics(deps.metrics);
  return config
    .filter((c) => c.enabled)
    .map(
      (c) =>
        new Sink(c, createTransport(c), {
          logger: deps.logger,
          spoolDir: join(deps.dataDir, 'spool', c.name, ...(deps.instance ? [deps.instance] : [])),
          metrics,
        }),
    );
}

export type { AuditSubscriber };
