import { isUtf8 } from 'node:buffer';
import { PROG, runWalk, type WalkProgram, type WalkResult, walkReady } from './byte-walk.js';
import { type CompiledPath, step } from './json-path.js';
import { escapeKey, type Shape } from './schema-filter.js';

/**
 * The same cut as `filterValue` followed by `applyPaths`, done on the answer's bytes: one validating scan, no
 * JSON.parse / JSON.stringify, the output copied from the kept byte ranges. It mirrors the object walk exactly
 * (what is kept, what is reported and in which order) and gives up (null) on anything where the two could differ
 * or where it has any doubt about the input; the caller then runs the object path, which decides as before:
 * - grammar errors, invalid UTF-8, control characters in strings, nesting deeper than MAX_NESTING;
 * - in an object it walks: a duplicate key (JSON.parse keeps the last), an array-index key (Object.keys puts those
 *   first), `__proto__` (a copied object loses it), an escaped key with a surrogate;
 * - numbers JSON.stringify would not write back as read (-0, too long or too large an exponent: Infinity → null);
 * - a schema choice (oneOf / anyOf with a discriminator) that depends on the value.
 * What nothing constrains (a value the schema leaves whole, where no rule reaches) is copied as it came, layout
 * included; a duplicate key there stays (JSON.parse reads it as the object path's rewrite, and nothing in that
 * value was to be cut whichever copy a client keeps).
 *
 * Two walks decide alike: the WebAssembly one (byte-walk.as.ts, running a program compiled here from the plans and
 * the rules' automaton) for most answers, at about 0.6 of the cost of this file's JavaScript walk (class Scan), which
 * decides where the program cannot (patternProperties, oneOf/anyOf choices, rules naming an element index) and
 * wherever the WebAssembly walk doubts (an escaped key, many undeclared keys in one object).
 */

/** Well below the walks' own limit (128), so neither ever meets it on an input this path accepts. */
const MAX_NESTING = 100;
/** DFA states per rule set before giving up (a pathological set of `..` paths). */
const MAX_RULE_STATES = 1024;
/** Keys compared one by one for duplicates; a bigger object switches to a Set. */
const LINEAR_DUP_CHECK = 16;

/** Thrown inside the scan to give up; never escapes `run`. */
const BAIL: unique symbol = Symbol('bail');

export interface FilterOutcome {
  readonly count: number;
  readonly bySchema: number;
  /** The first paths in the order the object path reports them (schema removals, then rule removals). */
  readonly paths: readonly string[];
  /**
   * The filtered body (built on demand: block mode does not need it). `inPlace`: the input buffer is the caller's
   * to overwrite, and the kept bytes are moved to its front (no new 10 KB buffer per answer); the input is then
   * garbage, so only a caller that drops it may ask.
   */
  body(inPlace?: boolean): Buffer;
}

interface Live {
  readonly i: number;
  readonly path: CompiledPath;
  readonly states: readonly number[];
}

/** One step of the rules on a key: drop it, drop it unless it is a container (allow), or walk into it. */
interface Trans {
  readonly drop: boolean;
  readonly dropIfScalar: boolean;
  readonly next: RuleState | null;
}

/** A deterministic state of the rule NFA (the live deny and allow paths after the keys so far). */
interface RuleState {
  readonly deny: readonly Live[];
  readonly allow: readonly Live[] | null;
  readonly byId: (Trans | undefined)[];
  other: Trans | null;
}

interface RuleSet {
  readonly states: Map<string, RuleState>;
  readonly start: RuleState;
  /** A key equal to no name in the paths: what every unnamed key steps like. */
  readonly otherKey: string;
  /** Some path names an element index ([0]): array indexes then need their own transitions. */
  readonly numeric: boolean;
}

/**
 * The names the schemas and rules mention, matched on raw key bytes: open addressing on keyHash (byte-walk.as.ts
 * has the same hash and copies this table), the candidates' bytes compared in one pool. Id 0 is `__proto__`.
 */
class Names {
  readonly ids = new Map<string, number>();
  readonly strs: string[] = [];
  /** Per slot: id + 1 (0: empty) and the name's hash. */
  table = new Int32Array(128);
  mask = 63;
  pool = new Uint8Array(256);
  poolEnd = 0;
  /** Per id: where its bytes start in the pool, and their length. */
  start = new Int32Array(32);
  len = new Int32Array(32);
  /** Per id: 1 when a key can be matched on its raw bytes as they are (nothing to escape, no special name). */
  plain = new Uint8Array(32);
  hashes = new Int32Array(32);

  intern(name: string): number {
    const hit = this.ids.get(name);
    if (hit !== undefined) return hit;
    const b = Buffer.from(name, 'utf8');
    // A name with a lone surrogate has no UTF-8 bytes of its own; keys like it make the scan give up anyway.
    if (b.toString('utf8') !== name) return -1;
    const id = this.strs.length;
    this.ids.set(name, id);
    this.strs.push(name);
    if (this.poolEnd + b.length > this.pool.length) this.pool = grown(this.pool, this.poolEnd + b.length);
    this.pool.set(b, this.poolEnd);
    if (id >= this.start.length) {
      this.start = grown(this.start, id + 1);
      this.len = grown(this.len, id + 1);
      this.plain = grown(this.plain, id + 1);
      this.hashes = grown(this.hashes, id + 1);
    }
    this.start[id] = this.poolEnd;
    this.hashes[id] = keyHash(b, 0, b.length);
    this.plain[id] =
      id !== 0 && !INDEX_KEY.test(name) && !b.some((c) => c < SPACE || c === QUOTE || c === BACKSLASH) ? 1 : 0;
    this.len[id] = b.length;
    this.poolEnd += b.length;
    if (this.strs.length * 2 > this.mask) {
      this.table = new Int32Array(this.table.length * 2);
      this.mask = this.table.length / 2 - 1;
      for (let i = 0; i < this.strs.length; i++) this.#place(i);
    } else this.#place(id);
    return id;
  }

