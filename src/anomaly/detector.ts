import type { AuditEvent } from '../audit/types.js';
import type { DetectorName } from './schema.js';

/** What a detector reports; the Alerter applies the cooldown, records, notifies and acts. */
export interface Alert {
  readonly detector: DetectorName;
  /** What the cooldown is per: a source ("ip:…", "consumer:…"), a route or a path shape. */
  readonly key: string;
  readonly client_ip?: string;
  readonly consumer?: string;
  readonly route?: string;
  readonly path?: string;
  /** Counts, window and thresholds: secret-free. */
  readonly detail: Record<string, string | number | boolean>;
}

export interface Detector {
  readonly name: DetectorName;
  /** Looks at one event (at its own time t, ms) and reports through emit; never throws, bounded memory. */
  observe(e: AuditEvent, t: number, emit: (a: Alert) => void): void;
}
