import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJsonSafely } from '../policies/json-limits/scan.js';
import type { LoadedDocument } from './document.js';
import type { RequestValidator, ValidateSwitches, ValidationResult } from './validator.js';

/** Test-only helpers for the openapi module's tests (not used by the gateway). */

export const ALL: ValidateSwitches = {
  path: true,
  query: true,
  headers: true,
  cookies: true,
  body: true,
  allowUnknownQuery: false,
};

export interface Req {
  headers?: Record<string, string>;
  body?: string | Buffer;
  contentType?: string;
}

/** Validates `METHOD /path?query` against a document: the lookup's outcome or the validator's result. */
export async function check(
  v: RequestValidator,
  method: string,
  url: string,
  r: Req = {},
  sw: ValidateSwitches = ALL,
): Promise<ValidationResult | { kind: 'none' } | { kind: 'method'; allow: string[] }> {
  const doc: LoadedDocument = v.doc;
  const q = url.indexOf('?');
  const l = doc.lookup(method, q === -1 ? url : url.slice(0, q));
  if (l.kind !== 'found') return l;
  const body = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body);
  const headers: Record<string, string> = { ...(r.headers ?? {}) };
  if (r.contentType) headers['content-type'] = r.contentType;
  return v.validate(
    l.op,
    {
      pathParams: l.params,
      query: q === -1 ? '' : url.slice(q + 1),
      headers,
      hasBody: body !== undefined && body.length > 0,
      contentType: r.contentType,
      readBody: async () => body ?? Buffer.alloc(0),
      parseJson: (b) => parseJsonSafely(b),
    },
    sw,
  );
}

/** A folder with the given files (relative name → text), for documents split across files. */
export function specDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-openapi-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
