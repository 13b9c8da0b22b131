import { Counter, Gauge, type Registry, register } from 'prom-client';

/**
 * Sink metrics, labelled by sink name (bounded: names come from the config). Created once per registry and reused,
 * since a config reload creates the sinks again and prom-client refuses a second metric of the same name.
 */
export interface SinkMetrics {
  sent: Counter<'sink'>;
  retried: Counter<'sink'>;
  dropped: Counter<'sink'>;
  rejected: Counter<'sink'>;
  buffered: Gauge<'sink'>;
}

const cache = new WeakMap<Registry, SinkMetrics>();

export function sinkMetrics(registry: Registry = register): SinkMetrics {
  let m = cache.get(registry);
  if (m) return m;
  const counter = (name: string, help: string) =>
    (registry.getSingleMetric(name) as Counter<'sink'> | undefined) ??
    new Counter({ name, help, labelNames: ['sink'] as const, registers: [registry] });
  m = {
    sent: counter('rampart_audit_sink_sent_total', 'Audit events a SIEM sink delivered (acknowledged by the receiver)'),
    retried: counter('rampart_audit_sink_retries_total', 'Failed send attempts a SIEM sink will retry'),
    dropped: counter(
      'rampart_audit_sink_dropped_total',
      'Audit events lost because the sink spool was full: must stay at zero',
    ),
    rejected: counter(
      'rampart_audit_sink_rejected_total',
      'Audit events the receiver refused for good (a 400 answer, an Elasticsearch mapping error)',
    ),
    buffered:
      (registry.getSingleMetric('rampart_audit_sink_buffered') as Gauge<'sink'> | undefined) ??
      new Gauge({
        name: 'rampart_audit_sink_buffered',
        help: 'Audit events spooled on disk and not yet delivered',
        labelNames: ['sink'] as const,
        registers: [registry],
      }),
  };
  cache.set(registry, m);
  return m;
}
