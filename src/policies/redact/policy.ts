import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import type { Keyring } from '../../crypto/keyring.js';
import {
  headerValue,
  isJsonType,
  parseJson,
  protectionCounter,
  replaceBody,
  upstreamBody,
} from '../response-filter/shared.js';
import { compileScanner, type Detector, detectorBit, type Finding, mask } from './detectors.js';
import { isHtmlType, looksLikeStackTrace, traceKind } from './error-pages.js';
import { DROP, FALLBACK, type JsonTextHooks, MAX_DEPTH, redactJsonText } from './json-text.js';
import { meta, schema } from './schema.js';

/** Keyring purpose of the keyed hashes `action: hash` puts in place of a value. */
export const REDACT_MAC_PURPOSE = 'redact-mac';

type Action = 'mask' | 'hash' | 'remove' | 'block';

/** Thrown inside the walk when an action is `block`; becomes the policy's error with its event. */
class Blocked {
  tally: Map<string, number> = new Map();
  constructor(readonly type: string) {}
}

/** Per-walk tally, for the audit event: counts by detector, never values. */
type Tally = Map<string, number>;

const JWE_COMPACT = /^eyJ[\w-]+\.[\w-]*\.[\w-]+\.[\w-]+\.[\w-]+$/;

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const scanner = compileScanner(cfg.detectors);
    const cardsOn = cfg.detectors.includes('card');
    const actionOf = (t: string): Action => (cfg.actions as Partial<Record<string, Action>>)[t] ?? cfg.action;
    const names = new Set(cfg.field_names.map((n) => n.toLowerCase()));
    const usesHash = cfg.action === 'hash' || Object.values(cfg.actions).includes('hash');
    const keyring: Keyring | null = env.services.keyring;
    if (usesHash && !keyring) {
      throw new Error('redact: action "hash" needs the keyring (configure `store:`), so that hashes are keyed');
    }
    // The purpose's data key is made once, before the first hash (mac() needs it and is synchronous).
    let ready: Promise<unknown> | null = usesHash && keyring ? keyring.ensurePurposes([REDACT_MAC_PURPOSE]) : null;
    ready?.catch((e: unknown) => env.logger.error({ err: { message: (e as Error).message } }, 'redact: keyring'));
    const counter = protectionCounter();

    const hash = (type: string, value: string) => {
      const m = (keyring as Keyring).mac(REDACT_MAC_PURPOSE, `${type}\u0000${value}`);
      return `[${type}:${m.slice(0, m.indexOf('.') + 23)}]`;
    };

    /**
     * One walk's state, reused for every string of the body (no closure or object per string): the tally for the
     * audit event and whether the current string's member must go (action `remove`).
     */
    let tally: Tally = new Map();
    let dropField = false;

    /** The replacement of one finding, or null for the mask; sets dropField (remove), throws Blocked (block). */
    const replaceOne = (type: string, value: string): string | null => {
      tally.set(type, (tally.get(type) ?? 0) + 1);
      const a = actionOf(type);
      if (a === 'block') throw new Blocked(type);
      if (a === 'remove') {
        dropField = true;
        return '';
      }
      if (a === 'hash') return hash(type, value);
      return null;
    };
    // Every detector masked (the default): the tally and the mask, nothing to decide per finding.
    const maskOnly = cfg.detectors.every((d) => actionOf(d) === 'mask');
    const onFinding = maskOnly
      ? (f: Finding): string => {
          tally.set(f.type, (tally.get(f.type) ?? 0) + 1);
          return mask(f);
        }
      : (f: Finding): string => replaceOne(f.type, f.value) ?? mask(f);

    /**
     * `open`: the string's gates when the caller took them (scanner.gatesOfJsonString, not 0), -1 otherwise; `b`:
     * the bytes the JSON text path read the string from, at `at` (scanner.replaceJson).
     */
    const scanString = (s: string, open = -1, b?: Uint8Array, at = 0): string | typeof DROP => {
      // A JWE (field-encryption's output, encrypted for the caller) is left whole: masking a chance digit run in its
      // ciphertext would only make it undecryptable.
      if (s.startsWith('eyJ') && JWE_COMPACT.test(s)) return s;
      dropField = false;
      const out =
        open < 0
          ? scanner.replace(s, onFinding)
          : b === undefined
            ? scanner.replaceOpen(s, open, onFinding)
            : scanner.replaceJson(s, open, b, at, onFinding);
      return dropField ? DROP : out;
    };

    /** A member redacted by its name (field_names); `value` is what a hash is taken of. */
    const redactField = (value: () => string): string | typeof DROP => {
      dropField = false;
      const rep = replaceOne('field', actionOf('field') === 'hash' ? value() : '');
      return dropField ? DROP : (rep ?? '[REDACTED:field]');
    };
    const hooks: JsonTextHooks = {
      scanner,
      cards: cardsOn,
      drops: cfg.detectors.some((d) => actionOf(d) === 'remove'),
      maskedBits: cfg.detectors.reduce((m, d) => (actionOf(d) === 'mask' ? m | detectorBit(d) : m), 0),
      found: (type, n) => tally.set(type, (tally.get(type) ?? 0) + n),
      names,
      nameLengths: new Set([...names].map((n) => n.length)),
      string: scanString,
      field: redactField,
    };

    const walk = (v: unknown, depth: number): unknown => {
      if (typeof v === 'string') return scanString(v);
      // Card numbers sent as JSON numbers.
      if (typeof v === 'number') {
        if (v >= 1e12 && Number.isSafeInteger(v) && cardsOn) {
          const r = scanString(String(v));
          return r === String(v) ? v : r;
        }
        return v;
      }
      if (v === null || typeof v !== 'object') return v;
      if (depth >= MAX_DEPTH) throw new Blocked('depth');
      if (Array.isArray(v)) {
        let out: unknown[] | null = null;
        for (let i = 0; i < v.length; i++) {
          const r = walk(v[i], depth + 1);
          if (r !== v[i] && out === null) out = v.slice(0, i);
          if (out !== null && r !== DROP) out.push(r);
        }
        return out ?? v;
      }
      const o = v as Record<string, unknown>;
      let out: Record<string, unknown> | null = null;
      const keys = Object.keys(o);
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        const cur = o[k];
        let r: unknown;
        if (names.size && names.has(k.toLowerCase()) && cur !== null && cur !== '') {
          r = redactField(() => (typeof cur === 'string' ? cur : JSON.stringify(cur)));
        } else {
          r = walk(cur, depth + 1);
        }
        if (r !== cur && out === null) {
          out = {};
          for (let j = 0; j < i; j++) out[keys[j] as string] = o[keys[j] as string];
        }
        if (out !== null && r !== DROP) out[k] = r;
      }
      return out ?? v;
    };

    const detailOf = (tally: Tally) => {
      const d: Record<string, number> = {};
      for (const [k, n] of tally) d[k] = n;
      return d;
    };

    const record = (ctx: RequestContext, where: 'response' | 'request', tally: Tally, action: 'modify' | 'block') => {
      // The event only where something reads it (an audit policy on the route); the metric always.
      if (ctx.securityEventsRead)
        ctx.securityEvent({
          type: action === 'block' ? `${where}.blocked` : `${where}.redacted`,
          policy: meta.name,
          rule: [...tally.keys()].join(',').slice(0, 100),
          location: 'body',
          action,
          detail: detailOf(tally),
        });
      counter.inc({ policy: meta.name, route: ctx.route?.name ?? '', action: action === 'block' ? 'block' : where });
    };

    /**
     * Redacts a JSON or text buffer. Synchronous from start to end, so the walk state above belongs to one request
     * at a time: the tally goes back with the result (or inside Blocked).
     */
    /** `inPlace`: the answer may be written over `buf` (an answer's body, which nothing else holds). */
    const redactBuffer = (buf: Buffer, json: boolean, inPlace = false): { out: Buffer | null; tally: Tally } => {
      if (json) {
        // The JSON text itself first (redactJsonText); anything it leaves (FALLBACK) or a block: the walk below, from
        // the start with a fresh tally, so that the event is the walk's.
        tally = new Map();
        try {
          const out = redactJsonText(buf, hooks, inPlace);
          if (out !== FALLBACK) return { out, tally };
        } catch (e) {
          if (!(e instanceof Blocked)) throw e;
        }
      }
      return redactParsed(buf, json);
    };
    /** parse, walk, stringify: the reference for redactJsonText, and what text bodies get. */
    const redactParsed = (buf: Buffer, json: boolean): { out: Buffer | null; tally: Tally } => {
      const mine: Tally = new Map();
      tally = mine;
      try {
        if (json) {
          const parsed = parseJson(buf);
          // Not valid JSON after all: scanned as text rather than let through unscanned.
          if (parsed) {
            const r = walk(parsed.value, 0);
            if (r === parsed.value) return { out: null, tally: mine };
            return { out: Buffer.from(JSON.stringify(r === DROP ? null : r)), tally: mine };
          }
        }
        const raw = buf.toString('utf8');
        const r = scanString(raw);
        return { out: r === raw ? null : Buffer.from(r === DROP ? '' : r), tally: mine };
      } catch (e) {
        if (e instanceof Blocked) e.tally = mine;
        throw e;
      }
    };
    const keyReady = async () => {
      if (ready) {
        await ready;
        ready = null;
      }
    };

    return {
      async request(ctx) {
        // Filtering and redaction read the answer's bytes: ask the upstream for an unencoded body.
        delete ctx.upstreamHeaders['accept-encoding'];
        if (!cfg.requests) return;
        const type = String(ctx.req.headers['content-type'] ?? '');
        if (!isJsonType(type) && !(cfg.text && type.startsWith('text/'))) return;
        const body = await ctx.readBody();
        // Once the key is there (or never needed), no await: a turn of the microtask queue per answer.
        if (ready) await keyReady();
        try {
          const { out, tally } = redactBuffer(body, isJsonType(type));
          if (!out) return;
          ctx.requestBody = out;
          record(ctx, 'request', tally, 'modify');
        } catch (e) {
          if (!(e instanceof Blocked)) throw e;
          record(ctx, 'request', e.tally, 'block');
          throw new GatewayError('SENSITIVE_DATA_REFUSED', 'The request holds data this route does not accept.');
        }
      },

      async response(ctx) {
        if (!upstreamBody(ctx)) return;
        const res = ctx.response;
        if (!res) return;
        const type = headerValue(res.headers, 'content-type');
        const enc = headerValue(res.headers, 'content-encoding');
        const encoded = enc !== '' && enc !== 'identity';
        if (res.status >= 500 && cfg.upstream_errors === 'replace') {
          const html = isHtmlType(type);
          const trace = !html && !encoded ? looksLikeStackTrace(await ctx.readResponseBody()) : false;
          if (html || trace) {
            const kind = html ? 'html' : traceKind(res.body as Buffer);
            ctx.securityEvent({
              type: 'response.error_page_replaced',
              policy: meta.name,
              rule: kind,
              location: 'body',
              action: 'modify',
              detail: { status: res.status, kind },
            });
            counter.inc({ policy: meta.name, route: ctx.route?.name ?? '', action: 'error_page' });
            throw new GatewayError('UPSTREAM_ERROR');
          }
        }
        const json = isJsonType(type);
        if (!json && !(cfg.text && type.toLowerCase().startsWith('text/'))) return;
        if (encoded) {
          // An encoded body cannot be scanned and is not sent unscanned.
          record(ctx, 'response', new Map([['encoded', 1]]), 'block');
          throw new GatewayError('RESPONSE_BLOCKED');
        }
        const body = await ctx.readResponseBody();
        if (ready) await keyReady();
        try {
          const { out, tally } = redactBuffer(body, json, true);
          if (!out) return;
          record(ctx, 'response', tally, 'modify');
          replaceBody(ctx, out);
        } catch (e) {
          if (!(e instanceof Blocked)) throw e;
          record(ctx, 'response', e.tally, 'block');
          throw new GatewayError('RESPONSE_BLOCKED');
        }
      },
    };
  },
});

export type { Detector };
