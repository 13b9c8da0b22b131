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
