import type { Logger } from 'pino';
import { HTTP_METHODS, withHead } from '../../config/types.js';
import type { RequestContext } from '../../core/context.js';
import type { Decision } from '../../core/decision.js';
import { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { definePolicy } from '../../core/policy.js';
import { type OwnerEntry, OwnershipCache } from './ownership.js';
import { meta, type ObjectAccessConfig, schema } from './schema.js';
import {
  type Body,
  compileIdentitySelector,
  compileSource,
  hasValue,
  type IdentityGetter,
  type Ids,
  MALFORMED,
  MAX_ID_LENGTH,
  memberMatches,
  NO_BODY,
  NOT_JSON,
  type Pointer,
  parsePointer,
  readPointer,
  type Source,
  scalarMatches,
  singleValue,
} from './selectors.js';

const POLICY = meta.name;
/** Logged at most this often while the store fails, so an outage does not flood the log. */
const STORE_ERROR_LOG_MS = 5_000;

/**
 * The contract with a later `external-authz` policy (`untracked: external`): when a protected object has no
 * ownership record, object-access records NO allow for the request (it drops the allows of its other rules too)
 * and lets it continue; external-authz (order 2300) then decides and records its own allow, or denies. If no
 * external-authz allow is on `ctx.decisions` when the request is about to go upstream, object-access denies it
 * there (rule "untracked", fail closed), so a route without external-authz never lets an untracked object through.
 */
const EXTERNAL_POLICY = 'external-authz';

/** What one rule concluded for this request. */
const SKIP = 0; // does not apply (method, or an optional identifier that is absent)
const DEFER = 1; // an untracked object under `untracked: external`
type Outcome = typeof SKIP | typeof DEFER | Decision;

interface Rule {
  readonly name: string;
  readonly needsBody: boolean;
  /** Decides synchronously when it can (cache hit), else returns a promise. Denies by throwing. */
  check(ctx: RequestContext, identity: Identity, body: Body): Outcome | Promise<Outcome>;
}

const allow = (rule: string, reason: string): Decision =>
  Object.freeze({ effect: 'allow', policy: POLICY, rule, reason });
const deny = (rule: string, reason: string): Decision =>
  Object.freeze({ effect: 'deny', policy: POLICY, rule, reason });

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const store = env.services.store;
    const tracks = listOf(cfg.track);
    const protects = listOf(cfg.protect);
    if (!store && (tracks.length || protects.length))
      throw new Error('object-access track/protect needs `store:` in the config (ownership records live in the store)');
    const cache = store ? env.services.shared('object-access/ownership', () => new OwnershipCache(store)) : null;
    const notFound = cfg.deny_as === 'not_found';
    const { ttl_ms: ttl, negative_ttl_ms: negativeTtl } = cfg.cache;
    let lastStoreErrorLog = 0;

    /** Records the deny and throws the answer; the answer never names the rule. */
    const refuse = (ctx: RequestContext, d: Decision): never => {
      ctx.decide(d);
      throw notFound ? new GatewayError('OBJECT_NOT_FOUND') : new GatewayError('FORBIDDEN');
    };

    /**
     * A store error: deny, as 503 AUTH_UNAVAILABLE rather than 403. The caller may well be the owner, so a 403 would
     * tell them something false and final; a 503 with Retry-After is true, retryable, visible to monitoring, and
     * the same for every id (it reveals nothing about the object).
     */
    const unavailable = (ctx: RequestContext, rule: string, e: unknown): never => {
      const now = Date.now();
      if (now - lastStoreErrorLog >= STORE_ERROR_LOG_MS) {
        lastStoreErrorLog = now;
        env.logger.error({ err: { message: (e as Error).message } }, 'object-access: ownership store failed; refusing');
      }
      ctx.decide(deny(rule, 'ownership store unavailable'));
      throw new GatewayError('AUTH_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' }, cause: e });
    };

    const rules: { rule: Rule; methods: readonly string[] }[] = [];
    cfg.bindings.forEach((b, i) => {
      rules.push({
        rule: bindingRule(b, b.name ?? `bindings[${i}]`, refuse),
        methods: b.methods ? withHead(b.methods) : HTTP_METHODS,
      });
    });
    const many = tracks.length > 1;
    tracks.forEach((t, i) => {
      const name = t.name ?? (many ? `track[${i}]` : 'track');
      const ok = allow(name, 'creates an object: the caller is recorded as its owner');
      const json = t.id_from.json !== undefined;
      rules.push({
        methods: t.on,
        rule: {
          name,
          needsBody: false,
          check(ctx) {
            // The id is read from the answer's JSON: ask for it uncompressed.
            if (json) ctx.upstreamHeaders['accept-encoding'] = 'identity';
            return ok;
          },
        },
      });
    });
    const trackers: Tracker[] = tracks.map((t, i) => {
      const name = t.name ?? (many ? `track[${i}]` : 'track');
      return {
        name,
        type: t.type,
        on: t.on,
        status: t.status ? new Set(t.status) : null,
        json: t.id_from.json === undefined ? null : (parsePointer(t.id_from.json) as Pointer),
        tenant: t.tenant_from === undefined ? null : (compileIdentitySelector(t.tenant_from) as IdentityGetter),
        stolen: deny(name, 'the id is already owned by another caller'),
      };
    });
    const trackByMethod = new Map<string, Tracker[]>();
    for (const t of trackers) for (const m of t.on) trackByMethod.set(m, [...(trackByMethod.get(m) ?? []), t]);
    const trackTenant = tracks.find((t) => t.tenant_from)?.tenant_from;
    protects.forEach((p, i) => {
      const name = p.name ?? (protects.length > 1 ? `protect[${i}]` : 'protect');
      const tenantFrom = p.tenant_from ?? trackTenant;
      const rule = protectRule(p, name, tenantFrom, cfg.untracked, {
        cache: cache as OwnershipCache,
        ttl,
        negativeTtl,
        refuse,
        unavailable,
      });
      rules.push({ rule, methods: p.methods ? withHead(p.methods) : HTTP_METHODS });
    });

    // Per method, the rules that apply, built once.
    const byMethod = new Map<string, Rule[]>();
    for (const m of HTTP_METHODS)
      byMethod.set(
        m,
        rules.filter((r) => r.methods.some((x) => x === m)).map((r) => r.rule),
      );
    const bodyMethods = new Set<string>(HTTP_METHODS.filter((m) => byMethod.get(m)?.some((r) => r.needsBody)));

    const bypass = new Map(cfg.bypass_roles.map((r) => [r, allow('bypass_roles', `role ${r}`)]));
    const noIdentity = deny('default', 'no identity');
    const noRule = deny('default', 'no object rule applies to this request');
    const deferred = cfg.untracked === 'external' && protects.length > 0 ? new WeakSet<RequestContext>() : null;
    const noExternal = deny('untracked', 'untracked object and no external-authz allow');

    /** Runs rules[i..] in order, synchronously until one needs to wait. Every applicable rule must allow. */
    const run = (
      ctx: RequestContext,
      identity: Identity,
      list: readonly Rule[],
      i: number,
      body: Body,
      state: { applied: boolean; deferred: boolean; mark: number },
    ): void | Promise<void> => {
      for (; i < list.length; i++) {
        const rule = list[i] as Rule;
        const o = rule.check(ctx, identity, body);
        if (o instanceof Promise) {
          const next = i + 1;
          return o.then((r) => {
            settle(ctx, r, state);
            return run(ctx, identity, list, next, body, state);
          });
        }
        settle(ctx, o, state);
      }
      finish(ctx, state);
    };
    const settle = (ctx: RequestContext, o: Outcome, state: { applied: boolean; deferred: boolean }): void => {
      if (o === SKIP) return;
      state.applied = true;
      if (o === DEFER) state.deferred = true;
      else ctx.decide(o);
    };
    const finish = (ctx: RequestContext, state: { applied: boolean; deferred: boolean; mark: number }): void => {
      if (!state.applied) refuse(ctx, noRule);
      if (state.deferred) {
        // No allow of ours may stand for a request whose object is left to external-authz.
        const ds = ctx.decisions;
        if (ds) for (let k = ds.length - 1; k >= state.mark; k--) if (ds[k]?.policy === POLICY) ds.splice(k, 1);
        deferred?.add(ctx);
      }
    };

    return {
      request(ctx) {
        const identity = ctx.identity;
        if (identity === null) return refuse(ctx, noIdentity);
        if (bypass.size) {
          for (const r of identity.roles) {
            const d = bypass.get(r);
            if (d) {
              ctx.decide(d);
              return;
            }
          }
        }
        const list = byMethod.get(ctx.method) ?? [];
        const state = { applied: false, deferred: false, mark: ctx.decisions?.length ?? 0 };
        if (!bodyMethods.has(ctx.method)) return run(ctx, identity, list, 0, NO_BODY, state);
        return ctx.readBody().then((buf) => run(ctx, identity, list, 0, parseBody(buf), state));
      },

      ...(deferred && {
        upstream(ctx: RequestContext) {
          if (!deferred.has(ctx)) return;
          const ds = ctx.decisions;
          if (ds) for (const d of ds) if (d.policy === EXTERNAL_POLICY && d.effect === 'allow') return;
          refuse(ctx, noExternal);
        },
      }),

      ...(tracks.length && {
        response(ctx: RequestContext) {
          const r = ctx.response;
          if (r === null || r.status < 200 || r.status > 299 || ctx.error) return;
          const identity = ctx.identity;
          if (identity === null) return;
          const list = trackByMethod.get(ctx.method);
          if (list === undefined) return;
          const applicable = list.some((t) => t.status !== null)
            ? list.filter((t) => t.status === null || t.status.has(r.status))
            : list;
          if (!applicable.length) return;
          return recordOwners(ctx, identity, applicable, cache as OwnershipCache, refuse, unavailable, env.logger);
        },
      }),
    };
  },
});

