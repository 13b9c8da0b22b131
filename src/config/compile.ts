import type { Logger } from 'pino';
import { compileCidrs } from '../core/client-ip.js';
import type { RequestContext, RouteInfo } from '../core/context.js';
import { buildPipeline, type Pipeline, type PolicyLayer } from '../core/pipeline.js';
import type { PolicyInstance, PolicyServices } from '../core/policy.js';
import { Router } from '../core/router.js';
import { ServiceRegistry } from '../core/shared.js';
import type { PoolRegistry } from '../proxy/pools.js';
import type { SendOptions } from '../proxy/send.js';
import { Upstream } from '../proxy/upstream.js';
import type { Config, RouteConfig } from './schema.js';

export interface CompiledRoute extends RouteInfo {
  readonly cfg: RouteConfig;
  readonly hosts: readonly string[] | undefined;
  readonly paths: readonly string[];
  readonly methods: readonly string[] | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly pipeline: Pipeline;
  readonly target: Upstream | null;
  readonly send: SendOptions | null;
  /** Path and query sent upstream. */
  readonly upstreamPath: (ctx: RequestContext, pattern: string) => string;
}

/**
 * One compiled config: router, pipelines, upstreams. Requests hold the generation they started on, so a
 * reload swaps in a new one while in-flight requests finish on the old; the old is closed when it drains.
 */
export class Generation {
  readonly router: Router<CompiledRoute>;
  /** Global policies only: runs for requests that match no route (so a denied client gets 403, not 404). */
  readonly fallback: Pipeline;
  /** The global audit policy's log phase, for requests the mounted authorization server answers; null without one. */
  readonly mountedAudit: ((ctx: RequestContext) => void) | null;
  readonly upstreams = new Map<string, Upstream>();
  readonly trusted: (ip: string) => boolean;
  readonly routes: CompiledRoute[];
  private readonly instances = new Map<string, PolicyInstance>();
  private inflight = 0;
  private retired = false;
  private closed = false;

  constructor(
    readonly config: Config,
    readonly id: number,
    pools: PoolRegistry,
    logger: Logger,
    services: PolicyServices = new ServiceRegistry(),
  ) {
    this.trusted = compileCidrs(config.trusted_proxies);

    try {
      for (const [name, u] of Object.entries(config.upstreams)) this.upstreams.set(name, new Upstream(name, u, pools));
      this.routes = config.routes.map((r) => {
        const up = r.upstream ? (this.upstreams.get(r.upstream) ?? null) : null;
        const upCfg = r.upstream ? config.upstreams[r.upstream] : undefined;
        const layers = layersOf(config, r);
        const t = { ...upCfg?.timeouts, ...r.timeouts };
        const pipeline = buildPipeline(layers, this.instances, logger, services, { requireIdentity: !r.public });
        if (!r.public && pipeline.challenges.length === 0)
          logger.warn(
            { route: r.name },
            'route is not public and has no identity policy: every request to it is refused with 401 (set public: true or add api-key / jwt / introspection / mtls-identity)',
          );
        const preserveHost = r.preserve_host;
        return {
          name: r.name,
          upstream: r.upstream ?? null,
          public: r.public,
          priority: r.priority,
          cfg: r,
          hosts: r.hosts,
          paths: r.paths,
          // GET implies HEAD, as in every HTTP server: a GET-only route answers HEAD too.
          methods: r.methods?.includes('GET') && !r.methods.includes('HEAD') ? [...r.methods, 'HEAD'] : r.methods,
          headers: r.headers,
          pipeline,
          target: up,
          send: upCfg
            ? {
                attempts: r.retries?.attempts ?? upCfg.retries.attempts,
                headerMs: t.header_ms ?? upCfg.timeouts.header_ms,
                bodyMs: t.body_ms ?? upCfg.timeouts.body_ms,
                totalMs: t.total_ms ?? upCfg.timeouts.total_ms,
                // Built once per route, not per request: the target's host (unless preserve_host), then the
                // policies' upstream phase.
                beforeAttempt: (c: RequestContext) => {
                  if (!preserveHost && c.target) c.upstreamHeaders.host = c.target.host;
                  return pipeline.upstream.length ? pipeline.runUpstream(c) : undefined;
                },
              }
            : null,
          upstreamPath: compileRewrite(r),
        };
      });
      this.fallback = buildPipeline(layersOf(config, null), this.instances, logger, services);
      // Requests the mounted authorization server answers pass no pipeline; the global audit policy still logs them.
      this.mountedAudit =
        this.fallback.steps.find((st) => st.name === 'audit' && st.scope === 'global')?.instance.log ?? null;
      this.router = new Router(this.routes);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  start(): void {
    for (const u of this.upstreams.values()) u.start();
  }

  enter(): void {
    this.inflight++;
  }

  leave(): void {
    if (--this.inflight === 0 && this.retired) this.close();
  }

  /** No new requests will start here; closes as soon as the in-flight ones finish. */
  retire(): void {
    this.retired = true;
    if (this.inflight === 0) this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.upstreams.values()) u.close();
    for (const p of this.instances.values()) void Promise.resolve(p.close?.()).catch(() => {});
  }
}

/** The config layers a route's policies come from, least specific first (global, upstream, route); null: no route. */
export function layersOf(config: Config, r: RouteConfig | null): PolicyLayer[] {
  const layers: PolicyLayer[] = [{ scope: 'global', policies: config.policies }];
  const upCfg = r?.upstream ? config.upstreams[r.upstream] : undefined;
  if (r && upCfg) layers.push({ scope: `upstream:${r.upstream}`, policies: upCfg.policies });
  if (r) layers.push({ scope: `route:${r.name}`, policies: r.policies });
  return layers;
}

/** strip_prefix / rewrite compiled to one function. Params are re-encoded; the query is kept as sent. */
function compileRewrite(r: RouteConfig): CompiledRoute['upstreamPath'] {
  if (r.strip_prefix) {
    const prefix = r.strip_prefix.replace(/\/$/, '');
    return (ctx) => {
      // Only at a segment boundary: prefix /svc strips /svc and /svc/x, never /svcx.
      const atBoundary =
        ctx.path.startsWith(prefix) && (ctx.path.length === prefix.length || ctx.path[prefix.length] === '/');
      const p = atBoundary ? ctx.path.slice(prefix.length) : ctx.path;
      return (p.startsWith('/') ? p : `/${p}`) + ctx.query;
    };
  }
  if (r.rewrite) {
    const parts = r.rewrite.split(/(\{[A-Za-z_][A-Za-z0-9_]*\}|\{\*\})/);
    return (ctx, pattern) => {
      let out = '';
      for (const part of parts) {
        if (part === '{*}') out += wildcardRaw(ctx.path, pattern);
        else if (part.startsWith('{') && part.endsWith('}'))
          out += encodeURIComponent(ctx.params[part.slice(1, -1)] ?? '');
        else out += part;
      }
      return out.replace(/\/{2,}/g, '/') + ctx.query;
    };
  }
  return (ctx) => ctx.path + ctx.query;
}

/** The still-encoded part of the path that a trailing "*" matched. */
function wildcardRaw(path: string, pattern: string): string {
  const star = pattern.indexOf('*');
  if (star === -1) return '';
  const fixedSegments = pattern.slice(0, star).split('/').length - 1;
  return path.split('/').slice(fixedSegments).join('/');
}
