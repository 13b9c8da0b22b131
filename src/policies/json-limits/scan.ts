import { isUtf8 } from 'node:buffer';
import { pointerSegment } from '../../openapi/pointer.js';

/** Structural limits on one JSON document. */
export interface JsonLimits {
  /** Deepest nesting of objects and arrays. */
  readonly maxDepth: number;
  /** Most keys in one object. */
  readonly maxKeys: number;
  /** Most items in one array. */
  readonly maxArrayLength: number;
  /** Longest string (key or value), in bytes as sent (escapes counted as written). */
  readonly maxStringBytes: number;
  /** Largest document in bytes. */
  readonly maxTotalBytes: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = {
  maxDepth: 32,
  maxKeys: 1000,
  maxArrayLength: 10_000,
  maxStringBytes: 1024 * 1024,
  maxTotalBytes: 8 * 1024 * 1024,
};

export type JsonProblemKind =
  | 'size'
  | 'depth'
  | 'keys'
  | 'array'
  | 'string'
  | 'duplicate-key'
  | 'proto-key'
  | 'nul'
  | 'unicode'
  | 'malformed';

/** Why a body was refused: what and where (a JSON pointer into the document, truncated), never the value. */
export class JsonProblem extends Error {
  override name = 'JsonProblem';
  constructor(
    readonly kind: JsonProblemKind,
    message: string,
    readonly pointer: string,
  ) {
    super(message);
  }

