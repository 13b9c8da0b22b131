import { decodeValue, MAX_VALUE_CHARS, MAY_DECODE } from './decode.js';
import { DEFAULT_HEADERS, DEFAULT_MAX_INSPECT_BYTES, DEFAULT_THRESHOLD } from './defaults.js';
import { cmdi } from './detectors/cmdi.js';
import {
  charFlags,
  type Detector,
  F,
  HIGH,
  type Hit,
  makeValue,
  PROSE_FLAGS,
  ProseIndex,
  rawFlags,
  remembered,
  type Value,
  type ValueKind,
} from './detectors/common.js';
import { jndi } from './detectors/jndi.js';
import { ldap } from './detectors/ldap.js';
import { nosqli } from './detectors/nosqli.js';
import { proto } from './detectors/proto.js';
import { sqli } from './detectors/sqli.js';
import { ssrf } from './detectors/ssrf.js';
import { ssti } from './detectors/ssti.js';
import { traversal } from './detectors/traversal.js';
import { xss } from './detectors/xss.js';
import { xxe } from './detectors/xxe.js';
import { JSON_VALUES_MAX, jsonValues, jsonValuesReady } from './json-values.js';
import {
  boundaryOf,
  cachedKeyShape,
  KEY_SUSPECT,
  MAX_VALUES,
  parseMultipart,
  type RawValue,
  rawValue,
  splitCookies,
  splitPairs,
  walkJson,
  xmlValues,
} from './parse.js';
import { ATTACK_CLASSES, type AttackClass, type Finding, type InspectReport, type InspectRequest } from './types.js';

export { DEFAULT_HEADERS, DEFAULT_MAX_INSPECT_BYTES, DEFAULT_THRESHOLD };

/** A false positive to ignore: a rule id ("sqli.tautology") or a class ("sqli"), optionally only at some locations. */
export interface Exclusion {
  /** Rule id or attack class; absent: every rule. */
  readonly rule?: string;
  /** Location glob: "query.q", "body./comments/*", "header.user-agent", "cookie.*". Absent: everywhere. */
  readonly location?: string;
}

export interface InspectOptions {
  readonly threshold?: number;
  readonly classes?: readonly AttackClass[];
  readonly path?: boolean;
  readonly query?: boolean;
  /** Header names (lower case) inspected with every detector. */
  readonly headers?: readonly string[];
  readonly cookies?: boolean;
  readonly body?: boolean;
  readonly exclusions?: readonly Exclusion[];
  /** Body bytes read at most. */
  readonly maxInspectBytes?: number;
  /**
   * How JSON bodies are read: 'wasm' (the default) clears them with json-values.ts and reads those with a finding
   * with JSON.parse; 'javascript' reads all with JSON.parse. Findings are the same; tests and benchmarks compare them.
   */
  readonly jsonReader?: 'wasm' | 'javascript';
}

/** A detector as the engine holds it: every field present, and its bit in PROSE_INDEX's answers. */
interface EngineDetector extends Detector {
  readonly bit: number;
}
/**
 * The detectors with every field present, in one order: the engine reads `needs` and calls `detect` on each for every
 * value, and objects of one shape keep those reads monomorphic (detectors that leave optional fields out differ).
 */
function uniform(d: Detector, i: number): EngineDetector {
  return {
    cls: d.cls,
    needs: d.needs,
    proseWords: d.proseWords,
    proseParts: d.proseParts ?? [],
    proseFlags: d.proseFlags ?? PROSE_FLAGS,
    proseReads: d.proseReads,
    detect: d.detect,
    bit: 1 << i,
  };
}
const ALL_DETECTORS: readonly EngineDetector[] = [
  sqli,
  nosqli,
  xss,
  cmdi,
  traversal,
  ssrf,
  xxe,
  jndi,
  ssti,
  ldap,
  proto,
].map(uniform);
/** Which detectors read a value of prose: bit i for ALL_DETECTORS[i] (the word lists are the same for every engine). */
const PROSE_INDEX = new ProseIndex(ALL_DETECTORS);

function globToRegExp(glob: string): RegExp {
  const esc = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*');
  return new RegExp(`^${esc}$`, 'i');
}

interface CompiledExclusion {
  readonly rule: string | null;
  readonly location: RegExp | null;
}

