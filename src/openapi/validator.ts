import { pathToFileURL } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsCjs from 'ajv-formats';
import { convertSchema, escapePointer, getPointer, SpecError } from './convert.js';
import { type LoadedDocument, mediaTypeOf, type Operation, pickMediaType } from './document.js';
import type { RefTarget } from './files.js';
import {
  DEFAULT_STYLE,
  type ParamSpec,
  type ParamValue,
  parseCookies,
  parseCookieValue,
  parseHeaderValue,
  parsePathValue,
  parseQuery,
  queryPairs,
  type Shape,
} from './params.js';
import { pointerSegment, safePointer, shownName } from './pointer.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

// ajv-formats is CommonJS: its default export arrives as the module or as `.default` depending on the loader.
const addFormats = ((addFormatsCjs as unknown as { default?: unknown }).default ?? addFormatsCjs) as (
  ajv: Ajv2020,
) => void;

export type Location = 'path' | 'query' | 'header' | 'cookie' | 'body';

/** One reason a request does not fit its operation: where, and what is wrong, never the value sent. */
export interface ValidationIssue {
  readonly in: Location;
  /** The parameter's name (path, query, header, cookie). */
  readonly name?: string;
  /** A JSON pointer into the parameter's value or the body ("" for the whole). */
  readonly pointer: string;
  readonly message: string;
}

/** Most issues reported for one request: enough to fix it, bounded whatever the input. */
export const MAX_ISSUES = 20;
const MAX_POINTER = 200;

/** Headers OpenAPI says parameter definitions must not describe (they are the protocol's own). */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);

type BodyKind = 'json' | 'form' | 'multipart' | 'other';

export function bodyKindOf(mediaType: string): BodyKind {
  if (mediaType === 'application/json' || (mediaType.startsWith('application/') && mediaType.endsWith('+json'))) {
    return 'json';
  }
  if (mediaType === 'application/x-www-form-urlencoded') return 'form';
  if (mediaType === 'multipart/form-data') return 'multipart';
  return 'other';
}

interface CompiledMedia {
  readonly kind: BodyKind;
  /** Null when the media type declares no schema. */
  readonly validate: ValidateFunction | null;
  /** Form and multipart: each property's shape (repeated fields form arrays only where the schema says so). */
  readonly fields: ReadonlyMap<string, Shape>;
}

export interface CompiledOperation {
  readonly op: Operation;
  readonly params: Readonly<Record<'path' | 'query' | 'header' | 'cookie', readonly ParamSpec[]>>;
  readonly validators: Readonly<Record<'path' | 'query' | 'header' | 'cookie', ValidateFunction | null>>;
  /** Null when the operation declares no request body. */
  readonly body: {
    readonly required: boolean;
    readonly content: Obj;
    readonly media: Map<string, CompiledMedia | null>;
    readonly at: RefTarget;
  } | null;
}

/** What the caller gathered from the request. The body is read only when the operation needs it. */
export interface RequestInput {
  readonly pathParams: Record<string, string>;
  /** Raw query string without "?". */
  readonly query: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Whether a body was sent (declared length > 0 or chunked). */
  readonly hasBody: boolean;
  readonly contentType: string | undefined;
  /** Reads the body (bounded by the caller). */
  readBody(): Promise<Buffer>;
  /** Parses a JSON body under the structural limits (throws to refuse). */
  parseJson(buf: Buffer): unknown;
}

export interface ValidateSwitches {
  readonly path: boolean;
  readonly query: boolean;
  readonly headers: boolean;
  readonly cookies: boolean;
  readonly body: boolean;
  readonly allowUnknownQuery: boolean;
}

export type ValidationResult =
  | { kind: 'ok'; json?: { buf: Buffer; value: unknown } }
  | { kind: 'invalid'; issues: ValidationIssue[] }
  | { kind: 'media-type'; mediaType: string };

/**
 * Compiled validators for one document. Each operation compiles on first use and is kept (a big spec loads in a
 * fraction of a second and compiles only what traffic reaches); `compileAll` compiles everything up front (small
 * specs, so that a broken schema fails the config load).
 */
export class RequestValidator {
  readonly doc: LoadedDocument;
  readonly #compiled = new Map<Operation, CompiledOperation>();
  #bodyAjv: Ajv2020 | null = null;
  #paramAjv: Ajv2020 | null = null;
  readonly #urls = new Map<string, string>();
  #converted: Map<string, unknown> | null = null;