  #place(id: number): void {
    const s = this.start[id] as number;
    const h = keyHash(this.pool, s, s + (this.len[id] as number));
    let slot = (h ^ (h >>> 15)) & this.mask;
    while (this.table[slot * 2] !== 0) slot = (slot + 1) & this.mask;
    this.table[slot * 2] = id + 1;
    this.table[slot * 2 + 1] = h;
  }

  /** The id of the name whose UTF-8 bytes are b[s, e) (hash h), or -1. */
  lookup(b: Uint8Array, s: number, e: number, h: number): number {
    const n = e - s;
    const table = this.table;
    const mask = this.mask;
    let slot = (h ^ (h >>> 15)) & mask;
    for (;;) {
      const v = table[slot * 2] as number;
      if (v === 0) return -1;
      if (table[slot * 2 + 1] === h) {
        const id = v - 1;
        if (this.len[id] === n) {
          const pool = this.pool;
          const o = (this.start[id] as number) - s;
          let k = s;
          while (k < e && pool[k + o] === b[k]) k++;
          if (k === e) return id;
        }
      }
      slot = (slot + 1) & mask;
    }
  }
}

function grown<T extends Uint8Array | Int32Array>(a: T, need: number): T {
  let n = a.length * 2;
  while (n < need) n *= 2;
  const out = new (a.constructor as new (n: number) => T)(n);
  out.set(a);
  return out;
}

/**
 * A shape as the scan walks it: the properties indexed by name id and the children linked directly, so a walk
 * looks nothing up by shape. Built on first visit (shapes can be cyclic).
 */
interface Plan {
  readonly shape: Shape;
  readonly any: boolean;
  readonly none: boolean;
  readonly variants: boolean;
  built: boolean;
  /** By name id: the property's plan, and its position in `order` (the declared order). */
  props: (Plan | undefined)[];
  local: (number | undefined)[];
  order: number[];
  patterns: (readonly [RegExp, Plan])[];
  additional: Plan | null;
  items: Plan | null;
  prefix: Plan[];
}

/** One per policy instance: the names, the shape plans and the rule automata, built on first use. */
export class ByteFilter {
  readonly names = new Names();
  readonly #plans = new WeakMap<Shape, Plan>();
  readonly #rules = new WeakMap<readonly CompiledPath[], Map<readonly CompiledPath[] | null, RuleSet>>();
  /** Root shapes the scan met a value-dependent choice in: not tried again. */
  readonly #unsupported = new WeakSet<Shape>();
  /** Texts of undeclared keys met in removals (bounded), by hash. */
  readonly texts = new Map<number, { bytes: Buffer; text: string }>();
  /** Scratch kept across scans (one scan at a time: it never awaits). */
  seen = new Int32Array(64);
  /**
   * WebAssembly programs by root plan (NO_PLAN: rules alone) and rule set (NO_RULES: none); null where the walk needs
   * JavaScript. Weak both ways: rule sets made for role sets the policy no longer keeps go with their programs.
   */
  readonly #programs = new WeakMap<object, WeakMap<object, WalkProgram | null>>();

  /** Answers decided by each walk (tests, and a check that the WebAssembly walk is the one running). */
  readonly walks = { wasm: 0, js: 0 };
  readonly #wasm: boolean;

  /** `wasm: false`: always the JavaScript walk (tests run both walks on the same cases). */
  constructor(opts: { wasm?: boolean } = {}) {
    this.#wasm = (opts.wasm ?? true) && walkReady;
    this.names.intern('__proto__');
  }

  /**
   * Filters `buf` as `filterValue(JSON.parse(buf), shape)` then `applyPaths(…, deny, allow)` would; null when the
   * caller must take that object path instead. `maxPaths` bounds the paths collected.
   */
  run(
    buf: Buffer,
    shape: Shape | null,
    deny: readonly CompiledPath[],
    allow: readonly CompiledPath[] | null,
    maxPaths: number,
  ): FilterOutcome | null {
    if (shape && this.#unsupported.has(shape)) return null;
    if (!isUtf8(buf)) return null;
    let scan: Scan | null = null;
    try {
      const rules = deny.length || allow?.length ? this.#ruleSet(deny, allow?.length ? allow : null) : null;
      const plan = shape === null ? null : this.plan(shape);
      // The WebAssembly walk where the program has one; the JavaScript walk for the rest, and where it doubts.
      const prog = this.#wasm && !plan?.none ? this.#program(plan, rules) : null;
      const walked = prog ? runWalk(prog, buf, maxPaths) : null;
      if (walked) {
        this.walks.wasm++;
        return this.#walkOutcome(buf, walked, maxPaths);
      }
      scan = new Scan(this, buf, maxPaths);
      scan.top(plan, rules);
      this.walks.js++;
      return scan.outcome();
    } catch {
      // BAIL, or anything unforeseen: the object path decides, as it always did.
      if (scan?.shapeBail && shape) this.#unsupported.add(shape);
      return null;
    }
  }

  /** The text of the key at [ks, ke) of b (quotes included); a named key's is its name. */
  keyText(b: Buffer, ks: number, ke: number, esc: boolean, id: number): string {
    if (id >= 0) return this.names.strs[id] as string;
    if (esc) return JSON.parse(b.toString('utf8', ks, ke)) as string;
    // The same undeclared keys come back answer after answer: their text is kept (by hash, bytes compared).
    const h = keyHash(b, ks + 1, ke - 1);
    const hit = this.texts.get(h);
    if (hit && hit.bytes.length === ke - ks - 2) {
      let k = 0;
      while (k < hit.bytes.length && hit.bytes[k] === b[ks + 1 + k]) k++;
      if (k === hit.bytes.length) return hit.text;
    }
    const text = b.toString('utf8', ks + 1, ke - 1);
    if (this.texts.size >= 256) this.texts.clear();
    this.texts.set(h, { bytes: Buffer.from(b.subarray(ks + 1, ke - 1)), text });
    return text;
  }

  /** What the WebAssembly walk found, as Scan.outcome() reports it. */
  #walkOutcome(b: Buffer, r: WalkResult, max: number): FilterOutcome {
    // Schema removals come first; the rules' only fill what room is left.
    const paths: string[] = [];
    for (const kind of [0, 1]) {
      for (let i = r.recAt; i < r.recEnd && paths.length < max; i += 6 + (r.words[i + 1] as number) * 4) {
        if (r.words[i] === kind) paths.push(this.#recordPath(b, r.words, i));
      }
    }
    const count = r.schemaCount + r.ruleCount;
    return { count, bySchema: r.schemaCount, paths, body: (inPlace) => cutOut(b, r.cuts, inPlace === true) };
  }

  /** The JSON pointer of the removal recorded at rec[i] (Scan's #pointer). */
  #recordPath(b: Buffer, rec: Int32Array, i: number): string {
    const kept = rec[i] === 1;
    const depth = rec[i + 1] as number;
    const segment = (o: number) =>
      rec[o + 2]
        ? `/${escapeKey(this.keyText(b, rec[o] as number, rec[o + 1] as number, false, rec[o + 3] as number))}`
        : `/${kept ? rec[o + 1] : rec[o]}`;
    let out = '';
    for (let d = 0; d < depth; d++) out += segment(i + 6 + d * 4);
    return out + segment(i + 2);
  }

