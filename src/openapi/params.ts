/**
 * OpenAPI parameter serialisation (styles × explode, OpenAPI 3 §4.8.12.4) read back into values for validation:
 * strings, arrays of strings or objects of strings; the validator then coerces "5" to 5 where the schema says
 * integer. Malformed input yields `undefined` plus a reason, never an exception.
 */
import { decodeQueryComponent } from '../core/query.js';

export type Shape = 'primitive' | 'array' | 'object';
export type ParamValue = string | string[] | Record<string, string>;

export interface ParamSpec {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header' | 'cookie';
  readonly style: string;
  readonly explode: boolean;
  readonly required: boolean;
  readonly shape: Shape;
  /** For exploded form objects: the property names the object takes from the query. */
  readonly properties: readonly string[];
  /** `content: {application/json: ...}` instead of `schema`: the value is JSON text. */
  readonly json: boolean;
  readonly allowReserved: boolean;
}

export const DEFAULT_STYLE = { path: 'simple', query: 'form', header: 'simple', cookie: 'form' } as const;

/** "%xx" decoding that keeps a malformed escape as sent (the value then fails validation, not the gateway). */
export function pctDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** "a,1,b,2" → {a: "1", b: "2"}; "a=1,b=2" (explode) → the same. Undefined on an odd count. */
function pairsToObject(items: string[], exploded: boolean): Record<string, string> | undefined {
  const out: Record<string, string> = Object.create(null);
  if (exploded) {
    for (const it of items) {
      const eq = it.indexOf('=');
      if (eq === -1) return undefined;
      out[it.slice(0, eq)] = it.slice(eq + 1);
    }
    return out;
  }
  if (items.length % 2 !== 0) return undefined;
  for (let i = 0; i < items.length; i += 2) out[items[i] as string] = items[i + 1] as string;
  return out;
}

/** A path segment value in style simple, label or matrix. */
export function parsePathValue(p: ParamSpec, raw: string): ParamValue | undefined {
  let v = raw;
  let sep = ',';
  if (p.style === 'label') {
    if (!v.startsWith('.')) return undefined;
    v = v.slice(1);
    if (p.explode) sep = '.';
  } else if (p.style === 'matrix') {
    const prefix = `;${p.name}`;
    if (p.shape === 'object' && p.explode) {
      // ;R=100;G=200
      if (!v.startsWith(';')) return undefined;
      const obj = pairsToObject(v.slice(1).split(';'), true);
      return obj && decodeObject(obj);
    }
    if (p.shape === 'array' && p.explode) {
      // ;id=3;id=4
      const items = v.split(';').slice(1);
      const vals: string[] = [];
      for (const it of items) {
        if (!it.startsWith(`${p.name}=`)) return undefined;
        vals.push(pctDecode(it.slice(p.name.length + 1)));
      }
      return vals.length ? vals : undefined;
    }
    if (v === prefix) return p.shape === 'primitive' ? '' : p.shape === 'array' ? [] : {};
    if (!v.startsWith(`${prefix}=`)) return undefined;
    v = v.slice(prefix.length + 1);
  }
  return splitValue(p, v, sep);
}

function decodeObject(o: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [k, x] of Object.entries(o)) out[pctDecode(k)] = pctDecode(x);
  return out;
}

/** A simple-style value (path, header) or a non-exploded form value: "a,b,c" / "k,v,k,v" / "k=v,k=v". */
function splitValue(p: ParamSpec, v: string, sep: string): ParamValue | undefined {
  if (p.shape === 'primitive') return pctDecode(v);
  if (v === '') return p.shape === 'array' ? [] : {};
  const items = v.split(sep);
  if (p.shape === 'array') return items.map(pctDecode);
  const obj = pairsToObject(items, p.explode && sep !== '.' ? true : p.explode);
  return obj && decodeObject(obj);
}

/** A header value (style simple). */
export function parseHeaderValue(p: ParamSpec, raw: string): ParamValue | undefined {
  if (p.shape === 'primitive') return raw;
  if (raw.trim() === '') return p.shape === 'array' ? [] : {};
  const items = raw.split(',').map((s) => s.trim());
  if (p.shape === 'array') return items;
  return pairsToObject(items, p.explode);
}

/** Query string (no leading "?") → [name, raw value] pairs, names decoded, values still encoded. */
export function queryPairs(query: string): [string, string][] {
  const out: [string, string][] = [];
  if (query === '') return out;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    out.push(
      eq === -1 ? [decodeQueryComponent(part), ''] : [decodeQueryComponent(part.slice(0, eq)), part.slice(eq + 1)],
    );
  }
  return out;
}

