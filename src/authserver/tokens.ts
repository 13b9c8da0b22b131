import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from 'jose';
import type { Middleware } from 'koa';
import type { AccessToken, ClientCredentials, JWTStructured, KoaContextWithOIDC } from 'oidc-provider';
import type { Store } from '../store/types.js';
import { storeAdapter } from './adapter.js';

/**
 * JWT access tokens that can still be revoked. oidc-provider stores only opaque tokens and refuses JWTs at its
 * introspection and revocation endpoints. Rampart keeps a server-side record of every JWT it issues, under its
 * `jti`, in the shape the provider stores an opaque token in, and hands the provider that `jti` in place of the
 * JWT at those two endpoints, so the provider's own, certified code authenticates the client, applies its
 * policy and answers (RFC 7662, RFC 7009). Revocation deletes the record; LocalIssuer.isActive looks it up.
 */

/** Token models the record may be under (client_credentials tokens are ClientCredentials). */
export const TOKEN_MODELS = ['ClientCredentials', 'AccessToken'] as const;

/**
 * The `formats.customizers.jwt` hook: runs while the JWT is made, before the client gets it, so a token is never
 * out without its record (a failed write fails the request: no token).
 */
export function recordIssuedTokens(store: Store) {
  const adapter = storeAdapter(store);
  return async (_ctx: KoaContextWithOIDC, token: AccessToken | ClientCredentials, jwt: JWTStructured) => {
    const { iat, exp } = jwt.payload as { iat: number; exp: number };
    const record: Record<string, unknown> = {};
    // Exactly the fields the provider itself would store for an opaque token of this model.
    const fields = (token.constructor as unknown as { IN_PAYLOAD: readonly string[] }).IN_PAYLOAD;
    for (const f of fields) {
      const v = (token as unknown as Record<string, unknown>)[f];
      if (v !== undefined && f !== 'format') record[f] = v;
    }
    Object.assign(record, { iat, exp });
    await adapter(token.kind).upsert(token.jti as string, record, Math.max(1, exp - Math.floor(Date.now() / 1000)));
  };
}

/** What the provider's form bodies may weigh (its own limit). */
const BODY_LIMIT = 56 * 1024;

/**
 * Koa middleware ahead of the provider's routes: on the introspection and revocation endpoints, a `token` that is
 * a JWT signed by this server becomes its `jti`; any other JWT becomes an unknown value (introspection then
 * answers `active: false`, revocation 200, as RFC 7662 and RFC 7009 want for invalid tokens). The body is handed
 * on pre-parsed, which the provider supports (it warns about it once per process).
 */
export function jwtTokenParam(
  endpoints: readonly string[],
  issuer: string,
  jwks: () => { keys: Record<string, unknown>[] },
): Middleware {
  const paths = new Set(endpoints);
  return async (ctx, next) => {
    if (ctx.method !== 'POST' || !paths.has(ctx.path) || !ctx.is('application/x-www-form-urlencoded')) {
      await next();
      return;
    }
    let text: string;
    try {
      text = await readForm(ctx.req);
    } catch {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'failed to parse the request body' };
      return;
    }
    const form = new URLSearchParams(text);
    const tokens = form.getAll('token');
    // More than one `token`: left as is, for the provider to refuse as a duplicate parameter.
    if (tokens.length === 1 && tokens[0]?.split('.').length === 3) {
      form.set('token', (await jtiOf(tokens[0], issuer, jwks())) ?? `unknown.${randomBytes(16).toString('hex')}`);
      text = form.toString();
    }
    (ctx.req as IncomingMessage & { body?: string }).body = text;
    await next();
  };
}

/** The `jti` of a JWT this server signed (expired or not: the record decides), else null. */
async function jtiOf(jwt: string, issuer: string, jwks: { keys: Record<string, unknown>[] }): Promise<string | null> {
  try {
    const { payload } = await compactVerify(jwt, createLocalJWKSet(jwks as JSONWebKeySet));
    const claims = JSON.parse(new TextDecoder().decode(payload)) as { iss?: unknown; jti?: unknown };
    return claims.iss === issuer && typeof claims.jti === 'string' && claims.jti ? claims.jti : null;
  } catch {
    return null;
  }
}

async function readForm(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > BODY_LIMIT) throw new Error('request entity too large');
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > BODY_LIMIT) throw new Error('request entity too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks, n).toString('utf8');
}

/**
 * True while the token with this `jti` has a live record (issued here, not revoked, not expired) and its client
 * may still act: the client exists and its consumer is active. Deleting a client or disabling its consumer stops
 * the tokens it already holds, not only new ones (the Client adapter refuses those).
 */
export async function tokenRecordActive(
  store: Store,
  jti: string,
  nowS = Math.floor(Date.now() / 1000),
): Promise<boolean> {
  for (const model of TOKEN_MODELS) {
    const r = await store.oauthPayloads.get(model, jti);
    if (!r) continue;
    const { exp, clientId } = r.payload as { exp?: unknown; clientId?: unknown };
    if (r.consumed_at !== null || !(Number(exp) > nowS) || typeof clientId !== 'string') return false;
    const client = await store.clients.get(clientId);
    if (!client) return false;
    return (await store.consumers.get(client.consumer_id))?.status === 'active';
  }
  return false;
}