  /**
   * The WebAssembly program for a root plan and rule set: every plan reachable from the root built, every name they
   * and the rules mention interned, the rules' automaton explored from its start over those names and any other key.
   * null where the walk needs JavaScript: patternProperties, a oneOf/anyOf choice, rules that name an element index,
   * an automaton past its bound.
   */
  #program(root: Plan | null, rules: RuleSet | null): WalkProgram | null {
    let byRules = this.#programs.get(root ?? NO_PLAN);
    if (!byRules) {
      byRules = new WeakMap();
      this.#programs.set(root ?? NO_PLAN, byRules);
    }
    let prog = byRules.get(rules ?? NO_RULES);
    if (prog === undefined) {
      try {
        prog = this.#compile(root, rules);
      } catch {
        prog = null; // BAIL from the automaton's bound
      }
      byRules.set(rules ?? NO_RULES, prog);
    }
    return prog;
  }

  #compile(root: Plan | null, rules: RuleSet | null): WalkProgram | null {
    if (rules?.numeric) return null;
    // The plans, numbered in the order first reached.
    const { list: plans, index, reach } = numbering<Plan>();
    reach(root);
    for (let i = 0; i < plans.length; i++) {
      const p = plans[i] as Plan;
      if (!p.built) this.build(p);
      if (p.variants || p.patterns.length) return null;
      for (const id of p.order) reach(p.props[id] ?? null);
      reach(p.additional);
      reach(p.items);
      for (const x of p.prefix) reach(x);
    }
    // The automaton's states, numbered in the order first reached, with every transition taken.
    const names = this.names;
    const nNames = names.strs.length;
    const { list: states, index: stateIndex, reach: reachState } = numbering<RuleState>();
    if (rules) reachState(rules.start);
    for (let i = 0; i < states.length; i++) {
      const s = states[i] as RuleState;
      reachState(stateTransition(rules as RuleSet, s, -1, names).next);
      for (let id = 0; id < nNames; id++) reachState(stateTransition(rules as RuleSet, s, id, names).next);
    }
    // Layout (byte offsets from PROG; 4-byte words): header, names table, pool, per-name start / length / plain /
    // hash, plans (8 words each), their order and prefix lists, transitions (one row of nNames + 1 per state).
    const stride = nNames + 1;
    let size = 16;
    const tableAt = size;
    size += names.table.length;
    const poolAt = size;
    size += (names.poolEnd + 3) >> 2;
    const startAt = size;
    size += nNames;
    const lenAt = size;
    size += nNames;
    const plainAt = size;
    size += nNames;
    const hashAt = size;
    size += nNames;
    const plansAt = size;
    size += plans.length * 8;
    const listsAt = size;
    for (const p of plans) size += p.order.length * 2 + p.prefix.length;
    const transAt = size;
    size += states.length * stride;
    const w = new Int32Array(size);
    const addr = (word: number) => PROG + word * 4;
    w[0] = names.mask;
    w[1] = tableAt * 4;
    w[2] = poolAt * 4;
    w[3] = startAt * 4;
    w[4] = lenAt * 4;
    w[5] = plainAt * 4;
    w[6] = hashAt * 4;
    w[7] = nNames;
    w[8] = plansAt * 4;
    w[9] = transAt * 4;
    w[10] = stride;
    w.set(names.table, tableAt);
    new Uint8Array(w.buffer, poolAt * 4, names.poolEnd).set(names.pool.subarray(0, names.poolEnd));
    for (let id = 0; id < nNames; id++) {
      w[startAt + id] = names.start[id] as number;
      w[lenAt + id] = names.len[id] as number;
      w[plainAt + id] = names.plain[id] as number;
      w[hashAt + id] = names.hashes[id] as number;
    }
    let list = listsAt;
    plans.forEach((p, i) => {
      const o = plansAt + i * 8;
      const at = (x: Plan | null | undefined) => (x ? (index.get(x) as number) : -1);
      w[o] = (p.any ? 1 : 0) | (p.none ? 2 : 0);
      w[o + 1] = at(p.additional);
      w[o + 2] = at(p.items);
      w[o + 3] = p.prefix.length;
      w[o + 4] = addr(list);
      for (const x of p.prefix) w[list++] = at(x);
      w[o + 5] = p.order.length;
      w[o + 6] = addr(list);
      for (const id of p.order) {
        w[list++] = id;
        w[list++] = at(p.props[id]);
      }
    });
    const enc = (t: Trans) =>
      (t.drop ? 1 : 0) | (t.dropIfScalar ? 2 : 0) | ((t.next ? (stateIndex.get(t.next) as number) + 1 : 0) << 2);
    states.forEach((s, i) => {
      const row = transAt + i * stride;
      w[row] = enc(stateTransition(rules as RuleSet, s, -1, names));
      for (let id = 0; id < nNames; id++) w[row + 1 + id] = enc(stateTransition(rules as RuleSet, s, id, names));
    });
    return { words: w, root: root === null ? -1 : 0, start: rules ? 0 : -1 };
  }

  plan(shape: Shape): Plan {
    let p = this.#plans.get(shape);
    if (!p) {
      p = {
        shape,
        any: shape.any,
        none: shape.none,
        variants: shape.variants !== null,
        built: false,
        props: [],
        local: [],
        order: [],
        patterns: [],
        additional: null,
        items: null,
        prefix: [],
      };
      this.#plans.set(shape, p);
    }
    return p;
  }

  /** Fills a plan on its first walk (the children are linked, not built). */
  build(p: Plan): Plan {
    const s = p.shape;
    for (const [k, v] of s.props) {
      const id = this.names.intern(k);
      if (id < 0) continue;
      p.props[id] = this.plan(v);
      p.local[id] = p.order.length;
      p.order.push(id);
    }
    p.patterns = s.patterns.map(([re, v]) => [re, this.plan(v)] as const);
    p.additional = s.additional && this.plan(s.additional);
    p.items = s.items && this.plan(s.items);
    p.prefix = s.prefixItems.map((x) => this.plan(x));
    p.built = true;
    return p;
  }

  #ruleSet(deny: readonly CompiledPath[], allow: readonly CompiledPath[] | null): RuleSet {
    let byAllow = this.#rules.get(deny);
    if (!byAllow) {
      byAllow = new Map();
      this.#rules.set(deny, byAllow);
    }
    const hit = byAllow.get(allow);
    if (hit) return hit;
    let longest = 0;
    let numeric = false;
    for (const path of [...deny, ...(allow ?? [])]) {
      for (const seg of path) {
        if (seg.name === null) continue;
        longest = Math.max(longest, seg.name.length);
        if (/^(0|[1-9]\d*)$/.test(seg.name)) numeric = true;
        this.names.intern(seg.name);
      }
    }
    const states = new Map<string, RuleState>();
    const start = internState(
      states,
      deny.map((path, i) => ({ i, path, states: [0] })),
      allow ? allow.map((path, i) => ({ i, path, states: [0] })) : null,
    );
    const set: RuleSet = { states, start, otherKey: '\u0000'.repeat(longest + 1), numeric };
    byAllow.set(allow, set);
    return set;
  }
}