  constructor(doc: LoadedDocument) {
    this.doc = doc;
    for (const f of doc.files.files.keys()) this.#urls.set(f, pathToFileURL(f).href);
  }

  /** Converts the files and builds both schema registries (done on first use otherwise). */
  prepare(): void {
    this.#ajv(true);
    this.#ajv(false);
  }

  compileAll(): number {
    for (const op of this.doc.operations) this.compile(op);
    return this.doc.operations.length;
  }

  /** Converted request-side copies of every file (3.0 → 2020-12, read-only fields not required), made once. */
  #convertedFiles(): Map<string, unknown> {
    if (this.#converted) return this.#converted;
    const out = new Map<string, unknown>();
    const v30 = this.doc.version === '3.0';
    for (const [file, f] of this.doc.files.files) {
      const resolve = (ref: string) => {
        try {
          return this.doc.files.get(this.doc.files.target(ref, file));
        } catch {
          return undefined;
        }
      };
      const opts = { v30, forRequest: true, resolve };
      const isRoot = isObj(f.doc) && typeof f.doc.openapi === 'string';
      const conv = convertTree(f.doc, opts, isRoot, 0, false);
      out.set(file, isObj(conv) ? { ...conv, $id: this.#urls.get(file) } : conv);
    }
    this.#converted = out;
    return out;
  }

  #ajv(coerce: boolean): Ajv2020 {
    const existing = coerce ? this.#paramAjv : this.#bodyAjv;
    if (existing) return existing;
    const ajv = new Ajv2020({
      strict: false,
      validateSchema: false,
      allErrors: coerce,
      logger: false,
      // Spec authors write patterns for ECMAScript without the u flag (e.g. "[\w\-]"), which u mode rejects.
      unicodeRegExp: false,
      coerceTypes: coerce ? 'array' : false,
      addUsedSchema: false,
    });
    addFormats(ajv);
    addOpenApiFormats(ajv);
    // A property the document marks readOnly is refused in a request wherever it appears.
    ajv.removeKeyword('readOnly');
    ajv.addKeyword({ keyword: 'readOnly', schemaType: 'boolean', errors: false, validate: (ro: boolean) => !ro });
    for (const [file, conv] of this.#convertedFiles()) {
      if (isObj(conv)) ajv.addSchema(conv, this.#urls.get(file));
    }
    if (coerce) this.#paramAjv = ajv;
    else this.#bodyAjv = ajv;
    return ajv;
  }

  /** The absolute $ref (file URL + pointer) of a place in the document. */
  #ref(at: RefTarget): string {
    const ptr = at.parts.map((p) => encodeURIComponent(escapePointer(p))).join('/');
    return `${this.#urls.get(at.file) ?? pathToFileURL(at.file).href}#/${ptr}`;
  }

  compile(op: Operation): CompiledOperation {
    const hit = this.#compiled.get(op);
    if (hit) return hit;
    try {
      const c = this.#compile(op);
      this.#compiled.set(op, c);
      return c;
    } catch (e) {
      if (e instanceof SpecError) throw e;
      throw new SpecError(`${op.method} ${op.pathTemplate}: ${(e as Error).message}`);
    }
  }

  #compile(op: Operation): CompiledOperation {
    const files = this.doc.files;
    const byKey = new Map<string, { p: Obj; at: RefTarget }>();
    const collect = (list: unknown, at: RefTarget) => {
      if (!Array.isArray(list)) return;
      list.forEach((raw, i) => {
        const r = files.resolveObject(raw, { file: at.file, parts: [...at.parts, 'parameters', String(i)] });
        if (!isObj(r.value) || typeof r.value.name !== 'string' || typeof r.value.in !== 'string') return;
        const name = r.value.in === 'header' ? r.value.name.toLowerCase() : r.value.name;
        byKey.set(`${r.value.in}\n${name}`, { p: r.value, at: r.at });
      });
    };
    collect(op.pathItem.parameters, op.pathItemAt);
    collect(op.op.parameters, op.at);

    const params = {
      path: [] as ParamSpec[],
      query: [] as ParamSpec[],
      header: [] as ParamSpec[],
      cookie: [] as ParamSpec[],
    };
    const schemas = { path: {} as Obj, query: {} as Obj, header: {} as Obj, cookie: {} as Obj };
    const required = { path: [] as string[], query: [] as string[], header: [] as string[], cookie: [] as string[] };
    for (const { p, at } of byKey.values()) {
      const where = p.in as keyof typeof params;
      if (!(where in params)) continue;
      const name = where === 'header' ? (p.name as string).toLowerCase() : (p.name as string);
      if (where === 'header' && IGNORED_HEADERS.has(name)) continue;
      let schemaAt: RefTarget | null = null;
      let json = false;
      if (isObj(p.schema)) schemaAt = { file: at.file, parts: [...at.parts, 'schema'] };
      else if (isObj(p.content)) {
        const mk = Object.keys(p.content)[0];
        const media = mk === undefined ? undefined : p.content[mk];
        if (mk !== undefined && isObj(media) && isObj(media.schema)) {
          schemaAt = { file: at.file, parts: [...at.parts, 'content', mk, 'schema'] };
          json = bodyKindOf(mediaTypeOf(mk)) === 'json';
        }
      }
      const view = schemaAt
        ? this.doc.schemaView(getPointer(files.files.get(at.file)?.doc, schemaAt.parts), at.file)
        : {};
      const style = typeof p.style === 'string' ? p.style : DEFAULT_STYLE[where];
      const spec: ParamSpec = {
        name,
        in: where,
        style,
        explode: typeof p.explode === 'boolean' ? p.explode : style === 'form',
        required: where === 'path' || p.required === true,
        shape: json ? 'primitive' : shapeOf(view),
        properties: isObj(view) && isObj(view.properties) ? Object.keys(view.properties) : [],
        json,
        allowReserved: p.allowReserved === true,
      };
      params[where].push(spec);
      schemas[where][name] = schemaAt ? { $ref: this.#ref(schemaAt) } : true;
      if (spec.required) required[where].push(name);
    }
    const ajv = this.#ajv(true);
    const compileLoc = (w: keyof typeof params): ValidateFunction | null =>
      params[w].length === 0 ? null : ajv.compile({ type: 'object', properties: schemas[w], required: required[w] });
    const validators = {
      path: compileLoc('path'),
      query: compileLoc('query'),
      header: compileLoc('header'),
      cookie: compileLoc('cookie'),
    };

    let body: CompiledOperation['body'] = null;
    if (op.op.requestBody !== undefined) {
      const r = files.resolveObject(op.op.requestBody, { file: op.at.file, parts: [...op.at.parts, 'requestBody'] });
      if (isObj(r.value)) {
        const content = isObj(r.value.content) ? r.value.content : {};
        body = { required: r.value.required === true, content, media: new Map(), at: r.at };
        for (const mk of Object.keys(content)) this.#media(body, mk);
      }
    }
    return { op, params, validators, body };
  }

  #media(body: NonNullable<CompiledOperation['body']>, mk: string): CompiledMedia | null {
    if (body.media.has(mk)) return body.media.get(mk) ?? null;
    const media = body.content[mk];
    const kind = bodyKindOf(mediaTypeOf(mk));
    let out: CompiledMedia | null = null;
    if (isObj(media)) {
      const schemaAt: RefTarget = { file: body.at.file, parts: [...body.at.parts, 'content', mk, 'schema'] };
      const has = isObj(media.schema) || typeof media.schema === 'boolean';
      const fields = new Map<string, Shape>();
      if (has && (kind === 'form' || kind === 'multipart')) {
        const view = this.doc.schemaView(media.schema, body.at.file);
        if (isObj(view) && isObj(view.properties)) {
          for (const [k, s] of Object.entries(view.properties)) fields.set(k, shapeOf(s));
        }
      }
      const validate =
        has && kind !== 'other' ? this.#ajv(kind !== 'json').compile({ $ref: this.#ref(schemaAt) }) : null;
      out = { kind, validate, fields };
    }
    body.media.set(mk, out);
    return out;
  }

