import { isAbsolute, resolve } from 'node:path';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { sharedOpenApi } from '../../openapi/shared.js';
import { ByteFilter, type FilterOutcome } from './byte-filter.js';
import { applyPaths, type CompiledPath, compilePath, DROP } from './json-path.js';
import { meta, schema } from './schema.js';
import { filterValue, REMOVED, SchemaCompiler, type Shape } from './schema-filter.js';
import {
  hasAnyRole,
  headerValue,
  isBlank,
  isJsonType,
  parseJson,
  protectionCounter,
  replaceBody,
  upstreamBody,
} from './shared.js';

/** Paths named in one audit event: enough to act on, bounded so a huge answer cannot bloat the event. */
const MAX_PATHS_IN_EVENT = 10;

/**
 * The object path: parse, cut by schema then by rules, stringify. null when the body does not parse. Reports
 * every removal in order; the outcome keeps the first `MAX_PATHS_IN_EVENT`.
 */
function objectPath(
  buf: Buffer,
  shape: Shape | null,
  lists: { deny: readonly CompiledPath[]; allow: readonly CompiledPath[] | null },
  maxPaths: number,
): FilterOutcome | null {
  const parsed = parseJson(buf);
  if (!parsed) return null;
  const paths: string[] = [];
  let count = 0;
  const onRemoved = (p: string) => {
    if (count++ < maxPaths) paths.push(p);
  };
  let value: unknown = parsed.value;
  if (shape) {
    const r = filterValue(value, shape, onRemoved);
    value = r === REMOVED ? null : r;
  }
  const bySchema = count;
  if (lists.deny.length || lists.allow) {
    const r = applyPaths(value, lists.deny, lists.allow, onRemoved);
    value = r === DROP ? null : r;
  }
  return { count, bySchema, paths, body: () => Buffer.from(JSON.stringify(value)) };
}