/** Options compiled once (exclusion globs, detector list): the policy builds one engine per config load. */
export class DetectionEngine {
  readonly threshold: number;
  private readonly detectors: readonly EngineDetector[];
  private readonly keyDetectors: readonly EngineDetector[];
  /** The rest: what a key with markup or code punctuation in it meets as well (ODD_KEY). */
  private readonly oddKeyDetectors: readonly EngineDetector[];
  private readonly headers: ReadonlySet<string>;
  private readonly headerGlob: RegExp | null;
  private readonly exclusions: readonly CompiledExclusion[];
  private readonly opts: Required<Pick<InspectOptions, 'path' | 'query' | 'cookies' | 'body' | 'maxInspectBytes'>>;
  private readonly jndiOn: boolean;
  private readonly jsonValuesOn: boolean;
  /** The enabled detectors' bits (PROSE_INDEX). */
  private readonly enabled: number;

  constructor(options: InspectOptions = {}) {
    this.threshold = options.threshold ?? DEFAULT_THRESHOLD;
    const classes = new Set(options.classes ?? ATTACK_CLASSES);
    this.detectors = ALL_DETECTORS.filter((d) => classes.has(d.cls));
    this.keyDetectors = this.detectors.filter((d) => d.cls === 'nosqli' || d.cls === 'proto');
    this.oddKeyDetectors = this.detectors.filter((d) => !this.keyDetectors.includes(d));
    this.enabled = this.detectors.reduce((bits, d) => bits | d.bit, 0);
    this.jndiOn = classes.has('jndi');
    const hs = (options.headers ?? [...DEFAULT_HEADERS, 'x-*']).map((h) => h.toLowerCase());
    this.headers = new Set(hs.filter((h) => !h.includes('*')));
    const globs = hs.filter((h) => h.includes('*'));
    this.headerGlob = globs.length
      ? new RegExp(`^(?:${globs.map((g) => g.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*')).join('|')})$`)
      : null;
    this.exclusions = (options.exclusions ?? []).map((e) => ({
      rule: e.rule ?? null,
      location: e.location ? globToRegExp(e.location) : null,
    }));
    this.jsonValuesOn =
      jsonValuesReady && options.jsonReader !== 'javascript' && this.exclusions.every((e) => e.location === null);
    this.opts = {
      path: options.path ?? true,
      query: options.query ?? true,
      cookies: options.cookies ?? true,
      body: options.body ?? true,
      maxInspectBytes: options.maxInspectBytes ?? DEFAULT_MAX_INSPECT_BYTES,
    };
  }

  /** True when the request carries a body this engine would read (by content type). */
  static inspectableBody(contentType: string | undefined): boolean {
    const ct = (contentType ?? '').toLowerCase();
    if (!ct) return true;
    return (
      ct.includes('json') ||
      ct.includes('xml') ||
      ct.startsWith('text/') ||
      ct.startsWith('application/x-www-form-urlencoded') ||
      ct.startsWith('multipart/form-data') ||
      ct.includes('graphql') ||
      ct.includes('javascript') ||
      ct.includes('yaml')
    );
  }