  /** Validates a request against its operation. */
  async validate(op: Operation, input: RequestInput, sw: ValidateSwitches): Promise<ValidationResult> {
    const c = this.compile(op);
    const issues: ValidationIssue[] = [];
    const add = (i: ValidationIssue) => {
      if (issues.length < MAX_ISSUES) issues.push(i);
    };

    if (sw.path && c.validators.path) {
      const values: Obj = Object.create(null);
      for (const p of c.params.path) {
        const raw = input.pathParams[p.name];
        if (raw === undefined) continue;
        const v = parsePathValue(p, raw);
        if (v === undefined)
          add({ in: 'path', name: p.name, pointer: '', message: `does not follow style ${p.style}` });
        values[p.name] = v === undefined ? UNREADABLE : p.json ? parseJsonParam(v, p, add) : v;
      }
      runParams(c.validators.path, values, 'path', add);
    }

    if (sw.query && (c.validators.query || !sw.allowUnknownQuery)) {
      const q = parseQuery(c.params.query, queryPairs(input.query));
      for (const [name, why] of Object.entries(q.errors)) add({ in: 'query', name, pointer: '', message: why });
      if (!sw.allowUnknownQuery) {
        for (const name of q.unknown.slice(0, 5)) {
          add({ in: 'query', name: shownName(name), pointer: '', message: 'is not a parameter of this operation' });
        }
      }
      if (c.validators.query) {
        const values: Obj = Object.create(null);
        for (const p of c.params.query) {
          const v = q.values[p.name];
          if (p.name in q.errors) values[p.name] = UNREADABLE;
          else if (v !== undefined) values[p.name] = p.json ? parseJsonParam(v, p, add) : v;
        }
        runParams(c.validators.query, values, 'query', add);
      }
    }

    if (sw.headers && c.validators.header) {
      const values: Obj = Object.create(null);
      for (const p of c.params.header) {
        const h = input.headers[p.name];
        if (h === undefined) continue;
        const raw = Array.isArray(h) ? h.join(', ') : h;
        const v = p.json ? raw : parseHeaderValue(p, raw);
        if (v === undefined) add({ in: 'header', name: p.name, pointer: '', message: 'is malformed' });
        values[p.name] = v === undefined ? UNREADABLE : p.json ? parseJsonParam(v, p, add) : v;
      }
      runParams(c.validators.header, values, 'header', add);
    }

    if (sw.cookies && c.validators.cookie) {
      const jar = parseCookies(typeof input.headers.cookie === 'string' ? input.headers.cookie : undefined);
      const values: Obj = Object.create(null);
      for (const p of c.params.cookie) {
        const raw = jar.get(p.name);
        if (raw === undefined) continue;
        const v = p.json ? raw : parseCookieValue(p, raw);
        if (v === undefined) add({ in: 'cookie', name: p.name, pointer: '', message: 'is malformed' });
        values[p.name] = v === undefined ? UNREADABLE : p.json ? parseJsonParam(v, p, add) : v;
      }
      runParams(c.validators.cookie, values, 'cookie', add);
    }

    let json: { buf: Buffer; value: unknown } | undefined;
    if (sw.body) {
      if (!c.body) {
        if (input.hasBody) add({ in: 'body', pointer: '', message: 'this operation takes no request body' });
      } else if (!input.hasBody) {
        if (c.body.required) add({ in: 'body', pointer: '', message: 'a request body is required' });
      } else {
        const mk = pickMediaType(c.body.content, input.contentType ?? '');
        if (mk === null || !input.contentType) {
          return { kind: 'media-type', mediaType: mediaTypeOf(input.contentType ?? '') };
        }
        const media = this.#media(c.body, mk);
        // The request's own media type decides how to read it ("*/*" in the document says nothing about that).
        const kind = bodyKindOf(mediaTypeOf(input.contentType));
        if (media?.validate && kind !== 'other') {
          if (issues.length) return { kind: 'invalid', issues };
          const buf = await input.readBody();
          if (buf.length === 0) {
            if (c.body.required) add({ in: 'body', pointer: '', message: 'a request body is required' });
          } else {
            let value: unknown;
            if (kind === 'json') {
              value = input.parseJson(buf);
              json = { buf, value };
            } else if (kind === 'form') value = formFields(buf.toString('latin1'), media.fields, add);
            else value = multipartFields(buf, input.contentType, media.fields, add);
            if (value !== undefined && !media.validate(value)) {
              for (const e of media.validate.errors ?? []) add(issueOf(e, 'body', null));
            }
          }
        }
      }
    }
    if (issues.length) return { kind: 'invalid', issues };
    return json ? { kind: 'ok', json } : { kind: 'ok' };
  }
}

