import type { RequestContext } from '../../core/context.js';
import type { Identity } from '../../core/identity.js';
import { decodeQueryComponent } from '../../core/query.js';
import { type AuthzenConfig, authzenSchema, type ExternalAuthzConfig, SENSITIVE_QUERY } from './schema.js';

/**
 * What a PDP is told about a request, compiled once per config load. Only the fields listed in the config leave the
 * gateway: credential headers and credential-like query parameters never do.
 *
 * A question is the canonical JSON text of what is sent, built directly as text (this runs on every request, cache
 * hits included), without the time: that text is what the cache key hashes, since a decision cached for a question
 * must not depend on the clock (nothing would ever be reused). The time is added only when the PDP is asked. The
 * identity's part is kept per identity object (identity policies reuse the object of a cached credential).
 */
export interface InputBuilder {
  /** The question for this request, or null when AuthZEN's resource id is absent (the request is then denied). */
  build(ctx: RequestContext): string | null;
}

/** OPA's `{"input": ...}` with `input.time` set: the body sent. */
export function opaBody(question: string, now: Date): string {
  return `{"input":${question.slice(0, -1)},"time":"${now.toISOString()}"}}`;
}

/** AuthZEN's evaluation request with `context.time` set: the body sent (the context is the question's last member). */
export function authzenBody(question: string, now: Date): string {
  const empty = question.endsWith('{}}');
  return `${question.slice(0, -2)}${empty ? '' : ','}"time":"${now.toISOString()}"}}`;
}

type Pick = (ctx: RequestContext) => string | undefined;
type ClaimPaths = readonly (readonly [string, readonly string[]])[];

const str = JSON.stringify;

export function inputBuilder(cfg: ExternalAuthzConfig): InputBuilder {
  const headers = cfg.headers.map((h) => [h, `${str(h)}:`] as const);
  const claims: ClaimPaths = cfg.claims.map((p) => [p, p.split('.')] as const);
  const query =
    cfg.query === 'none'
      ? null
      : cfg.query === 'all'
        ? ('all' as const)
        : new Set(cfg.query.filter((q) => !SENSITIVE_QUERY.test(q)));
  const clientIp = cfg.client_ip;

  const headersOf = (ctx: RequestContext): string => {
    let out = '';
    const h = ctx.req.headers;
    for (const [name, prefix] of headers) {
      const v = h[name];
      if (v !== undefined) out += `${out ? ',' : ''}${prefix}${str(typeof v === 'string' ? v : v.join(', '))}`;
    }
    return `{${out}}`;
  };
  const queryOf = (ctx: RequestContext): string => queryJson(ctx.query, query as 'all' | ReadonlySet<string>);
  const routeOf = (ctx: RequestContext): string => (ctx.route ? str(ctx.route.name) : 'null');

  if (cfg.protocol === 'opa') {
    const identities = new WeakMap<Identity, string>();
    const identityOf = (who: Identity | null): string => {
      if (!who) return 'null';
      let j = identities.get(who);
      if (j === undefined) {
        j = str(identityDoc(who, claims));
        identities.set(who, j);
      }
      return j;
    };
    return {
      build(ctx) {
        return `{"request":{"method":${str(ctx.method)},"path":${str(ctx.path)},"route":${routeOf(ctx)},"params":${str(
          ctx.params,
        )}${query ? `,"query":${queryOf(ctx)}` : ''},"headers":${headersOf(ctx)}${
          clientIp ? `,"client_ip":${str(ctx.clientIp)}` : ''
        }},"identity":${identityOf(ctx.identity)}}`;
      },
    };
  }

  const az: AuthzenConfig = cfg.authzen ?? authzenSchema.parse({});
  const sources = (Array.isArray(az.resource.id) ? az.resource.id : [az.resource.id]).map(compileSource);
  const resourceType = str(az.resource.type);
  const subjectType = str(az.subject_type);
  const actionOf = az.action === 'crud' ? crudAction : (m: string) => m;
  const subjects = new WeakMap<Identity, string>();
  const subjectOf = (who: Identity | null): string => {
    if (!who) return '{"type":"anonymous","id":"anonymous"}';
    let j = subjects.get(who);
    if (j === undefined) {
      j = `{"type":${subjectType},"id":${str(who.subject)},"properties":${str(identityDoc(who, claims))}}`;
      subjects.set(who, j);
    }
    return j;
  };
  return {
    build(ctx) {
      let id: string | undefined;
      for (const s of sources) {
        id = s(ctx);
        if (id) break;
      }
      if (!id) return null;
      const context = [
        query ? `"query":${queryOf(ctx)}` : '',
        `"headers":${headersOf(ctx)}`,
        clientIp ? `"client_ip":${str(ctx.clientIp)}` : '',
      ]
        .filter(Boolean)
        .join(',');
      return `{"subject":${subjectOf(ctx.identity)},"resource":{"type":${resourceType},"id":${str(
        id,
      )},"properties":{"route":${routeOf(ctx)},"path":${str(ctx.path)},"params":${str(ctx.params)}}},"action":{"name":${str(
        actionOf(ctx.method),
      )},"properties":{"method":${str(ctx.method)}}},"context":{${context}}}`;
    },
  };
}

