import { Counter, Gauge, Histogram, type Registry, register } from 'prom-client';

/** The audit log's own metrics (one set per process; summed across workers by the primary's aggregator). */
export interface AuditMetrics {
  records: Counter;
  dropped: Counter;
  failures: Counter;
  commit: Histogram;
  queued: Gauge;
}

const cache = new WeakMap<Registry, AuditMetrics>();

export function auditMetrics(registry: Registry = register): AuditMetrics {
  let m = cache.get(registry);
  if (m) return m;
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  m = {
    records: get(
      'rampart_audit_records_total',
      () =>
        new Counter({
          name: 'rampart_audit_records_total',
          help: 'Audit records written and fsynced',
          registers: [registry],
        }),
    ),
    dropped: get(
      'rampart_audit_dropped_total',
      () =>
        new Counter({
          name: 'rampart_audit_dropped_total',
          help: 'Audit events lost: queue full (async) or a failed write; must stay at zero',
          registers: [registry],
        }),
    ),
    failures: get(
      'rampart_audit_write_failures_total',
      () =>
        new Counter({
          name: 'rampart_audit_write_failures_total',
          help: 'Audit batches whose write or fsync failed (sync mode answers 503 AUDIT_UNAVAILABLE meanwhile)',
          registers: [registry],
        }),
    ),
    commit: get(
      'rampart_audit_commit_seconds',
      () =>
        new Histogram({
          name: 'rampart_audit_commit_seconds',
          help: 'Time to write and fsync one audit batch (group commit)',
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
          registers: [registry],
        }),
    ),
    queued: get(
      'rampart_audit_queued',
      () =>
        new Gauge({ name: 'rampart_audit_queued', help: 'Audit events waiting to be written', registers: [registry] }),
    ),
  };
  cache.set(registry, m);
  return m;
}