/** A parameter that was sent but could not be read (its issue is already reported): skipped by the schema check. */
const UNREADABLE = Symbol('unreadable');

function runParams(v: ValidateFunction, values: Obj, where: Location, add: (i: ValidationIssue) => void): void {
  // Unreadable values are present (so not "required" again) but not checked against their schema.
  const checked: Obj = Object.create(null);
  const skip = new Set<string>();
  for (const [k, x] of Object.entries(values)) {
    if (x === UNREADABLE) skip.add(k);
    else checked[k] = x;
  }
  if (v(checked)) return;
  for (const e of v.errors ?? []) {
    if (e.keyword === 'required' && skip.has(String((e.params as { missingProperty?: string }).missingProperty))) {
      continue;
    }
    // instancePath "/name/rest": the parameter, then where inside its value.
    if (e.keyword === 'required' && e.instancePath === '') {
      const name = String((e.params as { missingProperty?: string }).missingProperty ?? '');
      add({ in: where, name, pointer: '', message: 'is required' });
      continue;
    }
    const parts = e.instancePath.split('/');
    const name = unescapePointer(parts[1] ?? '');
    add(issueOf(e, where, name, parts.length > 2 ? `/${parts.slice(2).join('/')}` : ''));
  }
}

function parseJsonParam(v: ParamValue, p: ParamSpec, add: (i: ValidationIssue) => void): unknown {
  try {
    return JSON.parse(String(v));
  } catch {
    add({ in: p.in, name: p.name, pointer: '', message: 'is not valid JSON' });
    return UNREADABLE;
  }
}

