import { remembered } from './detectors/common.js';

/**
 * Bounded readers that turn a request into (location, raw value) pairs: query strings and forms, cookies, JSON
 * (walked to a bounded depth and count), multipart/form-data (hand parser over the buffered body), XML (text and
 * attribute values; the document as a whole goes to the XXE detector). Nothing here allocates more than the input.
 */

/** Built by rawValue() only (below): every field is always there, so every RawValue has one shape. */
export interface RawValue {
  readonly location: string;
  /** Lower-case parameter / header / cookie / key name ("" for the path and whole bodies). */
  readonly name: string;
  readonly raw: string;
  readonly isKey: boolean;
  /** `+` means space (query strings and forms). */
  readonly plus: boolean;
  /** Already decoded by its format (JSON strings): percent decoding is still applied, once. */
  readonly decoded: boolean;
  /** JSON object keys: the key's value as JSON, truncated to 64 characters. */
  readonly keyValue: string | undefined;
  /** rawFlags(raw), where the reader computed them (json-values.ts). */
  readonly flags: number | undefined;
  /** raw.toLowerCase(), where the reader made it (json-values.ts). */
  readonly lower: string | undefined;
}

/**
 * Every RawValue is built here, with all its fields in one order. The engine reads them at a few sites, which then see
 * one object shape: literals with different optional fields made those reads megamorphic (a generic lookup per field)
 * once traffic of many kinds had passed.
 */
export function rawValue(
  location: string,
  name: string,
  raw: string,
  isKey: boolean,
  plus: boolean,
  decoded = false,
  keyValue?: string,
  flags?: number,
  lower?: string,
): RawValue {
  return { location, name, raw, isKey, plus, decoded, keyValue, flags, lower };
}

/** Most values taken from one request; the rest are not inspected (and a finding says so). */
export const MAX_VALUES = 1000;
const MAX_JSON_DEPTH = 32;
const MAX_PARTS = 64;

/**
 * A bracket key's operand decides how bad an operator is (password[$ne]= vs price[$lt]=100): a short preview of the
 * value for a name with a `$` in it, raw or percent-encoded.
 */
function keyOperand(rawName: string, rawValue: string, plus: boolean): string | undefined {
  return rawName.indexOf('$') === -1 && rawName.indexOf('%24') === -1 ? undefined : operandPreview(rawValue, plus);
}

/** Splits "a=1&b=2" into names and values (raw, still encoded). */
export function splitPairs(qs: string, sep: string, loc: string, out: RawValue[], plus: boolean): void {
  if (!qs) return;
  let from = 0;
  const n = qs.length;
  while (from <= n && out.length < MAX_VALUES) {
    let end = qs.indexOf(sep, from);
    if (end === -1) end = n;
    const pair = qs.slice(from, end);
    from = end + 1;
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const rawName = (eq === -1 ? pair : pair.slice(0, eq)).trim();
    const rawText = eq === -1 ? '' : pair.slice(eq + 1);
    let name = rawName;
    try {
      name = decodeURIComponent(plus ? rawName.replaceAll('+', ' ') : rawName);
    } catch {
      // Leave a malformed name as it is.
    }
    const lname = name.toLowerCase().slice(0, 128);
    const location = `${loc}.${lname}`;
    const keyValue = keyOperand(rawName, rawText, plus);
    if (rawName) out.push(rawValue(location, lname, rawName, true, plus, false, keyValue));
    if (rawText) out.push(rawValue(location, lname, rawText, false, plus));
    else if (eq === -1 && rawName) out.push(rawValue(location, lname, rawName, false, plus));
  }
}

/** The characters of a plain token: letters, digits and . , @ - (a table read per character, one branch). */
/** The bytes of a plain token (read-only outside this file; json-values.ts copies it). */
export const PLAIN = new Uint8Array(128);
for (const r of ['az', 'AZ', '09']) for (let c = r.charCodeAt(0); c <= r.charCodeAt(1); c++) PLAIN[c] = 1;
for (const ch of '.,@-') PLAIN[ch.charCodeAt(0)] = 1;

/** /^[a-zA-Z0-9.,@-]{0,256}$/ as a loop: most JSON strings are short, and a regex call costs more than the scan. */
export function plainToken(s: string): boolean {
  const n = s.length;
  if (n > 256) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || PLAIN[c] === 0) return false;
  }
  return true;
}

