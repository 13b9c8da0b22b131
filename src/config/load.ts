import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import type { z } from 'zod';
import { resolveSpecPaths } from '../policies/request-validation/paths.js';
import { checkTls, resolveTlsPaths } from '../tls/check.js';
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
        message: `cannot read the config file: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as NodeJS.ErrnoException).code}`,
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
    let msg = e.message.split('\n')[0] ?? e.message;
    // Point at the offending text, not the indentation before it.
    let offset = e.pos[0];
    while (text[offset] === ' ') offset++;
    const path = pathAtOffset(doc.contents, offset);
    if (e.code === 'DUPLICATE_KEY') {
      const key = path.at(-1);
      const map = nodeAt(doc.contents, path.slice(0, -1));
      const first = isMap(map) ? map.items.find((p) => isScalar(p.key) && p.key.value === key) : undefined;
      const firstAt = first && isScalar(first.key) ? first.key.range?.[0] : undefined;
      msg = `duplicate key "${String(key)}"${firstAt === undefined ? '' : ` (first on line ${lc.linePos(firstAt).line})`}`;
    }
    // "/users/{id}" inside [ ... ] reads as a YAML mapping: the commonest slip, so say how to fix it.
    const hint = /flow|Missing , or :/.test(msg)
      ? ' (quote values holding { } [ ] or commas, e.g. "/users/{id}")'
      : /without - indicator/.test(msg)
        ? ' (check the indentation: the fields of one item line up)'
        : '';
    at(offset, formatPath(path), msg + hint);
  }
  if (doc.errors.length) throw new ConfigError(issues);

  // Resolve ${env:..}/${file:..} in place on the YAML nodes so positions stay exact; remember which came from refs.
  const fromRef = new Set<string>();
  const refFailed: string[] = [];
  visit(doc, {
    Scalar(_key, node, ancestry) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return;
      const r = resolveRefs(node.value, baseDir, env);
      const path = formatPath(pathOf(ancestry));
      for (const msg of r.errors) at(node.range?.[0], path, msg);
      if (r.errors.length) refFailed.push(path);
      node.value = r.value;
      if (r.fromRef) fromRef.add(path);
    },
  });

  const raw: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    // A field whose reference failed already has its error; what the empty value then breaks is noise.
    const noise = (p: string) => refFailed.some((f) => p === f || p.startsWith(`${f}.`) || p.startsWith(`${f}[`));
    const atField: At = (offset, path, message) => {
      if (!noise(path)) at(offset, path, message);
    };
    for (const i of parsed.error.issues) addZodIssue(doc.contents, raw, i, atField);
  }

  if (parsed.success) {
    // TLS files are read as the server will read them, so a bad certificate stops the start here with its field.
    resolveTlsPaths(parsed.data, baseDir);
    // OpenAPI documents of request-validation: paths made absolute, each read once so a bad one fails here.
    for (const s of resolveSpecPaths(parsed.data, baseDir)) {
      let node: Node | undefined;
      for (let n = s.path.length; n >= 0 && !node; n--) node = nodeAt(doc.contents, s.path.slice(0, n));
      at(node?.range?.[0], formatPath(s.path), s.message);
    }
    for (const t of checkTls(parsed.data)) {
      let node: Node | undefined;
      for (let n = t.path.length; n >= 0 && !node; n--) node = nodeAt(doc.contents, t.path.slice(0, n));
      at(node?.range?.[0], formatPath(t.path), t.message, t.severity);
    }
  }

  // Safety checks read the raw values, so they are reported even when other fields are invalid.
  const prod = valueAt(raw, ['environment']) !== 'development';
  const isTrue = (v: unknown) => v === true || v === 'true';
  const isFalse = (v: unknown) => v === false || v === 'false';
  for (const s of findSecrets(configSchema, raw)) {
    const path = formatPath(s.path);
    if (fromRef.has(path) || refFailed.includes(path)) continue;
    at(
      nodeAt(doc.contents, s.path)?.range?.[0],
      path,
      'a secret written inline in the config: use ${env:NAME} or ${file:PATH}',
      // The master key protects every other secret: never from the YAML itself, not even in development.
      prod || path === 'keyring.master_key' ? 'error' : 'warning',
    );
  }
  const upstreams = valueAt(raw, ['upstreams']);
  for (const name of upstreams && typeof upstreams === 'object' ? Object.keys(upstreams) : []) {
    const verifyPath = ['upstreams', name, 'tls', 'verify'];
    if (isFalse(valueAt(raw, verifyPath))) {
      at(
        nodeAt(doc.contents, verifyPath)?.range?.[0],
        formatPath(verifyPath),
        prod
          ? 'upstream TLS verification is off: refused in production (give tls.ca for a private CA instead)'
          : 'upstream TLS verification is off: anyone on the network path can impersonate this upstream',
        prod ? 'error' : 'warning',
      );
    }
  }
  const sinks = valueAt(raw, ['audit', 'sinks']);
  for (const i of Array.isArray(sinks) ? sinks.keys() : []) {
    const verifyPath = ['audit', 'sinks', i, 'tls', 'verify'];
    if (isFalse(valueAt(raw, verifyPath))) {
      at(
        nodeAt(doc.contents, verifyPath)?.range?.[0],
        formatPath(verifyPath),
        prod
          ? 'SIEM sink TLS verification is off: refused in production (give tls.ca for a private CA instead)'
          : 'SIEM sink TLS verification is off: anyone on the network path can read and forge the audit stream',
        prod ? 'error' : 'warning',
      );
    }
  }
  const host = valueAt(raw, ['metrics', 'host']);
  if (
    !isFalse(valueAt(raw, ['metrics', 'enabled'])) &&
    !isTrue(valueAt(raw, ['metrics', 'allow_remote'])) &&
    typeof host === 'string' &&
    !isLoopback(host)
  ) {
    const p = ['metrics', 'host'];
    at(
      nodeAt(doc.contents, p)?.range?.[0],
      formatPath(p),
      `metrics bound to ${host}, beyond loopback: set metrics.allow_remote: true to expose them`,
    );
  }

  issues.sort((a, b) => a.line - b.line || a.column - b.column);
  if (!parsed.success || issues.some((i) => i.severity === 'error')) throw new ConfigError(issues);
  return { config: parsed.data, warnings: issues, file };
}

