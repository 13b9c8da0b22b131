import type { PolicyServices } from '../core/policy.js';
import type { LoadedDocument, LoadOptions } from './document.js';
import { loadOpenApiSync } from './index.js';
import { RequestValidator } from './validator.js';

/** Documents kept across reloads (one per spec file and base path in use). */
const MAX_CACHED = 16;

/**
 * Loaded documents with their compiled validators, kept across config reloads (env.services.shared) and reused
 * while no file of the document changed on disk (size and mtime of every file its $refs reach). Validators compile
 * per operation on first use, so sharing them keeps that work across reloads too.
 */
export class OpenApiCache {
  readonly #entries = new Map<string, RequestValidator>();

  get(file: string, opts: LoadOptions = {}): RequestValidator {
    const key = `${file}\n${opts.basePath ?? '\u0000'}`;
    const hit = this.#entries.get(key);
    if (hit?.doc.files.fresh()) return hit;
    const v = new RequestValidator(loadOpenApiSync(file, opts));
    this.#entries.delete(key);
    if (this.#entries.size >= MAX_CACHED) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, v);
    return v;
  }
}

const KEY = 'openapi:documents';

/** The process-wide validator for a document (request-validation uses it). `file` must be absolute. */
export function sharedValidator(services: PolicyServices, file: string, opts: LoadOptions = {}): RequestValidator {
  return services.shared(KEY, () => new OpenApiCache()).get(file, opts);
}

/**
 * The process-wide loaded document for a file, shared with request-validation and kept across reloads while the
 * files are unchanged: for policies that read a document at create (e.g. response schemas). `file` must be absolute.
 */
export function sharedOpenApi(services: PolicyServices, file: string, opts: LoadOptions = {}): LoadedDocument {
  return sharedValidator(services, file, opts).doc;
}
