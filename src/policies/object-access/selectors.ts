import type { RequestContext } from '../../core/context.js';
import type { Identity } from '../../core/identity.js';

/**
 * Selectors of object-level rules, compiled once at load: where an object identifier is read on the request (path
 * parameter, query parameter, header, JSON pointer into the body) and which identity value it is checked against.
 * The schema validates them with the same compilers, so a bad selector fails at load with its field's line.
 */

/** An identifier that is present but is not one (a JSON object, a float, an empty string): always denied. */
export const MALFORMED: unique symbol = Symbol('malformed identifier');

/**
 * What a selector read: one identifier, several (a repeated query parameter, a JSON array, a `*` pointer), none
 * (undefined: missing), or MALFORMED.
 */
export type Ids = string | readonly string[] | undefined | typeof MALFORMED;

/** Longer identifiers are refused (MALFORMED): no real id is this long, and they would bloat the ownership cache. */
export const MAX_ID_LENGTH = 512;

// ---------------------------------------------------------------------------------------------------------------
// JSON pointers (RFC 6901), with `*` for every element of an array.

export const WILDCARD: unique symbol = Symbol('*');
export type Pointer = readonly (string | typeof WILDCARD)[];

const MAX_POINTER_SEGMENTS = 32;

/** Parses "/items/*\/account_id"; returns an error message instead for a bad pointer. */
export function parsePointer(p: string): Pointer | string {
  if (p === '') return [];
  if (!p.startsWith('/')) return 'a JSON pointer starts with "/" (e.g. /account_id or /items/*/account_id)';
  const raw = p.slice(1).split('/');
  if (raw.length > MAX_POINTER_SEGMENTS) return `a JSON pointer has at most ${MAX_POINTER_SEGMENTS} segments`;
  const out: (string | typeof WILDCARD)[] = [];
  for (const seg of raw) {
    if (/~[^01]|~$/.test(seg)) return 'in a JSON pointer "~" is only written as ~0 ("~") or ~1 ("/")';
    out.push(seg === '*' ? WILDCARD : seg.replaceAll('~1', '/').replaceAll('~0', '~'));
  }
  return out;
}

/** An identifier as JSON carries it: a non-empty string or a safe integer; null is "absent". */
function leafId(v: unknown): string | undefined | typeof MALFORMED {
  if (typeof v === 'string') return v === '' || v.length > MAX_ID_LENGTH ? MALFORMED : v;
  // Past 2^53 JSON.parse rounds: the upstream may read another number than the one checked here.
  if (typeof v === 'number') return Number.isSafeInteger(v) ? String(v) : MALFORMED;
  if (v === null) return undefined;
  return MALFORMED;
}

function step(cur: unknown, seg: string): unknown {
  if (Array.isArray(cur)) {
    if (!/^(0|[1-9]\d{0,8})$/.test(seg)) return undefined;
    return cur[Number(seg)];
  }
  if (cur !== null && typeof cur === 'object' && Object.hasOwn(cur, seg)) return (cur as Record<string, unknown>)[seg];
  return undefined;
}

/**
 * The identifiers a pointer selects in a parsed JSON document. A leaf that is an array of ids gives each of them
 * (an upstream may act on every one). With `*`, every element counts: one element without the field makes the
 * whole read missing (undefined), so a non-optional rule denies rather than checking only the elements that have it.
 */
export function readPointer(doc: unknown, ptr: Pointer): Ids {
  const out: string[] = [];
  const r = collect(doc, ptr, 0, out);
  if (r !== true) return r;
  if (out.length === 0) return undefined;
  return out.length === 1 ? out[0] : out;
}

