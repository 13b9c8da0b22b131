import { createHash, hash as oneShotHash } from 'node:crypto';
import type { AuditEvent } from './types.js';

/**
 * One line of a segment file: the event with its place in the hash chain, written as
 * `{"seq":N,"prev":"<hex>","event":{...},"hash":"<hex>"}` where `hash` = SHA-256 (hex) over the line's own bytes up to
 * `,"hash"` (so a verifier in any language hashes bytes, with no JSON canonicalisation to agree on). `prev` is the
 * previous record's hash (GENESIS for the chain's first record), so changing, removing, inserting or moving any
 * record breaks every later link.
 */
export interface AuditRecord {
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
  readonly event: AuditEvent;
}

export const GENESIS = '0'.repeat(64);

/**
 * System records that carry an Ed25519 signature over the chain state before them (`detail.upto_seq`,
 * `detail.upto_hash`): periodic checkpoints, starts, recoveries after a crash, clean stops, segment closes and
 * retention deletions. They reach the SIEM sinks like every event, so a copy of the signed state lives off the node.
 */
export const SIGNED_TYPES: ReadonlySet<string> = new Set([
  'audit.checkpoint',
  'audit.start',
  'audit.recovered',
  'audit.stop',
  'audit.segment.close',
  'audit.retention.delete',
]);

/** JSON with object keys sorted at every level (RFC 8785 for the values events hold: strings, finite numbers). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** A record with the exact line it is written as. */
export interface WrittenRecord extends AuditRecord {
  readonly line: string;
}

/** `,"hash":"` + 64 hex digits + `"}`. */
const HASH_TAIL = 75;

export function makeRecord(seq: number, prev: string, event: AuditEvent): WrittenRecord {
  const body = `{"seq":${seq},"prev":${JSON.stringify(prev)},"event":${JSON.stringify(event)}`;
  // One-shot hash: no Hash object per record (this runs once per request).
  const hash = oneShotHash('sha256', body, 'hex');
  return { seq, prev, hash, event, line: `${body},"hash":"${hash}"}` };
}

/**
 * Parses one line: the record, and whether its hash matches the line's bytes (false for any edit, even one that
 * leaves the JSON equal, such as added spaces). Null when the line is not a record at all.
 */
export function parseLine(line: string): { record: AuditRecord; hashOk: boolean } | null {
  let r: AuditRecord;
  try {
    r = JSON.parse(line) as AuditRecord;
  } catch {
    return null;
  }
  if (typeof r !== 'object' || r === null || typeof r.seq !== 'number' || typeof r.hash !== 'string' || !r.event)
    return null;
  const tail = line.slice(line.length - HASH_TAIL);
  const ok =
    line.length > HASH_TAIL &&
    tail === `,"hash":"${r.hash}"}` &&
    oneShotHash('sha256', line.slice(0, line.length - HASH_TAIL), 'hex') === r.hash;
  return { record: r, hashOk: ok };
}

/** What a signed record's signature covers: the chain's state just before it. */
export function signedMessage(chain: string, uptoSeq: number, uptoHash: string): Buffer {
  return Buffer.from(`rampart-audit-v1\n${chain}\n${uptoSeq}\n${uptoHash}`, 'utf8');
}

/** SHA-256 hex of a value's canonical JSON: the before/after digests of change events. */
export function digestOf(v: unknown): string {
  return createHash('sha256').update(canonicalJson(v)).digest('hex');
}