function internState(states: Map<string, RuleState>, deny: Live[], allow: Live[] | null): RuleState {
  let sig = '';
  for (const l of deny) sig += `${l.i}:${l.states.join(',')};`;
  sig += '|';
  if (allow) for (const l of allow) sig += `${l.i}:${l.states.join(',')};`;
  else sig += '-';
  let s = states.get(sig);
  if (!s) {
    if (states.size >= MAX_RULE_STATES) throw BAIL;
    s = { deny, allow, byId: [], other: null };
    states.set(sig, s);
  }
  return s;
}

/** The rules' step on `key`, as `walk` in json-path.ts takes it. */
function transition(set: RuleSet, from: RuleState, key: string): Trans {
  let drop = false;
  const nd: Live[] = [];
  for (const l of from.deny) {
    const r = step(l.path, l.states, key);
    if (r.full) drop = true;
    if (r.next.length) nd.push({ i: l.i, path: l.path, states: r.next });
  }
  let dropIfScalar = false;
  let na: Live[] | null = null;
  if (!drop && from.allow) {
    let full = false;
    na = [];
    for (const l of from.allow) {
      const r = step(l.path, l.states, key);
      if (r.full) full = true;
      if (r.next.length) na.push({ i: l.i, path: l.path, states: r.next });
    }
    if (full) na = null;
    else if (!na.length) drop = true;
    else dropIfScalar = true;
  }
  const next = !drop && (nd.length || na) ? internState(set.states, nd, na) : null;
  return { drop, dropIfScalar, next };
}

/** The rules' step from a state on a name id (-1: a key no path names), made once and kept. */
function stateTransition(set: RuleSet, rs: RuleState, id: number, names: Names): Trans {
  if (id < 0) {
    if (rs.other === null) rs.other = transition(set, rs, set.otherKey);
    return rs.other;
  }
  let t = rs.byId[id];
  if (t === undefined) {
    t = transition(set, rs, names.strs[id] as string);
    rs.byId[id] = t;
  }
  return t;
}

const HASH_SEED = 0x9e3779b1 | 0;
const HASH_MUL = 0x85ebca6b | 0;

/** The names' hash (byte-walk.as.ts keyHash): [s, e) of b as little-endian 4-byte words (the last one short), mixed. */
function keyHash(b: Uint8Array, s: number, e: number): number {
  let h = Math.imul(e - s, HASH_SEED);
  let p = s;
  for (; p + 4 <= e; p += 4) {
    const w =
      (b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16) | ((b[p + 3] as number) << 24);
    h = Math.imul(h ^ w, HASH_MUL);
  }
  if (p < e) {
    let w = 0;
    for (let i = e - p - 1; i >= 0; i--) w = (w << 8) | (b[p + i] as number);
    h = Math.imul(h ^ w, HASH_MUL);
  }
  return h ^ (h >>> 16);
}

/** Items numbered in the order first reached (null is never numbered). */
function numbering<T>(): { list: T[]; index: Map<T, number>; reach: (x: T | null) => void } {
  const list: T[] = [];
  const index = new Map<T, number>();
  const reach = (x: T | null): void => {
    if (x === null || index.has(x)) return;
    index.set(x, list.length);
    list.push(x);
  };
  return { list, index, reach };
}

/** The programs' keys for rules without a schema, and a schema without rules. */
const NO_PLAN = {};
const NO_RULES = {};

/**
 * b without the byte ranges in cuts ([from, to) pairs in increasing order). `inPlace`: the kept bytes are moved to the
 * front of b itself (no new buffer per answer); b is then garbage, so only a caller that drops it may ask.
 */
