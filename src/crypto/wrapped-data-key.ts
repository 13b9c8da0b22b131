import { decodeBase64 } from './base64.js';
import { KeyringError } from './errors.js';
import { isVersion } from './local-master-keys.js';
import type { WrappedDataKey } from './types.js';

/** Purpose names end up in the GCM aad between NUL separators and in logs; keep them plain. */
const PURPOSE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkPurpose(purpose: string): void {
  if (!PURPOSE.test(purpose)) {
    throw new KeyringError(
      'INVALID_PURPOSE',
      `invalid purpose ${JSON.stringify(purpose.slice(0, 80))}: use letters, digits, ".", "_" and "-" (at most 64)`,
    );
  }
}

/**
 * Checks what a KeyStateStore returned (a file someone edited, a table row): a bad entry fails here with where it
 * came from, not later as a puzzling decrypt error.
 */
export function parseWrappedDataKeys(value: unknown, origin: string): WrappedDataKey[] {
  if (!Array.isArray(value)) throw new KeyringError('BAD_STATE', `${origin}: expected a list of wrapped data keys`);
  const seen = new Set<string>();
  return value.map((v: unknown, i) => {
    const w = v as Partial<Record<keyof WrappedDataKey, unknown>> | null;
    const bad = (what: string) => new KeyringError('BAD_STATE', `${origin}: keys[${i}]: ${what}`);
    if (!w || typeof w !== 'object') throw bad('not an object');
    if (typeof w.purpose !== 'string' || !PURPOSE.test(w.purpose)) throw bad('"purpose" is missing or invalid');
    if (!isVersion(w.version)) throw bad('"version" must be an integer from 1');
    if (!isVersion(w.masterVersion)) throw bad('"masterVersion" must be an integer from 1');
    if (typeof w.wrapped !== 'string' || !decodeBase64(w.wrapped)) throw bad('"wrapped" must be base64');
    if (typeof w.createdAt !== 'string') throw bad('"createdAt" must be a string');
    const id = `${w.purpose}\u0000${w.version}`;
    if (seen.has(id)) throw bad(`purpose "${w.purpose}" version ${w.version} appears twice`);
    seen.add(id);
    return {
      purpose: w.purpose,
      version: w.version,
      masterVersion: w.masterVersion,
      wrapped: w.wrapped,
      createdAt: w.createdAt,
    };
  });
}