const unescapePointer = (s: string) => s.replaceAll('~1', '/').replaceAll('~0', '~');
const truncate = (s: string) => (s.length > MAX_POINTER ? `${s.slice(0, MAX_POINTER)}…` : s);

/** An ajv error as an issue: the message is written here from the schema's terms, never from the value. */
function issueOf(e: ErrorObject, where: Location, name: string | null, instancePath = e.instancePath): ValidationIssue {
  const p = e.params as Record<string, unknown>;
  let message: string;
  const pointer = safePointer(instancePath);
  let ptr = pointer;
  switch (e.keyword) {
    case 'required':
      ptr = `${pointer}/${pointerSegment(String(p.missingProperty))}`;
      message = 'is required';
      break;
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const extra = String(p.additionalProperty ?? p.unevaluatedProperty ?? '');
      ptr = `${pointer}/${pointerSegment(extra)}`;
      message = 'is not an allowed property';
      break;
    }
    case 'readOnly':
      message = 'is read-only';
      break;
    case 'type':
      message = `must be of type ${String(p.type)}`;
      break;
    case 'enum':
      message = 'must be one of the allowed values';
      break;
    case 'const':
      message = 'must be the allowed constant';
      break;
    case 'format':
      message = `must be a valid ${String(p.format)}`;
      break;
    case 'pattern':
      message = 'does not match the required pattern';
      break;
    case 'false schema':
      message = 'is not allowed';
      break;
    // Limits and combinators: ajv's message names only schema terms (numbers, counts).
    default:
      message = e.message ?? 'is invalid';
  }
  const out: ValidationIssue = { in: where, pointer: truncate(ptr), message };
  return name === null ? out : { ...out, name: shownName(name) };
}

function shapeOf(view: unknown): Shape {
  if (!isObj(view)) return 'primitive';
  const t = view.type;
  const types = Array.isArray(t) ? t : [t];
  if (types.includes('array')) return 'array';
  if (types.includes('object')) return 'object';
  if (t === undefined) {
    if (view.items !== undefined || view.prefixItems !== undefined) return 'array';
    if (view.properties !== undefined || view.additionalProperties !== undefined) return 'object';
  }
  return 'primitive';
}

/** Urlencoded form → object: repeated names form arrays only for array fields; repeated scalars are refused. */
function formFields(text: string, fields: ReadonlyMap<string, Shape>, add: (i: ValidationIssue) => void): Obj {
  const out: Obj = Object.create(null);
  for (const [rawName, rawValue] of queryPairs(text)) {
    const name = rawName;
    const value = decodeForm(rawValue);
    putField(out, name, value, fields, add);
  }
  return out;
}

function decodeForm(s: string): string {
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    return s;
  }
}