  /** Limits (size, depth, counts, lengths) are "too large"; the rest is an unsafe or broken document. */
  get isLimit(): boolean {
    return (
      this.kind === 'size' ||
      this.kind === 'depth' ||
      this.kind === 'keys' ||
      this.kind === 'array' ||
      this.kind === 'string'
    );
  }
}

interface Frame {
  readonly isObject: boolean;
  /** The key this container sits under in its parent object (for constructor.prototype), or null. */
  readonly parentKey: string | null;
  /** Keys seen (objects) or items (arrays) so far. */
  count: number;
  /** Objects: the next string is a key. */
  expectKey: boolean;
  /** Objects: the last key read (for pointers and the parent key of children). */
  key: string | null;
  keys: string[] | Set<string> | null;
}

const Q = 0x22; // "
const BS = 0x5c; // \
const MAX_POINTER = 200;

/**
 * Checks a JSON document's structure in one pass over its bytes, before JSON.parse builds it: the limits, duplicate
 * keys (parsers disagree on which one wins, the classic validation bypass), prototype-pollution keys (`__proto__`,
 * `constructor.prototype`), NUL (raw or escaped), invalid UTF-8 and lone surrogate escapes (which decoders replace
 * or keep differently). Linear in the size; syntax errors are left to JSON.parse, which runs next. Throws a
 * JsonProblem.
 */
export function scanJson(buf: Buffer, limits: JsonLimits = DEFAULT_JSON_LIMITS): void {
  const stack: Frame[] = [];
  const fail = (kind: JsonProblemKind, message: string): never => {
    throw new JsonProblem(kind, message, pointerOf(stack));
  };
  if (buf.length > limits.maxTotalBytes) fail('size', `The JSON body is larger than ${limits.maxTotalBytes} bytes.`);
  if (buf.includes(0)) fail('nul', 'The JSON body contains a NUL byte.');
  if (!isUtf8(buf)) fail('unicode', 'The JSON body is not valid UTF-8.');
  const n = buf.length;
  let i = 0;
  let nextBackslash = buf.indexOf(BS);
  // A value starts: count it in its array.
  const valueStart = () => {
    const top = stack[stack.length - 1];
    if (top && !top.isObject && ++top.count > limits.maxArrayLength) {
      fail('array', `An array has more than ${limits.maxArrayLength} items.`);
    }
  };
  while (i < n) {
    const c = buf[i] as number;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x3a /* : */) {
      i++;
      continue;
    }
    const top = stack[stack.length - 1];
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      valueStart();
      if (stack.length >= limits.maxDepth) fail('depth', `The JSON body is nested deeper than ${limits.maxDepth}.`);
      stack.push({
        isObject: c === 0x7b,
        parentKey: top?.isObject ? top.key : null,
        count: 0,
        expectKey: c === 0x7b,
        key: null,
        keys: null,
      });
      i++;
      continue;
    }
    if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      i++;
      continue;
    }
    if (c === 0x2c /* , */) {
      if (top?.isObject) top.expectKey = true;
      i++;
      continue;
    }
    if (c === Q) {
      const start = i;
      let escaped = false;
      i++;
      // Strings are most of a document: jump to the closing quote natively unless a backslash comes first.
      if (nextBackslash !== -1 && nextBackslash < i) nextBackslash = buf.indexOf(BS, i);
      const quote = buf.indexOf(Q, i);
      if (quote !== -1 && (nextBackslash === -1 || nextBackslash > quote)) i = quote;
      while (i < n) {
        const d = buf[i] as number;
        if (d === Q) break;
        if (d === BS) {
          escaped = true;
          if (buf[i + 1] === 0x75 /* u */) {
            const code = hex4(buf, i + 2);
            if (code === 0) fail('nul', 'A string contains an escaped NUL (\\u0000).');
            if (code >= 0xd800 && code <= 0xdbff) {
              const low = buf[i + 6] === BS && buf[i + 7] === 0x75 ? hex4(buf, i + 8) : -1;
              if (low < 0xdc00 || low > 0xdfff) fail('unicode', 'A string contains a lone surrogate escape.');
              i += 12;
              continue;
            }
            if (code >= 0xdc00 && code <= 0xdfff) fail('unicode', 'A string contains a lone surrogate escape.');
            i += 6;
            continue;
          }
          i += 2;
          continue;
        }
        i++;
      }
      const end = i; // at the closing quote (or n when unterminated: JSON.parse reports it)
      i++;
      if (end - start - 1 > limits.maxStringBytes)
        fail('string', `A string is longer than ${limits.maxStringBytes} bytes.`);
      if (top?.isObject && top.expectKey) {
        let key: string;
        try {
          key = escaped
            ? (JSON.parse(buf.toString('utf8', start, end + 1)) as string)
            : buf.toString('utf8', start + 1, end);
        } catch {
          throw new JsonProblem('malformed', 'The JSON body is malformed.', pointerOf(stack));
        }
        top.expectKey = false;
        top.key = key;
        if (++top.count > limits.maxKeys) fail('keys', `An object has more than ${limits.maxKeys} keys.`);
        if (key === '__proto__') fail('proto-key', 'The key "__proto__" is not allowed.');
        if (key === 'prototype' && top.parentKey === 'constructor') {
          fail('proto-key', 'The key "constructor.prototype" is not allowed.');
        }
        // Most objects are small: a list is cheaper than a Set until it grows.
        const keys = top.keys;
        if (keys === null) top.keys = [key];
        else if (Array.isArray(keys)) {
          if (keys.includes(key)) fail('duplicate-key', 'An object has a duplicate key.');
          if (keys.length < 16) keys.push(key);
          else top.keys = new Set([...keys, key]);
        } else {
          if (keys.has(key)) fail('duplicate-key', 'An object has a duplicate key.');
          keys.add(key);
        }
      } else valueStart();
      continue;
    }
    // A number or a literal: skip to the next delimiter.
    valueStart();
    i++;
    while (i < n) {
      const d = buf[i] as number;
      if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09 || d === 0x3a)
        break;
      i++;
    }
  }
}

function hex4(buf: Buffer, at: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const c = buf[at + k];
    if (c === undefined) return -1;
    const h =
      c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 87 : c >= 0x41 && c <= 0x46 ? c - 55 : -1;
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/** Where the scanner stands, as a JSON pointer (keys escaped, truncated), for the error's `pointer`. */
function pointerOf(stack: readonly Frame[]): string {
  let p = '';
  for (const f of stack) {
    if (f.isObject) {
      if (f.key !== null) p += `/${pointerSegment(f.key)}`;
    } else p += `/${Math.max(0, f.count - 1)}`;
    if (p.length > MAX_POINTER) return `${p.slice(0, MAX_POINTER)}…`;
  }
  return p;
}

/** scanJson, then JSON.parse: the parsed value, or a JsonProblem (malformed JSON included). */
export function parseJsonSafely(buf: Buffer, limits: JsonLimits = DEFAULT_JSON_LIMITS): unknown {
  scanJson(buf, limits);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw new JsonProblem('malformed', 'The JSON body is malformed.', '');
  }
}
