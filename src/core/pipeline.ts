import type { Logger } from 'pino';
import type { PoliciesConfig } from '../config/schema.js';
import { POLICIES } from '../policies/index.js';
import type { HeaderMap, RequestContext } from './context.js';
import { GatewayError, PROBLEM_CONTENT_TYPE, problemOf, toGatewayError } from './errors.js';
import type { Phase, PolicyInstance, PolicyServices } from './policy.js';
import { ServiceRegistry } from './shared.js';

export interface PipelineStep {
  readonly name: string;
  /** The policy's place in the one ordered list (PolicyDefinition.order). */
  readonly order: number;
  /** Which layer's config this instance came from ("global", "upstream:x", "route:y"). */
  readonly scope: string;
  readonly instance: PolicyInstance;
}

/**
 * Request-phase policies ordered below this run before the identity gate (request ids, limits, CORS preflights,
 * brute-force lockout, the identity policies themselves); the rest (authorization, rate limits by consumer,
 * validation) only for a request with an identity, or on a public route.
 */
export const IDENTITY_GATE_ORDER = 2000;

/**
 * The compiled, ordered list of policy instances for one route. Built once per config load.
 * Phase arrays hold only the policies that implement that phase, so an unused phase costs nothing per request.
 */
export class Pipeline {
  readonly connect: [number, Phase][];
  readonly request: [number, Phase][];
  readonly upstream: Phase[];
  readonly response: [number, Phase][];
  readonly log: ((ctx: RequestContext) => void)[];
  /** Whether one of the steps reads the security events policies record (the server sets ctx.securityEventsRead). */
  readonly readsSecurityEvents: boolean;
  /** Deny by default: the error for a request that reaches the gate with no identity; null on a public route. */
  private readonly gate: (() => GatewayError) | null;
  /** Where the gate sits: its index in `request`, and the step index of the first policy after it. */
  private readonly gateAt: number;
  private readonly gateStep: number;

  constructor(
    readonly steps: readonly PipelineStep[],
    opts: { requireIdentity?: boolean } = {},
  ) {
    const pick = (k: 'connect' | 'request' | 'response') =>
      steps.flatMap((s, i) => (s.instance[k] ? [[i, s.instance[k] as Phase] as [number, Phase]] : []));
    this.connect = pick('connect');
    this.request = pick('request');
    this.response = pick('response').reverse();
    this.upstream = steps.flatMap((s) => (s.instance.upstream ? [s.instance.upstream] : []));
    this.log = steps.flatMap((s) => (s.instance.log ? [s.instance.log] : []));
    this.readsSecurityEvents = steps.some((s) => s.instance.readsSecurityEvents === true);
    const after = steps.findIndex((s) => s.order >= IDENTITY_GATE_ORDER);
    this.gateStep = after === -1 ? steps.length : after;
    this.gateAt = this.request.filter(([i]) => i < this.gateStep).length;
    this.gate = opts.requireIdentity ? identityGate(steps) : null;
  }

  /** `WWW-Authenticate` challenges of the route's identity policies (the gate's 401 carries them). */
  get challenges(): string[] {
    return challengesOf(this.steps);
  }

  /**
   * connect → request → terminal (upstream) → response (reverse). A phase stops the chain by throwing a
   * GatewayError or by replying (ctx.reply); the response phase then runs only for the policies before it,
   * as Envoy's encoder chain does for a local reply. Never throws.
   */
  async run(ctx: RequestContext, terminal: (ctx: RequestContext) => Promise<void>): Promise<void> {
    let stopAt = this.steps.length;
    let i = -1;
    try {
      for (const [idx, fn] of this.connect) {
        i = idx;
        const r = fn(ctx);
        if (r) await r;
        if (ctx.response) {
          stopAt = idx + 1;
          break;
        }
      }
      if (!ctx.response) {
        const req = this.request;
        for (let k = 0; k <= req.length; k++) {
          if (k === this.gateAt && this.gate && !ctx.identity) {
            i = this.gateStep;
            throw this.gate();
          }
          const entry = req[k];
          if (!entry) break;
          i = entry[0];
          const r = entry[1](ctx);
          if (r) await r;
          if (ctx.response) {
            stopAt = i + 1;
            break;
          }
        }
      }
      if (!ctx.response) {
        i = this.steps.length;
        await terminal(ctx);
      }
    } catch (e) {
      stopAt = Math.min(i, this.steps.length);
      this.fail(ctx, e);
    }
    await this.runResponse(ctx, stopAt);
  }

