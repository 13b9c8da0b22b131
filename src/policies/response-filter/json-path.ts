/**
 * The JSONPath subset field rules use (RFC 9535 syntax, no filters or slices): `$` the root, `.name` or
 * `['name']` a member, `[0]` an element, `.*` / `[*]` any member or element, `..name` / `..*` any depth.
 * Compiled once to segments; matched step by step while walking a value (a small NFA), so one walk serves
 * every rule and `..` costs no backtracking.
 */

export interface Segment {
  /** `child`: exactly one step; `desc`: any number of steps (one or more) ending on `name`. */
  readonly kind: 'child' | 'desc';
  /** null: any name. Element indices are names too ("0"). */
  readonly name: string | null;
}

export type CompiledPath = readonly Segment[];

const NAME = /^[A-Za-z_$@-][A-Za-z0-9_$@-]*/;

/** Throws an Error naming the problem (the config schema turns it into a field error). */
export function compilePath(src: string): CompiledPath {
  if (!src.startsWith('$')) throw new Error('a path starts with "$"');
  const out: Segment[] = [];
  let i = 1;
  while (i < src.length) {
    let kind: Segment['kind'] = 'child';
    if (src.startsWith('..', i)) {
      kind = 'desc';
      i += 2;
      if (src[i] === '[') {
        const [name, next] = bracket(src, i);
        out.push({ kind, name });
        i = next;
        continue;
      }
    } else if (src[i] === '.') {
      i += 1;
    } else if (src[i] === '[') {
      const [name, next] = bracket(src, i);
      out.push({ kind, name });
      i = next;
      continue;
    } else {
      throw new Error(`unexpected "${src[i]}" at ${i}`);
    }
    if (src[i] === '*') {
      out.push({ kind, name: null });
      i += 1;
      continue;
    }
    const m = NAME.exec(src.slice(i));
    if (!m) throw new Error(`a member name is expected at ${i}`);
    out.push({ kind, name: m[0] });
    i += m[0].length;
  }
  if (!out.length) throw new Error('"$" alone would match the whole body; name a member');
  return out;
}

function bracket(src: string, at: number): [string | null, number] {
  const end = src.indexOf(']', at);
  if (end === -1) throw new Error(`unclosed "[" at ${at}`);
  const inner = src.slice(at + 1, end).trim();
  if (inner === '*') return [null, end + 1];
  if (/^\d+$/.test(inner)) return [String(Number(inner)), end + 1];
  const q = /^'((?:[^'\\]|\\.)*)'$|^"((?:[^"\\]|\\.)*)"$/.exec(inner);
  if (!q) throw new Error(`"[${inner}]": use ['name'], [index] or [*]`);
  return [(q[1] ?? q[2] ?? '').replace(/\\(.)/g, '$1'), end + 1];
}

/** A position in one path's match: the rule and how many segments it has matched. */
export type PathState = number;

/**
 * The states after one step along `key` from `states` of one path, and whether the path matched completely.
 * States are segment indices; a `desc` segment keeps its own index alive (it may consume more steps).
 */
export function step(
  path: CompiledPath,
  states: readonly PathState[],
  key: string,
): { next: PathState[]; full: boolean } {
  const next: PathState[] = [];
  let full = false;
  for (const s of states) {
    const seg = path[s];
    if (!seg) continue;
    const hit = seg.name === null || seg.name === key;
    if (seg.kind === 'desc' && !next.includes(s)) next.push(s);
    if (hit) {
      if (s + 1 === path.length) full = true;
      else if (!next.includes(s + 1)) next.push(s + 1);
    }
  }
  return { next, full };
}

interface Live {
  readonly path: CompiledPath;
  readonly states: readonly PathState[];
}

export const DROP = Symbol('drop');

/**
 * Applies deny paths (remove what they match) and allow paths (when any is given, keep only what they match, with
 * the containers on the way) to a JSON value. Deny wins over allow. Copy on write: the input is never mutated, and
 * comes back as is when nothing matched. `onRemoved` gets a JSON-pointer path per removal.
 */
