import { inspectRequest } from './engine.js';
import type { AttackClass, InspectReport } from './types.js';

/** Helpers for the detector tests: put a value where a client would and inspect the request. */

export function inQuery(value: string, name = 'q'): InspectReport {
  return inspectRequest({
    method: 'GET',
    path: '/api/items',
    query: `${name}=${encodeURIComponent(value)}`,
    headers: {},
  });
}

export function inJson(doc: unknown): InspectReport {
  return inspectRequest({
    method: 'POST',
    path: '/api/items',
    query: '',
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify(doc)),
  });
}

export function inHeader(name: string, value: string): InspectReport {
  return inspectRequest({ method: 'GET', path: '/api/items', query: '', headers: { [name]: value } });
}

/** True when the report is an attack with a finding of the class. */
export function detects(r: InspectReport, cls: AttackClass): boolean {
  return r.attack && r.findings.some((f) => f.class === cls);
}

/** A fixed-seed generator of numbers in [0, 1): the differential tests' inputs are the same on every run. */
export function generator(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff;
    // 2^31: s is below it, so the result is below 1 (an index drawn with it stays in range).
    return s / 0x80000000;
  };
}

/** `count` values of 1 to 12 pieces each, drawn with `generator(seed)`: the fast-path tests' generated inputs. */
export function generatedValues(pieces: readonly string[], count: number, seed = 7): string[] {
  const rnd = generator(seed);
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    let v = '';
    const len = 1 + Math.floor(rnd() * 12);
    for (let i = 0; i < len; i++) v += pieces[Math.floor(rnd() * pieces.length)];
    out.push(v);
  }
  return out;
}
