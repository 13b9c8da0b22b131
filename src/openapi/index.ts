/**
 * OpenAPI 3.0 / 3.1 documents: load (YAML or JSON, relative-file $refs), match a request to its operation, and the
 * response schema an operation declares. Request validation builds on this (src/openapi/validator.ts, used by the
 * request-validation policy); response protection reads `responseSchema`.
 */
import { LoadedDocument, type LoadOptions, type OpenApiDocument } from './document.js';

export { SpecError } from './convert.js';
export type { LoadOptions, MatchedOperation, OpenApiDocument } from './document.js';

/** Reads and indexes a document; throws SpecError (with the file and what is wrong) on a bad one. */
export function loadOpenApiSync(file: string, opts: LoadOptions = {}): LoadedDocument {
  return new LoadedDocument(file, opts);
}

export async function loadOpenApi(file: string, opts: LoadOptions = {}): Promise<OpenApiDocument> {
  return loadOpenApiSync(file, opts);
}

export { LoadedDocument };
