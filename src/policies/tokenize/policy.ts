import { randomBytes } from 'node:crypto';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import type { Store } from '../../store/types.js';
import { compilePath, findPaths, type PathHit } from '../response-filter/json-path.js';
import {
  hasAnyRole,
  headerValue,
  isJsonType,
  parseJson,
  protectionCounter,
  setJsonBody,
  upstreamBody,
} from '../response-filter/shared.js';
import { meta, schema } from './schema.js';

/** Keyring purpose of deterministic tokens' keyed hashes. */
export const TOKENIZE_PURPOSE = 'tokenize';
export const TOKEN_PATTERN = /^tok_[A-Za-z0-9_-]{24,40}$/;
/** Tokens restored per answer at most: each is a store read. */
const MAX_DETOKENIZE = 200;
/** Values tokenised per request at most. */
const MAX_TOKENIZE = 100;
const PURGE_INTERVAL_MS = 10 * 60_000;

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const store: Store | null = env.services.store;
    const keyring = env.services.keyring;
    if (!store || !keyring) throw new Error('tokenize needs the store and keyring (configure `store:`)');
    // Expired tokens are never revealed; a background purge (one per process, unref'd) deletes them for good.
    if (cfg.ttl_seconds) {
      env.services.shared('tokenize/purge', () => {
        const timer = setInterval(() => {
          store.tokens.deleteExpired().catch((e: unknown) => {
            env.logger.warn({ err: { message: (e as Error).message } }, 'token vault purge failed');
          });
        }, PURGE_INTERVAL_MS);
        timer.unref();
        return { close: () => clearInterval(timer) };
      });
    }
    const fields = cfg.fields.map(compilePath);
    const restoreAt = cfg.detokenize_fields?.map(compilePath) ?? null;
    const counter = protectionCounter();
    let ready: Promise<unknown> | null = cfg.deterministic ? keyring.ensurePurposes([TOKENIZE_PURPOSE]) : null;
    ready?.catch((e: unknown) => env.logger.error({ err: { message: (e as Error).message } }, 'tokenize: keyring'));

    const tokenFor = (value: string): string => {
      if (!cfg.deterministic) return `tok_${randomBytes(24).toString('base64url')}`;
      // "v<version>.<base64url>" → a token of url-safe characters; the kind is bound in, so a card and an account
      // number with the same digits get different tokens.
      const mac = keyring.mac(TOKENIZE_PURPOSE, `${cfg.kind}\u0000${value}`);
      const dot = mac.indexOf('.');
      return `tok_${mac.slice(0, dot)}_${mac.slice(dot + 1, dot + 33)}`;
    };

    const failed = (ctx: RequestContext, e: unknown) => {
      env.logger.error({ err: { message: (e as Error).message }, request_id: ctx.id }, 'token vault failed');
      return new GatewayError('TOKENIZATION_FAILED', undefined, { headers: { 'retry-after': '5' } });
    };

    return {
      async request(ctx) {
        // Restoring tokens needs the answer's bytes as JSON: ask the upstream for an unencoded body.
        if (cfg.detokenize) delete ctx.upstreamHeaders['accept-encoding'];
        if (!fields.length) return;
        const type = String(ctx.req.headers['content-type'] ?? '');
        if (!ctx.hasBody()) return;
        // Anything but JSON could carry the value past the tokenizer in clear.
        if (!isJsonType(type)) throw new GatewayError('BAD_REQUEST', 'This route accepts JSON bodies only.');
        const parsed = parseJson(await ctx.readBody());
        if (!parsed) throw new GatewayError('BAD_REQUEST', 'The body is not valid JSON.');
        const hits = findPaths(parsed.value, fields, MAX_TOKENIZE + 1);
        if (hits.length > MAX_TOKENIZE) throw new GatewayError('BAD_REQUEST', 'Too many values to tokenize.');
        const todo = hits.filter((h) => {
          const v = (h.parent as Record<string, unknown>)[h.key];
          return (typeof v === 'string' && v !== '') || typeof v === 'number';
        });
        if (!todo.length) return;
        if (ready) {
          await ready;
          ready = null;
        }
        const expires = cfg.ttl_seconds ? new Date(Date.now() + cfg.ttl_seconds * 1000) : null;
        try {
          await Promise.all(
            todo.map(async (h: PathHit) => {
              const parent = h.parent as Record<string, unknown>;
              const value = String(parent[h.key]);
              const token = tokenFor(value);
              await store.tokens.put({ token, kind: cfg.kind, value, expires_at: expires });
              parent[h.key] = token;
            }),
          );
        } catch (e) {
          throw failed(ctx, e);
        }
        ctx.requestBody = Buffer.from(JSON.stringify(parsed.value));
        ctx.securityEvent({
          type: 'request.tokenized',
          policy: meta.name,
          rule: cfg.kind,
          location: `body${todo[0]?.pointer ?? ''}`.slice(0, 200),
          action: 'modify',
          detail: { count: todo.length },
        });
        counter.inc({ policy: meta.name, route: ctx.route?.name ?? '', action: 'tokenize' });
      },

      async response(ctx) {
        if (!cfg.detokenize || !upstreamBody(ctx)) return;
        const res = ctx.response;
        if (!res || res.status >= 400 || !isJsonType(headerValue(res.headers, 'content-type'))) return;
        if (cfg.roles.length && !hasAnyRole(ctx, cfg.roles)) return;
        const enc = headerValue(res.headers, 'content-encoding');
        if (enc && enc !== 'identity') return;
        const parsed = parseJson(await ctx.readResponseBody());
        if (!parsed) return;
        const hits = restoreAt ? findPaths(parsed.value, restoreAt) : tokenStrings(parsed.value);
        const tokens = hits.filter((h) => {
          const v = (h.parent as Record<string, unknown>)[h.key];
          return typeof v === 'string' && TOKEN_PATTERN.test(v);
        });
        if (!tokens.length) return;
        let restored = 0;
        try {
          await Promise.all(
            tokens.slice(0, MAX_DETOKENIZE).map(async (h) => {
              const parent = h.parent as Record<string, unknown>;
              // Only tokens of this route's kind: a card route does not reveal other values someone tokenised.
              const value = await store.tokens.reveal(parent[h.key] as string, cfg.kind);
              if (value === null) return;
              parent[h.key] = value.toString('utf8');
              value.fill(0);
              restored++;
            }),
          );
        } catch (e) {
          throw failed(ctx, e);
        }
        if (!restored) return;
        ctx.securityEvent({
          type: 'response.detokenized',
          policy: meta.name,
          rule: cfg.kind,
          location: 'body',
          action: 'modify',
          detail: { count: restored },
        });
        counter.inc({ policy: meta.name, route: ctx.route?.name ?? '', action: 'detokenize' });
        setJsonBody(ctx, parsed.value);
      },
    };
  },
});

/** Every string member that is a whole token (bounded walk). */
function tokenStrings(value: unknown): PathHit[] {
  const out: PathHit[] = [];
  const visit = (v: unknown, depth: number) => {
    if (v === null || typeof v !== 'object' || depth > 64 || out.length > MAX_DETOKENIZE) return;
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        if (typeof x === 'string' && x.startsWith('tok_')) out.push({ parent: v, key: i, pointer: '' });
        else visit(x, depth + 1);
      });
      return;
    }
    for (const [k, x] of Object.entries(v)) {
      if (typeof x === 'string' && x.startsWith('tok_'))
        out.push({ parent: v as Record<string, unknown>, key: k, pointer: '' });
      else visit(x, depth + 1);
    }
  };
  visit(value, 0);
  return out;
}