export interface QueryResult {
  readonly values: Record<string, ParamValue>;
  /** Parameter name → why its value could not be read (repeated where one is allowed, malformed). */
  readonly errors: Record<string, string>;
  /** Query names that no parameter took. */
  readonly unknown: string[];
}

/** Reads every declared query parameter from the pairs; what no parameter took is reported as unknown. */
export function parseQuery(specs: readonly ParamSpec[], pairs: readonly [string, string][]): QueryResult {
  const values: Record<string, ParamValue> = Object.create(null);
  const errors: Record<string, string> = Object.create(null);
  const taken = new Set<number>();
  const byName = new Map<string, number[]>();
  pairs.forEach(([n], i) => {
    const l = byName.get(n);
    if (l) l.push(i);
    else byName.set(n, [i]);
  });
  const rawOf = (i: number) => (pairs[i] as [string, string])[1];
  for (const p of specs) {
    if (p.style === 'deepObject') {
      // name[prop]=value
      const obj: Record<string, string> = Object.create(null);
      let any = false;
      pairs.forEach(([n, v], i) => {
        if (n.length > p.name.length + 2 && n.startsWith(`${p.name}[`) && n.endsWith(']')) {
          const key = n.slice(p.name.length + 1, -1);
          if (key.includes('[')) {
            errors[p.name] = 'nested deepObject keys are not supported';
            return;
          }
          if (key in obj) errors[p.name] = 'a key is repeated';
          obj[key] = decodeQueryComponent(v);
          taken.add(i);
          any = true;
        }
      });
      if (any) values[p.name] = obj;
      continue;
    }
    if (p.shape === 'object' && p.explode && !p.json) {
      // form, exploded: each property is its own query name.
      const obj: Record<string, string> = Object.create(null);
      let any = false;
      for (const prop of p.properties) {
        const idx = byName.get(prop);
        if (!idx) continue;
        if (idx.length > 1) errors[p.name] = 'a property is repeated';
        obj[prop] = decodeQueryComponent(rawOf(idx[0] as number));
        for (const i of idx) taken.add(i);
        any = true;
      }
      if (any) values[p.name] = obj;
      continue;
    }
    const idx = byName.get(p.name);
    if (!idx) continue;
    for (const i of idx) taken.add(i);
    if (p.json) {
      if (idx.length > 1) errors[p.name] = 'must not be repeated';
      values[p.name] = decodeQueryComponent(rawOf(idx[0] as number));
      continue;
    }
    if (p.shape === 'array' && p.explode && p.style === 'form') {
      values[p.name] = idx.map((i) => decodeQueryComponent(rawOf(i)));
      continue;
    }
    // One occurrence only: a repeated scalar is parameter pollution (servers differ on first vs last).
    if (idx.length > 1) {
      errors[p.name] = 'must not be repeated';
      continue;
    }
    const raw = rawOf(idx[0] as number);
    if (p.shape === 'primitive') {
      values[p.name] = decodeQueryComponent(raw);
      continue;
    }
    let v: ParamValue | undefined;
    if (p.style === 'spaceDelimited' || p.style === 'pipeDelimited') {
      const dec = decodeQueryComponent(raw);
      const items = dec === '' ? [] : dec.split(p.style === 'spaceDelimited' ? ' ' : '|');
      v = p.shape === 'array' ? items : pairsToObject(items, false);
    } else {
      // form, not exploded: commas separate, escaped commas belong to the values.
      const items = raw === '' ? [] : raw.split(',').map(decodeQueryComponent);
      v = p.shape === 'array' ? items : pairsToObject(items, false);
    }
    if (v === undefined) errors[p.name] = 'is malformed';
    else values[p.name] = v;
  }
  const unknown: string[] = [];
  pairs.forEach(([n], i) => {
    if (!taken.has(i) && !unknown.includes(n)) unknown.push(n);
  });
  return { values, errors, unknown };
}

/** Cookie header → name → value (first wins, as browsers send the most specific first). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    if (name === '' || out.has(name)) continue;
    let v = part.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    out.set(name, v);
  }
  return out;
}

/** A cookie value in style form (the only cookie style): "a,b" for arrays and "k,v,k,v" for objects. */
export function parseCookieValue(p: ParamSpec, raw: string): ParamValue | undefined {
  return splitValue(p, raw, ',');
}