  inspect(req: InspectRequest): InspectReport {
    const values: RawValue[] = [];
    if (this.opts.path && req.path) values.push(rawValue('path', '', req.path, false, false));
    if (this.opts.query && req.query)
      splitPairs(req.query.startsWith('?') ? req.query.slice(1) : req.query, '&', 'query', values, true);
    const headerValues: RawValue[] = [];
    const hs = req.headers;
    for (const name in hs) {
      const v = hs[name];
      if (v === undefined) continue;
      const lname = name.toLowerCase();
      if (typeof v === 'string') this.addHeader(lname, v, values, headerValues);
      else for (const one of v) this.addHeader(lname, one, values, headerValues);
    }
    let wholeBody: string | null = null;
    // Every value from here on is the body's (their locations are "body..."): known without reading the location,
    // a JSON pointer built by concatenation that reading would flatten.
    const bodyFrom = values.length;
    const body = this.opts.body && req.body !== undefined && req.body.length > 0 ? req.body : null;
    const fast = body !== null && this.fastJson(body, req.headers['content-type']) ? (body as Buffer) : null;
    if (body !== null && fast === null) wholeBody = this.readBody(req, values);
    const findings: Finding[] = [];
    for (let i = 0; i < values.length; i++)
      this.inspectValue(values[i] as RawValue, this.detectors, findings, i >= bodyFrom);
    // A JSON body cleared by json-values.ts is done; one it cannot read, or with a finding, is read by JSON.parse
    // (the findings then carry JSON pointers, and match what that path finds).
    if (fast !== null) {
      const seen: JsonSeen = { names: [], raws: [], found: [] };
      if (!this.clearJson(fast, findings, bodyFrom, seen)) {
        this.readBody(req, values);
        // A body value's findings depend on its text and name alone (no exclusion names a place on this path): those
        // of the strings json-values.ts inspected are taken over with their JSON pointer, not computed again.
        // By text (a string's hash is cached in it; a key made by concatenation would be hashed again each time).
        const known = new Map<string, number>();
        for (let k = seen.raws.length - 1; k >= 0; k--) known.set(seen.raws[k] as string, k);
        for (let i = bodyFrom; i < values.length; i++) {
          const rv = values[i] as RawValue;
          const k = rv.isKey ? undefined : known.get(rv.raw);
          if (k === undefined || seen.names[k] !== rv.name) this.inspectValue(rv, this.detectors, findings, true);
          else for (const f of seen.found[k] as Finding[]) findings.push({ ...f, location: rv.location });
        }
      }
    }
    if (this.jndiOn) for (const rv of headerValues) this.inspectValue(rv, JNDI_ONLY, findings);
    // The XML document as a whole (DTDs and entity declarations span elements).
    if (wholeBody !== null) {
      const xxeDet = this.detectors.find((d) => d.cls === 'xxe');
      if (xxeDet) this.inspectValue(rawValue('body', '', wholeBody, false, false, true), [xxeDet], findings);
    }
    // The strongest finding of each class counts: the same weak signal in many fields is not more evidence
    // (a config file with several "../" paths), two different classes are.
    let score = 0;
    if (findings.length > 0) {
      const perClass = new Map<AttackClass, number>();
      for (const f of findings) perClass.set(f.class, Math.max(perClass.get(f.class) ?? 0, f.score));
      for (const v of perClass.values()) score += v;
    }
    return { score, attack: score >= this.threshold, findings };
  }

  /**
   * Whether json-values.ts reads this body first: a JSON body (by content type, as readBody decides) within the limit,
   * on an engine whose exclusions name no location (json-values.ts gives no JSON pointer to match one against).
   */
  private fastJson(body: Buffer | string, ctHeader: string | readonly string[] | undefined): boolean {
    if (!this.jsonValuesOn || typeof body === 'string' || body.length > this.opts.maxInspectBytes) return false;
    if (body.length > JSON_VALUES_MAX) return false;
    const ct = typeof ctHeader === 'string' ? ctHeader : (ctHeader?.[0] ?? '');
    return ct.toLowerCase().includes('json');
  }

  /**
   * The body's strings the detectors must see, from json-values.ts, inspected until the first finding: true when
   * there is none (nor a suspect key, which walkJson inspects itself). On false, findings are as they were, and
   * `seen` holds the name, text and findings of each string inspected.
   */
  private clearJson(body: Buffer, findings: Finding[], others: number, seen: JsonSeen): boolean {
    const from = findings.length;
    // walkJson stops at MAX_VALUES values in all: a body with more is left to it.
    let room = MAX_VALUES - others;
    const ok = jsonValues(
      body,
      (raw, name, flags, lower) => {
        if (--room < 0) return false;
        const rv = rawValue('body', name, raw, false, false, true, undefined, flags, lower);
        this.inspectValue(rv, this.detectors, findings, true);
        seen.names.push(name);
        seen.raws.push(raw);
        seen.found.push(findings.length === from ? NO_FINDINGS : findings.slice(from));
        return findings.length === from;
      },
      (key) => !(cachedKeyShape(key) & KEY_SUSPECT),
    );
    if (!ok) findings.length = from;
    return ok;
  }

  private addHeader(lname: string, one: string, values: RawValue[], headerValues: RawValue[]): void {
    if (lname === 'cookie') {
      if (this.opts.cookies) splitCookies(one, values);
    } else if ((this.headers.has(lname) || this.headerGlob?.test(lname)) && !SKIP_HEADERS.has(lname)) {
      values.push(rawValue(`header.${lname}`, lname, one, false, false));
    } else if (this.jndiOn && one.indexOf('${') !== -1) {
      headerValues.push(rawValue(`header.${lname}`, lname, one, false, false));
    }
  }