function cutOut(b: Buffer, cuts: ArrayLike<number>, inPlace: boolean): Buffer {
  let size = b.length;
  for (let i = 0; i < cuts.length; i += 2) size -= (cuts[i + 1] as number) - (cuts[i] as number);
  // A plain Uint8Array view: its methods skip Buffer's species lookups; copyWithin and set copy natively.
  const src = new Uint8Array(b.buffer, b.byteOffset, b.length);
  if (inPlace) {
    // Kept ranges only ever move left (cuts are in increasing order): copyWithin is a memmove.
    let o = cuts.length ? (cuts[0] as number) : size;
    for (let i = 1; i < cuts.length; i += 2) {
      const from = cuts[i] as number;
      const to = i + 1 < cuts.length ? (cuts[i + 1] as number) : b.length;
      src.copyWithin(o, from, to);
      o += to - from;
    }
    return b.subarray(0, size);
  }
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  let from = 0;
  for (let i = 0; i < cuts.length; i += 2) {
    const to = cuts[i] as number;
    out.set(src.subarray(from, to), o);
    o += to - from;
    from = cuts[i + 1] as number;
  }
  out.set(src.subarray(from), o);
  return out;
}

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const LBRACKET = 0x5b;
const BACKSLASH = 0x5c;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

/** The bytes that end a run of plain string content: control characters, the quote and the backslash. */
const STR_STOP = new Uint8Array(256);
for (let c = 0; c < SPACE; c++) STR_STOP[c] = 1;
STR_STOP[QUOTE] = 1;
STR_STOP[BACKSLASH] = 1;

const INDEX_KEY = /^(0|[1-9]\d{0,9})$/;
const SURROGATE = /[\ud800-\udfff]/;

/*
 * The grammar, as functions of (bytes, length, position) returning the position after what they read: positions stay
 * in registers, not in object fields. Each throws BAIL on anything RFC 8259 does not allow.
 */

function ws(b: Buffer, n: number, p: number): number {
  while (p < n) {
    const c = b[p] as number;
    if (c === SPACE || c === LF || c === CR || c === TAB) p++;
    else break;
  }
  return p;
}

/**
 * A string (at its opening quote): no control characters, only the escapes JSON has. `q` is the body's last quote:
 * every string closes at or before it, so the loop reads no byte past it and needs no bounds check per byte.
 */
function str(b: Buffer, q: number, p: number): number {
  if (++p > q) throw BAIL;
  for (;;) {
    // Unrolled by four (the hot loop of the scan), one table load per byte; bytes are still checked in order, so
    // none past q is read.
    let c = b[p] as number;
    for (;;) {
      if (STR_STOP[c] !== 0) break;
      c = b[p + 1] as number;
      if (STR_STOP[c] !== 0) {
        p += 1;
        break;
      }
      c = b[p + 2] as number;
      if (STR_STOP[c] !== 0) {
        p += 2;
        break;
      }
      c = b[p + 3] as number;
      if (STR_STOP[c] !== 0) {
        p += 3;
        break;
      }
      p += 4;
      c = b[p] as number;
    }
    if (c === QUOTE) return p + 1;
    if (c === BACKSLASH) p = escapeAt(b, q, p);
    else throw BAIL; // a control character
  }
}

/** The escape at p (a backslash, before the last quote q); the position after it, still at most q. */
function escapeAt(b: Buffer, q: number, p: number): number {
  const e = b[p + 1];
  if (e === 0x75) {
    if (p + 6 > q) throw BAIL;
    for (let i = p + 2; i < p + 6; i++) {
      const h = b[i] as number;
      if (!((h >= ZERO && h <= NINE) || (h >= 0x41 && h <= 0x46) || (h >= 0x61 && h <= 0x66))) throw BAIL;
    }
    return p + 6;
  }
  if (
    e === QUOTE ||
    e === BACKSLASH ||
    e === 0x2f ||
    e === 0x62 ||
    e === 0x66 ||
    e === 0x6e ||
    e === 0x72 ||
    e === 0x74
  ) {
    if (p + 2 > q) throw BAIL;
    return p + 2;
  }
  throw BAIL;
}

function literal(b: Buffer, n: number, p: number, word: Uint8Array): number {
  if (p + word.length > n) throw BAIL;
  for (let i = 0; i < word.length; i++) if (b[p + i] !== word[i]) throw BAIL;
  return p + word.length;
}

/**
 * A number. Refused (the object path takes over) when JSON.stringify would write back a different value: -0
 * becomes 0, and a long or large-exponent one can round to Infinity (null) or to -0.
 */
function num(b: Buffer, n: number, start: number): number {
  let p = start;
  const neg = b[p] === MINUS;
  if (neg) p++;
  const first = p < n ? (b[p] as number) : -1;
  if (first < ZERO || first > NINE) throw BAIL;
  let nonZero = first !== ZERO;
  p = first === ZERO ? p + 1 : digits(b, n, p + 1);
  if (p < n && b[p] === DOT) {
    const f = p + 1;
    p = digits(b, n, f);
    if (p === f) throw BAIL;
    for (let i = f; i < p && !nonZero; i++) nonZero = b[i] !== ZERO;
  }
  if (p < n && (b[p] === 0x65 || b[p] === 0x45)) {
    p++;
    if (p < n && (b[p] === 0x2b || b[p] === MINUS)) p++;
    const e = p;
    p = digits(b, n, e);
    if (p === e || p - e > 2) throw BAIL;
  }
  if (p - start > 64 || (neg && !nonZero)) throw BAIL;
  return p;
}

function digits(b: Buffer, n: number, p: number): number {
  while (p < n) {
    const c = b[p] as number;
    if (c < ZERO || c > NINE) break;
    p++;
  }
  return p;
}