function operandPreview(raw: string, plus: boolean): string {
  let v = raw;
  try {
    v = decodeURIComponent(plus ? raw.replaceAll('+', ' ') : raw);
  } catch {
    // Keep the raw text.
  }
  if (v === '') return '""';
  if (/^-?\d+(?:\.\d+)?$/.test(v)) return v;
  if (v === 'null' || v === 'true' || v === 'false') return v;
  return JSON.stringify(v.slice(0, 32));
}

/** keyShape bits: the key may carry an attack ($..., __, [, "rototype"); has A-Z; needs JSON-pointer escaping. */
export const KEY_SUSPECT = 1;
const KEY_UPPER = 2;
const KEY_ESCAPE = 4;

/**
 * keyShape's table: A-Z, "[", "~" and "/" set their bit; "_" (KEY_LOW) counts only after another "_". Blanks, markup,
 * quotes, shell and SQL punctuation and control characters make a key suspect too: a key can carry any payload a value can
 * (an application that echoes an unknown field's name echoes `<img src=x onerror=...>`).
 */
const KEY_LOW = 8;
/** Read-only outside this file (json-values.ts copies its suspect bytes). */
export const KEY_CHAR = new Uint8Array(128);
for (let c = 65; c <= 90; c++) KEY_CHAR[c] = KEY_UPPER;
for (let c = 0; c <= 32; c++) KEY_CHAR[c] = KEY_SUSPECT;
for (const ch of `<>'"();\`|{}\\&#`) KEY_CHAR[ch.charCodeAt(0)] = KEY_SUSPECT;
KEY_CHAR[91] = KEY_SUSPECT;
KEY_CHAR[126] = KEY_ESCAPE;
KEY_CHAR[47] = KEY_ESCAPE;
KEY_CHAR[95] = KEY_LOW;

/** One pass over a JSON key instead of a handful of indexOf calls and a toLowerCase copy per key. */
export function keyShape(key: string): number {
  const n = key.length;
  let shape = key.charCodeAt(0) === 36 || (n >= 8 && key.indexOf('rototype') !== -1) ? KEY_SUSPECT : 0;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    // Non-ASCII letters have case too: leave them to toLowerCase.
    if (c > 127) shape |= KEY_UPPER;
    else {
      const t = KEY_CHAR[c] as number;
      if (t === KEY_LOW) {
        if (prev === 95) shape |= KEY_SUSPECT;
      } else shape |= t;
    }
    prev = c;
  }
  return shape;
}

/**
 * An API's bodies use the same few dozen keys request after request (JSON.parse hands them over internalized, their
 * hash computed): their shapes are remembered, bounded (cleared when full; long keys are not kept).
 */
export const cachedKeyShape = remembered(keyShape, 4096, 64);

