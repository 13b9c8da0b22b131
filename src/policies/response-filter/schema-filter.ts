/**
 * Cuts a JSON value down to what a JSON Schema declares (OWASP API3, excessive data exposure). Pure: no I/O, no
 * context. The rules, chosen to fail closed:
 * - An object keeps only the properties named in `properties`, or matching `patternProperties`; other keys are kept
 *   only when `additionalProperties` is `true` or a schema (a declared map). Absent `additionalProperties` counts as
 *   "not declared": JSON Schema would allow extra keys, but a response schema that lists fields is the contract.
 * - A schema that constrains nothing (`{}`, `true`, only descriptions) keeps the value whole; `false` removes it.
 *   `{type: object}` with no properties keeps no keys (declare `additionalProperties: true` for a free-form object).
 * - `allOf`: the union of what the branches declare (an instance satisfies all of them at once).
 * - `oneOf` / `anyOf`: the branch a discriminator picks (`discriminator.propertyName` with `mapping`, or a branch
 *   whose property has a matching `const` / single-value `enum`); when no single branch can be picked, only what
 *   every branch declares (the intersection) is kept, so an unsure choice never widens what is sent.
 * - Arrays: `items` (or `prefixItems` by position) applies to each element; `items: false` drops extra elements.
 * - Scalars are kept as they are: type checking is validation's job, not exposure's.
 * - `$ref` is resolved against the root only for local pointers ("#/..."); an unresolvable one keeps nothing.
 * Schemas are compiled once per schema object (a WeakMap), so cyclic dereferenced schemas are fine: the walk is
 * bounded by the value's depth, capped at MAX_DEPTH.
 */

export const MAX_DEPTH = 128;

type Json = unknown;

/** The compiled shape of what a schema declares. */
export interface Shape {
  /** Keep the value whole (nothing constrained). */
  readonly any: boolean;
  /** Remove the value (`false`). */
  readonly none: boolean;
  readonly props: ReadonlyMap<string, Shape>;
  readonly patterns: readonly (readonly [RegExp, Shape])[];
  /** Undeclared keys: null drops them, a shape keeps and filters them. */
  readonly additional: Shape | null;
  /** Array elements: null keeps them whole. */
  readonly items: Shape | null;
  readonly prefixItems: readonly Shape[];
  /** oneOf/anyOf resolved per value: discriminator property → branch. */
  readonly variants: { readonly prop: string; readonly byValue: ReadonlyMap<string, Shape> } | null;
}

const ANY: Shape = {
  any: true,
  none: false,
  props: new Map(),
  patterns: [],
  additional: null,
  items: null,
  prefixItems: [],
  variants: null,
};
const NONE: Shape = { ...ANY, any: false, none: true };

/** Keywords that constrain the shape of a value; a schema with none of them declares "anything". */
const SHAPE_KEYWORDS = [
  'type',
  'properties',
  'patternProperties',
  'additionalProperties',
  'items',
  'prefixItems',
  'allOf',
  'oneOf',
  'anyOf',
  '$ref',
  'enum',
  'const',
];

export class SchemaCompiler {
  readonly #cache = new WeakMap<object, Shape>();
  readonly #refs = new Map<string, Shape>();
  readonly #root: unknown;

  constructor(root?: unknown) {
    this.#root = root;
  }

  compile(schema: unknown): Shape {
    if (schema === true || schema === undefined) return ANY;
    if (schema === false) return NONE;
    if (typeof schema !== 'object' || schema === null) return ANY;
    const hit = this.#cache.get(schema);
    if (hit) return hit;
    const ref = (schema as { $ref?: unknown }).$ref;
    if (typeof ref === 'string' && !Object.keys(schema).some((k) => k !== '$ref' && SHAPE_KEYWORDS.includes(k))) {
      // A bare reference is its target's shape itself (not a copy), so recursive schemas stay recursive.
      const target = this.#ref(ref);
      this.#cache.set(schema, target);
      return target;
    }
    // A placeholder first: a cyclic schema that reaches itself gets the same (mutable) shape object.
    const shape: MutableShape = { ...ANY, any: false, props: new Map(), patterns: [] };
    this.#cache.set(schema, shape);
    this.#fill(shape, schema as Record<string, unknown>);
    return shape;
  }