export function applyPaths(
  value: unknown,
  deny: readonly CompiledPath[],
  allow: readonly CompiledPath[] | null,
  onRemoved: (path: string) => void,
): unknown {
  if (value === null || typeof value !== 'object') return value;
  const d = deny.map((path) => ({ path, states: [0] }));
  const a = allow?.length ? allow.map((path) => ({ path, states: [0] })) : null;
  return walk(value as object, '', d, a, onRemoved, 0);
}

function walk(
  value: object,
  at: string,
  deny: readonly Live[],
  allow: readonly Live[] | null,
  onRemoved: (path: string) => void,
  depth: number,
): unknown {
  const isArray = Array.isArray(value);
  const src = value as Record<string, unknown>;
  const keys = isArray ? null : Object.keys(src);
  const n = isArray ? (value as unknown[]).length : (keys as string[]).length;
  let out: unknown[] | Record<string, unknown> | null = null;
  const start = (i: number) => {
    if (isArray) out = (value as unknown[]).slice(0, i);
    else {
      const o: Record<string, unknown> = {};
      for (let j = 0; j < i; j++) o[(keys as string[])[j] as string] = src[(keys as string[])[j] as string];
      out = o;
    }
  };
  for (let i = 0; i < n; i++) {
    const k = isArray ? String(i) : ((keys as string[])[i] as string);
    const child = isArray ? (value as unknown[])[i] : src[k];
    const here = `${at}/${k.includes('/') || k.includes('~') ? k.replaceAll('~', '~0').replaceAll('/', '~1') : k}`;
    let drop = false;
    const nd: Live[] = [];
    for (const l of deny) {
      const r = step(l.path, l.states, k);
      if (r.full) drop = true;
      if (r.next.length) nd.push({ path: l.path, states: r.next });
    }
    let na: Live[] | null = null;
    if (!drop && allow) {
      let full = false;
      na = [];
      for (const l of allow) {
        const r = step(l.path, l.states, k);
        if (r.full) full = true;
        if (r.next.length) na.push({ path: l.path, states: r.next });
      }
      if (full) na = null;
      else if (!na.length || child === null || typeof child !== 'object') drop = true;
    }
    let result: unknown = child;
    if (drop) {
      onRemoved(here);
      result = DROP;
    } else if (child !== null && typeof child === 'object' && (nd.length || na)) {
      // Past the depth a parser would reasonably produce, keep nothing rather than recurse further.
      result = depth >= 128 ? DROP : walk(child, here, nd, na, onRemoved, depth + 1);
      if (result === DROP) onRemoved(here);
    }
    if (result !== child && out === null) start(i);
    if (out !== null && result !== DROP) {
      if (isArray) (out as unknown[]).push(result);
      else (out as Record<string, unknown>)[k] = result;
    }
  }
  return out ?? value;
}

/** One place a path matched: set `parent[key]` to change it. */
export interface PathHit {
  readonly parent: Record<string, unknown> | unknown[];
  readonly key: string | number;
  readonly pointer: string;
}

/** Every place the paths match in a value (outermost first; a match's own subtree is not searched further). */
export function findPaths(value: unknown, paths: readonly CompiledPath[], limit = 10_000): PathHit[] {
  const hits: PathHit[] = [];
  const visit = (v: unknown, at: string, live: readonly Live[], depth: number) => {
    if (v === null || typeof v !== 'object' || depth >= 128) return;
    const isArray = Array.isArray(v);
    const keys = isArray ? v.map((_, i) => String(i)) : Object.keys(v);
    for (const k of keys) {
      if (hits.length >= limit) return;
      const next: Live[] = [];
      let full = false;
      for (const l of live) {
        const r = step(l.path, l.states, k);
        if (r.full) full = true;
        if (r.next.length) next.push({ path: l.path, states: r.next });
      }
      const here = `${at}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`;
      const child = isArray ? (v as unknown[])[Number(k)] : (v as Record<string, unknown>)[k];
      if (full) hits.push({ parent: v as Record<string, unknown>, key: isArray ? Number(k) : k, pointer: here });
      else if (next.length) visit(child, here, next, depth + 1);
    }
  };
  visit(
    value,
    '',
    paths.map((path) => ({ path, states: [0] })),
    0,
  );
  return hits;
}