interface Rule {
  readonly label: string;
  readonly action: 'allow' | 'deny';
  readonly paths: readonly CompiledPath[];
  readonly roles: readonly string[] | null;
  readonly except: readonly string[] | null;
}

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const counter = protectionCounter();
    const compiler = new SchemaCompiler({ components: cfg.components ?? {} });
    const byStatus = new Map<string, Shape>();
    for (const [k, v] of Object.entries(cfg.responses ?? {})) byStatus.set(k.toUpperCase(), compiler.compile(v));
    const routeWide = cfg.schema === undefined ? null : compiler.compile(cfg.schema);
    // Loaded at create (a bad document fails the config load): the process-wide document request-validation uses for
    // the same file, kept across reloads while its files are unchanged.
    const doc = cfg.spec
      ? sharedOpenApi(
          env.services,
          isAbsolute(cfg.spec) ? cfg.spec : resolve(cfg.spec),
          cfg.base_path === undefined ? {} : { basePath: cfg.base_path },
        )
      : null;
    const hasSchemas = byStatus.size > 0 || routeWide !== null || doc !== null;
    const inlineShape = (status: number): Shape | null =>
      byStatus.get(String(status)) ??
      byStatus.get(`${Math.floor(status / 100)}XX`) ??
      byStatus.get('DEFAULT') ??
      routeWide;
    const shapeFor = (ctx: RequestContext, status: number, contentType: string): Shape | null => {
      if (doc) {
        let path = ctx.path;
        if (cfg.match === 'upstream' && ctx.upstreamPath !== '') {
          const q = ctx.upstreamPath.indexOf('?');
          path = q === -1 ? ctx.upstreamPath : ctx.upstreamPath.slice(0, q);
        }
        const s = doc.match(ctx.method, path)?.responseSchema(status, contentType);
        if (s) return compiler.compile(s);
      }
      return inlineShape(status);
    };

    const rules: Rule[] = cfg.fields.map((r, i) => ({
      label: r.name ?? `fields[${i}]`,
      action: r.action,
      paths: r.paths.map(compilePath),
      roles: r.roles ?? null,
      except: r.except_roles ?? null,
    }));
    const conditional = rules.some((r) => r.roles || r.except);
    const listsOf = (applies: (r: Rule) => boolean) => {
      const on = rules.filter(applies);
      const allow = on.filter((r) => r.action === 'allow').flatMap((r) => r.paths);
      return {
        deny: on.filter((r) => r.action === 'deny').flatMap((r) => r.paths),
        allow: allow.length ? allow : null,
        labels: on.map((r) => r.label),
      };
    };
    const fixed = conditional ? null : listsOf(() => true);
    // Which rules apply depends only on the caller's roles: the lists are kept per role set (bounded).
    const byRoles = new Map<string, ReturnType<typeof listsOf>>();
    const listsFor = (ctx: RequestContext) => {
      if (fixed) return fixed;
      const key = ctx.identity?.roles.join('\u0000') ?? '';
      let l = byRoles.get(key);
      if (!l) {
        l = listsOf((r) => (!r.roles || hasAnyRole(ctx, r.roles)) && (!r.except || !hasAnyRole(ctx, r.except)));
        if (byRoles.size >= 256) byRoles.clear();
        byRoles.set(key, l);
      }
      return l;
    };

    const bytes = new ByteFilter();

    const block = (ctx: RequestContext, rule: string, detail: Record<string, string | number | boolean>) => {
      ctx.securityEvent({ type: 'response.blocked', policy: meta.name, rule, action: 'block', detail });
      counter.inc({ policy: meta.name, route: ctx.route?.name ?? '', action: 'block' });
      return new GatewayError('RESPONSE_BLOCKED');
    };

    env.logger.debug({ schemas: byStatus.size + (routeWide ? 1 : 0), rules: rules.length }, 'response filter compiled');

    return {
      request(ctx) {
        // Filtering needs the answer's bytes as JSON: ask the upstream for an unencoded body.
        delete ctx.upstreamHeaders['accept-encoding'];
      },
      async response(ctx) {
        if (!upstreamBody(ctx)) return;
        const res = ctx.response;
        if (!res || !isJsonType(headerValue(res.headers, 'content-type'))) return;
        const shape = hasSchemas ? shapeFor(ctx, res.status, headerValue(res.headers, 'content-type')) : null;
        const lists = listsFor(ctx);
        if (!shape && !lists.deny.length && !lists.allow) {
          if (hasSchemas && cfg.undeclared === 'block') throw block(ctx, 'undeclared', { status: res.status });
          return;
        }
        const enc = headerValue(res.headers, 'content-encoding');
        if (enc && enc !== 'identity') throw block(ctx, 'encoded', { encoding: enc.slice(0, 20) });
        const buf = await ctx.readResponseBody();
        // An empty body has nothing to expose.
        if (isBlank(buf)) return;
        // The byte scan wherever it decides exactly as the object walk would (most answers, at a fraction of the
        // cost of parse + stringify); the object walk for the rest.
        // The removed paths are only for the security event: not collected where nothing reads events (no audit).
        const maxPaths = ctx.securityEventsRead ? MAX_PATHS_IN_EVENT : 0;
        const cut = bytes.run(buf, shape, lists.deny, lists.allow, maxPaths) ?? objectPath(buf, shape, lists, maxPaths);
        // A body that claims JSON but does not parse cannot be checked: never sent unchecked.
        if (!cut) throw block(ctx, 'unparseable', { status: res.status });
        const { count, bySchema, paths: removed } = cut;
        if (count === 0) return;
        if (cfg.mode === 'block' || ctx.securityEventsRead) {
          const detail = {
            removed: count,
            by_schema: bySchema,
            by_rules: count - bySchema,
            paths: removed.join(' ').slice(0, 400),
          };
          const rule = bySchema ? 'schema' : lists.labels.join(',').slice(0, 100);
          if (cfg.mode === 'block') throw block(ctx, rule, detail);
          ctx.securityEvent({
            type: 'response.field_removed',
            policy: meta.name,
            rule,
            location: `body${removed[0] ?? ''}`.slice(0, 200),
            action: 'modify',
            detail,
          });
        }
        counter.inc({ policy: meta.name, route: ctx.route?.name ?? '', action: 'strip' });
        // The answer's buffer is ours (readResponseBody) and replaced here: the kept bytes are compacted within it.
        replaceBody(ctx, cut.body(true));
      },
    };
  },
});