  #ref(ref: string): Shape {
    const hit = this.#refs.get(ref);
    if (hit) return hit;
    let target: unknown = ref.startsWith('#') ? this.#root : undefined;
    if (target !== undefined && ref !== '#') {
      for (const raw of ref.slice(2).split('/')) {
        const part = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
        target = target && typeof target === 'object' ? (target as Record<string, unknown>)[part] : undefined;
      }
    }
    // Unresolvable: fail closed (keeps scalars, drops every key and element shape it cannot know).
    const shape = target === undefined ? EMPTY_OBJECT : this.compile(target);
    this.#refs.set(ref, shape);
    return shape;
  }

  #fill(out: MutableShape, s: Record<string, unknown>): void {
    if (!SHAPE_KEYWORDS.some((k) => k in s)) {
      Object.assign(out, ANY);
      return;
    }
    if (typeof s.$ref === 'string') {
      const parts = [this.#ref(s.$ref)];
      // Siblings of $ref (allowed since 2019-09) add to what it declares.
      const { $ref: _r, ...rest } = s;
      if (Object.keys(rest).some((k) => SHAPE_KEYWORDS.includes(k))) parts.push(this.compile(rest));
      Object.assign(out, union(parts));
      return;
    }
    const own: MutableShape = { ...ANY, any: false, props: new Map(), patterns: [] };
    const onlyScalar = typeof s.type === 'string' && s.type !== 'object' && s.type !== 'array';
    if (onlyScalar || 'enum' in s || 'const' in s) {
      // A scalar (or a fixed value): nothing inside to expose.
      if (!('properties' in s) && !('items' in s) && !hasComposition(s)) {
        Object.assign(out, ANY);
        return;
      }
    }
    const props = s.properties;
    if (props && typeof props === 'object') {
      for (const [k, v] of Object.entries(props)) own.props.set(k, this.compile(v));
    }
    const pats = s.patternProperties;
    if (pats && typeof pats === 'object') {
      for (const [p, v] of Object.entries(pats)) {
        try {
          own.patterns.push([new RegExp(p, 'u'), this.compile(v)]);
        } catch {
          // An invalid pattern declares nothing.
        }
      }
    }
    const ap = s.additionalProperties;
    own.additional = ap === true || (ap && typeof ap === 'object') ? this.compile(ap) : null;
    if (Array.isArray(s.prefixItems)) own.prefixItems = s.prefixItems.map((x) => this.compile(x));
    own.items = 'items' in s ? this.compile(s.items) : null;
    if (own.items === ANY) own.items = null;
    const parts: Shape[] = [own];
    if (Array.isArray(s.allOf)) parts.push(union(s.allOf.map((x) => this.compile(x))));
    for (const k of ['oneOf', 'anyOf'] as const) {
      const branches = s[k];
      if (Array.isArray(branches) && branches.length) parts.push(this.#alternatives(branches, s.discriminator));
    }
    // Only the alternatives / allOf declare: the own part (no properties) must not narrow them.
    const meaningful = parts.filter((p, i) => i > 0 || declaresSomething(p) || parts.length === 1);
    Object.assign(out, meaningful.length === 1 ? meaningful[0] : union(meaningful));
  }

  #alternatives(branches: unknown[], discriminator: unknown): Shape {
    const shapes = branches.map((b) => this.compile(b));
    const fallback = intersect(shapes);
    const prop = discriminatorProp(discriminator) ?? constProp(branches);
    if (!prop) return fallback;
    const byValue = new Map<string, Shape>();
    const mapping = (discriminator as { mapping?: Record<string, string> } | undefined)?.mapping;
    branches.forEach((b, i) => {
      for (const v of constValues(b, prop)) byValue.set(v, shapes[i] as Shape);
      if (mapping && b && typeof b === 'object' && typeof (b as { $ref?: unknown }).$ref === 'string') {
        for (const [v, ref] of Object.entries(mapping))
          if (ref === (b as { $ref: string }).$ref) byValue.set(v, shapes[i] as Shape);
      }
    });
    if (mapping) for (const [v, ref] of Object.entries(mapping)) if (!byValue.has(v)) byValue.set(v, this.#ref(ref));
    return byValue.size ? { ...fallback, variants: { prop, byValue } } : fallback;
  }
}

