import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { Counter, register } from 'prom-client';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { MemoryState } from '../../state/memory.js';
import type { Algorithm, ConsumeRequest, ConsumeResult } from '../../state/types.js';
import { meta, parseWindow, schema } from './schema.js';

const STATE_LOG_INTERVAL_MS = 10_000;
export const LOCAL_COUNTERS_KEY = 'rate-limit/local-counters';

/** Shared-state failures by policy and configured mode (prom-client's global registry, aggregated across workers). */
function stateErrorsCounter(): Counter<'policy' | 'mode'> {
  const name = 'rampart_state_errors_total';
  return (
    (register.getSingleMetric(name) as Counter<'policy' | 'mode'> | undefined) ??
    new Counter({
      name,
      help: 'Shared-state (counters, deny list) failures seen by policies, by policy and on_state_error mode',
      labelNames: ['policy', 'mode'] as const,
    })
  );
}

interface CompiledLimit {
  name: string;
  limit: number;
  windowMs: number;
  algorithm: Algorithm;
  burst: number | undefined;
  key: readonly string[];
  cost: number | { header: string };
  /** `"name";q=..;w=..` for RateLimit-Policy. */
  policyItem: string;
}

/** A key part's value, or null when the request lacks it (then the counter falls back to the client IP). */
function partValue(ctx: RequestContext, part: string, v6Prefix: number): string | null {
  const id = ctx.identity;
  switch (part) {
    case 'ip':
      return ipKey(ctx.clientIp, v6Prefix);
    case 'consumer':
      return id?.consumerId ?? null;
    case 'credential':
      return id?.credentialId ?? null;
    case 'subject':
      return id?.subject || null;
    case 'route':
      return ctx.route?.name ?? null;
  }
  if (part.startsWith('header:')) {
    const v = ctx.req.headers[part.slice(7)];
    return v === undefined ? null : Array.isArray(v) ? v.join(',') : v;
  }
  const c = id?.claims?.[part.slice(6)];
  return c === undefined || c === null ? null : typeof c === 'string' ? c : JSON.stringify(c);
}

/** Counter key: values URI-encoded (no separator can be forged), long ones hashed to bound key size. */
/** The client's address as counted: IPv4 (and IPv4-mapped, already folded) per address, IPv6 per /prefix network. */
function ipKey(ip: string, v6Prefix: number): string {
  if (v6Prefix === 128 || !ip.includes(':') || !ipaddr.IPv6.isValid(ip)) return ip;
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${ip}/${v6Prefix}`).toString()}/${v6Prefix}`;
}

function counterKey(scope: string, l: CompiledLimit, ctx: RequestContext, v6Prefix: number): string {
  let out = `rl|${scope}|${l.name}`;
  for (const part of l.key) {
    const v = partValue(ctx, part, v6Prefix);
    // A request without this part (no identity, no header) is counted by its address, in a namespace of its own, so
    // leaving a header out or calling anonymously never escapes the limit nor shares a real key's counter.
    const piece = v === null ? `${part}=?ip:${ipKey(ctx.clientIp, v6Prefix)}` : `${part}=${encodeURIComponent(v)}`;
    out += `|${piece.length > 200 ? `${part}=#${createHash('sha256').update(piece).digest('base64url')}` : piece}`;
  }
  return out;
}

function costOf(l: CompiledLimit, ctx: RequestContext): number {
  if (typeof l.cost === 'number') return l.cost;
  const raw = ctx.req.headers[l.cost.header];
  if (raw === undefined) return 1;
  if (typeof raw !== 'string' || !/^[0-9]{1,10}$/.test(raw)) {
    throw new GatewayError('BAD_REQUEST', `Header ${l.cost.header} must be a non-negative integer.`);
  }
  // The client writes this header: "0" would make its requests free. A request always costs at least one unit.
  return Math.max(1, Number(raw));
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/**
 * Rate limits through the shared state (env.services.state): one atomic consume per limit, so every worker and node
 * sharing the backend counts against one number. Limits are checked in config order and the first refusal stops:
 * the later limits are not touched, the earlier ones have used their unit (SharedState has no atomic multi-key
 * consume nor a refund that would stay exact under concurrency; a refund could let another request in past the
 * limit). The answer carries RateLimit-Policy / RateLimit (draft-ietf-httpapi-ratelimit-headers: a list of quoted
 * policy names with q/w and r/t parameters) and, on 429, Retry-After.
 */
export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const state = env.services.state;
    if (!state) {
      throw new Error(
        'rate-limit needs the shared state (memory, cluster or Redis counters); this process was started without one',
      );
    }
    const limits: CompiledLimit[] = cfg.limits.map((l) => {
      const windowMs = l.window_ms ?? parseWindow(l.window ?? '') ?? 0;
      return {
        name: l.name,
        limit: l.limit,
        windowMs,
        algorithm: l.algorithm,
        burst: l.burst,
        key: l.key,
        cost: l.cost,
        policyItem: `"${l.name}";q=${l.limit};w=${seconds(windowMs)}`,
      };
    });
    const policyHeader = limits.map((l) => l.policyItem).join(', ');
    // The `local` fallback: the same exact algorithms, for this process only, while the shared state fails.
    const local = env.services.shared(LOCAL_COUNTERS_KEY, () => new MemoryState());
    const stateErrors = stateErrorsCounter();
    const mode = cfg.on_state_error;
    let lastStateLog = 0;
    const passed = new WeakMap<RequestContext, string>();

    async function consume(req: ConsumeRequest): Promise<ConsumeResult | null> {
      try {
        return await state!.consume(req);
      } catch (err) {
        stateErrors.inc({ policy: 'rate-limit', mode });
        const now = Date.now();
        if (now - lastStateLog >= STATE_LOG_INTERVAL_MS) {
          lastStateLog = now;
          env.logger.warn(
            { err, policy: 'rate-limit', scope: env.scope, backend: state!.kind, mode },
            'shared counters unavailable',
          );
        }
        if (mode === 'fail-closed') {
          throw new GatewayError('STATE_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' } });
        }
        return mode === 'local' ? local.consumeSync(req) : null;
      }
    }

    return {
      async request(ctx) {
        const items: string[] = [];
        for (const l of limits) {
          const r = await consume({
            key: counterKey(env.scope, l, ctx, cfg.ipv6_prefix),
            algorithm: l.algorithm,
            limit: l.limit,
            windowMs: l.windowMs,
            ...(l.burst !== undefined && { burst: l.burst }),
            cost: costOf(l, ctx),
          });
          if (!r) continue; // fail-open: this limit is not enforced (nor reported) while the state is down
          items.push(`"${l.name}";r=${r.remaining};t=${seconds(r.resetMs)}`);
          if (!r.allowed) {
            throw new GatewayError('RATE_LIMITED', `Rate limit "${l.name}" exceeded; try again later.`, {
              headers: {
                'retry-after': String(Math.max(1, seconds(r.retryAfterMs))),
                'ratelimit-policy': policyHeader,
                ratelimit: items.join(', '),
              },
            });
          }
        }
        if (cfg.headers && items.length) passed.set(ctx, items.join(', '));
      },
      response(ctx) {
        const rl = passed.get(ctx);
        if (rl === undefined || !ctx.response) return;
        ctx.response.headers['ratelimit-policy'] = policyHeader;
        ctx.response.headers.ratelimit = rl;
      },
    };
  },
});