function collect(cur: unknown, ptr: Pointer, i: number, out: string[]): true | undefined | typeof MALFORMED {
  for (; i < ptr.length; i++) {
    const seg = ptr[i] as string | typeof WILDCARD;
    if (seg === WILDCARD) {
      if (!Array.isArray(cur)) return cur === undefined || cur === null ? undefined : MALFORMED;
      for (const el of cur) {
        const r = collect(el, ptr, i + 1, out);
        if (r !== true) return r;
      }
      return true;
    }
    cur = step(cur, seg);
    if (cur === undefined) return undefined;
  }
  if (Array.isArray(cur)) {
    for (const el of cur) {
      const id = leafId(el);
      if (id === undefined) return MALFORMED;
      if (id === MALFORMED) return id;
      out.push(id);
    }
    return true;
  }
  const id = leafId(cur);
  if (id === undefined || id === MALFORMED) return id;
  out.push(id);
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Request sources.

export type SourceConfig = { param?: string; query?: string; header?: string; body?: string };

/** The JSON body as rules see it: not read (no rule needed it), empty, not JSON, or the parsed value. */
export const NO_BODY: unique symbol = Symbol('no body');
export const NOT_JSON: unique symbol = Symbol('not JSON');
export type Body = unknown;

export interface Source {
  readonly kind: 'param' | 'query' | 'header' | 'body';
  /** "param id", "query user_id", "header x-account", "body /account_id": for decision reasons. */
  readonly label: string;
  /** Reads the identifiers; `body` is the request's parsed JSON (only for kind body). */
  read(ctx: RequestContext, body: Body): Ids;
}

/** Exactly one of param / query / header / body; returns an error message instead for a bad one. */
export function compileSource(s: SourceConfig): Source | string {
  const set = (['param', 'query', 'header', 'body'] as const).filter((k) => s[k] !== undefined);
  if (set.length !== 1) return 'give exactly one of param, query, header or body';
  if (s.param !== undefined) {
    const name = s.param;
    return {
      kind: 'param',
      label: `param ${name}`,
      read: (ctx) => {
        const v = ctx.params[name];
        if (v === undefined) return undefined;
        return v === '' || v.length > MAX_ID_LENGTH ? MALFORMED : v;
      },
    };
  }
  if (s.query !== undefined) {
    const name = s.query;
    return { kind: 'query', label: `query ${name}`, read: (ctx) => queryIds(ctx.query, name) };
  }
  if (s.header !== undefined) {
    const name = s.header.toLowerCase();
    return {
      kind: 'header',
      label: `header ${name}`,
      // The headers the upstream gets (after any header policy), not the client's.
      read: (ctx) => headerIds(ctx.upstreamHeaders[name]),
    };
  }
  const ptr = parsePointer(s.body as string);
  if (typeof ptr === 'string') return ptr;
  return {
    kind: 'body',
    label: `body ${s.body}`,
    read: (_ctx, body) => (body === NO_BODY ? undefined : body === NOT_JSON ? MALFORMED : readPointer(body, ptr)),
  };
}

function headerIds(v: string | string[] | undefined): Ids {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v === '' || v.length > MAX_ID_LENGTH ? MALFORMED : v;
  for (const x of v) if (x === '' || x.length > MAX_ID_LENGTH) return MALFORMED;
  return v.length === 1 ? v[0] : v;
}

/**
 * Every value of a query parameter as WHATWG URLSearchParams decodes it (what Node upstreams read), so the gateway
 * checks what the upstream will use. All occurrences count (the upstream may read the first, the last or all), and
 * so do bracket and dot forms (`user_id[]=`, `user_id[0]=`, `user_id.x=`) that qs and PHP read into the same field.
 * A present but empty value is MALFORMED: some APIs read `?user_id=` as "no filter".
 */
export function queryIds(query: string, name: string): Ids {
  if (query.length < 2) return undefined;
  const q = query.charCodeAt(0) === 63 /* ? */ ? query.slice(1) : query;
  if (!q.includes(name) && !q.includes('%') && !q.includes('+')) return undefined;
  let one: string | undefined;
  let many: string[] | undefined;
  for (const part of q.split('&')) {
    const eq = part.indexOf('=');
    const key = formDecode(eq === -1 ? part : part.slice(0, eq));
    if (key !== name && !(key.startsWith(name) && (key[name.length] === '[' || key[name.length] === '.'))) continue;
    const v = eq === -1 ? '' : formDecode(part.slice(eq + 1));
    if (v === '' || v.length > MAX_ID_LENGTH) return MALFORMED;
    if (one === undefined) one = v;
    else if (many === undefined) many = [one, v];
    else many.push(v);
  }
  return many ?? one;
}

/** application/x-www-form-urlencoded decoding, lenient on bad escapes exactly as URLSearchParams is. */
function formDecode(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  const plus = s.replaceAll('+', ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return new URLSearchParams(`x=${s}`).get('x') ?? s;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Identity values.

/** A value of the caller's identity: a string, a number, a list of them, or anything else (never matches). */
export type IdentityGetter = (identity: Identity) => unknown;

const PATH = /^[A-Za-z0-9_:$-]+(\.[A-Za-z0-9_:$-]+)*$/;

export const IDENTITY_SELECTOR_HELP =
  'identity.subject, identity.id (the consumer id), identity.client_id, identity.roles, identity.scopes, ' +
  'identity.attributes.<name>, claims.<name> (dotted paths reach nested values; consumer.* is an alias of identity.*)';

/** Compiles "identity.attributes.accounts", "claims.tenant_id", ...; returns an error message instead. */
export function compileIdentitySelector(sel: string): IdentityGetter | string {
  const s = sel.startsWith('consumer.') ? `identity.${sel.slice('consumer.'.length)}` : sel;
  switch (s) {
    case 'identity.subject':
      return (i) => i.subject;
    case 'identity.id':
    case 'identity.consumer_id':
      return (i) => i.consumerId;
    case 'identity.client_id':
      return (i) => i.clientId;
    case 'identity.roles':
      return (i) => i.roles;
    case 'identity.scopes':
      return (i) => i.scopes;
  }
  for (const [prefix, of] of [
    ['identity.attributes.', (i: Identity) => i.attributes],
    ['identity.claims.', (i: Identity) => i.claims],
    ['claims.', (i: Identity) => i.claims],
  ] as const) {
    if (!s.startsWith(prefix)) continue;
    const rest = s.slice(prefix.length);
    if (!PATH.test(rest)) return `"${sel}": a name or dotted path after ${prefix}`;
    const path = rest.split('.');
    if (path.length === 1) {
      const key = rest;
      return (i) => {
        const o = of(i);
        return o && Object.hasOwn(o, key) ? o[key] : undefined;
      };
    }
    return (i) => {
      let cur: unknown = of(i);
      for (const k of path) {
        if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, k)) return undefined;
        cur = (cur as Record<string, unknown>)[k];
      }
      return cur;
    };
  }
  return `"${sel}" is not an identity value: use ${IDENTITY_SELECTOR_HELP}`;
}

/** One identity value against one identifier: a string or safe integer equal to it. Empty never matches. */
export function scalarMatches(v: unknown, id: string): boolean {
  if (typeof v === 'string') return v !== '' && v === id;
  if (typeof v === 'number') return Number.isSafeInteger(v) && String(v) === id;
  return false;
}

/** `in`: the identity value is the identifier, or a list that holds it. */
export function memberMatches(v: unknown, id: string): boolean {
  if (Array.isArray(v)) {
    for (const x of v) if (scalarMatches(x, id)) return true;
    return false;
  }
  return scalarMatches(v, id);
}

/** Whether an identity value exists in a usable form (for the reason of a deny). */
export function hasValue(v: unknown): boolean {
  if (typeof v === 'string') return v !== '';
  if (typeof v === 'number') return true;
  return Array.isArray(v) && v.length > 0;
}

/** The identity's single value as a tenant id (string or safe integer), else null. */
export function singleValue(v: unknown): string | null {
  if (typeof v === 'string') return v === '' ? null : v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  if (Array.isArray(v) && v.length === 1) return singleValue(v[0]);
  return null;
}