/** Any value, validated and passed (depth: the containers around it). */
function skip(b: Buffer, n: number, q: number, p: number, depth: number): number {
  const c = b[p];
  if (c === QUOTE) return str(b, q, p);
  if (c === LBRACE) {
    if (depth >= MAX_NESTING) throw BAIL;
    p++;
    if ((b[p] as number) <= SPACE) p = ws(b, n, p);
    if (b[p] === RBRACE) return p + 1;
    for (;;) {
      if (b[p] !== QUOTE) throw BAIL;
      p = str(b, q, p);
      if ((b[p] as number) <= SPACE) p = ws(b, n, p);
      if (b[p] !== COLON) throw BAIL;
      p++;
      if ((b[p] as number) <= SPACE) p = ws(b, n, p);
      p = skip(b, n, q, p, depth + 1);
      if ((b[p] as number) <= SPACE) p = ws(b, n, p);
      const d = b[p++];
      if (d === COMMA) {
        if ((b[p] as number) <= SPACE) p = ws(b, n, p);
      } else if (d === RBRACE) return p;
      else throw BAIL;
    }
  }
  if (c === LBRACKET) {
    if (depth >= MAX_NESTING) throw BAIL;
    p++;
    if ((b[p] as number) <= SPACE) p = ws(b, n, p);
    if (b[p] === RBRACKET) return p + 1;
    for (;;) {
      p = skip(b, n, q, p, depth + 1);
      if ((b[p] as number) <= SPACE) p = ws(b, n, p);
      const d = b[p++];
      if (d === COMMA) {
        if ((b[p] as number) <= SPACE) p = ws(b, n, p);
      } else if (d === RBRACKET) return p;
      else throw BAIL;
    }
  }
  if (c === 0x74) return literal(b, n, p, TRUE);
  if (c === 0x66) return literal(b, n, p, FALSE);
  if (c === 0x6e) return literal(b, n, p, NULL);
  return num(b, n, p);
}

/** One scan of one body. */
class Scan {
  readonly #f: ByteFilter;
  readonly #names: Names;
  readonly #b: Buffer;
  readonly #n: number;
  /** The last quote in the body (see str). */
  readonly #q: number;
  #rules: RuleSet | null = null;
  readonly #max: number;
  /** Set by #key: the position after the key, its hash (of its decoded bytes), whether it has escapes, its text if so. */
  #p = 0;
  #kh = 0;
  #kesc = false;
  #kstr = '';
  /** Byte ranges to leave out of the output, as [from, to) pairs in increasing order. */
  readonly #cuts: number[] = [];
  /** Hashes of the unnamed keys of the objects being walked (a stack; each object checks its own). */
  #seenTop = 0;
  /** The path to the current container: per level, a key's [start, end) and escape flag, or an element's indexes. */
  readonly #segA: number[] = [];
  readonly #segB: number[] = [];
  readonly #segKey: boolean[] = [];
  readonly #segEsc: boolean[] = [];
  readonly #segId: number[] = [];
  /** The levels' pointer segments once built (for schema removals, and for rule removals). */
  readonly #segText: (string | undefined)[] = [];
  readonly #segTextKept: (string | undefined)[] = [];
  #schemaCount = 0;
  #ruleCount = 0;
  readonly #schemaPaths: string[] = [];
  readonly #rulePaths: string[] = [];
  #whole: Buffer | null = null;
  shapeBail = false;

  constructor(f: ByteFilter, b: Buffer, max: number) {
    this.#f = f;
    this.#names = f.names;
    this.#b = b;
    this.#n = b.length;
    this.#q = b.lastIndexOf(QUOTE);
    this.#max = max;
  }

  outcome(): FilterOutcome {
    const count = this.#schemaCount + this.#ruleCount;
    const paths = [...this.#schemaPaths, ...this.#rulePaths].slice(0, this.#max);
    return { count, bySchema: this.#schemaCount, paths, body: (inPlace) => this.#body(inPlace === true) };
  }

  #body(inPlace: boolean): Buffer {
    return this.#whole ?? cutOut(this.#b, this.#cuts, inPlace);
  }

  top(plan: Plan | null, rules: RuleSet | null): void {
    this.#rules = rules;
    const rs = rules?.start ?? null;
    const b = this.#b;
    const n = this.#n;
    let p = ws(b, n, 0);
    if (plan?.none) {
      // filterValue removes the whole value; the body becomes null (still only if it parses).
      p = skip(b, n, this.#q, p, 0);
      this.#schemaCount = 1;
      this.#schemaPaths.push('/');
      this.#whole = Buffer.from('null');
    } else {
      const s = plan === null || plan.any ? null : plan;
      const c = b[p];
      if ((s !== null || rs !== null) && c === LBRACE) p = this.#object(s, rs, 0, p);
      else if ((s !== null || rs !== null) && c === LBRACKET) p = this.#array(s, rs, 0, p);
      else p = skip(b, n, this.#q, p, 0);
    }
    if (ws(b, n, p) !== n) throw BAIL;
  }

  /**
   * A key in an object being walked (at its opening quote): validated, hashed, identified. Returns the name id
   * (-1: a name no schema or rule mentions). Gives up on keys whose order or handling JSON.parse makes special.
   */
  #key(at: number): number {
    const b = this.#b;
    const s = at + 1;
    const q = this.#q;
    let p = s;
    let esc = false;
    if (p > q) throw BAIL;
    for (;;) {
      const c = b[p] as number;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        esc = true;
        p = escapeAt(b, q, p);
      } else if (c < SPACE) throw BAIL;
      else p++;
    }
    this.#p = p + 1;
    this.#kesc = esc;
    let id: number;
    let h: number;
    if (esc) {
      const k = JSON.parse(b.toString('utf8', s - 1, p + 1)) as string;
      if (SURROGATE.test(k) || INDEX_KEY.test(k)) throw BAIL;
      const kb = Buffer.from(k, 'utf8');
      h = keyHash(kb, 0, kb.length);
      id = this.#names.lookup(kb, 0, kb.length, h);
      this.#kstr = k;
    } else {
      const f = b[s] as number;
      if (f >= ZERO && f <= NINE && INDEX_KEY.test(b.toString('latin1', s, p))) throw BAIL;
      h = keyHash(b, s, p);
      id = this.#names.lookup(b, s, p, h);
    }
    // __proto__ (id 0): a copied object would lose it.
    if (id === 0) throw BAIL;
    this.#kh = h;
    return id;
  }

  /** Gives up on an unnamed key seen before in the object, by hash (a collision only costs the object path). */
  #unique(base: number, set: Set<number> | null): Set<number> | null {
    const h = this.#kh;
    if (set !== null) {
      if (set.has(h)) throw BAIL;
      set.add(h);
      return set;
    }
    const top = this.#seenTop;
    let seen = this.#f.seen;
    for (let q = base; q < top; q++) if (seen[q] === h) throw BAIL;
    if (top - base >= LINEAR_DUP_CHECK) {
      const all = new Set<number>();
      for (let q = base; q < top; q++) all.add(seen[q] as number);
      all.add(h);
      return all;
    }
    if (top === seen.length) seen = this.#f.seen = grown(seen, top + 1);
    seen[top] = h;
    this.#seenTop = top + 1;
    return null;
  }

