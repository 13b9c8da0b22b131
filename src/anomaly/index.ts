import type { AuditEvent, AuditSubscriber } from '../audit/types.js';
import { type AlertDeps, Alerter } from './alerts.js';
import { authFailureBurst } from './auth-failure-burst.js';
import { credentialStuffing } from './credential-stuffing.js';
import type { Detector } from './detector.js';
import { enumeration } from './enumeration.js';
import { errorSpike } from './error-spike.js';
import { eventTime } from './events.js';
import { rateBaseline } from './rate-baseline.js';
import type { AnomalyConfig } from './schema.js';
import { shadowApi } from './shadow-api.js';
import { SharedCounts } from './shared.js';

export { signWebhook } from './alerts.js';
export { type AnomalyConfig, anomalySchema } from './schema.js';

export type AnomalyDeps = AlertDeps;

/**
 * The anomaly detectors as one audit subscriber: every event goes through each enabled detector, in order, on the
 * audit log's own batches (no extra buffering). Its own alerts ("anomaly.*") come back through the log and are
 * skipped.
 */
export class AnomalyDetector implements AuditSubscriber {
  readonly name = 'anomaly';
  readonly detectors: readonly Detector[];
  private readonly alerter: Alerter;
  private lastErrLog = 0;

  constructor(
    c: AnomalyConfig,
    private readonly deps: AnomalyDeps,
  ) {
    const d = c.detectors;
    const shared = deps.state ? new SharedCounts(deps.state) : null;
    const all: [boolean, () => Detector][] = [
      [d.auth_failure_burst.enabled, () => authFailureBurst(d.auth_failure_burst, c.max_keys, shared)],
      [d.credential_stuffing.enabled, () => credentialStuffing(d.credential_stuffing, c.max_keys, shared)],
      [d.enumeration.enabled, () => enumeration(d.enumeration, c.max_keys, shared)],
      [d.rate_baseline.enabled, () => rateBaseline(d.rate_baseline, c.max_keys)],
      [d.shadow_api.enabled, () => shadowApi(d.shadow_api, c.max_keys, shared)],
      [d.error_spike.enabled, () => errorSpike(d.error_spike, c.max_keys)],
    ];
    this.detectors = c.enabled ? all.filter(([on]) => on).map(([, make]) => make()) : [];
    this.alerter = new Alerter(c, deps);
  }

  handle(events: readonly AuditEvent[]): void {
    for (const e of events) {
      if (e.type.startsWith('anomaly.')) continue;
      const t = eventTime(e);
      for (const d of this.detectors) {
        try {
          d.observe(e, t, (a) => this.alerter.raise(a, t));
        } catch (err) {
          // A detector bug must not stop the audit stream; the others still run.
          const now = Date.now();
          if (now - this.lastErrLog > 60_000) {
            this.lastErrLog = now;
            this.deps.logger.error({ err: (err as Error).message, detector: d.name }, 'anomaly: detector failed');
          }
        }
      }
    }
  }

  close(): Promise<void> {
    return this.alerter.close();
  }
}

export function createAnomalyDetector(config: AnomalyConfig, deps: AnomalyDeps): AnomalyDetector {
  return new AnomalyDetector(config, deps);
}
