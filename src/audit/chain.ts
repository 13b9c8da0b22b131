import { createHash, hash as oneShotHash } from 'node:crypto';
import { eventJson } from './event-json.js';
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
  const body = recordHead(seq, prev, event);
  const hash = oneShotHash('sha256', body, 'hex');
  return { seq, prev, hash, event, line: `${body},"hash":"${hash}"}` };
}

/** A record's line up to its event: ASCII (`prev` is a hash in hex, or GENESIS). */
function lineHead(seq: number, prev: string): string {
  return `{"seq":${seq},"prev":"${prev}","event":`;
}

/** A record's line up to `,"hash"`: the bytes its hash covers. */
function recordHead(seq: number, prev: string, event: AuditEvent): string {
  return `${lineHead(seq, prev)}${eventJson(event)}`;
}

/** A batch or staging buffer's first size; past KEEP_BYTES an emptied one is replaced (one burst does not pin memory). */
const START_BYTES = 64 * 1024;
const KEEP_BYTES = 1024 * 1024;

/** A new batch or staging buffer. */
export function byteBuffer(): Buffer {
  return Buffer.allocUnsafeSlow(START_BYTES);
}

/** The buffer to keep once `buf` is empty: itself, or a new one if a burst grew it past KEEP_BYTES. */
export function keptBuffer(buf: Buffer): Buffer {
  return buf.length > KEEP_BYTES ? byteBuffer() : buf;
}

/** `buf` if `more` bytes fit after its first `used`, else a buffer doubled until they do, holding those bytes. */
export function withRoom(buf: Buffer, used: number, more: number): Buffer {
  if (buf.length - used >= more) return buf;
  let size = buf.length * 2;
  while (size - used < more) size *= 2;
  const next = Buffer.allocUnsafeSlow(size);
  buf.copy(next, 0, 0, used);
  return next;
}

/**
 * Encodes a batch of records straight into one reused buffer, the lines exactly as makeRecord writes them: each
 * line's bytes are encoded once and hashed where they lie (no line strings, no joined batch string, no buffer per
 * batch). The bytes of a batch stay valid until the next `reset`.
 */
export class RecordWriter {
  #buf = byteBuffer();
  #len = 0;
  #last = 0;

  /** Starts a new batch. */
  reset(): void {
    this.#buf = keptBuffer(this.#buf);
    this.#len = 0;
  }

  /** The batch's bytes so far (a view: valid until the next reset). */
  get bytes(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }

  /** Appends a record's line and newline; returns the record's hash. */
  append(seq: number, prev: string, event: AuditEvent): string {
    const body = recordHead(seq, prev, event);
    // UTF-8 takes at most 3 bytes per UTF-16 unit; the tail is 75 ASCII bytes and a newline.
    this.#buf = withRoom(this.#buf, this.#len, body.length * 3 + HASH_TAIL + 1);
    const start = this.#len;
    return this.#seal(start, start + this.#buf.write(body, start, 'utf8'));
  }

  /**
   * Appends the record of an event already serialised as eventJson writes it (UTF-8 bytes `src[from, to)`), the
   * line byte for byte what `append` writes for that event; returns the record's hash.
   */
  appendJson(seq: number, prev: string, src: Buffer, from: number, to: number): string {
    const head = lineHead(seq, prev);
    this.#buf = withRoom(this.#buf, this.#len, head.length + (to - from) + HASH_TAIL + 1);
    const start = this.#len;
    const at = start + this.#buf.write(head, start, 'latin1');
    return this.#seal(start, at + src.copy(this.#buf, at, from, to));
  }

  /** Hashes the line's bytes `[start, end)` where they lie and writes its tail. */
  #seal(start: number, end: number): string {
    const hash = oneShotHash('sha256', this.#buf.subarray(start, end), 'hex');
    this.#last = start;
    this.#len = end + this.#buf.write(`,"hash":"${hash}"}\n`, end, 'latin1');
    return hash;
  }

  /** The last appended line, without its newline (for the few records kept whole: signed ones). */
  lastLine(): string {
    return this.#buf.toString('utf8', this.#last, this.#len - 1);
  }
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