  /** Adds the body's values; returns the body text when it is XML (for the whole-document XXE check). */
  private readBody(req: InspectRequest, values: RawValue[]): string | null {
    const max = this.opts.maxInspectBytes;
    const buf = req.body as Buffer | string;
    // A body within the limit is decoded whole (toString() without arguments is Buffer's shortest path).
    let text =
      typeof buf === 'string'
        ? buf.slice(0, max)
        : buf.length <= max
          ? buf.toString()
          : buf.subarray(0, max).toString();
    const ctHeader = req.headers['content-type'];
    const ct = (typeof ctHeader === 'string' ? ctHeader : (ctHeader?.[0] ?? '')).toLowerCase();
    const trimmed = text.trimStart();
    const kind = ct.includes('json')
      ? 'json'
      : ct.includes('xml')
        ? 'xml'
        : ct.startsWith('application/x-www-form-urlencoded')
          ? 'form'
          : ct.startsWith('multipart/')
            ? 'multipart'
            : ct && !ct.startsWith('text/') && !DetectionEngine.inspectableBody(ct)
              ? 'skip'
              : trimmed.startsWith('{') || trimmed.startsWith('[')
                ? 'json'
                : trimmed.startsWith('<')
                  ? 'xml'
                  : !ct && /^[\w.%[\]-]+=[^\s]*(?:&[\w.%[\]-]+=[^\s]*)*$/.test(trimmed.slice(0, 2048))
                    ? 'form'
                    : 'text';
    switch (kind) {
      case 'skip':
        return null;
      case 'json': {
        let doc: unknown;
        try {
          doc = JSON.parse(text);
        } catch {
          values.push(rawValue('body', '', text, false, false));
          return null;
        }
        walkJson(doc, values);
        return null;
      }
      case 'form':
        splitPairs(text, '&', 'body', values, true);
        return null;
      case 'multipart': {
        const boundary = boundaryOf(ct.length ? (typeof ctHeader === 'string' ? ctHeader : (ctHeader?.[0] ?? '')) : '');
        if (!boundary) {
          values.push(rawValue('body', '', text, false, false));
          return null;
        }
        // Multipart is byte-oriented: parse as latin1 so offsets hold, read text parts as UTF-8.
        if (typeof buf !== 'string') text = buf.subarray(0, max).toString('latin1');
        for (const part of parseMultipart(text, boundary)) {
          if (values.length >= MAX_VALUES) break;
          const loc = `body.${part.name || 'part'}`;
          if (part.name) values.push(rawValue(loc, part.name, part.name, true, false, true));
          if (part.filename) values.push(rawValue(`${loc}.filename`, 'filename', part.filename, false, false));
          const pct = part.contentType;
          const content = typeof buf === 'string' ? part.body : Buffer.from(part.body, 'latin1').toString('utf8');
          if (!pct || pct.startsWith('text/plain')) {
            if (content) values.push(rawValue(loc, part.name, content, false, false));
          } else if (pct.includes('json')) {
            try {
              walkJson(JSON.parse(content), values);
            } catch {
              values.push(rawValue(loc, part.name, content, false, false));
            }
          } else if (pct.includes('xml') || pct.includes('svg') || pct.includes('html') || pct.startsWith('text/')) {
            values.push(rawValue(loc, part.name, content, false, false, true));
          }
        }
        return null;
      }
      case 'xml':
        xmlValues(text, values);
        return text;
      default:
        values.push(rawValue('body', '', text, false, false));
        return null;
    }
  }

  /**
   * Header values repeat across requests (the same User-Agent, Referer, X-Forwarded-For): their findings are
   * remembered per engine, bounded (cleared when full), so a repeated header costs one map lookup.
   */
  private readonly userAgentFindings = remembered(
    (raw: string) => this.userAgent(raw, this.detectors),
    HEADER_CACHE_MAX,
    HEADER_CACHE_VALUE_MAX,
  );
  /** The same for User-Agent values only checked for JNDI (not among the inspected headers). */
  private readonly userAgentJndiFindings = remembered(
    (raw: string) => this.userAgent(raw, JNDI_ONLY),
    HEADER_CACHE_MAX,
    HEADER_CACHE_VALUE_MAX,
  );

