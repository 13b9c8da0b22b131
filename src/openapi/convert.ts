/**
 * OpenAPI 3.0 Schema Objects → JSON Schema draft 2020-12, so that one validator (ajv/dist/2020) serves 3.0 and
 * 3.1 alike. 3.0's dialect differs in a few keywords only: `nullable`, boolean `exclusiveMinimum/Maximum`,
 * `example`, and `$ref` whose siblings are ignored.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keywords whose value is one schema. */
const ONE = ['additionalProperties', 'items', 'not', 'contains', 'propertyNames', 'if', 'then', 'else'] as const;
/** Keywords whose value is a list of schemas. */
const LIST = ['allOf', 'anyOf', 'oneOf', 'prefixItems'] as const;
/** Keywords whose value maps names to schemas. */
const MAP = ['properties', 'patternProperties', 'dependentSchemas', '$defs', 'definitions'] as const;

/** Deepest schema nesting accepted in a document (a guard for the recursive walks, not a real-world limit). */
export const MAX_SCHEMA_DEPTH = 256;

export class SpecError extends Error {
  override name = 'SpecError';
}

/**
 * Applies `fn` to each direct sub-schema of a schema, returning a shallow copy with the results (or the same
 * object when nothing changed is not tracked: it always copies, schemas are copied once per load).
 */
export function mapSubschemas(s: Obj, fn: (sub: unknown) => unknown): Obj {
  const out: Obj = { ...s };
  for (const k of ONE) if (k in s && (isObj(s[k]) || typeof s[k] === 'boolean')) out[k] = fn(s[k]);
  for (const k of LIST) {
    const v = s[k];
    if (Array.isArray(v)) out[k] = v.map(fn);
  }
  for (const k of MAP) {
    const v = s[k];
    if (isObj(v)) out[k] = Object.fromEntries(Object.entries(v).map(([n, sub]) => [n, fn(sub)]));
  }
  return out;
}

/** One 3.0 schema node (not its sub-schemas) in 2020-12 terms. */
export function convertNode30(s: Obj): Obj {
  if (typeof s.$ref === 'string') {
    // 3.0 ignores $ref siblings; `nullable` beside a $ref is common enough to honour.
    return s.nullable === true ? { anyOf: [{ $ref: s.$ref }, { type: 'null' }] } : { $ref: s.$ref };
  }
  const out: Obj = { ...s };
  delete out.example;
  delete out.nullable;
  if (typeof out.exclusiveMinimum === 'boolean') {
    if (out.exclusiveMinimum && typeof out.minimum === 'number') {
      out.exclusiveMinimum = out.minimum;
      delete out.minimum;
    } else delete out.exclusiveMinimum;
  }
  if (typeof out.exclusiveMaximum === 'boolean') {
    if (out.exclusiveMaximum && typeof out.maximum === 'number') {
      out.exclusiveMaximum = out.maximum;
      delete out.maximum;
    } else delete out.exclusiveMaximum;
  }
  if (s.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    else if (out.type === undefined && !Array.isArray(out.enum)) return { anyOf: [out, { type: 'null' }] };
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  }
  return out;
}

/**
 * A schema tree converted for validation: 3.0 keywords translated (when `v30`), and for requests (`forRequest`)
 * properties marked `readOnly` dropped from `required` (OpenAPI: required read-only fields apply to responses only;
 * sending one is refused by the validator's readOnly keyword instead). `resolve` looks up a local $ref to see
 * whether the property it names is read-only.
 */
export function convertSchema(
  schema: unknown,
  opts: { v30: boolean; forRequest: boolean; resolve: (ref: string) => unknown },
  depth = 0,
): unknown {
  if (!isObj(schema)) return schema;
  if (depth > MAX_SCHEMA_DEPTH) throw new SpecError(`schema nesting deeper than ${MAX_SCHEMA_DEPTH}`);
  const node = opts.v30 ? convertNode30(schema) : schema;
  const out = mapSubschemas(node, (sub) => convertSchema(sub, opts, depth + 1));
  if (opts.forRequest && Array.isArray(out.required) && isObj(schema.properties)) {
    const props = schema.properties;
    const readOnly = (name: unknown): boolean => {
      let p = typeof name === 'string' ? props[name] : undefined;
      if (isObj(p) && typeof p.$ref === 'string') p = opts.resolve(p.$ref);
      return isObj(p) && p.readOnly === true;
    };
    out.required = out.required.filter((n) => !readOnly(n));
  }
  return out;
}

/** The JSON pointer's segments for "#/a/b~1c" (or null when it is not a local pointer). */
export function pointerParts(fragment: string): string[] | null {
  if (fragment === '' || fragment === '#') return [];
  if (!fragment.startsWith('#/')) return null;
  return fragment
    .slice(2)
    .split('/')
    .map((p) => decodeURIComponent(p).replaceAll('~1', '/').replaceAll('~0', '~'));
}

export function escapePointer(s: string): string {
  return s.replaceAll('~', '~0').replaceAll('/', '~1');
}

export function getPointer(doc: unknown, parts: readonly string[]): unknown {
  let cur = doc;
  for (const p of parts) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObj(cur) && Object.hasOwn(cur, p)) cur = cur[p];
    else return undefined;
  }
  return cur;
}