  /**
   * The WebSocket handshake: connect and request phases only. A handshake that goes through leaves ctx.response
   * null (the caller connects upstream). One that stops (a policy's error, the gate, a reply) leaves its answer in
   * ctx.response after the response phases of the policies before the stop, as in run(): brute-force counts a
   * failed authentication there, so an Upgrade header must not make guesses free. Never throws a stopping error.
   */
  async runHandshake(ctx: RequestContext): Promise<void> {
    let stopAt = this.steps.length;
    let i = -1;
    try {
      for (const [idx, fn] of this.connect) {
        i = idx;
        await fn(ctx);
        if (ctx.response) {
          stopAt = idx + 1;
          break;
        }
      }
      if (!ctx.response) {
        for (let k = 0; k <= this.request.length; k++) {
          if (k === this.gateAt && this.gate && !ctx.identity) {
            i = this.gateStep;
            throw this.gate();
          }
          const entry = this.request[k];
          if (!entry) break;
          i = entry[0];
          await entry[1](ctx);
          if (ctx.response) {
            stopAt = i + 1;
            break;
          }
        }
      }
      if (!ctx.response) return;
    } catch (e) {
      stopAt = Math.min(i, this.steps.length);
      this.fail(ctx, e);
    }
    await this.runResponse(ctx, stopAt);
  }

  async runUpstream(ctx: RequestContext): Promise<void> {
    for (const fn of this.upstream) {
      const r = fn(ctx);
      if (r) await r;
    }
  }

  async runResponse(ctx: RequestContext, stopAt: number): Promise<void> {
    let failed = false;
    for (const [idx, fn] of this.response) {
      if (idx >= stopAt) continue;
      try {
        const r = fn(ctx);
        if (r) await r;
      } catch (e) {
        // A failing response phase replaces the answer with its error once; later (earlier-ordered) policies
        // still decorate it, so security headers are never lost.
        if (failed) continue;
        failed = true;
        discardBody(ctx);
        this.fail(ctx, e);
      }
    }
  }

  runLog(ctx: RequestContext, logger: Logger): void {
    for (const fn of this.log) {
      try {
        fn(ctx);
      } catch (e) {
        logger.error({ err: e, request_id: ctx.id }, 'log phase failed');
      }
    }
  }

  private fail(ctx: RequestContext, e: unknown): void {
    const err = toGatewayError(e);
    ctx.error = err;
    discardBody(ctx);
    ctx.response = problemResponse(ctx, err);
  }
}

function discardBody(ctx: RequestContext): void {
  const b = ctx.response?.body;
  if (b && !Buffer.isBuffer(b)) b.destroy();
}

/** Distinct challenges: jwt and introspection on one route both accept Bearer. */
function challengesOf(steps: readonly PipelineStep[]): string[] {
  return [...new Set(steps.flatMap((s) => (s.instance.identity ? [s.instance.identity.challenge] : [])))];
}

/** 401 with every challenge the route accepts: the same answer whether a credential was missing or wrong. */
function identityGate(steps: readonly PipelineStep[]): () => GatewayError {
  const challenges = challengesOf(steps);
  const headers = { 'www-authenticate': challenges.length ? challenges.join(', ') : 'Bearer realm="rampart"' };
  return () => new GatewayError('UNAUTHENTICATED', 'Authentication required.', { headers });
}

export function problemResponse(
  ctx: RequestContext,
  err: GatewayError,
): { status: number; headers: HeaderMap; body: Buffer } {
  const body = Buffer.from(JSON.stringify(problemOf(err, ctx.id || undefined, ctx.path)));
  return {
    status: err.status,
    headers: { ...err.headers, 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store' },
    body,
  };
}

/**
 * Builds the pipeline for one route from the three layers. Most specific wins (route over upstream over
 * global), whole policy config at a time; `enabled: false` turns an inherited policy off. Instances are
 * shared per layer, so a global policy is one instance for every route (one shared state, e.g. counters).
 */
export function buildPipeline(
  layers: readonly PolicyLayer[],
  cache: Map<string, PolicyInstance>,
  logger: Logger,
  services: PolicyServices = new ServiceRegistry(),
  opts: { requireIdentity?: boolean } = {},
): Pipeline {
  const steps: PipelineStep[] = [];
  for (const { def, scope, cfg } of choosePolicies(layers)) {
    const key = `${scope}/${def.name}`;
    let instance = cache.get(key);
    if (!instance) {
      instance = def.create(cfg, {
        logger: logger.child({ policy: def.name, scope }),
        scope,
        services,
      });
      cache.set(key, instance);
    }
    steps.push({ name: def.name, order: def.order, scope, instance });
  }
  return new Pipeline(steps, opts);
}

export interface PolicyLayer {
  scope: string;
  policies: PoliciesConfig;
}

/**
 * Which policies a route gets and from which layer, in the registry's order, without instantiating any:
 * most specific layer wins, `enabled: false` drops an inherited one. `rampart policies --config` prints this.
 */
export function choosePolicies(
  layers: readonly PolicyLayer[],
): { def: (typeof POLICIES)[number]; scope: string; cfg: Record<string, unknown> }[] {
  const out: { def: (typeof POLICIES)[number]; scope: string; cfg: Record<string, unknown> }[] = [];
  for (const def of POLICIES) {
    let chosen: { scope: string; cfg: Record<string, unknown> & { enabled: boolean } } | null = null;
    for (const layer of layers) {
      const cfg = layer.policies[def.name];
      if (cfg) chosen = { scope: layer.scope, cfg };
    }
    if (!chosen || chosen.cfg.enabled === false) continue;
    const { enabled: _enabled, ...cfg } = chosen.cfg;
    out.push({ def, scope: chosen.scope, cfg });
  }
  return out;
}