  /** A User-Agent value's findings (its location is always "header.user-agent": the value alone decides them). */
  private userAgent(raw: string, detectors: readonly EngineDetector[]): readonly Finding[] {
    const mine: Finding[] = [];
    const rv = rawValue('header.user-agent', 'user-agent', raw, false, false);
    this.inspectUncached(rv, detectors, mine);
    return mine;
  }

  private inspectValue(rv: RawValue, detectors: readonly EngineDetector[], findings: Finding[], body = false): void {
    // Only the User-Agent repeats enough to be worth it (request ids, referers and tokens do not).
    if (
      rv.name === 'user-agent' &&
      rv.location.charCodeAt(0) === 104 /* h */ &&
      rv.raw.length <= HEADER_CACHE_VALUE_MAX &&
      (detectors === this.detectors || detectors === JNDI_ONLY)
    ) {
      const known = detectors === this.detectors ? this.userAgentFindings(rv.raw) : this.userAgentJndiFindings(rv.raw);
      for (const f of known) findings.push(f);
      return;
    }
    if (rv.raw.length > MAX_VALUE_CHARS) this.inspectWindows(rv, detectors, findings, body);
    else this.inspectUncached(rv, detectors, findings, body);
  }

  /**
   * A value longer than one inspection window (MAX_VALUE_CHARS, the bound that keeps every pattern's time linear)
   * is inspected window by window, each overlapping the last by WINDOW_OVERLAP: padding a payload past the first
   * window does not hide it. A rule found in several windows is reported once.
   */
  private inspectWindows(rv: RawValue, detectors: readonly EngineDetector[], findings: Finding[], body: boolean): void {
    const raw = rv.raw;
    const from = findings.length;
    const mine: Finding[] = [];
    for (let start = 0; ; start += MAX_VALUE_CHARS - WINDOW_OVERLAP) {
      const end = Math.min(raw.length, start + MAX_VALUE_CHARS);
      mine.length = 0;
      this.inspectUncached(
        rawValue(rv.location, rv.name, raw.slice(start, end), rv.isKey, rv.plus, rv.decoded, rv.keyValue),
        detectors,
        mine,
        body,
      );
      for (const f of mine) {
        let seen = false;
        for (let k = from; k < findings.length && !seen; k++) seen = (findings[k] as Finding).rule === f.rule;
        if (!seen) findings.push(f);
      }
      if (end === raw.length) return;
    }
  }

  private inspectUncached(rv: RawValue, detectors: readonly EngineDetector[], findings: Finding[], body = false): void {
    const loc = rv.location;
    const kind: ValueKind =
      body || loc.charCodeAt(0) === 98
        ? 'body'
        : loc.charCodeAt(0) === 113
          ? 'query'
          : loc.charCodeAt(0) === 104
            ? 'header'
            : loc.charCodeAt(0) === 99
              ? 'cookie'
              : 'path';
    const vk: ValueKind = rv.isKey ? (kind === 'body' ? 'body' : 'query') : kind;
    const raw = rv.raw.length > MAX_VALUE_CHARS ? rv.raw.slice(0, MAX_VALUE_CHARS) : rv.raw;
    // The flags first: they tell whether decoding has anything to act on (most values: no), and they stay the
    // decoded value's when decoding leaves it as it was.
    let flags = rv.flags !== undefined && raw === rv.raw ? rv.flags : rawFlags(raw);
    let text = raw;
    if (flags & (rv.plus ? MAY_DECODE | F.PLUS : MAY_DECODE)) {
      text = decodeValue(raw, rv.plus, flags);
      flags = text === raw ? flags & ~HIGH : charFlags(text);
    }
    const lower = text === rv.raw && rv.lower !== undefined ? rv.lower : text.toLowerCase();
    if (raw.indexOf('%') !== -1 && EVASIVE_ENCODING.test(raw)) flags |= F.ENCODED;
    // Pre-filter: only letters, digits, spaces and . , - _ @: nothing but SQL words can be an attack there.
    // (Control characters pass as they did before they had a flag.)
    const plain =
      (flags & ~(F.SPACE | F.DIGIT_START | F.AT | F.CONTROL)) === 0 &&
      (!(flags & F.SPACE) || (!mayHoldSqlWords(lower) && !WRAPPED_COMMAND.test(lower))) &&
      lower.indexOf('prototype') === -1;
    if (plain && !rv.isKey) return;
    // Prose with apostrophes, dashes or parentheses ("Siobhan O'Connor", "Desk lamp - select the warm white option",
    // "pen (blue)") goes only to the detectors whose words it holds: one pass instead of each detector's gates.
    const readers = rv.isKey ? -1 : PROSE_INDEX.readers(lower, flags);
    if (readers !== -1 && (readers & this.enabled) === 0) return;
    const value = makeValue(text, lower, vk, rv.name, rv.isKey, flags, rv.keyValue);
    const all = detectors === this.detectors;
    this.runDetectors(rv, value, rv.isKey ? (all ? this.keyDetectors : NO_DETECTORS) : detectors, findings, readers);
    // A parameter, cookie or JSON key with blanks, markup or code punctuation is read as a value too: applications
    // echo names ("unknown field <img src=x onerror=...>") and build queries from them.
    if (rv.isKey && all && flags & ODD_KEY && !plain)
      this.runDetectors(
        rv,
        makeValue(text, lower, vk, rv.name, false, flags, rv.keyValue),
        this.oddKeyDetectors,
        findings,
      );
  }