  #keyText(ks: number, ke: number, esc: boolean, id: number): string {
    return this.#f.keyText(this.#b, ks, ke, esc, id);
  }

  /** The pointer to the member or element about to be reported, below the `depth` containers on the stack. */
  #pointer(depth: number, kept: boolean, a: number, b: number, isKey: boolean, esc: boolean, id: number): string {
    const cache = kept ? this.#segTextKept : this.#segText;
    let out = '';
    for (let d = 0; d < depth; d++) {
      let t = cache[d];
      if (t === undefined) {
        const sa = this.#segA[d] as number;
        const sb = this.#segB[d] as number;
        // Schema removals name the element's index in the answer, rule removals its index after the schema's cut.
        t = this.#segKey[d]
          ? `/${escapeKey(this.#keyText(sa, sb, this.#segEsc[d] as boolean, this.#segId[d] as number))}`
          : `/${kept ? sb : sa}`;
        cache[d] = t;
      }
      out += t;
    }
    return `${out}/${isKey ? escapeKey(this.#keyText(a, b, esc, id)) : kept ? b : a}`;
  }

  #removed(bySchema: boolean, depth: number, a: number, b: number, isKey: boolean, esc: boolean, id: number): void {
    if (bySchema) {
      if (this.#schemaCount++ < this.#max) this.#schemaPaths.push(this.#pointer(depth, false, a, b, isKey, esc, id));
    } else if (this.#ruleCount++ < this.#max) this.#rulePaths.push(this.#pointer(depth, true, a, b, isKey, esc, id));
  }

  #push(depth: number, a: number, b: number, isKey: boolean, esc: boolean, id: number): void {
    this.#segA[depth] = a;
    this.#segB[depth] = b;
    this.#segKey[depth] = isKey;
    this.#segEsc[depth] = esc;
    this.#segId[depth] = id;
    this.#segText[depth] = undefined;
    this.#segTextKept[depth] = undefined;
  }

  /** The plan for a key not among the shape's properties (pattern, additional), as filterAt picks it. */
  #undeclared(plan: Plan, ks: number, ke: number, esc: boolean): Plan | undefined {
    if (plan.patterns.length) {
      const k = esc ? this.#kstr : this.#b.toString('utf8', ks + 1, ke - 1);
      for (const [re, ps] of plan.patterns) if (re.test(k)) return ps;
    }
    return plan.additional ?? undefined;
  }

  #transition(rs: RuleState, id: number): Trans {
    return stateTransition(this.#rules as RuleSet, rs, id, this.#names);
  }

  #indexTransition(rs: RuleState, j: number): Trans {
    const rules = this.#rules as RuleSet;
    return this.#transition(rs, rules.numeric ? (this.#names.ids.get(String(j)) ?? -1) : -1);
  }

  /**
   * A member the rules drop: the object path cut it by schema first, so the schema's removals inside it still
   * count (and come first in the event). Walked for the count only; its own cuts are dropped with it.
   */
  #schemaOnly(child: Plan, depth: number, p: number): number {
    const c = this.#b[p];
    if (c !== LBRACE && c !== LBRACKET) return skip(this.#b, this.#n, this.#q, p, depth + 1);
    const mark = this.#cuts.length;
    p = c === LBRACE ? this.#object(child, null, depth + 1, p) : this.#array(child, null, depth + 1, p);
    this.#cuts.length = mark;
    return p;
  }

  /** An object walked with a plan (null: any shape) and/or rule state, at its `{`; the position after it. */
  #object(plan: Plan | null, rs: RuleState | null, depth: number, p: number): number {
    if (depth >= MAX_NESTING) throw BAIL;
    if (plan?.variants) {
      this.shapeBail = true;
      throw BAIL;
    }
    const b = this.#b;
    const n = this.#n;
    const q = this.#q;
    if (plan !== null && !plan.built) this.#f.build(plan);
    const names = this.#names;
    const props = plan === null ? null : plan.props;
    const local = plan === null ? null : plan.local;
    const order = plan === null ? null : plan.order;
    // Duplicate keys: declared ones by bit (their position in the declared order), others by hash.
    let mask = 0;
    let cursor = 0;
    const seenBase = this.#seenTop;
    let set: Set<number> | null = null;
    let lastKeptEnd = -1;
    let cutFrom = -1;
    let cutTo = -1;
    p++;
    if ((b[p] as number) <= SPACE) p = ws(b, n, p);
    if (b[p] === RBRACE) return p + 1;
    for (;;) {
      const ks = p;
      if (b[ks] !== QUOTE) throw BAIL;
      let id = -1;
      let ke = -1;
      let esc = false;
      if (order !== null && cursor < order.length) {
        // Answers usually list keys in the schema's order: the next declared name, compared on the raw bytes.
        const expect = order[cursor] as number;
        const e = ks + 1 + (names.len[expect] as number);
        if (names.plain[expect] === 1 && e < n && b[e] === QUOTE) {
          const pool = names.pool;
          const o = (names.start[expect] as number) - ks - 1;
          let k = ks + 1;
          while (k < e && b[k] === pool[k + o]) k++;
          if (k === e) {
            id = expect;
            ke = e + 1;
          }
        }
      }
      if (ke === -1) {
        id = this.#key(ks);
        ke = this.#p;
        esc = this.#kesc;
      }
      const li = id >= 0 && local !== null ? local[id] : undefined;
      if (li !== undefined && li < 31) {
        const bit = 1 << li;
        if (mask & bit) throw BAIL;
        mask |= bit;
        cursor = li + 1;
      } else {
        if (li !== undefined) cursor = li + 1;
        // A key matched on its bytes has no hash computed yet.
        if (id >= 0) this.#kh = names.hashes[id] as number;
        set = this.#unique(seenBase, set);
      }
      p = ke;
      if ((b[p] as number) <= SPACE) p = ws(b, n, p);
      if (b[p] !== COLON) throw BAIL;
      p++;
      if ((b[p] as number) <= SPACE) p = ws(b, n, p);
      const vs = p;
      const c = b[vs];
      let bySchema = false;
      let drop = false;
      let child: Plan | null = null;
      if (props !== null) {
        let s = id >= 0 ? props[id] : undefined;
        if (s === undefined) s = this.#undeclared(plan as Plan, ks, ke, esc);
        if (s === undefined || s.none) bySchema = drop = true;
        else if (!s.any) child = s;
      }
      let childRules: RuleState | null = null;
      if (!bySchema && rs !== null) {
        const t = (id >= 0 ? rs.byId[id] : rs.other) ?? this.#transition(rs, id);
        if (t.drop) drop = true;
        else {
          childRules = t.next;
          if (t.dropIfScalar && c !== LBRACE && c !== LBRACKET) drop = true;
        }
      }
      if (drop) {
        this.#removed(bySchema, depth, ks, ke, true, esc, id);
        if (child !== null && !bySchema) {
          this.#push(depth, ks, ke, true, esc, id);
          p = this.#schemaOnly(child, depth, p);
        } else p = skip(b, n, q, p, depth + 1);
        if (cutFrom === -1) cutFrom = lastKeptEnd >= 0 ? lastKeptEnd : ks;
        cutTo = p;
      } else {
        if (cutFrom !== -1) {
          this.#cuts.push(cutFrom, lastKeptEnd >= 0 ? cutTo : ks);
          cutFrom = -1;
        }
        if ((child !== null || childRules !== null) && (c === LBRACE || c === LBRACKET)) {
          this.#push(depth, ks, ke, true, esc, id);
          p =
            c === LBRACE ? this.#object(child, childRules, depth + 1, p) : this.#array(child, childRules, depth + 1, p);
        } else if (c === QUOTE) p = str(b, q, p);
        else p = skip(b, n, q, p, depth + 1);
        lastKeptEnd = p;
      }
      if ((b[p] as number) <= SPACE) p = ws(b, n, p);
      const d = b[p++];
      if (d === COMMA) {
        if ((b[p] as number) <= SPACE) p = ws(b, n, p);
      } else if (d === RBRACE) break;
      else throw BAIL;
    }
    if (cutFrom !== -1) this.#cuts.push(cutFrom, cutTo);
    this.#seenTop = seenBase;
    return p;
  }

  /** An array walked with a plan (null: any shape) and/or rule state, at its `[`; the position after it. */
  #array(plan: Plan | null, rs: RuleState | null, depth: number, p: number): number {
    if (depth >= MAX_NESTING) throw BAIL;
    const b = this.#b;
    const n = this.#n;
    const q = this.#q;
    if (plan !== null && !plan.built) this.#f.build(plan);
    let lastKeptEnd = -1;
    let cutFrom = -1;
    let cutTo = -1;
    p++;
    if ((b[p] as number) <= SPACE) p = ws(b, n, p);
    if (b[p] === RBRACKET) return p + 1;
    const prefix = plan === null ? 0 : plan.prefix.length;
    // i: the element's index in the answer; j: its index once the schema has cut (what the rules see).
    let i = 0;
    let j = 0;
    for (;;) {
      const vs = p;
      const c = b[vs];
      let bySchema = false;
      let drop = false;
      let child: Plan | null = null;
      if (plan !== null) {
        const s = i < prefix ? (plan.prefix[i] as Plan) : plan.items;
        if (s !== null) {
          if (s.none) bySchema = drop = true;
          else if (!s.any) child = s;
        }
      }
      let childRules: RuleState | null = null;
      if (!bySchema && rs !== null) {
        const t = this.#indexTransition(rs, j);
        if (t.drop) drop = true;
        else {
          childRules = t.next;
          if (t.dropIfScalar && c !== LBRACE && c !== LBRACKET) drop = true;
        }
      }
      if (drop) {
        this.#removed(bySchema, depth, i, j, false, false, -1);
        if (child !== null && !bySchema) {
          this.#push(depth, i, j, false, false, -1);
          p = this.#schemaOnly(child, depth, p);
        } else p = skip(b, n, q, p, depth + 1);
        if (cutFrom === -1) cutFrom = lastKeptEnd >= 0 ? lastKeptEnd : vs;
        cutTo = p;
      } else {
        if (cutFrom !== -1) {
          this.#cuts.push(cutFrom, lastKeptEnd >= 0 ? cutTo : vs);
          cutFrom = -1;
        }
        if ((child !== null || childRules !== null) && (c === LBRACE || c === LBRACKET)) {
          this.#push(depth, i, j, false, false, -1);
          p =
            c === LBRACE ? this.#object(child, childRules, depth + 1, p) : this.#array(child, childRules, depth + 1, p);
        } else p = skip(b, n, q, p, depth + 1);
        lastKeptEnd = p;
      }
      if (!bySchema) j++;
      i++;
      if ((b[p] as number) <= SPACE) p = ws(b, n, p);
      const d = b[p++];
      if (d === COMMA) {
        if ((b[p] as number) <= SPACE) p = ws(b, n, p);
      } else if (d === RBRACKET) break;
      else throw BAIL;
    }
    if (cutFrom !== -1) this.#cuts.push(cutFrom, cutTo);
    return p;
  }
}

const TRUE = new Uint8Array([0x74, 0x72, 0x75, 0x65]);
const FALSE = new Uint8Array([0x66, 0x61, 0x6c, 0x73, 0x65]);
const NULL = new Uint8Array([0x6e, 0x75, 0x6c, 0x6c]);
