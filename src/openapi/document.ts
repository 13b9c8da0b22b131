import { convertNode30, MAX_SCHEMA_DEPTH, mapSubschemas, SpecError } from './convert.js';
import { type RefTarget, SpecFiles } from './files.js';
import { PathMatcher, type PathMatches, paramsOf } from './paths.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export const OPERATION_METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'TRACE'] as const;

export interface OpenApiDocument {
  readonly version: '3.0' | '3.1';
  /** The operation for a request, or null: method upper-case, path as received (no query). */
  match(method: string, path: string): MatchedOperation | null;
}

export interface MatchedOperation {
  readonly operationId: string | null;
  readonly pathTemplate: string; // "/users/{id}"
  readonly params: Record<string, string>;
  /**
   * The dereferenced JSON Schema (2020-12 style, 3.0 converted) of the response body for a status and content
   * type, or null if none declared (falls back to "2XX" and "default" keys as OpenAPI says). $refs are replaced by
   * the object they name, shared: a recursive schema is a cyclic object graph, so walk it with a seen-set.
   */
  responseSchema(status: number, contentType: string): object | null;
}

/** One operation of the document, as the validator compiles it. */
export interface Operation {
  readonly method: string;
  readonly pathTemplate: string;
  readonly operationId: string | null;
  /** The operation object (resolved) and where it lives, for relative refs inside it. */
  readonly op: Obj;
  readonly at: RefTarget;
  /** The path item's own parameters (resolved path item) and where they live. */
  readonly pathItem: Obj;
  readonly pathItemAt: RefTarget;
}

interface PathEntry {
  readonly ops: Map<string, Operation>;
}

export type Lookup =
  | { kind: 'found'; op: Operation; params: Record<string, string> }
  | { kind: 'method'; allow: string[] }
  | { kind: 'none' };

export interface LoadOptions {
  /** Overrides the servers' base paths: the path prefix every operation's path sits under ("/api", "" for none). */
  basePath?: string;
}