  private runDetectors(
    rv: RawValue,
    value: Value,
    dets: readonly EngineDetector[],
    findings: Finding[],
    readers = -1,
  ): void {
    const text = value.text;
    let prose: Value | null | undefined;
    const flags = value.flags;
    for (const d of dets) {
      if (d.needs !== 0 && (flags & d.needs) === 0) continue;
      if (readers !== -1 && !(readers & d.bit)) continue;
      let hit: Hit | null = d.detect(value);
      if (!hit || hit.score <= 0) continue;
      if (hit.score > QUOTED_SCORE && !value.isKey) {
        // Code quoted in prose (markdown `code` spans and fences in a comment or chat message) is shown, not run:
        // a match only inside the quoted code is weak. The prose around it must be real prose, so that a bare
        // `id` or $(whoami) payload is not excused.
        if (prose === undefined) prose = withoutCode(value);
        if (prose) {
          const outside = d.detect(prose);
          if (!outside || outside.score < hit.score) hit = { rule: hit.rule, score: QUOTED_SCORE, at: hit.at };
        }
      }
      if (this.excluded(hit.rule, d.cls, rv.location)) continue;
      // A name without "=" is read as a name and as a value (its odd-key pass comes first): one finding per rule and
      // place. Findings are few (most values have none), so the scan is short.
      if (!value.isKey && findings.some((x) => x.rule === hit.rule && x.location === rv.location)) continue;
      findings.push({
        rule: hit.rule,
        class: d.cls,
        score: hit.score,
        location: rv.location,
        fragment: fragment(text, hit.at),
      });
    }
  }

  private excluded(rule: string, cls: AttackClass, location: string): boolean {
    for (const e of this.exclusions) {
      if (e.rule && e.rule !== rule && e.rule !== cls) continue;
      if (e.location && !e.location.test(location)) continue;
      return true;
    }
    return false;
  }
}

const NO_DETECTORS: readonly EngineDetector[] = [];
const JNDI_ONLY: readonly EngineDetector[] = ALL_DETECTORS.filter((d) => d.cls === 'jndi');
const NO_FINDINGS: Finding[] = [];
/** The strings clearJson inspected before it stopped: name, text and findings (location "body"), in step. */
interface JsonSeen {
  readonly names: string[];
  readonly raws: string[];
  readonly found: Finding[][];
}
/** Characters that make a key more than a name: blanks, markup, quotes, shell and SQL punctuation, controls. */
const ODD_KEY =
  F.SPACE |
  F.QUOTE |
  F.LT |
  F.GT |
  F.LPAREN |
  F.RPAREN |
  F.SEMI |
  F.BACKTICK |
  F.PIPE |
  F.BRACE |
  F.BACKSLASH |
  F.AMP |
  F.HASH |
  F.NEWLINE |
  F.CONTROL;
/** Encodings no client needs for what they encode: %2e (an unreserved dot), double encoding, overlong UTF-8, %u, %%. */
const EVASIVE_ENCODING = /%(?:2e|25[0-9a-f]|c0|c1|e0%80|u[0-9a-f]{4}|%[0-9a-f])/i;
const HEADER_CACHE_MAX = 4096;
/** How far consecutive inspection windows of a long value overlap: longer than any payload a detector needs whole. */
const WINDOW_OVERLAP = 1024;
const HEADER_CACHE_VALUE_MAX = 1024;