interface Tracker {
  readonly name: string;
  readonly type: string;
  readonly on: readonly string[];
  readonly status: ReadonlySet<number> | null;
  readonly json: Pointer | null;
  readonly tenant: IdentityGetter | null;
  /** The deny recorded when a create answers with an id someone else owns. */
  readonly stolen: Decision;
}

/** Response phase of a create: reads the new object's id(s) from the answer and claims them for the caller. */
async function recordOwners(
  ctx: RequestContext,
  identity: Identity,
  list: readonly Tracker[],
  cache: OwnershipCache,
  refuse: Refuse,
  unavailable: (ctx: RequestContext, rule: string, e: unknown) => never,
  logger: Logger,
): Promise<void> {
  const owner = identity.consumerId ?? identity.subject;
  let doc: Body = NO_BODY;
  let read = false;
  for (const t of list) {
    let ids: Ids;
    if (t.json) {
      if (!read) {
        doc = parseBody(await ctx.readResponseBody());
        read = true;
      }
      ids = doc === NO_BODY ? undefined : doc === NOT_JSON ? MALFORMED : readPointer(doc, t.json);
    } else ids = locationId(ctx.response?.headers.location);
    if (ids === undefined || ids === MALFORMED) {
      // The upstream said "created" without the id the config says it carries: the object would be left
      // untracked (unreachable, or open under untracked: allow). Refuse the answer rather than guess.
      logger.error(
        { rule: t.name, type: t.type, route: ctx.route?.name, status: ctx.response?.status },
        'object-access: a create answer carries no usable object id; answering 502',
      );
      throw new GatewayError('UPSTREAM_UNAVAILABLE');
    }
    const tenant = t.tenant ? singleValue(t.tenant(identity)) : null;
    for (const id of typeof ids === 'string' ? [ids] : ids) {
      let res: Awaited<ReturnType<OwnershipCache['claim']>>;
      try {
        res = await cache.claim({ resource_type: t.type, resource_id: id, owner_id: owner, tenant });
      } catch (e) {
        return unavailable(ctx, t.name, e);
      }
      // Someone else's object under a reused id: never hand its content to this caller.
      if (!res.created && res.record.owner_id !== owner) refuse(ctx, t.stolen);
    }
  }
}

