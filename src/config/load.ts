import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isPair, isScalar, LineCounter, type Node, parseDocument, visit } from 'yaml';
import type { z } from 'zod';
import { resolveRefs } from './refs.js';
import { type Config, configSchema } from './schema.js';
import { findSecrets } from './secrets.js';

export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** Field path, e.g. routes[2].upstream */
  path: string;
  message: string;
  severity: 'error' | 'warning';
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid configuration:\n${issues.map(formatIssue).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.column} ${i.severity} ${i.path || '(root)'}: ${i.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_$][\w$-]*$/.test(p)) s += s ? `.${p}` : p;
    else s += `[${JSON.stringify(String(p))}]`;
  }
  return s;
}

export interface LoadedConfig {
  config: Config;
  warnings: ConfigIssue[];
  file: string;
}

/** Reads, resolves references, validates. Throws ConfigError naming every problem with file, line and field. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    throw new ConfigError([
      {
        file,
        line: 0,
        column: 0,
        path: '',
        message: `cannot read: ${(e as NodeJS.ErrnoException).code}`,
        severity: 'error',
      },
    ]);
  }
  return parseConfig(text, file, dirname(abs), env);
}

export function parseConfig(
  text: string,
  file: string,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  const at = (
    offset: number | undefined,
    path: string,
    message: string,
    severity: ConfigIssue['severity'] = 'error',
  ) => {
    const pos = offset === undefined ? { line: 0, col: 0 } : lc.linePos(offset);
    issues.push({ file, line: pos.line, column: pos.col, path, message, severity });
  };

  for (const e of doc.errors) {
    const msg = e.message.split('\n')[0] ?? e.message;
    // "/users/{id}" inside [ ... ] reads as a YAML mapping: the commonest slip, so say how to fix it.
    const hint = /flow|Missing , or :/.test(msg) ? ' (quote values holding { } [ ] or commas, e.g. "/users/{id}")' : '';
    at(e.pos[0], '', msg + hint);
  }
  if (doc.errors.length) throw new ConfigError(issues);

  // Resolve ${env:..}/${file:..} in place on the YAML nodes so positions stay exact; remember which came from refs.
  const fromRef = new Set<string>();
  visit(doc, {
    Scalar(_key, node, ancestry) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return;
      const r = resolveRefs(node.value, baseDir, env);
      const path = formatPath(pathOf(ancestry));
      for (const msg of r.errors) at(node.range?.[0], path, msg);
      node.value = r.value;
      if (r.fromRef) fromRef.add(path);
    },
  });

  const raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) for (const i of parsed.error.issues) addZodIssue(doc.contents, i, at);

  let config: Config | undefined;
  if (parsed.success) {
    config = parsed.data;
    const prod = config.environment === 'production';
    for (const s of findSecrets(configSchema, raw)) {
      const path = formatPath(s.path);
      if (fromRef.has(path)) continue;
      at(
        nodeAt(doc.contents, s.path)?.range?.[0],
        path,
        'a secret written inline in the config: use ${env:NAME} or ${file:PATH}',
        prod ? 'error' : 'warning',
      );
    }
    for (const [name, u] of Object.entries(config.upstreams)) {
      const verifyPath = ['upstreams', name, 'tls', 'verify'];
      if (!u.tls.verify) {
        at(
          nodeAt(doc.contents, verifyPath)?.range?.[0],
          formatPath(verifyPath),
          'upstream TLS verification is off',
          prod ? 'error' : 'warning',
        );
      }
    }
    if (config.metrics.enabled && !config.metrics.allow_remote && !isLoopback(config.metrics.host)) {
      const p = ['metrics', 'host'];
      at(nodeAt(doc.contents, p)?.range?.[0], formatPath(p), 'metrics bind beyond loopback needs allow_remote: true');
    }
  }

  const errors = issues.filter((i) => i.severity === 'error');
  if (errors.length || !config) throw new ConfigError(issues.sort((a, b) => a.line - b.line || a.column - b.column));
  return { config, warnings: issues, file };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

type At = (offset: number | undefined, path: string, message: string) => void;

function addZodIssue(root: Node | null, issue: z.core.$ZodIssue, at: At): void {
  const path = issue.path as PropertyKey[];
  if (issue.code === 'unrecognized_keys') {
    // Point at each unknown key itself, the most useful place for a typo.
    const parent = nodeAt(root, path);
    for (const k of issue.keys) {
      const pair = isMap(parent) ? parent.items.find((p) => isScalar(p.key) && p.key.value === k) : undefined;
      const keyNode = pair?.key as Node | undefined;
      at(
        keyNode?.range?.[0] ?? parent?.range?.[0],
        formatPath([...path, k]),
        `unknown field "${k}"${suggest(k, parent)}`,
      );
    }
    return;
  }
  // Walk up to the deepest node that exists (a missing required field points at its parent).
  let node: Node | undefined;
  for (let n = path.length; n >= 0 && !node; n--) node = nodeAt(root, path.slice(0, n));
  let message = issue.message;
  if (issue.code === 'invalid_type' && issue.input === undefined) message = 'required field is missing';
  if (issue.code === 'invalid_union' && issue.errors.length) {
    // Report against the first (main) shape: its errors are what a person meant to write.
    const main = issue.errors[0] ?? [];
    if (main.length && main.every((e) => e.code !== 'invalid_union' || e.path.length)) {
      for (const sub of main) addZodIssue(root, { ...sub, path: [...path, ...sub.path] } as z.core.$ZodIssue, at);
      return;
    }
  }
  at(node?.range?.[0], formatPath(path), message);
}

function nodeAt(root: Node | null, path: readonly PropertyKey[]): Node | undefined {
  let cur: unknown = root;
  for (const key of path) {
    if (!cur || typeof cur !== 'object' || !('items' in cur)) return undefined;
    const items = (cur as { items: unknown[] }).items;
    if (typeof key === 'number') cur = items[key];
    else
      cur = (items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key) as { value?: unknown } | undefined)
        ?.value;
    if (isPair(cur)) cur = cur.value;
  }
  return (cur as Node | undefined) ?? undefined;
}

function pathOf(ancestry: readonly unknown[]): PropertyKey[] {
  const out: PropertyKey[] = [];
  for (let i = 1; i < ancestry.length; i++) {
    const a = ancestry[i];
    const parent = ancestry[i - 1];
    if (isPair(a) && isScalar(a.key)) out.push(String(a.key.value));
    else if (parent && typeof parent === 'object' && 'items' in parent && !isPair(a)) {
      const idx = (parent as { items: unknown[] }).items.indexOf(a);
      if (!isMap(parent) && idx >= 0) out.push(idx);
    }
  }
  return out;
}

/** "did you mean" for typos in field names. */
function suggest(key: string, parent: Node | undefined): string {
  void parent;
  const known = KNOWN_KEYS.get(key.toLowerCase().replace(/[-_]/g, ''));
  return known && known !== key ? ` (did you mean "${known}"?)` : '';
}

const KNOWN_KEYS = new Map<string, string>();
for (const k of collectKeys(configSchema)) KNOWN_KEYS.set(k.toLowerCase().replace(/[-_]/g, ''), k);

function collectKeys(schema: z.ZodType, out = new Set<string>(), seen = new Set<unknown>()): Set<string> {
  if (seen.has(schema)) return out;
  seen.add(schema);
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  if (def.type === 'object') {
    for (const [k, v] of Object.entries(def.shape as Record<string, z.ZodType>)) {
      out.add(k);
      collectKeys(v, out, seen);
    }
  }
  for (const k of ['innerType', 'element', 'valueType', 'in', 'out'])
    if (def[k]) collectKeys(def[k] as z.ZodType, out, seen);
  for (const o of (def.options as z.ZodType[] | undefined) ?? []) collectKeys(o, out, seen);
  return out;
}