/** The identity as a PDP sees it: never a credential, only who the caller is and what it holds. */
function identityDoc(who: Identity, claims: ClaimPaths): Record<string, unknown> {
  let picked: Record<string, unknown> | undefined;
  if (claims.length && who.claims) {
    picked = Object.create(null) as Record<string, unknown>;
    for (const [name, path] of claims) {
      const v = claimAt(who.claims, path);
      if (v !== undefined) picked[name] = v;
    }
  }
  return {
    kind: who.kind,
    id: who.consumerId,
    subject: who.subject,
    roles: who.roles,
    scopes: who.scopes,
    attributes: who.attributes,
    client_id: who.clientId,
    claims: picked,
    expires_at: who.expiresAt,
  };
}

function claimAt(claims: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let v: unknown = claims;
  for (const k of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** AuthZEN 1.0's common action names. */
function crudAction(method: string): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return 'can_read';
    case 'POST':
      return 'can_create';
    case 'PUT':
    case 'PATCH':
      return 'can_update';
    case 'DELETE':
      return 'can_delete';
    default:
      return 'can_access';
  }
}

function compileSource(s: string): Pick {
  if (s === 'route') return (ctx) => ctx.route?.name;
  if (s === 'path') return (ctx) => ctx.path;
  const colon = s.indexOf(':');
  const kind = s.slice(0, colon);
  const name = s.slice(colon + 1);
  if (kind === 'param') return (ctx) => ctx.params[name];
  if (kind === 'query') return (ctx) => queryValue(ctx.query, name);
  const header = name.toLowerCase();
  return (ctx) => {
    const v = ctx.req.headers[header];
    return typeof v === 'string' ? v : undefined;
  };
}

/**
 * The query as JSON text of name → values (always a list, as OPA's Envoy plugin gives `parsed_query`), names sorted
 * so that the same parameters in another order are the same question. Credential-like names are dropped. Built as
 * text: this runs on every request, cache hits included.
 */
export function queryJson(raw: string, only: 'all' | ReadonlySet<string>): string {
  if (raw.length <= 1) return '{}';
  const pairs: [string, string][] = [];
  let sorted = true;
  for (const part of raw.slice(1).split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const name = decodeQueryComponent(eq === -1 ? part : part.slice(0, eq));
    if (only === 'all' ? SENSITIVE_QUERY.test(name) : !only.has(name)) continue;
    const last = pairs.at(-1);
    if (last && last[0] > name) sorted = false;
    pairs.push([name, eq === -1 ? '' : decodeQueryComponent(part.slice(eq + 1))]);
  }
  // Stable: repeated names keep their order.
  if (!sorted) pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let out = '{';
  for (let i = 0; i < pairs.length; i++) {
    const [name, value] = pairs[i] as [string, string];
    const prev = i > 0 ? (pairs[i - 1] as [string, string])[0] : undefined;
    if (name !== prev) out += `${i > 0 ? '],' : ''}${str(name)}:[`;
    else out += ',';
    out += str(value);
  }
  return pairs.length ? `${out}]}` : '{}';
}

/** One parameter's value; undefined when absent or repeated (which copy would the upstream read? none is guessed). */
function queryValue(raw: string, name: string): string | undefined {
  let found: string | undefined;
  for (const part of raw.slice(1).split('&')) {
    const eq = part.indexOf('=');
    if (decodeQueryComponent(eq === -1 ? part : part.slice(0, eq)) !== name) continue;
    if (found !== undefined) return undefined;
    found = eq === -1 ? '' : decodeQueryComponent(part.slice(eq + 1));
  }
  return found;
}