function listOf<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** A request or response body as rules read it: empty, not JSON, or the parsed value. */
function parseBody(buf: Buffer): Body {
  if (buf.length === 0) return NO_BODY;
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch {
    return NOT_JSON;
  }
}

/** The last path segment of a Location header ("/orders/ord_7", "https://api/orders/ord_7?x" → "ord_7"). */
export function locationId(v: string | string[] | undefined): Ids {
  if (typeof v !== 'string' || v === '') return undefined;
  let path = v;
  const cut = path.search(/[?#]/);
  if (cut !== -1) path = path.slice(0, cut);
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(path);
  if (m) path = path.slice(m[0].length);
  const seg = path
    .split('/')
    .filter((s) => s !== '')
    .at(-1);
  if (seg === undefined) return undefined;
  let id: string;
  try {
    id = decodeURIComponent(seg);
  } catch {
    return MALFORMED;
  }
  return id === '' || id.length > MAX_ID_LENGTH ? MALFORMED : id;
}

type Refuse = (ctx: RequestContext, d: Decision) => never;

function bindingRule(b: ObjectAccessConfig['bindings'][number], name: string, refuse: Refuse): Rule {
  const source = compileSource(b.from) as Source;
  const selector = (b.equals ?? b.in) as string;
  const get = compileIdentitySelector(selector) as IdentityGetter;
  const matches = b.equals !== undefined ? scalarMatches : memberMatches;
  const optional = b.optional;
  const ok = allow(name, `${source.label} matches ${selector}`);
  const missing = deny(name, `no ${source.label}`);
  const malformed = deny(name, `${source.label} is not an identifier`);
  const mismatch = deny(name, `${source.label} does not match ${selector}`);
  const noValue = deny(name, `the identity has no ${selector}`);
  return {
    name,
    needsBody: source.kind === 'body',
    check(ctx, identity, body) {
      const ids = source.read(ctx, body);
      if (ids === undefined) return optional ? SKIP : refuse(ctx, missing);
      if (ids === MALFORMED) return refuse(ctx, malformed);
      const v = get(identity);
      if (typeof ids === 'string') {
        if (matches(v, ids)) return ok;
      } else if (ids.every((id) => matches(v, id))) return ok;
      return refuse(ctx, hasValue(v) ? mismatch : noValue);
    },
  };
}

interface ProtectEnv {
  cache: OwnershipCache;
  ttl: number;
  negativeTtl: number;
  refuse: Refuse;
  unavailable: (ctx: RequestContext, rule: string, e: unknown) => never;
}

function protectRule(
  p: Extract<ObjectAccessConfig['protect'], { type: string }>,
  name: string,
  tenantFrom: string | undefined,
  untracked: ObjectAccessConfig['untracked'],
  { cache, ttl, negativeTtl, refuse, unavailable }: ProtectEnv,
): Rule {
  const source = compileSource(p.id_from) as Source;
  const type = p.type;
  const tenantOf = tenantFrom === undefined ? null : (compileIdentitySelector(tenantFrom) as IdentityGetter);
  const optional = p.optional;
  const owner = allow(name, 'owner');
  const sameTenant = allow(name, "the owner's tenant");
  const untrackedAllow = allow(name, 'untracked object: allowed by default');
  const missing = deny(name, `no ${source.label}`);
  const malformed = deny(name, `${source.label} is not an identifier`);
  const notOwner = deny(name, 'not the owner');
  const untrackedDeny = deny(name, 'untracked object: denied by default');

  /** The outcome for one object's entry. */
  const judge = (ctx: RequestContext, identity: Identity, e: OwnerEntry): Outcome => {
    const o = e.value;
    if (o === null) {
      if (untracked === 'allow') return untrackedAllow;
      if (untracked === 'external') return DEFER;
      return refuse(ctx, untrackedDeny);
    }
    if (o.owner === (identity.consumerId ?? identity.subject)) return owner;
    if (tenantOf !== null && o.tenant !== null && memberMatches(tenantOf(identity), o.tenant)) return sameTenant;
    return refuse(ctx, notOwner);
  };

  /** Several ids (a repeated query parameter, a JSON array): each must pass; an untracked one defers them all. */
  const judgeAll = (ctx: RequestContext, identity: Identity, entries: readonly OwnerEntry[]): Outcome => {
    let out: Outcome = SKIP;
    let defer = false;
    for (const e of entries) {
      const o = judge(ctx, identity, e);
      if (o === DEFER) defer = true;
      else if (out === SKIP || o === sameTenant) out = o;
    }
    return defer ? DEFER : out;
  };

  const lookup = (id: string, now: number): OwnerEntry | Promise<OwnerEntry> => {
    const key = OwnershipCache.key(type, id);
    return cache.fresh(key, now, ttl, negativeTtl) ?? cache.load(type, id, key, now);
  };

  return {
    name,
    needsBody: source.kind === 'body',
    check(ctx, identity, body) {
      const ids = source.read(ctx, body);
      if (ids === undefined) return optional ? SKIP : refuse(ctx, missing);
      if (ids === MALFORMED) return refuse(ctx, malformed);
      const now = Date.now();
      if (typeof ids === 'string') {
        const e = lookup(ids, now);
        if (!(e instanceof Promise)) return judge(ctx, identity, e);
        return e.then(
          (entry) => judge(ctx, identity, entry),
          (err: unknown) => unavailable(ctx, name, err),
        );
      }
      const all = ids.map((id) => lookup(id, now));
      if (!all.some((e) => e instanceof Promise)) return judgeAll(ctx, identity, all as OwnerEntry[]);
      return Promise.all(all).then(
        (entries) => judgeAll(ctx, identity, entries),
        (err: unknown) => unavailable(ctx, name, err),
      );
    },
  };
}