/** True when for-in over `o` lists nothing (no enumerable property, own or inherited). */
function noEnumerable(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

/** Walks parsed JSON: string values and object keys, with JSON-pointer locations. */
export function walkJson(doc: unknown, out: RawValue[]): void {
  const cleanPrototype = noEnumerable(Object.prototype);
  const visit = (node: unknown, ptr: string, parentKey: string, depth: number) => {
    if (out.length >= MAX_VALUES) return;
    if (typeof node === 'string') {
      // One word of letters, digits and . , @ - (ids, SKUs, e-mails, versions) cannot hold an attack: not even a value.
      // (Underscores stay: a "__proto__.x" path is one word.)
      if (plainToken(node) && node.indexOf('rototype') === -1) return;
      out.push(rawValue(`body.${ptr || '/'}`, parentKey, node, false, false, true));
      return;
    }
    if (depth >= MAX_JSON_DEPTH || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length && out.length < MAX_VALUES; i++) {
        const item = node[i];
        if (item === null || (typeof item !== 'object' && typeof item !== 'string')) continue;
        visit(item, `${ptr}/${i}`, parentKey, depth + 1);
      }
      return;
    }
    // for-in reads values through V8's enum cache (Object.keys + obj[key] is a megamorphic keyed load per key). It
    // also lists inherited enumerable properties, which Object.keys does not: with a clean Object.prototype (JSON.parse
    // builds plain objects) there are none, otherwise each key is checked.
    const own = cleanPrototype && Object.getPrototypeOf(node) === Object.prototype;
    for (const key in node as object) {
      if (!own && !Object.hasOwn(node as object, key)) continue;
      if (out.length >= MAX_VALUES) return;
      const child0 = (node as Record<string, unknown>)[key];
      // Only keys that can carry an attack become values: operators ($ne), __proto__, constructor.prototype.
      const shape = cachedKeyShape(key);
      if (!(shape & KEY_SUSPECT)) {
        // Numbers, booleans, null and plain one-word strings hold nothing: skip them before building their pointer.
        if (child0 === null || (typeof child0 !== 'object' && typeof child0 !== 'string')) continue;
        const str = typeof child0 === 'string';
        if (str && plainToken(child0) && child0.indexOf('rototype') === -1) continue;
        const lk = key.length > 128 ? key.slice(0, 128).toLowerCase() : shape & KEY_UPPER ? key.toLowerCase() : key;
        const esc0 = shape & KEY_ESCAPE ? key.replaceAll('~', '~0').replaceAll('/', '~1') : key;
        // A string here is one visit() would push (it was just found not plain): push it without a second scan.
        if (str) out.push(rawValue(`body.${ptr}/${esc0}`, lk, child0, false, false, true));
        else visit(child0, `${ptr}/${esc0}`, lk, depth + 1);
        continue;
      }
      const lkey = key.toLowerCase().slice(0, 128);
      const esc =
        key.indexOf('~') === -1 && key.indexOf('/') === -1 ? key : key.replaceAll('~', '~0').replaceAll('/', '~1');
      const p = `${ptr}/${esc}`;
      // "constructor" → "prototype" only means pollution together: the key carries its parent then.
      const keyText = lkey === 'prototype' && parentKey === 'constructor' ? 'constructor.prototype' : key;
      const child = (node as Record<string, unknown>)[key];
      // Keys are named after the field they sit in: {"password": {"$ne": 1}} gives "$ne" the name "password".
      const keyValue = key.startsWith('$') ? jsonPreview(child) : undefined;
      out.push(rawValue(`body.${p}`, key.startsWith('$') ? parentKey : lkey, keyText, true, false, true, keyValue));
      visit((node as Record<string, unknown>)[key], p, lkey, depth + 1);
    }
  };
  visit(doc, '', '', 0);
}

function jsonPreview(v: unknown): string {
  if (v === null || typeof v !== 'object') return String(JSON.stringify(v) ?? '').slice(0, 64);
  if (Array.isArray(v)) return `[${v.length}]`;
  return `{${Object.keys(v as object)
    .slice(0, 4)
    .join(',')}}`;
}

/** Parses `a=b; c=d` cookie headers. */
export function splitCookies(header: string, out: RawValue[]): void {
  for (const part of header.split(';')) {
    if (out.length >= MAX_VALUES) return;
    const eq = part.indexOf('=');
    // A pair without "=" is a value with an empty name to browsers and to most cookie parsers.
    if (eq === -1) {
      const value = part.trim();
      if (value) out.push(rawValue('cookie.', '', value, false, false));
      continue;
    }
    const rawName = part.slice(0, eq).trim();
    const name = rawName.toLowerCase().slice(0, 128);
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    // The name too, as query names are: frameworks that read `a[$ne]=` in a query read it in a cookie as well.
    if (rawName) {
      const keyValue = keyOperand(rawName, value, false);
      out.push(rawValue(`cookie.${name}`, name, rawName, true, false, false, keyValue));
    }
    if (value) out.push(rawValue(`cookie.${name}`, name, value, false, false));
  }
}

const PARAM_RE: Record<string, RegExp> = Object.fromEntries(
  ['name', 'filename', 'boundary'].map((k) => [
    k,
    new RegExp(`(?:^|;)\\s*${k}\\*?=\\s*(?:"([^"]{0,512})"|([^;\\s]{0,512}))`, 'i'),
  ]),
);

