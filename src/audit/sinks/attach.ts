import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createAnomalyDetector } from '../../anomaly/index.js';
import type { AnomalyConfig } from '../../anomaly/schema.js';
import type { SharedState } from '../../state/types.js';
import type { AuditEvent, AuditSubscriber } from '../types.js';
import { createSinks } from './index.js';
import type { SinksConfig } from './schema.js';

export interface AttachDeps {
  logger: Logger;
  dataDir: string;
  /** The process's audit chain ("main", "w<slot>"): names its spools. */
  chain: string;
  /** The shared state, for the anomaly detectors' deny-list action (null: the action is unavailable). */
  state: SharedState | null;
  metrics?: Registry;
}

/**
 * Subscribes the SIEM sinks and the anomaly detectors of the `audit:` block to a process's audit log, once at
 * start-up (they hold spools and counters, so a config reload changes them only on restart). Alerts are recorded
 * back into the same log, so they are chained, exported and sent to the sinks like any event.
 */
export function attachAuditSubscribers(
  log: { subscribe(s: AuditSubscriber): void; record(e: AuditEvent): void; readonly node: string },
  cfg: { sinks?: SinksConfig; anomaly?: AnomalyConfig },
  deps: AttachDeps,
): void {
  const logger = deps.logger.child({ component: 'audit-subscribers' });
  for (const s of createSinks(cfg.sinks ?? [], {
    logger,
    dataDir: deps.dataDir,
    instance: deps.chain,
    ...(deps.metrics && { metrics: deps.metrics }),
  })) {
    log.subscribe(s);
  }
  if (cfg.anomaly?.enabled) {
    const denies = Object.values(cfg.anomaly.detectors).some((d) => d.enabled && d.deny_for_s !== undefined);
    if (denies && !deps.state) logger.warn('anomaly: deny_for_s needs the shared state; alerts will not deny');
    log.subscribe(
      createAnomalyDetector(cfg.anomaly, {
        logger,
        record: (e) => log.record(e),
        node: log.node,
        ...(deps.state && { state: deps.state }),
        ...(deps.metrics && { metrics: deps.metrics }),
      }),
    );
  }
}