function putField(
  out: Obj,
  name: string,
  value: string,
  fields: ReadonlyMap<string, Shape>,
  add: (i: ValidationIssue) => void,
) {
  if (fields.get(name) === 'array') {
    const cur = out[name];
    if (Array.isArray(cur)) cur.push(value);
    else out[name] = [value];
  } else if (name in out) {
    add({ in: 'body', pointer: `/${pointerSegment(name)}`, message: 'must not be repeated' });
  } else out[name] = value;
}

/**
 * multipart/form-data → object of field values (text parts as strings; file parts as their content as latin1
 * text, which is enough for the `binary` / `string` schemas files have). Bounded by the body cap the caller read.
 */
function multipartFields(
  buf: Buffer,
  contentType: string,
  fields: ReadonlyMap<string, Shape>,
  add: (i: ValidationIssue) => void,
): Obj | undefined {
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) {
    add({ in: 'body', pointer: '', message: 'multipart body without a boundary' });
    return undefined;
  }
  const delim = Buffer.from(`--${boundary}`);
  const out: Obj = Object.create(null);
  let pos = buf.indexOf(delim);
  if (pos === -1) {
    add({ in: 'body', pointer: '', message: 'malformed multipart body' });
    return undefined;
  }
  for (let parts = 0; parts < 1000; parts++) {
    pos += delim.length;
    if (buf[pos] === 0x2d && buf[pos + 1] === 0x2d) return out; // closing delimiter
    const headEnd = buf.indexOf('\r\n\r\n', pos);
    const next = buf.indexOf(delim, pos);
    if (headEnd === -1 || next === -1 || headEnd > next) break;
    const head = buf.toString('latin1', pos, headEnd);
    const name = /content-disposition:[^\r\n]*;\s*name="([^"]*)"/i.exec(head)?.[1];
    // The part's content ends with the CRLF before the next delimiter.
    const value = buf.toString(
      /filename=/i.test(head) ? 'latin1' : 'utf8',
      headEnd + 4,
      Math.max(headEnd + 4, next - 2),
    );
    if (name === undefined) {
      add({ in: 'body', pointer: '', message: 'a multipart part has no name' });
      return undefined;
    }
    putField(out, name, value, fields, add);
    pos = next;
  }
  add({ in: 'body', pointer: '', message: 'malformed multipart body' });
  return undefined;
}

/** OpenAPI's own formats (its data types table): ranges checked, the rest accepted as annotations. */
function addOpenApiFormats(ajv: Ajv2020): void {
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('float', { type: 'number', validate: () => true });
  ajv.addFormat('double', { type: 'number', validate: () => true });
  ajv.addFormat('byte', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
  ajv.addFormat('binary', true);
  ajv.addFormat('password', true);
}

/**
 * A whole file converted for request validation: schemas where OpenAPI puts them (`schema` keys,
 * `components.schemas`), or, in files that are not OpenAPI documents, anything that looks like a schema.
 */
function convertTree(
  node: unknown,
  opts: Parameters<typeof convertSchema>[1],
  isRoot: boolean,
  depth: number,
  inSchemaMap: boolean,
): unknown {
  if (depth > 64) return node;
  if (Array.isArray(node)) return node.map((x) => convertTree(x, opts, isRoot, depth + 1, false));
  if (!isObj(node)) return node;
  if (inSchemaMap || (!isRoot && looksLikeSchema(node))) return convertSchema(node, opts);
  const out: Obj = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'schema' && (isObj(v) || typeof v === 'boolean')) out[k] = convertSchema(v, opts);
    else if (k === 'schemas' && depth === 1) {
      out[k] = isObj(v) ? Object.fromEntries(Object.entries(v).map(([n, s]) => [n, convertSchema(s, opts)])) : v;
    } else if (k === 'examples' || k === 'example' || k.startsWith('x-')) out[k] = v;
    else out[k] = convertTree(v, opts, isRoot, depth + 1, false);
  }
  return out;
}

function looksLikeSchema(o: Obj): boolean {
  return (
    typeof o.type === 'string' ||
    Array.isArray(o.type) ||
    isObj(o.properties) ||
    Array.isArray(o.allOf) ||
    Array.isArray(o.anyOf) ||
    Array.isArray(o.oneOf) ||
    Array.isArray(o.enum)
  );
}