function headerParam(h: string, key: 'name' | 'filename' | 'boundary'): string | null {
  const m = (PARAM_RE[key] as RegExp).exec(h);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

/** Returns the multipart boundary of a content type, or null. */
export function boundaryOf(contentType: string): string | null {
  const b = headerParam(contentType, 'boundary');
  return b && b.length <= 200 ? b : null;
}

export interface Part {
  readonly name: string;
  readonly filename: string | null;
  readonly contentType: string;
  readonly body: string;
}

const FILENAME_TAIL = /;\s*filename\s*=\s*"(.{0,512})"\s*$/i;

/**
 * The filename as a lax parser would take it: everything between the first and the last quote of the header, so
 * that `filename=";c""at${IFS}/etc/passwd"` is inspected whole, not cut at the embedded quotes.
 */
function rawFilename(disposition: string): string | null {
  const m = FILENAME_TAIL.exec(disposition);
  return m && (m[1] as string).includes('"') ? (m[1] as string) : null;
}

/** A bounded multipart/form-data parser: up to MAX_PARTS parts, headers up to 8 KiB each. */
export function parseMultipart(body: string, boundary: string): Part[] {
  const parts: Part[] = [];
  const delim = `--${boundary}`;
  let pos = body.indexOf(delim);
  while (pos !== -1 && parts.length < MAX_PARTS) {
    let start = pos + delim.length;
    if (body.startsWith('--', start)) break;
    if (body.startsWith('\r\n', start)) start += 2;
    else if (body[start] === '\n') start += 1;
    const next = body.indexOf(delim, start);
    // (A part's header block is bounded below; its body is whatever lies before the next delimiter.)
    const chunk = body.slice(start, next === -1 ? body.length : next);
    let headEnd = chunk.indexOf('\r\n\r\n');
    let sepLen = 4;
    if (headEnd === -1) {
      headEnd = chunk.indexOf('\n\n');
      sepLen = 2;
    }
    if (headEnd !== -1 && headEnd <= 8192) {
      const head = chunk.slice(0, headEnd);
      let content = chunk.slice(headEnd + sepLen);
      if (content.endsWith('\r\n')) content = content.slice(0, -2);
      else if (content.endsWith('\n')) content = content.slice(0, -1);
      let disposition = '';
      let ctype = '';
      // Header lines end with CRLF; a bare LF inside a quoted filename is part of the value.
      for (const line of head.includes('\r\n') ? head.split('\r\n') : head.split('\n')) {
        const c = line.indexOf(':');
        if (c === -1) continue;
        const k = line.slice(0, c).trim().toLowerCase();
        if (k === 'content-disposition') disposition = line.slice(c + 1);
        else if (k === 'content-type')
          ctype = line
            .slice(c + 1)
            .trim()
            .toLowerCase();
      }
      parts.push({
        name: (headerParam(disposition, 'name') ?? '').toLowerCase(),
        filename: rawFilename(disposition) ?? headerParam(disposition, 'filename'),
        contentType: ctype,
        body: content,
      });
    }
    pos = next;
  }
  return parts;
}

/** Text nodes and attribute values of an XML document (a bounded scan, not a parser). */
const XML_TEXT = />([^<]{1,4096})</g;
const XML_ATTR = /\s([a-zA-Z_][\w:.-]{0,64})\s*=\s*(?:"([^"]{0,4096})"|'([^']{0,4096})')/g;

export function xmlValues(xml: string, out: RawValue[]): void {
  const text = XML_TEXT;
  const attr = XML_ATTR;
  text.lastIndex = 0;
  attr.lastIndex = 0;
  for (let c = 0; c < MAX_VALUES; c++) {
    const m = text.exec(xml);
    if (!m) break;
    const v = (m[1] as string).trim();
    if (v) out.push(rawValue('body.xml', '', v, false, false, false));
  }
  for (let c = 0; c < MAX_VALUES; c++) {
    const m = attr.exec(xml);
    if (!m) break;
    const v = m[2] ?? m[3] ?? '';
    const name = (m[1] as string).toLowerCase();
    if (v && !name.startsWith('xmlns')) out.push(rawValue(`body.@${name}`, name, v, false, false));
  }
  // CDATA sections are text too (`<q><![CDATA[' or 1=1--]]></q>`), which XML_TEXT does not see inside their "<".
  // indexOf from one section to the next: linear, and a section with no end stops the search.
  for (let c = 0, from = 0; c < MAX_VALUES; c++) {
    const i = xml.indexOf('<![CDATA[', from);
    if (i === -1) break;
    const end = xml.indexOf(']]>', i + 9);
    if (end === -1) break;
    const v = xml.slice(i + 9, Math.min(end, i + 9 + 4096)).trim();
    if (v) out.push(rawValue('body.xml', '', v, false, false, true));
    from = end + 3;
  }
}