/** Headers with a fixed grammar or a credential: never read as free text (JNDI is still checked in every header). */
const SKIP_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'x-csrf-token',
  'x-xsrf-token',
  'x-amz-date',
  'x-amz-content-sha256',
  'x-amz-security-token',
]);

/** Plain words that still deserve the SQL detector ("1 union select null"): native substring scans first. */
function mayHoldSqlWords(lower: string): boolean {
  if (
    lower.includes('union') ||
    lower.includes('select') ||
    lower.includes('sleep') ||
    lower.includes('waitfor') ||
    lower.includes('benchmark') ||
    lower.includes(' by ') ||
    lower.includes('exec')
  )
    return QUICK_WORDS.test(lower);
  return (lower.includes('or ') || lower.includes('and ')) && QUICK_WORDS.test(lower);
}

/** Plain words that still deserve the command detector: a command run through a wrapper (time ifconfig). */
const WRAPPED_COMMAND = /^\s*(?:time|nohup|strace|ltrace|nice|sudo|doas|stdbuf|ionice|busybox)\s+[a-z]/;

/** Plain words that still deserve the SQL detector ("1 union select null"). */
const QUICK_WORDS =
  /\b(?:union|select|sleep|waitfor|benchmark)\b|\b(?:or|and|xor)\s+(?:\d|true\b)|^\s*(?:order|group)\s+by\s+\d|\bexec(?:ute)?\s+(?:master|xp_|sp_)/i;

/** What a match only inside quoted code scores. */
const QUOTED_SCORE = 2;
const FENCE = /(?:^|\n)[ \t]{0,3}```[\w+-]{0,20}[ \t]*\n[^`]{0,8192}?(?:\n[ \t]{0,3}```|$)/g;
const CODE_SPAN = /`[^`\n]{1,512}`/g;
const PROSE = /[a-z]{2,}[,.:;!?]?\s+[a-z]{2,}/i;
const WORD = /[a-z]{2,}/i;

/** The value with markdown code spans blanked, when it is prose that quotes code; null otherwise. */
function withoutCode(v: Value): Value | null {
  if (v.text.indexOf('`') === -1) return null;
  // A fenced block is code by declaration: a word of text around it is enough. Inline spans need prose.
  const unfenced = v.text.replace(FENCE, '\n');
  const fenced = unfenced !== v.text && WORD.test(unfenced);
  const text = unfenced.replace(CODE_SPAN, ' ');
  // The text around the code must be prose, not markup: <img src=`javascript:...`> quotes nothing.
  if (text === v.text || !(fenced || PROSE.test(text)) || text.indexOf('<') !== -1) return null;
  const lower = text.toLowerCase();
  return makeValue(text, lower, v.kind, v.name, v.isKey, charFlags(lower), v.keyValue);
}

const FRAGMENT_MAX = 64;
/** Long tokens, digit runs and e-mail local parts are masked: a fragment shows the shape, not a secret. */
const REDACT = /[A-Za-z0-9+_-]{28,}={0,2}|\d{9,}|[\w.+-]{1,64}(?=@[\w-]+\.)/g;
const CONTROL = /[\u0000-\u001f\u007f]/g;

/** A truncated (<= 64 chars), redacted fragment of the decoded value around a match. */
export function fragment(text: string, at: number): string {
  const start = Math.max(0, Math.min(at, text.length) - 16);
  let f = text.slice(start, start + FRAGMENT_MAX);
  f = f.replace(CONTROL, ' ').replace(REDACT, '***');
  return f.length > FRAGMENT_MAX ? f.slice(0, FRAGMENT_MAX) : f;
}

const engines = new WeakMap<InspectOptions, DetectionEngine>();
const defaultEngine = new DetectionEngine();

/**
 * Inspects one request with every enabled detector. Options are compiled once per options object (kept in a
 * WeakMap), so calling this with the same options in a loop costs no recompilation.
 */
export function inspectRequest(req: InspectRequest, options?: InspectOptions): InspectReport {
  if (!options) return defaultEngine.inspect(req);
  let e = engines.get(options);
  if (!e) {
    e = new DetectionEngine(options);
    engines.set(options, e);
  }
  return e.inspect(req);
}
