import type { UpstreamConfig } from '../config/schema.js';
import type { RequestContext } from '../core/context.js';
import { type Balancer, createBalancer } from './balancers.js';
import { CircuitBreaker } from './breaker.js';
import { ActiveHealthChecker, isAvailable, newHealth, type PassiveHealthOptions } from './health.js';
import type { PoolRegistry } from './pools.js';
import { RetryBudget } from './retry-budget.js';
import type { Target } from './target.js';

/** An upstream compiled for one config generation: targets with pools, balancer, health, breaker, budget. */
export class Upstream {
  readonly targets: Target[];
  readonly balancer: Balancer;
  readonly breaker: CircuitBreaker | null;
  readonly budget: RetryBudget;
  readonly passive: (PassiveHealthOptions & { statuses: ReadonlySet<number> }) | null;
  private readonly checker: ActiveHealthChecker | null;
  /** Key for consistent hashing, compiled from `hash_on`. */
  readonly hashKey: ((ctx: RequestContext) => string | undefined) | null;

  constructor(
    readonly name: string,
    readonly cfg: UpstreamConfig,
    private readonly pools: PoolRegistry,
  ) {
    const t = cfg.tls;
    const hasTls = cfg.targets.some((x) => x.url.startsWith('https:'));
    this.targets = cfg.targets.map((x) => ({
      origin: new URL(x.url).origin,
      host: new URL(x.url).host,
      weight: x.weight,
      inflight: 0,
      health: newHealth(),
      pool: pools.acquire(new URL(x.url).origin, {
        connections: cfg.pool.connections,
        keepAliveMs: cfg.pool.keep_alive_ms,
        pipelining: cfg.pool.pipelining,
        connectMs: cfg.timeouts.connect_ms,
        headerMs: cfg.timeouts.header_ms,
        bodyMs: cfg.timeouts.body_ms,
        ...(hasTls && {
          tls: {
            ...(t.ca !== undefined && { ca: t.ca }),
            ...(t.cert !== undefined && { cert: t.cert }),
            ...(t.key !== undefined && { key: t.key }),
            ...(t.servername !== undefined && { servername: t.servername }),
            verify: t.verify,
            minVersion: t.min_version,
          },
        }),
      }),
    }));
    this.balancer = createBalancer(cfg.balancer, this.targets);
    const cb = cfg.circuit_breaker;
    this.breaker = cb
      ? new CircuitBreaker({
          windowMs: cb.window_ms,
          minRequests: cb.min_requests,
          failureRatio: cb.failure_ratio,
          openMs: cb.open_ms,
          halfOpenRequests: cb.half_open_requests,
        })
      : null;
    this.budget = new RetryBudget({ ratio: cfg.retries.budget_ratio, minPerSecond: cfg.retries.min_per_second });
    const p = cfg.health.passive;
    this.passive = p.enabled
      ? {
          maxFailures: p.max_failures,
          ejectMs: p.eject_ms,
          maxEjectMs: p.max_eject_ms,
          statuses: new Set(p.failure_statuses),
        }
      : null;
    const a = cfg.health.active;
    this.checker = a
      ? new ActiveHealthChecker(this.targets, {
          path: a.path,
          intervalMs: a.interval_ms,
          timeoutMs: a.timeout_ms,
          healthyThreshold: a.healthy_threshold,
          unhealthyThreshold: a.unhealthy_threshold,
          expectedStatuses: a.expected_statuses,
        })
      : null;
    this.hashKey = cfg.balancer === 'consistent-hash' ? compileHashKey(cfg.hash_on) : null;
  }

  start(): void {
    this.checker?.start();
  }

  /** Picks a target that is healthy and, when possible, not tried yet by this request. */
  pick(ctx: RequestContext, tried: ReadonlySet<Target> | null): Target | null {
    const key = this.hashKey?.(ctx);
    if (tried?.size) {
      const now = Date.now();
      const fresh = this.balancer.pick((t) => !tried.has(t) && isAvailable(t, now), key);
      if (fresh) return fresh;
    }
    return this.balancer.pick(this.available, key);
  }

  /** Allocated once, not per request. */
  private readonly available = (t: Target): boolean => isAvailable(t, Date.now());

  /** Stops health checks and lets go of pools (they close once no generation uses them). */
  close(): void {
    this.checker?.stop();
    for (const t of this.targets) this.pools.release(t.pool as never);
  }
}

function compileHashKey(on: string): (ctx: RequestContext) => string | undefined {
  if (on === 'ip') return (ctx) => ctx.clientIp;
  if (on === 'path') return (ctx) => ctx.path;
  const [kind, name = ''] = on.split(':');
  const lower = name.toLowerCase();
  if (kind === 'header') {
    return (ctx) => {
      const v = ctx.req.headers[lower];
      return Array.isArray(v) ? v[0] : v;
    };
  }
  // cookie:NAME
  const re = new RegExp(`(?:^|;\\s*)${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}=([^;]*)`);
  return (ctx) => re.exec(ctx.req.headers.cookie ?? '')?.[1];
}