/** The raw value at a path, or undefined. */
function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let cur = raw;
  for (const k of path) {
    if (!cur || typeof cur !== 'object' || !Object.hasOwn(cur, k)) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

type At = (offset: number | undefined, path: string, message: string) => void;

function addZodIssue(root: Node | null, raw: unknown, issue: z.core.$ZodIssue, at: At): void {
  const path = issue.path as PropertyKey[];
  if (issue.code === 'unrecognized_keys') {
    // Point at each unknown key itself, the most useful place for a typo.
    const parent = nodeAt(root, path);
    const known = [...new Set(keysAt(configSchema, path))];
    const what = path.at(-1) === 'policies' ? 'policy' : 'field';
    for (const k of issue.keys) {
      const pair = isMap(parent) ? parent.items.find((p) => isScalar(p.key) && p.key.value === k) : undefined;
      const keyNode = pair?.key as Node | undefined;
      const near = suggest(k, known);
      const hint = near
        ? ` (did you mean "${near}"?)`
        : known.length
          ? ` (${what === 'policy' ? 'policies' : 'fields'}: ${known.join(', ')})`
          : '';
      at(keyNode?.range?.[0] ?? parent?.range?.[0], formatPath([...path, k]), `unknown ${what} "${k}"${hint}`);
    }
    return;
  }
  // Walk up to the deepest node that exists (a missing required field points at its parent).
  let node: Node | undefined;
  for (let n = path.length; n >= 0 && !node; n--) node = nodeAt(root, path.slice(0, n));
  let message = issue.message;
  if (issue.code === 'invalid_key') {
    // A bad key in a map (e.g. a header name): point at the key and say why.
    const parent = nodeAt(root, path.slice(0, -1));
    const pair = isMap(parent) ? parent.items.find((p) => isScalar(p.key) && p.key.value === path.at(-1)) : undefined;
    const reason = issue.issues[0]?.message;
    at((pair?.key as Node | undefined)?.range?.[0] ?? node?.range?.[0] ?? 0, formatPath(path), reason ?? message);
    return;
  }
  if (issue.code === 'invalid_value' && issue.values.every((v) => typeof v === 'string')) {
    const value = valueAt(raw, path);
    const options = issue.values as string[];
    const near = typeof value === 'string' ? suggest(value, options) : undefined;
    message = `${JSON.stringify(value)} is not one of: ${options.join(', ')}${near ? ` (did you mean "${near}"?)` : ''}`;
  }
  if (issue.code === 'invalid_type') {
    const value = valueAt(raw, path);
    if (!path.length) {
      const got = Array.isArray(value) ? 'a list' : `a ${typeof value === 'string' ? 'text' : typeof value} value`;
      message = `the config must be a mapping of sections (listeners:, routes: ...), not ${got}`;
    } else if (value === undefined) message = 'required field is missing';
    else if (value === null)
      message = `no value given: ${message.replace(/^Invalid input: /, '').replace(/, received null$/, '')}`;
  }
  if (issue.code === 'invalid_union' && issue.errors.length) {
    // Report against the option the value was meant for: the first whose errors are more than "wrong type here"
    // (e.g. "eighty" for a number-or-digits field fails as digits), else the first (main) shape.
    const wrongType = (errs: z.core.$ZodIssue[]) =>
      errs.every((e) => !e.path.length && (e.code === 'invalid_type' || e.code === 'invalid_union'));
    const main = issue.errors.find((errs) => errs.length && !wrongType(errs)) ?? issue.errors[0] ?? [];
    if (main.length && main.every((e) => e.code !== 'invalid_union' || e.path.length)) {
      for (const sub of main) addZodIssue(root, raw, { ...sub, path: [...path, ...sub.path] } as z.core.$ZodIssue, at);
      return;
    }
  }
  at(node?.range?.[0] ?? 0, formatPath(path), message);
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

/** Field path of the deepest node whose text holds `offset` (for YAML errors); stops at a flow [..] or {..}. */
function pathAtOffset(root: unknown, offset: number): PropertyKey[] {
  const out: PropertyKey[] = [];
  const holds = (n: unknown) => {
    const r = (n as Node | null)?.range;
    return !!r && r[0] <= offset && offset < r[2];
  };
  let cur = root;
  while ((isMap(cur) || isSeq(cur)) && !cur.flow) {
    let next: unknown;
    if (isMap(cur)) {
      const pair = cur.items.find((p) => {
        const start = (p.key as Node | null)?.range?.[0];
        const end = ((p.value as Node | null) ?? (p.key as Node | null))?.range?.[2];
        return start !== undefined && end !== undefined && start <= offset && offset < end;
      });
      if (!pair || !isScalar(pair.key)) break;
      out.push(String(pair.key.value));
      next = pair.value;
    } else {
      const i = cur.items.findIndex(holds);
      if (i === -1) break;
      out.push(i);
      next = cur.items[i];
    }
    cur = next;
  }
  return out;
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

/** The nearest known name to a typo ("listner" → "listeners"), if one is close enough. */
export function suggest(key: string, known: readonly string[]): string | undefined {
  const norm = (k: string) => k.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestD = key.length < 7 ? 1 : 2;
  for (const k of known) {
    const d = norm(k) === norm(key) ? 0 : editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD || (d === bestD && best === undefined)) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

/** Levenshtein distance with adjacent transpositions ("lsitener" is one edit from "listener"). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      const prev = d[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The field names the schema allows at a path (every option of a union). */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  const [head, ...rest] = path;
  switch (def.type) {
    case 'object': {
      const shape = def.shape as Record<string, z.ZodType>;
      if (head === undefined) return Object.keys(shape);
      const next = typeof head === 'string' && Object.hasOwn(shape, head) ? shape[head] : undefined;
      return next ? keysAt(next, rest) : [];
    }
    case 'array':
      return typeof head === 'number' ? keysAt(def.element as z.ZodType, rest) : [];
    case 'record':
      return head === undefined ? [] : keysAt(def.valueType as z.ZodType, rest);
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
    case 'readonly':
      return keysAt(def.innerType as z.ZodType, path);
    case 'pipe':
      return keysAt(def.in as z.ZodType, path);
    case 'union':
      return (def.options as z.ZodType[]).flatMap((o) => keysAt(o, path));
    default:
      return [];
  }
}
