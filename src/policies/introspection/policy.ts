import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { definePolicy } from '../../core/policy.js';
import { logThrottle } from '../../observability/throttle.js';
import { IntrospectionCache } from './cache.js';
import { IntrospectionFailure, introspect, poolFor } from './client.js';
import { type IntrospectionConfig, meta, schema } from './schema.js';

const CHALLENGE = 'Bearer realm="rampart"';
/** RFC 6750 2.1 b64token after "Bearer ". */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
/** The prefixes of Rampart's own secrets: API keys (src/identity/api-key.ts) and client secrets (src/authserver). */
const OWN_SECRET = /^(rmpk|rmcs)_/;
/** Three base64url segments: a JWS compact serialisation, left to the jwt policy. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function invalidToken(): GatewayError {
  // The same answer whatever failed (inactive, wrong audience, malformed): RFC 6750 invalid_token.
  return new GatewayError('UNAUTHENTICATED', 'Authentication failed.', {
    headers: { 'www-authenticate': `${CHALLENGE}, error="invalid_token"` },
  });
}

/** A claim by name or dotted path ("realm_access.roles"). */
function claimAt(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  if (!path.includes('.')) return claims[path];
  let v: unknown = claims;
  for (const k of path.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** A space-separated string or an array of strings, as scope and role claims come. */
function stringList(v: unknown): string[] {
  if (typeof v === 'string') return v.split(' ').filter(Boolean);
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string' && x.length > 0);
  return [];
}

/** Form field encoding of RFC 6749 2.3.1 (also for the Basic credentials). */
function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+');
}

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg: IntrospectionConfig, env) {
    const url = new URL(cfg.endpoint);
    const local =
      ['localhost', '[::1]'].includes(url.hostname) || (isIPv4(url.hostname) && url.hostname.startsWith('127.'));
    if (url.protocol === 'http:' && !local) {
      env.logger.warn(
        { endpoint: url.origin },
        'introspection endpoint over plain http: tokens and the client secret cross the network unencrypted',
      );
    }
    const pool = poolFor(env.services, url.origin);
    const path = `${url.pathname}${url.search}`;
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    let credentials = '';
    if (cfg.auth_method === 'client_secret_basic') {
      const basic = Buffer.from(`${formEncode(cfg.client_id)}:${formEncode(cfg.client_secret)}`).toString('base64');
      headers.authorization = `Basic ${basic}`;
    } else {
      credentials = `&client_id=${formEncode(cfg.client_id)}&client_secret=${formEncode(cfg.client_secret)}`;
    }
    const hint = cfg.token_type_hint ? `&token_type_hint=${formEncode(cfg.token_type_hint)}` : '';
    // Answers depend on the endpoint and on who asks (the secret included: a wrong one must not read good answers).
    const secretTag = createHash('sha256').update(cfg.client_secret).digest('hex').slice(0, 16);
    const cache = env.services.shared(
      `introspection:cache:${url.href}|${cfg.client_id}|${secretTag}|${cfg.cache.max_entries}`,
      () => new IntrospectionCache(cfg.cache.max_entries),
    );
    const maxTtlMs = cfg.cache.max_ttl_s * 1000;
    const negativeTtlMs = cfg.cache.negative_ttl_s * 1000;
    const audiences = cfg.audiences ? new Set(cfg.audiences) : null;
    const unavailable = () =>
      new GatewayError('AUTH_UNAVAILABLE', undefined, { headers: { 'retry-after': String(cfg.retry_after_s) } });
    const insufficient = cfg.required_scopes.length
      ? () =>
          new GatewayError('INSUFFICIENT_SCOPE', 'The token lacks a required scope.', {
            headers: {
              'www-authenticate': `${CHALLENGE}, error="insufficient_scope", scope="${cfg.required_scopes.join(' ')}"`,
            },
          })
      : null;

    // At most one failure line per second: an IdP outage must not turn every request into a log line.
    const throttle = logThrottle(1000);
    const logFailure = (f: IntrospectionFailure) => {
      const suppressed = throttle();
      if (suppressed === null) return;
      env.logger.error(
        { endpoint: url.origin, reason: f.reason, status: f.status, detail: f.message, suppressed },
        'token introspection failed: refusing with 503',
      );
    };

    /** The endpoint's answer for a token (claims of an active one, or null), from the cache when fresh enough. */
    async function lookup(token: string, key: string): Promise<Readonly<Record<string, unknown>> | null> {
      const hit = cache.get(key);
      if (hit && Date.now() - hit.at <= (hit.claims ? maxTtlMs : negativeTtlMs)) return hit.claims;
      const at = Date.now();
      let answer: Record<string, unknown>;
      try {
        answer = await cache.coalesce(key, () =>
          introspect({
            pool,
            path,
            headers,
            body: `token=${formEncode(token)}${hint}${credentials}`,
            timeoutMs: cfg.timeout_ms,
            maxBytes: cfg.max_response_bytes,
          }),
        );
      } catch (e) {
        if (e instanceof IntrospectionFailure) logFailure(e);
        else env.logger.error({ err: e }, 'token introspection failed: refusing with 503');
        throw unavailable();
      }
      const exp = answer.exp;
      if (answer.active !== true || (exp !== undefined && (typeof exp !== 'number' || exp * 1000 <= Date.now()))) {
        cache.set(key, null, at, at + negativeTtlMs);
        return null;
      }
      const claims = Object.freeze(answer);
      // Never past the token's own expiry, nor past max_ttl_s (the longest a revocation may go unseen).
      cache.set(key, claims, at, typeof exp === 'number' ? Math.min(at + maxTtlMs, exp * 1000) : at + maxTtlMs);
      return claims;
    }

    /** Checks of the answer that depend on this route's config; null when the token must be refused. */
    function identityOf(ctx: RequestContext, claims: Readonly<Record<string, unknown>>): Identity | null {
      const exp = claims.exp;
      if (typeof exp === 'number' && exp * 1000 <= Date.now()) return null;
      if (cfg.issuer !== undefined && claims.iss !== cfg.issuer) return null;
      if (audiences && !stringList(claims.aud).some((a) => audiences.has(a))) return null;
      // A refresh token or other non-access token presented as a bearer token.
      const type = claims.token_type;
      if (type !== undefined && !(typeof type === 'string' && /^(bearer|access_token)$/i.test(type))) return null;
      if (!confirmed(ctx, claims.cnf)) return null;
      const clientId = typeof claims.client_id === 'string' ? claims.client_id : null;
      let subject: string | null = null;
      for (const p of cfg.claims.subject) {
        const v = claimAt(claims, p);
        if (typeof v === 'string' && v) {
          subject = v;
          break;
        }
      }
      subject ??= clientId;
      if (!subject) return null;
      return {
        kind: 'introspection',
        consumerId: null,
        subject,
        credentialId: typeof claims.jti === 'string' ? claims.jti : null,
        roles: cfg.claims.roles ? stringList(claimAt(claims, cfg.claims.roles)) : [],
        scopes: stringList(claimAt(claims, cfg.claims.scopes)),
        attributes: {},
        claims,
        clientId,
        expiresAt: typeof exp === 'number' ? exp : null,
      };
    }

    return {
      identity: { challenge: CHALLENGE },
      async request(ctx) {
        if (ctx.identity) return;
        const auth = ctx.req.headers.authorization;
        if (!auth || !/^bearer /i.test(auth)) return;
        const token = BEARER.exec(auth)?.[1];
        if (token && cfg.skip_jwt && JWT_SHAPE.test(token)) return;
        // Rampart's own secrets (an API key, a built-in client secret) sent as a bearer token by mistake: refused
        // here, never handed to a third party's endpoint (and its logs).
        if (!token || token.length > cfg.max_token_bytes || OWN_SECRET.test(token)) throw invalidToken();
        const key = createHash('sha256').update(token).digest('base64url');
        ctx.authAttempt = `token:${key}`;
        ctx.onAuthAttempt?.(ctx.authAttempt);
        const claims = await lookup(token, key);
        const identity = claims && identityOf(ctx, claims);
        if (!identity) {
          env.logger.debug({ request_id: ctx.id }, 'introspected token refused');
          throw invalidToken();
        }
        ctx.identity = identity;
        if (insufficient && !cfg.required_scopes.every((s) => identity.scopes.includes(s))) throw insufficient();
      },
    };
  },
});

/**
 * Sender-constrained tokens: a certificate-bound one (RFC 8705 `cnf.x5t#S256`) only with that client
 * certificate; a DPoP-bound one (`cnf.jkt`) never, as this policy checks no DPoP proof.
 */
function confirmed(ctx: RequestContext, cnf: unknown): boolean {
  if (cnf === undefined) return true;
  if (typeof cnf !== 'object' || cnf === null) return false;
  const c = cnf as Record<string, unknown>;
  if (c.jkt !== undefined) return false;
  const x5t = c['x5t#S256'];
  if (x5t === undefined) return true;
  if (typeof x5t !== 'string' || !ctx.clientCert) return false;
  const want = createHash('sha256').update(ctx.clientCert.raw).digest();
  const got = Buffer.from(x5t, 'base64url');
  return got.length === want.length && timingSafeEqual(got, want);
}
