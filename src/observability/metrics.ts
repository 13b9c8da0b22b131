import { Counter, collectDefaultMetrics, Gauge, Histogram, register } from 'prom-client';
import type { Generation } from '../config/compile.js';
import { isAvailable } from '../proxy/health.js';

/**
 * Prometheus metrics on prom-client's global registry, so the cluster primary can aggregate every worker's
 * (AggregatorRegistry). Label values are bounded: route names from config, never raw paths.
 */
export class Metrics {
  readonly requests = new Counter({
    name: 'rampart_requests_total',
    help: 'Requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
  });
  readonly duration = new Histogram({
    name: 'rampart_request_duration_seconds',
    help: 'Time from request arrival to the end of the response',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  readonly upstreamDuration = new Histogram({
    name: 'rampart_upstream_duration_seconds',
    help: 'Time from sending to an upstream to its response headers',
    labelNames: ['upstream'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  readonly decisions = new Counter({
    name: 'rampart_policy_decisions_total',
    help: 'Requests stopped by a policy or the proxy, by error code',
    labelNames: ['code'] as const,
  });
  readonly connectionsRefused = new Counter({
    name: 'rampart_connections_refused_total',
    help: 'TCP connections closed on arrival, by listener and reason (per_ip_limit)',
    labelNames: ['listener', 'reason'] as const,
  });

  // Label children cached per label values: prom-client hashes a labels object on every call, and that
  // allocation showed up as GC time on the request path.
  private readonly reqChildren = new Map<string, { inc(): void }>();
  private readonly durChildren = new Map<string, { observe(v: number): void }>();
  private readonly upChildren = new Map<string, { observe(v: number): void }>();

  /** One finished request: count by route, method and status; latency by route; stop code if any. */
  observeRequest(route: string, method: string, status: number, seconds: number, code: string | undefined): void {
    const key = `${route}\u0000${method}\u0000${status}`;
    let c = this.reqChildren.get(key);
    if (!c) {
      c = this.requests.labels(route, method, String(status));
      this.reqChildren.set(key, c);
    }
    c.inc();
    let d = this.durChildren.get(route);
    if (!d) {
      d = this.duration.labels(route);
      this.durChildren.set(route, d);
    }
    d.observe(seconds);
    if (code) this.decisions.inc({ code });
  }

  observeUpstream(upstream: string, seconds: number): void {
    let u = this.upChildren.get(upstream);
    if (!u) {
      u = this.upstreamDuration.labels(upstream);
      this.upChildren.set(upstream, u);
    }
    u.observe(seconds);
  }

  constructor(current: () => Generation | null) {
    collectDefaultMetrics({ prefix: 'rampart_' });
    new Gauge({
      name: 'rampart_upstream_target_up',
      help: '1 when a target may receive traffic (active and passive health), else 0',
      labelNames: ['upstream', 'target'] as const,
      collect() {
        this.reset();
        const now = Date.now();
        for (const [name, u] of current()?.upstreams ?? []) {
          for (const t of u.targets) this.set({ upstream: name, target: t.origin }, isAvailable(t, now) ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'rampart_circuit_open',
      help: '1 while the upstream circuit breaker is open or half-open',
      labelNames: ['upstream'] as const,
      collect() {
        this.reset();
        for (const [name, u] of current()?.upstreams ?? []) {
          if (u.breaker) this.set({ upstream: name }, u.breaker.state === 'closed' ? 0 : 1);
        }
      },
    });
  }
}

export { register };