type MutableShape = {
  -readonly [K in keyof Shape]: Shape[K];
} & { props: Map<string, Shape>; patterns: (readonly [RegExp, Shape])[] };

const EMPTY_OBJECT: Shape = { ...ANY, any: false };

function hasComposition(s: Record<string, unknown>): boolean {
  return 'allOf' in s || 'oneOf' in s || 'anyOf' in s;
}

function declaresSomething(s: Shape): boolean {
  return (
    s.any ||
    s.props.size > 0 ||
    s.patterns.length > 0 ||
    s.additional !== null ||
    s.items !== null ||
    s.prefixItems.length > 0
  );
}

function discriminatorProp(d: unknown): string | null {
  const p = (d as { propertyName?: unknown } | undefined)?.propertyName;
  return typeof p === 'string' ? p : null;
}

/** A property every branch pins with const or a single-value enum. */
function constProp(branches: unknown[]): string | null {
  const first = branches[0] as { properties?: Record<string, unknown> } | undefined;
  for (const k of Object.keys(first?.properties ?? {})) {
    if (branches.every((b) => constValues(b, k).length > 0)) return k;
  }
  return null;
}

function constValues(b: unknown, prop: string): string[] {
  const p = (b as { properties?: Record<string, { const?: unknown; enum?: unknown[] }> } | undefined)?.properties?.[
    prop
  ];
  if (!p || typeof p !== 'object') return [];
  if (typeof p.const === 'string') return [p.const];
  if (Array.isArray(p.enum)) return p.enum.filter((x): x is string => typeof x === 'string');
  return [];
}

/** What any of the shapes declares (allOf). */
export function union(shapes: readonly Shape[]): Shape {
  if (shapes.length === 1) return shapes[0] as Shape;
  if (shapes.some((s) => s.none)) return NONE;
  const real = shapes.filter((s) => !s.any);
  if (!real.length) return ANY;
  if (real.length === 1) return real[0] as Shape;
  const props = new Map<string, Shape[]>();
  for (const s of real) for (const [k, v] of s.props) props.set(k, [...(props.get(k) ?? []), v]);
  const additional = real.map((s) => s.additional).filter((x): x is Shape => x !== null);
  const items = real.map((s) => s.items).filter((x): x is Shape => x !== null);
  return {
    any: false,
    none: false,
    props: new Map([...props].map(([k, v]) => [k, union(v)])),
    patterns: real.flatMap((s) => s.patterns),
    additional: additional.length ? union(additional) : null,
    items: items.length ? union(items) : null,
    prefixItems: real.find((s) => s.prefixItems.length)?.prefixItems ?? [],
    variants: real.find((s) => s.variants)?.variants ?? null,
  };
}