/** Normalised media type: lower-case, no parameters. */
export function mediaTypeOf(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** The `content` key for a content type: exact, then "type/*", then "*\/*" (OpenAPI's most-specific rule). */
export function pickMediaType(content: Obj, contentType: string): string | null {
  const mt = mediaTypeOf(contentType);
  const keys = Object.keys(content);
  const norm = keys.map(mediaTypeOf);
  let i = norm.indexOf(mt);
  if (i === -1) i = norm.indexOf(`${mt.slice(0, mt.indexOf('/'))}/*`);
  if (i === -1) i = norm.indexOf('*/*');
  return i === -1 ? null : (keys[i] as string);
}

export class LoadedDocument implements OpenApiDocument {
  readonly version: '3.0' | '3.1';
  readonly files: SpecFiles;
  readonly operations: Operation[] = [];
  readonly #matcher = new PathMatcher<PathEntry>();
  /** Base paths from `servers` (or the option); "" means the paths sit at the root. */
  readonly basePaths: readonly string[];
  /** Dereferenced views of $ref targets, by "file#/pointer": shared objects, so cycles close on themselves. */
  readonly #views = new Map<string, Obj>();

  constructor(file: string, opts: LoadOptions = {}) {
    this.files = new SpecFiles(file);
    const root = this.files.root.doc;
    if (!isObj(root)) throw new SpecError(`${this.files.root.path}: not an OpenAPI document`);
    const v = typeof root.openapi === 'string' ? root.openapi : '';
    if (/^3\.0\.\d+/.test(v)) this.version = '3.0';
    else if (/^3\.1\.\d+/.test(v)) this.version = '3.1';
    else if (root.swagger !== undefined) throw new SpecError('Swagger 2.0 is not supported: convert it to OpenAPI 3');
    else throw new SpecError(`unsupported "openapi" version ${JSON.stringify(v).slice(0, 40)} (3.0.x or 3.1.x)`);

    this.basePaths = opts.basePath !== undefined ? [trimBase(opts.basePath)] : serverBasePaths(root.servers);
    const rootFile = this.files.root.path;
    const paths = root.paths ?? {};
    if (!isObj(paths)) throw new SpecError('"paths" must be an object');
    for (const [template, item] of Object.entries(paths)) {
      if (template.startsWith('x-')) continue;
      const r = this.files.resolveObject(item, { file: rootFile, parts: ['paths', template] });
      if (!isObj(r.value)) throw new SpecError(`paths.${template}: not a path item`);
      const entry: PathEntry = { ops: new Map() };
      for (const m of OPERATION_METHODS) {
        const op = r.value[m.toLowerCase()];
        if (!isObj(op)) continue;
        const o: Operation = {
          method: m,
          pathTemplate: template,
          operationId: typeof op.operationId === 'string' ? op.operationId : null,
          op,
          at: { file: r.at.file, parts: [...r.at.parts, m.toLowerCase()] },
          pathItem: r.value,
          pathItemAt: r.at,
        };
        entry.ops.set(m, o);
        this.operations.push(o);
      }
      try {
        this.#matcher.add(template, entry);
      } catch (e) {
        throw new SpecError(`paths: ${(e as Error).message}`);
      }
    }
  }

  /** The operation for a method and a path (no query), or why there is none. HEAD falls back to GET. */
  lookup(method: string, path: string): Lookup {
    let m: PathMatches<PathEntry> | null = null;
    for (const base of this.basePaths) {
      if (base === '') m = this.#matcher.match(path);
      else if (path === base) m = this.#matcher.match('/');
      else if (path.startsWith(`${base}/`)) m = this.#matcher.match(path.slice(base.length));
      if (m) break;
    }
    if (!m) return { kind: 'none' };
    for (const want of method === 'HEAD' ? ['HEAD', 'GET'] : [method]) {
      for (const e of m.entries) {
        const op = e.value.ops.get(want);
        if (op) return { kind: 'found', op, params: paramsOf(e.names, m.values) };
      }
    }
    const allow = new Set<string>();
    for (const e of m.entries) {
      for (const k of e.value.ops.keys()) {
        allow.add(k);
        // HEAD is served as GET.
        if (k === 'GET') allow.add('HEAD');
      }
    }
    return { kind: 'method', allow: [...allow] };
  }

  match(method: string, path: string): MatchedOperation | null {
    const l = this.lookup(method.toUpperCase(), path);
    return l.kind === 'found' ? new Matched(this, l.op, l.params) : null;
  }

  /** The dereferenced, 2020-12 view of a schema found at `file` (refs inside are relative to it). */
  schemaView(schema: unknown, file: string, depth = 0): unknown {
    if (!isObj(schema)) return schema;
    if (depth > MAX_SCHEMA_DEPTH) throw new SpecError(`schema nesting deeper than ${MAX_SCHEMA_DEPTH}`);
    if (typeof schema.$ref === 'string') {
      const t = this.files.target(schema.$ref, file);
      const key = `${t.file}#/${t.parts.join('/')}`;
      let target = this.#views.get(key);
      if (!target) {
        // Registered before it is filled, so that a cycle back to it finds this very object.
        target = {};
        this.#views.set(key, target);
        const v = this.schemaView(this.files.get(t), t.file, depth + 1);
        if (isObj(v)) Object.assign(target, v);
      }
      if (this.version === '3.0') return schema.nullable === true ? { anyOf: [target, { type: 'null' }] } : target;
      const { $ref: _, ...siblings } = schema;
      if (Object.keys(siblings).length === 0) return target;
      const rest = this.schemaView(siblings, file, depth + 1) as Obj;
      return { ...rest, allOf: [...(Array.isArray(rest.allOf) ? rest.allOf : []), target] };
    }
    const node = this.version === '3.0' ? convertNode30(schema) : schema;
    return mapSubschemas(node, (sub) => this.schemaView(sub, file, depth + 1));
  }
}

class Matched implements MatchedOperation {
  readonly operationId: string | null;
  readonly pathTemplate: string;
  readonly #doc: LoadedDocument;
  readonly #op: Operation;

  constructor(
    doc: LoadedDocument,
    op: Operation,
    readonly params: Record<string, string>,
  ) {
    this.#doc = doc;
    this.#op = op;
    this.operationId = op.operationId;
    this.pathTemplate = op.pathTemplate;
  }

  responseSchema(status: number, contentType: string): object | null {
    return responseSchemaOf(this.#doc, this.#op, status, contentType);
  }
}

/** Response schemas by operation, response key and media key: a handful per operation, built on first use. */
const responseCache = new WeakMap<Operation, Map<string, object | null>>();

function responseSchemaOf(doc: LoadedDocument, op: Operation, status: number, contentType: string): object | null {
  const { files } = doc;
  const responses = files.resolveObject(op.op.responses, { ...op.at, parts: [...op.at.parts, 'responses'] });
  if (!isObj(responses.value)) return null;
  const rs = responses.value;
  const s = String(status);
  const cls = `${s[0]}XX`;
  const key =
    s in rs ? s : cls in rs ? cls : cls.toLowerCase() in rs ? cls.toLowerCase() : 'default' in rs ? 'default' : null;
  if (key === null) return null;
  const resp = files.resolveObject(rs[key], { ...responses.at, parts: [...responses.at.parts, key] });
  if (!isObj(resp.value) || !isObj(resp.value.content)) return null;
  const mk = pickMediaType(resp.value.content, contentType);
  if (mk === null) return null;
  let cache = responseCache.get(op);
  if (!cache) {
    cache = new Map();
    responseCache.set(op, cache);
  }
  const ck = `${key}\n${mk}`;
  if (cache.has(ck)) return cache.get(ck) ?? null;
  const media = resp.value.content[mk];
  const schema = isObj(media) && isObj(media.schema) ? doc.schemaView(media.schema, resp.at.file) : null;
  const out = isObj(schema) ? schema : null;
  cache.set(ck, out);
  return out;
}

const trimBase = (p: string): string => {
  const t = p.replace(/\/+$/, '');
  return t === '' || t.startsWith('/') ? t : `/${t}`;
};

/**
 * The path part of each server URL (variables replaced by their defaults). When any server sits at the root,
 * paths may come without a prefix; otherwise a request must carry one of the prefixes.
 */
function serverBasePaths(servers: unknown): string[] {
  if (!Array.isArray(servers) || servers.length === 0) return [''];
  const out = new Set<string>();
  for (const s of servers) {
    if (!isObj(s) || typeof s.url !== 'string') continue;
    const vars = isObj(s.variables) ? s.variables : {};
    const url = s.url.replace(/\{([^}]+)\}/g, (_m, n: string) => {
      const v = vars[n];
      return isObj(v) && typeof v.default === 'string' ? v.default : '';
    });
    let path = url;
    const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(url);
    if (scheme) path = url.slice(scheme[0].length);
    else if (url.startsWith('//')) path = url.replace(/^\/\/[^/]*/, '');
    out.add(trimBase(path.split(/[?#]/)[0] ?? ''));
  }
  // Longest first, so "/v1/admin" is stripped before "/v1".
  return out.size ? [...out].sort((a, b) => b.length - a.length) : [''];
}
