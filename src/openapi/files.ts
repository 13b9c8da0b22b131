import { readFileSync, statSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { getPointer, pointerParts, SpecError } from './convert.js';

/** Bounds on what one document may pull in: these are config files, but a typo must not read the disk whole. */
export const MAX_SPEC_FILES = 64;
export const MAX_SPEC_FILE_BYTES = 64 * 1024 * 1024;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface SpecFile {
  /** Absolute path. */
  readonly path: string;
  readonly doc: unknown;
  readonly mtimeMs: number;
  readonly size: number;
}

/** Where a $ref points: the file (absolute path) and the pointer's segments inside it. */
export interface RefTarget {
  readonly file: string;
  readonly parts: readonly string[];
}

/** A document and every file its $refs reach, read once (no network: http(s) refs are refused). */
export class SpecFiles {
  readonly files = new Map<string, SpecFile>();
  readonly root: SpecFile;

  constructor(file: string) {
    this.root = this.#read(resolve(file));
    // Follow relative-file refs breadth first, bounded by MAX_SPEC_FILES.
    const queue: SpecFile[] = [this.root];
    while (queue.length) {
      const f = queue.shift() as SpecFile;
      for (const ref of collectRefs(f.doc)) {
        const hash = ref.indexOf('#');
        const rel = hash === -1 ? ref : ref.slice(0, hash);
        if (rel === '') continue;
        if (/^[a-z][a-z0-9+.-]*:/i.test(rel)) {
          throw new SpecError(`${f.path}: $ref "${ref.slice(0, 200)}" is not a local or relative file reference`);
        }
        const abs = resolve(dirname(f.path), decodeURIComponent(rel));
        if (this.files.has(abs)) continue;
        if (this.files.size >= MAX_SPEC_FILES) throw new SpecError(`more than ${MAX_SPEC_FILES} files referenced`);
        queue.push(this.#read(abs));
      }
    }
  }

  #read(path: string): SpecFile {
    let st: ReturnType<typeof statSync>;
    let text: string;
    try {
      st = statSync(path);
      if (st.size > MAX_SPEC_FILE_BYTES) throw new SpecError(`${path}: larger than ${MAX_SPEC_FILE_BYTES} bytes`);
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if (e instanceof SpecError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new SpecError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(e))}`);
    }
    let doc: unknown;
    try {
      const json = extname(path).toLowerCase() === '.json' || /^\s*\{/.test(text.slice(0, 64));
      doc = json ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 100, uniqueKeys: true });
    } catch (e) {
      throw new SpecError(`${path}: not valid JSON or YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    const f: SpecFile = { path, doc, mtimeMs: st.mtimeMs, size: st.size };
    this.files.set(path, f);
    return f;
  }

  /** True when no file changed on disk since it was read (size and mtime). */
  fresh(): boolean {
    for (const f of this.files.values()) {
      try {
        const st = statSync(f.path);
        if (st.mtimeMs !== f.mtimeMs || st.size !== f.size) return false;
      } catch {
        return false;
      }
    }
    return true;
  }

  /** Where a $ref written in `fromFile` points. */
  target(ref: string, fromFile: string): RefTarget {
    const hash = ref.indexOf('#');
    const rel = hash === -1 ? ref : ref.slice(0, hash);
    const parts = pointerParts(hash === -1 ? '' : ref.slice(hash));
    if (parts === null) throw new SpecError(`$ref "${ref.slice(0, 200)}": only JSON pointer fragments are supported`);
    return { file: rel === '' ? fromFile : resolve(dirname(fromFile), decodeURIComponent(rel)), parts };
  }

  /** The value a $ref points at, or a SpecError naming the ref. */
  get(t: RefTarget): unknown {
    const f = this.files.get(t.file);
    const v = f === undefined ? undefined : getPointer(f.doc, t.parts);
    if (v === undefined) throw new SpecError(`$ref target not found: ${t.file}#/${t.parts.join('/')}`.slice(0, 300));
    return v;
  }

  /**
   * Follows $ref chains of non-schema objects (path items, parameters, request bodies, responses) to the object
   * itself, and says where it lives (file and pointer), since refs inside it are relative to that place.
   */
  resolveObject(v: unknown, at: RefTarget): { value: unknown; at: RefTarget } {
    for (let i = 0; i < 32; i++) {
      if (!isObj(v) || typeof v.$ref !== 'string') return { value: v, at };
      at = this.target(v.$ref, at.file);
      v = this.get(at);
    }
    throw new SpecError('$ref chain longer than 32 (a cycle?)');
  }
}

/** Every $ref string in a document, iteratively (no recursion limit on deep documents). */
export function collectRefs(doc: unknown): Set<string> {
  const out = new Set<string>();
  const stack: unknown[] = [doc];
  while (stack.length) {
    const v = stack.pop();
    if (Array.isArray(v)) stack.push(...v);
    else if (isObj(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (k === '$ref' && typeof x === 'string') out.add(x);
        else if (typeof x === 'object' && x !== null) stack.push(x);
      }
    }
  }
  return out;
}