/** What every shape declares (oneOf/anyOf without a way to tell the branch). */
export function intersect(shapes: readonly Shape[]): Shape {
  if (shapes.length === 1) return shapes[0] as Shape;
  const real = shapes.filter((s) => !s.any);
  if (real.length < shapes.length) {
    // One branch allows anything: the others are still possible, so keep what they all declare.
    if (!real.length) return ANY;
  }
  if (real.some((s) => s.none)) return NONE;
  const [first, ...rest] = real as [Shape, ...Shape[]];
  const props = new Map<string, Shape>();
  for (const [k, v] of first.props) {
    const others = rest.map((s) => s.props.get(k) ?? (s.additional ? s.additional : undefined));
    if (others.every((o) => o !== undefined)) props.set(k, intersect([v, ...(others as Shape[])]));
  }
  const additional = real.every((s) => s.additional) ? intersect(real.map((s) => s.additional as Shape)) : null;
  const items = real.every((s) => s.items === null) ? null : intersect(real.map((s) => s.items ?? ANY));
  return {
    any: false,
    none: false,
    props,
    patterns: real.every((s) => s.patterns.length) ? first.patterns : [],
    additional,
    items,
    prefixItems: [],
    variants: null,
  };
}

/** A removal, as a JSON pointer-like path ("/users/0/ssn"). */
export type RemovedSink = (path: string) => void;

export const REMOVED = Symbol('removed');

/**
 * Returns the filtered value (the same object when nothing had to go; a copy otherwise, the input is never
 * mutated) or REMOVED. `onRemoved` gets the path of every removed key or element (only called on removal).
 */
export function filterValue(value: Json, shape: Shape, onRemoved: RemovedSink): Json | typeof REMOVED {
  return filterAt(value, shape, onRemoved, [], 0);
}

/** The path of the value being visited, as a stack of keys and indexes: a pointer string is built only on removal. */
function pointer(segs: readonly (string | number)[]): string {
  let p = '';
  for (const s of segs) p += `/${typeof s === 'number' ? s : escapeKey(s)}`;
  return p || '/';
}

function filterAt(
  value: Json,
  shape: Shape,
  onRemoved: RemovedSink,
  segs: (string | number)[],
  depth: number,
): Json | typeof REMOVED {
  if (shape.any) return value;
  if (shape.none) {
    onRemoved(pointer(segs));
    return REMOVED;
  }
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) {
    onRemoved(pointer(segs));
    return REMOVED;
  }
  if (Array.isArray(value)) {
    let out: Json[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const el = value[i];
      const s = i < shape.prefixItems.length ? (shape.prefixItems[i] as Shape) : shape.items;
      let r: Json | typeof REMOVED = el;
      if (s !== null) {
        segs.push(i);
        r = filterAt(el, s, onRemoved, segs, depth + 1);
        segs.pop();
      }
      if (r !== el && out === null) out = value.slice(0, i);
      if (out !== null && r !== REMOVED) out.push(r);
    }
    return out ?? value;
  }
  let sh = shape;
  if (shape.variants) {
    const tag = (value as Record<string, unknown>)[shape.variants.prop];
    const picked = typeof tag === 'string' ? shape.variants.byValue.get(tag) : undefined;
    if (picked) sh = picked;
  }
  if (sh.any) return value;
  const obj = value as Record<string, Json>;
  let out: Record<string, Json> | null = null;
  const keys = Object.keys(obj);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    const v = obj[k];
    let s = sh.props.get(k);
    if (s === undefined) {
      for (const [re, ps] of sh.patterns) {
        if (re.test(k)) {
          s = ps;
          break;
        }
      }
      if (s === undefined && sh.additional) s = sh.additional;
    }
    segs.push(k);
    let r: Json | typeof REMOVED;
    if (s === undefined) {
      onRemoved(pointer(segs));
      r = REMOVED;
    } else r = filterAt(v, s, onRemoved, segs, depth + 1);
    segs.pop();
    if (r !== v && out === null) {
      out = {};
      for (let j = 0; j < i; j++) out[keys[j] as string] = obj[keys[j] as string];
    }
    if (out !== null && r !== REMOVED) out[k] = r;
  }
  return out ?? value;
}

/** JSON pointer escaping (RFC 6901). */
export function escapeKey(k: string): string {
  return k.includes('~') || k.includes('/') ? k.replaceAll('~', '~0').replaceAll('/', '~1') : k;
}
