import type { webcrypto } from 'node:crypto';
import { CompactEncrypt, importJWK, type JWK } from 'jose';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { compilePath, findPaths } from '../response-filter/json-path.js';
import {
  headerValue,
  isBlank,
  isJsonType,
  parseJson,
  protectionCounter,
  setJsonBody,
  upstreamBody,
} from '../response-filter/shared.js';
import { meta, schema } from './schema.js';

/** Imported public keys by their JWK text: importing costs more than encrypting a field. Bounded, oldest out. */
const MAX_KEYS = 1000;

interface RecipientKey {
  readonly key: webcrypto.CryptoKey | Uint8Array;
  readonly alg: 'ECDH-ES+A256KW' | 'RSA-OAEP-256';
  readonly kid: string | undefined;
}

/** The algorithm a public JWK is for; null for anything else (symmetric keys, private keys, weak RSA). */
export function algorithmFor(jwk: JWK): RecipientKey['alg'] | null {
  if ('d' in jwk || 'p' in jwk || 'k' in jwk) return null;
  if (jwk.use !== undefined && jwk.use !== 'enc') return null;
  if (jwk.kty === 'EC' && ['P-256', 'P-384', 'P-521'].includes(jwk.crv ?? '')) return 'ECDH-ES+A256KW';
  if (jwk.kty === 'OKP' && jwk.crv === 'X25519') return 'ECDH-ES+A256KW';
  if (jwk.kty === 'RSA' && typeof jwk.n === 'string' && Buffer.from(jwk.n, 'base64url').length >= 256) {
    return 'RSA-OAEP-256';
  }
  return null;
}

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const paths = cfg.fields.map(compilePath);
    const counter = protectionCounter();
    const keys = env.services.shared('field-encryption/keys', () => new Map<string, Promise<RecipientKey | null>>());

    const keyOf = (ctx: RequestContext): Promise<RecipientKey | null> => {
      const raw = ctx.identity?.attributes[cfg.key_attribute];
      if (raw === undefined || raw === null) return Promise.resolve(null);
      const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
      const hit = keys.get(text);
      if (hit) return hit;
      const made = (async (): Promise<RecipientKey | null> => {
        try {
          const jwk = (typeof raw === 'string' ? JSON.parse(raw) : raw) as JWK;
          const alg = algorithmFor(jwk);
          if (!alg) return null;
          return { key: await importJWK(jwk, alg), alg, kid: typeof jwk.kid === 'string' ? jwk.kid : undefined };
        } catch {
          return null;
        }
      })();
      if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value as string);
      keys.set(text, made);
      return made;
    };

    const refuse = (ctx: RequestContext, reason: string) => {
      ctx.securityEvent({
        type: 'response.blocked',
        policy: meta.name,
        rule: reason,
        action: 'block',
        detail: { consumer: ctx.identity?.consumerId ?? '' },
      });
      counter.inc({ policy: meta.name, route: ctx.route?.name ?? '', action: 'block' });
      return new GatewayError('FIELD_ENCRYPTION_UNAVAILABLE');
    };

    return {
      request(ctx) {
        // Encrypting fields needs the answer's bytes as JSON: ask the upstream for an unencoded body.
        delete ctx.upstreamHeaders['accept-encoding'];
      },
      async response(ctx) {
        if (!upstreamBody(ctx)) return;
        const res = ctx.response;
        if (!res || !isJsonType(headerValue(res.headers, 'content-type'))) return;
        const enc = headerValue(res.headers, 'content-encoding');
        if (enc && enc !== 'identity') throw refuse(ctx, 'encoded');
        const buf = await ctx.readResponseBody();
        if (isBlank(buf)) return;
        const parsed = parseJson(buf);
        if (!parsed) throw refuse(ctx, 'unparseable');
        const hits = findPaths(parsed.value, paths);
        if (!hits.length) return;
        const key = await keyOf(ctx);
        if (!key) {
          if (cfg.on_missing_key === 'block') throw refuse(ctx, 'no_key');
          for (const h of hits.reverse()) {
            if (Array.isArray(h.parent)) h.parent.splice(h.key as number, 1);
            else delete h.parent[h.key as string];
          }
          ctx.securityEvent({
            type: 'response.field_removed',
            policy: meta.name,
            rule: 'no_key',
            location: `body${hits.at(-1)?.pointer ?? ''}`.slice(0, 200),
            action: 'modify',
            detail: { removed: hits.length },
          });
          counter.inc({ policy: meta.name, route: ctx.route?.name ?? '', action: 'strip' });
          setJsonBody(ctx, parsed.value);
          return;
        }
        const header = { alg: key.alg, enc: 'A256GCM', cty: 'json', ...(key.kid && { kid: key.kid }) };
        try {
          await Promise.all(
            hits.map(async (h) => {
              const plain = new TextEncoder().encode(JSON.stringify((h.parent as Record<string, unknown>)[h.key]));
              const jwe = await new CompactEncrypt(plain).setProtectedHeader(header).encrypt(key.key);
              (h.parent as Record<string, unknown>)[h.key] = jwe;
            }),
          );
        } catch (e) {
          env.logger.warn({ err: { message: (e as Error).message } }, 'field encryption failed');
          throw refuse(ctx, 'encrypt_failed');
        }
        counter.inc({ policy: meta.name, route: ctx.route?.name ?? '', action: 'encrypt' });
        setJsonBody(ctx, parsed.value);
      },
    };
  },
});
