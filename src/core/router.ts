import FindMyWay from 'find-my-way';
import { HTTP_METHODS } from '../config/types.js';

/** What the router needs of a route; config/compile.ts passes its compiled routes. */
export interface RoutableRoute {
  readonly name: string;
  readonly hosts?: readonly string[] | undefined;
  readonly paths: readonly string[];
  readonly methods?: readonly string[] | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

export interface RouteMatch<R> {
  route: R;
  params: Record<string, string | undefined>;
  /** The pattern that matched, e.g. "/users/{id}". */
  pattern: string;
}

export type RouteLookup<R> = RouteMatch<R> | { route: null; allow: string[] };

interface Candidate<R> {
  route: R;
  pattern: string;
  host: (host: string) => boolean;
  headers: (h: Record<string, string | string[] | undefined>) => boolean;
  /** Higher wins among routes on the same path: exact host > wildcard host > any, then more header rules. */
  rank: number;
  /** Slow-path matcher used when the tree's best path has no candidate for this host and headers. */
  regex: RegExp;
  /** Per-segment kind (static 3 > param 2 > wildcard 1), so the slow path prefers paths as the tree does. */
  specificity: number[];
  methods: ReadonlySet<string> | null;
  index: number;
  /** Param names in path order ("id/*"): find-my-way keeps the first registered names for a path shape. */
  names: string;
}

/** The routes registered in the tree for one method and path shape (param names and trailing slash aside). */
interface Slot<R> {
  names: string;
  list: Candidate<R>[];
}

/** `{id}` → `:id` for find-my-way; `*` stays a trailing wildcard. */
function toFmw(pattern: string): string {
  return pattern.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1');
}

function toRegex(pattern: string): RegExp {
  let re = '';
  // The tree ignores a trailing slash; so does the slow path.
  if (pattern.length > 1 && pattern.endsWith('/')) pattern = pattern.slice(0, -1);
  for (const part of pattern.split(/(\{[A-Za-z_][A-Za-z0-9_]*\}|\*)/)) {
    if (part === '*') re += '(?<wildcard>.*)';
    else if (part.startsWith('{')) re += `(?<${part.slice(1, -1)}>[^/]+)`;
    else re += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}/?$`);
}

function specificityOf(pattern: string): number[] {
  return pattern
    .split('/')
    .slice(1)
    .map((s) => (s.includes('*') ? 1 : s.includes('{') ? 2 : 3));
}

/** More specific first: the first segment that differs decides (static before param before wildcard). */
function compareSpecificity(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (b[i] ?? 0) - (a[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** One matcher per kind of host a route lists, so that each ranks by how it matched (exact 2000, wildcard 1000). */
function hostMatchers(hosts: readonly string[] | undefined): { match: (h: string) => boolean; rank: number }[] {
  if (!hosts?.length) return [{ match: () => true, rank: 0 }];
  const exact = new Set(hosts.filter((h) => !h.startsWith('*.')).map((h) => h.toLowerCase()));
  const suffixes = hosts.filter((h) => h.startsWith('*.')).map((h) => h.slice(1).toLowerCase());
  const out: { match: (h: string) => boolean; rank: number }[] = [];
  if (exact.size) out.push({ match: (raw) => exact.has(raw) || exact.has(raw.replace(/:\d+$/, '')), rank: 2000 });
  if (suffixes.length) {
    const match = (raw: string) => {
      const h = raw.replace(/:\d+$/, '');
      // "*.example.com:8443" compares with the port, "*.example.com" without.
      return suffixes.some((s) => {
        const v = /:\d+$/.test(s) ? raw : h;
        return v.endsWith(s) && v.length > s.length;
      });
    };
    out.push({ match, rank: 1000 });
  }
  return out;
}

function headerMatcher(rules: Readonly<Record<string, string>> | undefined): {
  match: Candidate<unknown>['headers'];
  count: number;
} {
  const entries = Object.entries(rules ?? {}).map(([name, v]) => {
    const test = v.startsWith('~') ? new RegExp(v.slice(1)).test.bind(new RegExp(v.slice(1))) : (s: string) => s === v;
    return [name.toLowerCase(), test] as const;
  });
  if (!entries.length) return { match: () => true, count: 0 };
  return {
    match: (h) =>
      entries.every(([name, test]) => {
        const v = h[name];
        return v !== undefined && (Array.isArray(v) ? v.some(test) : test(v));
      }),
    count: entries.length,
  };
}

/**
 * Host, path (params, trailing wildcard), method and header routing on find-my-way's radix tree.
 * The tree answers the path; candidates on that path are then tried by host and headers in rank order.
 */
export class Router<R extends RoutableRoute> {
  private readonly fmw = FindMyWay({ ignoreTrailingSlash: true, caseSensitive: true, maxParamLength: 1000 });
  private readonly all: Candidate<R>[] = [];

  constructor(routes: readonly R[]) {
    const byKey = new Map<string, Slot<R>>();
    routes.forEach((route, index) => {
      const headers = headerMatcher(route.headers);
      const methods = route.methods?.length ? route.methods : HTTP_METHODS;
      const pairs = hostMatchers(route.hosts).flatMap((host) => route.paths.map((pattern) => ({ host, pattern })));
      for (const { host, pattern } of pairs) {
        const names = [...pattern.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}|\*/g)].map((m) => m[1] ?? '*').join('/');
        const c: Candidate<R> = {
          route,
          pattern,
          host: host.match,
          headers: headers.match,
          rank: host.rank + headers.count,
          regex: toRegex(pattern),
          specificity: specificityOf(pattern),
          methods: route.methods?.length ? new Set(route.methods) : null,
          index,
          names,
        };
        this.all.push(c);
        // find-my-way refuses a second "/u/:name" after "/u/:id" (or "/u/x/" after "/u/x"): one slot per shape.
        const shape = toFmw(pattern)
          .replace(/:[A-Za-z_][A-Za-z0-9_]*/g, ':')
          .replace(/(.)\/$/, '$1');
        for (const m of methods) {
          const key = `${m} ${shape}`;
          let slot = byKey.get(key);
          if (!slot) {
            slot = { names, list: [] };
            byKey.set(key, slot);
            this.fmw.on(m as FindMyWay.HTTPMethod, toFmw(pattern), () => {}, slot);
          }
          slot.list.push(c);
        }
      }
    });
    const order = (a: Candidate<R>, b: Candidate<R>) => b.rank - a.rank || a.index - b.index;
    for (const slot of byKey.values()) slot.list.sort(order);
    this.all.sort((a, b) => compareSpecificity(a.specificity, b.specificity) || order(a, b));
  }

  find(
    method: string,
    path: string,
    host: string,
    headers: Record<string, string | string[] | undefined>,
  ): RouteLookup<R> {
    const hit = this.fmw.find(method as FindMyWay.HTTPMethod, path);
    if (hit) {
      const slot = hit.store as Slot<R>;
      for (const c of slot.list) {
        if (c.host(host) && c.headers(headers))
          return { route: c.route, params: paramsFor(c, slot, hit.params), pattern: c.pattern };
      }
    }
    // Slow path, only when the most specific path belongs to routes of another host or header set.
    for (const c of this.all) {
      if (c.methods && !c.methods.has(method)) continue;
      const m = c.regex.exec(path);
      if (m && c.host(host) && c.headers(headers)) {
        const params: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(m.groups ?? {})) params[k === 'wildcard' ? '*' : k] = safeDecode(v ?? '');
        return { route: c.route, params, pattern: c.pattern };
      }
    }
    const allow = this.all
      .filter((c) => c.methods && c.regex.test(path) && c.host(host) && c.headers(headers))
      .flatMap((c) => [...(c.methods ?? [])]);
    return { route: null, allow: [...new Set(allow)] };
  }
}

/** The tree's params under this candidate's own names (same shape, so same positions). */
function paramsFor<R>(
  c: Candidate<R>,
  slot: Slot<R>,
  params: Record<string, string | undefined>,
): Record<string, string | undefined> {
  // find-my-way builds a fresh params object per lookup: no copy needed.
  if (c.names === slot.names) return params;
  const from = slot.names.split('/');
  const out: Record<string, string | undefined> = {};
  c.names.split('/').forEach((n, i) => {
    out[n] = params[from[i] ?? ''];
  });
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
