import { readFileSync } from 'node:fs';
import type { InspectOptions } from '../../detect/engine.js';
import type { InspectReport, InspectRequest } from '../../detect/types.js';

/** The implementation of `rampart inspect`, loaded only when the command runs. */

interface RequestFlags {
  file?: string;
  request?: string;
  url?: string;
  header: string[];
  data?: string;
}

function splitUrl(url: string): { path: string; query: string } {
  let u = url;
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(u);
  if (m) u = u.slice(m[0].length) || '/';
  const hash = u.indexOf('#');
  if (hash !== -1) u = u.slice(0, hash);
  const q = u.indexOf('?');
  return { path: q === -1 ? u : u.slice(0, q), query: q === -1 ? '' : u.slice(q + 1) };
}

/** Builds the request from a JSON file or from curl-like flags. */
export function readRequest(o: RequestFlags): InspectRequest {
  if (o.file) {
    const doc = JSON.parse(readFileSync(o.file, 'utf8')) as Record<string, unknown>;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries((doc.headers as Record<string, unknown>) ?? {}))
      headers[k.toLowerCase()] = String(v);
    const pq =
      typeof doc.url === 'string'
        ? splitUrl(doc.url)
        : { path: String(doc.path ?? '/'), query: String(doc.query ?? '').replace(/^\?/, '') };
    const body =
      doc.body === undefined ? undefined : typeof doc.body === 'string' ? doc.body : JSON.stringify(doc.body);
    if (body !== undefined && typeof doc.body !== 'string' && !headers['content-type'])
      headers['content-type'] = 'application/json';
    return {
      method: String(doc.method ?? 'GET').toUpperCase(),
      ...pq,
      headers,
      ...(body !== undefined ? { body } : {}),
    };
  }
  if (!o.url) throw new Error('give --file or --url');
  const headers: Record<string, string> = {};
  for (const h of o.header) {
    const c = h.indexOf(':');
    if (c <= 0) throw new Error(`bad header "${h.slice(0, 40)}": expected "Name: value"`);
    const name = h.slice(0, c).trim().toLowerCase();
    const value = h.slice(c + 1).trim();
    headers[name] = headers[name] ? `${headers[name]}, ${value}` : value;
  }
  let body: string | undefined;
  if (o.data !== undefined) {
    body = o.data.startsWith('@') ? readFileSync(o.data.slice(1), 'utf8') : o.data;
    if (!headers['content-type']) headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  return {
    method: (o.request ?? (body !== undefined ? 'POST' : 'GET')).toUpperCase(),
    ...splitUrl(o.url),
    headers,
    ...(body !== undefined ? { body } : {}),
  };
}

type Block = Record<string, unknown> | undefined;

/** The threat-detection settings that apply to a route: the route's own, then its upstream's, then the global ones. */
export async function optionsFromConfig(file: string, routeName?: string): Promise<InspectOptions> {
  const { loadConfigFile } = await import('../../config/load.js');
  const { config } = loadConfigFile(file);
  const cfg = config as unknown as {
    policies?: Record<string, Block>;
    routes?: Array<{ name: string; upstream?: string; policies?: Record<string, Block> }>;
    upstreams?: Record<string, { policies?: Record<string, Block> }>;
  };
  let block: Block = cfg.policies?.['threat-detection'];
  if (routeName) {
    const route = cfg.routes?.find((r) => r.name === routeName);
    if (!route) throw new Error(`no route named "${routeName}" in ${file}`);
    const up = route.upstream ? cfg.upstreams?.[route.upstream]?.policies?.['threat-detection'] : undefined;
    block = route.policies?.['threat-detection'] ?? up ?? block;
  }
  if (!block || block.enabled === false || block.mode === 'off') return {};
  const b = block as {
    threshold?: number;
    classes?: InspectOptions['classes'];
    locations?: { path?: boolean; query?: boolean; headers?: string[]; cookies?: boolean; body?: boolean };
    exclusions?: Array<{ rule?: string; location?: string; routes?: string[] }>;
    max_inspect_bytes?: number;
  };
  const exclusions = (b.exclusions ?? [])
    .filter((e) => !e.routes || (routeName !== undefined && e.routes.includes(routeName)))
    .map((e) => ({ ...(e.rule ? { rule: e.rule } : {}), ...(e.location ? { location: e.location } : {}) }));
  return {
    ...(b.threshold !== undefined ? { threshold: b.threshold } : {}),
    ...(b.classes ? { classes: b.classes } : {}),
    ...(b.locations
      ? {
          path: b.locations.path,
          query: b.locations.query,
          headers: b.locations.headers,
          cookies: b.locations.cookies,
          body: b.locations.body,
        }
      : {}),
    exclusions,
    ...(b.max_inspect_bytes !== undefined ? { maxInspectBytes: b.max_inspect_bytes } : {}),
  };
}

/** A table: score, rule, location, fragment; then the verdict. */
export function formatReport(r: InspectReport, threshold: number): string {
  const lines: string[] = [];
  if (r.findings.length) {
    const rows = r.findings.map((f) => [String(f.score), f.rule, f.location, JSON.stringify(f.fragment)]);
    const head = ['SCORE', 'RULE', 'LOCATION', 'FRAGMENT'];
    const widths = head.map((h, i) =>
      Math.min(48, Math.max(h.length, ...rows.map((row) => (row[i] as string).length))),
    );
    const fmt = (row: string[]) =>
      row
        .map((c, i) =>
          i === row.length - 1
            ? c
            : c.length > (widths[i] as number)
              ? `${c.slice(0, (widths[i] as number) - 1)}…`
              : c.padEnd(widths[i] as number),
        )
        .join('  ');
    lines.push(fmt(head), ...rows.map(fmt));
  } else lines.push('no findings');
  lines.push(`score ${r.score} / threshold ${threshold}: ${r.attack ? 'ATTACK' : 'clean'}`);
  return `${lines.join('\n')}\n`;
}
