import { createHash, hash as digest, timingSafeEqual } from 'node:crypto';
import { type JWK, type JWTPayload, type JWTVerifyOptions, errors as joseErrors, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import type { ClientCertificate, RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { Identity, LocalIssuer } from '../../core/identity.js';
import { definePolicy, type PolicyEnv } from '../../core/policy.js';
import {
  ASYMMETRIC_ALGS,
  checkJwk,
  type KeyEntry,
  type KeySource,
  KeysUnavailableError,
  keyFetchAgent,
  LocalIssuerKeySet,
  pemToJwk,
  RemoteKeySet,
  StaticKeySet,
} from '../../identity/jwks.js';
import type { Consumer } from '../../store/types.js';
import { type IssuerConfig, type JwtConfig, meta, type StaticKeyConfig, schema } from './schema.js';

const CHALLENGE = 'Bearer realm="rampart"';
/** RFC 6750 §3.1: the same answer whatever failed (signature, expiry, audience, key, shape). */
const INVALID_TOKEN_HEADERS = { 'www-authenticate': `${CHALLENGE}, error="invalid_token"` };
/** Keys tried for a token without kid when several fit its alg; more is refused rather than a CPU sink. */
const MAX_CANDIDATES = 3;
/**
 * How long a subject-to-consumer lookup is reused: a disabled or deleted consumer is refused on every worker within
 * this, as API keys and certificates are (their cache_ttl_ms default).
 */
const CONSUMER_TTL_MS = 500;
const SEGMENT = /^[A-Za-z0-9_-]+$/;

const invalidToken = () =>
  new GatewayError('UNAUTHENTICATED', 'Authentication failed.', { headers: INVALID_TOKEN_HEADERS });

/** An issuer compiled at load: its key source, the jose options, and how claims map to an identity. */
interface Issuer {
  readonly iss: string;
  readonly keys: KeySource;
  readonly algorithms: ReadonlySet<string>;
  readonly verify: JWTVerifyOptions;
  readonly skewS: number;
  /** Epoch-seconds bound from max_age_s, or null. */
  readonly maxAgeS: number | null;
  readonly consumerClaim: string;
  readonly rolesClaim: string | undefined;
  readonly scopesClaim: string | undefined;
  readonly certBound: 'off' | 'if_present' | 'required';
  /** The built-in authorization server: revocation is checked on every request. */
  readonly local: LocalIssuer | null;
}

/** A verified token, reused until `until` (never past its exp). The identity is before consumer mapping. */
interface Verified {
  readonly configKey: string;
  readonly iss: string;
  readonly thumbprint: string;
  readonly until: number;
  /** cnf."x5t#S256" bytes when the token is certificate-bound. */
  readonly x5t: Buffer | null;
  readonly jti: string | null;
  readonly clientId: string | null;
  readonly identity: Identity;
}

type ConsumerHit = Consumer | null;

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const { services, logger } = env;
    if (cfg.consumer_lookup && !services.store)
      throw new Error('jwt.consumer_lookup needs the store (set store: in the config)');
    const configKey = createHash('sha256').update(JSON.stringify(cfg)).digest('base64url');
    const agent = services.shared('jwks:agent', () => keyFetchAgent(cfg.jwks.timeout_ms));
    const remote: RemoteKeySet[] = [];
    const issuers = new Map<string, Issuer>();
    for (const ic of cfg.issuers) {
      const keys = keySourceOf(ic, cfg, env, agent);
      if (keys instanceof RemoteKeySet) {
        keys.acquire();
        remote.push(keys);
      }
      issuers.set(ic.issuer, compileIssuer(ic, keys, null));
    }
    if (cfg.issuers.length === 0 && !cfg.builtin_issuer.enabled)
      logger.warn('jwt has no issuers and the built-in issuer is off: every token is refused');

    // The built-in server may come up after the config loads, so it is looked up per request (one field read).
    let local: { server: LocalIssuer; issuer: Issuer } | null = null;
    const localIssuer = (iss: string): Issuer | null => {
      const server = cfg.builtin_issuer.enabled ? services.authServer : null;
      if (!server || server.issuer !== iss) return null;
      if (local?.server !== server) {
        const keys = services.shared(`jwt:local-keys:${server.issuer}`, () => new LocalIssuerKeySet(server, logger));
        const ks = keys.issuer === server ? keys : new LocalIssuerKeySet(server, logger);
        // Its tokens carry its own audience; checked unless the config names others.
        const audiences = cfg.builtin_issuer.audiences ?? (server.audience ? [server.audience] : undefined);
        local = {
          server,
          issuer: compileIssuer({ ...cfg.builtin_issuer, audiences, issuer: server.issuer }, ks, server),
        };
        if (issuers.has(iss))
          logger.warn(
            { issuer: iss },
            'a configured issuer has the name of the built-in one; the built-in one is used',
          );
      }
      return local.issuer;
    };
    const issuerOf = (iss: string) => localIssuer(iss) ?? issuers.get(iss) ?? null;

    // Process-wide per scope (kept across reloads); entries carry the config they were verified under.
    const cache = cfg.cache.enabled
      ? services.shared(
          `jwt:tokens:${env.scope}:${cfg.cache.max_entries}`,
          () => new LRUCache<string, Verified>({ max: cfg.cache.max_entries }),
        )
      : null;
    const consumers = cfg.consumer_lookup
      ? new LRUCache<string, { c: ConsumerHit }>({ max: 10_000, ttl: CONSUMER_TTL_MS })
      : null;

    const fail = (reason: string, detail?: unknown): never => {
      logger.debug({ reason, ...(detail instanceof Error ? { err: detail.message } : {}) }, 'token refused');
      throw invalidToken();
    };

    /** Consumer mapping, the part of the identity that may change while a token is cached. */
    const withConsumer = (base: Identity, clientId: string | null): Identity | Promise<Identity> => {
      if (!consumers) return base;
      const key = `${base.subject}\u0000${clientId ?? ''}`;
      const hit = consumers.get(key);
      if (hit) return applyConsumer(base, hit.c);
      return lookupConsumer(services.store!, base.subject, clientId).then(
        (c) => {
          consumers.set(key, { c });
          return applyConsumer(base, c);
        },
        (e: unknown) => {
          // The store cannot say whether the consumer is disabled: refuse, retryably.
          logger.error({ err: (e as Error)?.message }, 'consumer lookup failed: 503');
          throw new GatewayError('AUTH_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' }, cause: e });
        },
      );
    };
    const applyConsumer = (base: Identity, c: ConsumerHit): Identity => {
      if (!c) return base;
      if (c.status !== 'active') fail('consumer disabled');
      return Object.freeze({
        ...base,
        consumerId: c.id,
        subject: c.name,
        roles: Object.freeze([...new Set([...c.groups, ...base.roles])]),
        attributes: Object.freeze({ ...c.attributes }),
      });
    };

    /** A cached verification still holds for this request: key still current, binding, revocation. */
    const fromCache = (ctx: RequestContext, hash: string, v: Verified): Identity | Promise<Identity> | null => {
      const issuer = v.configKey === configKey && Date.now() < v.until ? issuerOf(v.iss) : null;
      const state = issuer?.keys.check(v.thumbprint);
      // A key removed from the set must stop working at once: verify again (which refuses it). Past the stale
      // window verification answers 503 with its Retry-After.
      if (!issuer || state !== 'ok') {
        cache?.delete(hash);
        return null;
      }
      checkBinding(issuer, v.x5t, false, ctx.clientCert);
      if (issuer.local) return activeThen(issuer.local, v.jti, () => withConsumer(v.identity, v.clientId));
      return withConsumer(v.identity, v.clientId);
    };

    const activeThen = async (server: LocalIssuer, jti: string | null, then: () => Identity | Promise<Identity>) => {
      await checkActive(server, jti);
      return then();
    };

    /** Revocation at the built-in server; when it cannot answer (store down) the request is refused with 503. */
    const checkActive = async (server: LocalIssuer, jti: string | null): Promise<void> => {
      if (!jti) fail('no jti');
      let active: boolean;
      try {
        active = await server.isActive(jti as string);
      } catch (e) {
        logger.error({ err: (e as Error)?.message }, 'revocation check failed: 503');
        throw new GatewayError('AUTH_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' }, cause: e });
      }
      if (!active) fail('revoked');
    };

    const checkBinding = (
      issuer: Issuer,
      x5t: Buffer | null,
      otherBinding: boolean,
      cert: ClientCertificate | null,
    ) => {
      if (issuer.certBound === 'off') return;
      if (otherBinding) fail('unsupported cnf binding');
      if (!x5t) {
        if (issuer.certBound === 'required') fail('token not certificate-bound');
        return;
      }
      if (!cert) fail('certificate-bound token without a client certificate');
      if (!timingSafeEqual(x5t, certThumbprint(cert!))) fail('certificate binding mismatch');
    };

    const verify = async (ctx: RequestContext, token: string, hash: string): Promise<Identity> => {
      const [h, p] = token.split('.') as [string, string, string];
      const header = decodeSegment(h);
      const unverified = decodeSegment(p);
      if (!header || !unverified) return fail('malformed');
      // Key sources come from the config only: a token naming its own key or key URL is an attack.
      if ('jku' in header || 'x5u' in header || 'jwk' in header) return fail('jku/x5u/jwk header');
      const { alg, kid } = header;
      if (typeof alg !== 'string' || (kid !== undefined && typeof kid !== 'string')) return fail('bad header');
      // The unverified iss only chooses the keys; jose checks iss again after the signature.
      const iss = unverified.iss;
      const issuer = typeof iss === 'string' ? issuerOf(iss) : null;
      if (!issuer) return fail('unknown issuer');
      if (!issuer.algorithms.has(alg)) return fail('algorithm not allowed');
      let keys: readonly KeyEntry[];
      try {
        keys = await issuer.keys.keysFor(alg, kid);
      } catch (e) {
        if (e instanceof KeysUnavailableError) {
          logger.warn({ issuer: issuer.iss, err: e.message }, 'no signing key can be had: 503');
          throw new GatewayError('AUTH_UNAVAILABLE', undefined, { headers: { 'retry-after': String(e.retryAfterS) } });
        }
        throw e;
      }
      if (keys.length === 0) return fail('no key for kid/alg');
      if (kid === undefined && keys.length > MAX_CANDIDATES) return fail('no kid and too many candidate keys');
      let claims: JWTPayload | null = null;
      let used: KeyEntry | null = null;
      for (const k of keys) {
        try {
          claims = (await jwtVerify(token, await k.cryptoKey(alg), issuer.verify)).payload;
          used = k;
          break;
        } catch (e) {
          // Only a bad signature moves on to the next candidate; any claim failure means this key signed it.
          if (!(e instanceof joseErrors.JWSSignatureVerificationFailed) || k === keys[keys.length - 1])
            return fail(e instanceof joseErrors.JOSEError ? e.code : 'verify error', e);
        }
      }
      if (!claims || !used) return fail('not verified');
      const now = Math.floor(Date.now() / 1000);
      // jose checks iat only with maxTokenAge; a token from the future is refused either way.
      if (claims.iat !== undefined && claims.iat > now + issuer.skewS) return fail('iat in the future');
      const subject = claimAt(claims, issuer.consumerClaim);
      if (typeof subject !== 'string' || subject === '') return fail('no subject');
      const cnf = claims.cnf as Record<string, unknown> | undefined;
      const bound = cnf && typeof cnf === 'object' ? cnf['x5t#S256'] : undefined;
      let x5t: Buffer | null = null;
      if (bound !== undefined) {
        x5t = typeof bound === 'string' && SEGMENT.test(bound) ? Buffer.from(bound, 'base64url') : null;
        if (x5t?.length !== 32 && issuer.certBound !== 'off') return fail('bad cnf');
      }
      const otherBinding = !!cnf && typeof cnf === 'object' && Object.keys(cnf).some((k) => k !== 'x5t#S256');
      checkBinding(issuer, x5t, otherBinding, ctx.clientCert);
      const jti = typeof claims.jti === 'string' ? claims.jti : null;
      const clientId = str(claims.client_id) ?? str(claims.azp);
      const identity: Identity = Object.freeze({
        kind: 'jwt',
        consumerId: null,
        subject,
        credentialId: jti,
        roles: Object.freeze(listClaim(claimAt(claims, issuer.rolesClaim))),
        scopes: Object.freeze(
          listClaim(issuer.scopesClaim ? claimAt(claims, issuer.scopesClaim) : (claims.scope ?? claims.scp)),
        ),
        attributes: Object.freeze({}),
        claims: deepFreeze(claims),
        clientId,
        expiresAt: claims.exp ?? null,
      });
      if (issuer.local) await checkActive(issuer.local, jti);
      if (cache && claims.exp !== undefined) {
        let until = Math.min(claims.exp * 1000, Date.now() + cfg.cache.max_ttl_s * 1000);
        if (issuer.maxAgeS !== null && claims.iat !== undefined)
          until = Math.min(until, (claims.iat + issuer.maxAgeS) * 1000);
        cache.set(hash, {
          configKey,
          iss: issuer.iss,
          thumbprint: used.thumbprint,
          until,
          x5t,
          jti,
          clientId,
          identity,
        });
      }
      return withConsumer(identity, clientId);
    };

    const refuseOpaque = cfg.opaque_tokens === 'refuse';
    const headerName = cfg.header;
    return {
      identity: { challenge: CHALLENGE },
      request(ctx) {
        const token = tokenOf(ctx.req.headers[headerName], headerName === 'authorization');
        if (token === null) return;
        if (!isJwtShaped(token) && !refuseOpaque) return;
        const hash = digest('sha256', token, 'base64url');
        const attempt = `jwt:${hash.slice(0, 22)}`;
        ctx.authAttempt = attempt;
        ctx.onAuthAttempt?.(attempt);
        if (token.length > cfg.max_token_bytes || !isJwtShaped(token)) fail('size or shape');
        const hit = cache?.get(hash);
        if (hit) {
          const id = fromCache(ctx, hash, hit);
          if (id !== null) {
            if (!(id instanceof Promise)) {
              ctx.identity = id;
              return;
            }
            return id.then((i) => {
              ctx.identity = i;
            });
          }
        }
        return verify(ctx, token, hash).then((i) => {
          ctx.identity = i;
        });
      },
      close() {
        for (const r of remote) r.release();
      },
    };
  },
});

/** The token from the header; null when there is none of this kind (another identity policy may take it). */
function tokenOf(v: string | string[] | undefined, authorization: boolean): string | null {
  if (v === undefined) return null;
  const s = (Array.isArray(v) ? v[0] : v)?.trim() ?? '';
  const bearer = s.length >= 6 && s.slice(0, 6).toLowerCase() === 'bearer' && (s.length === 6 || s[6] === ' ');
  if (!authorization) return s === '' ? null : bearer ? s.slice(6).trimStart() : s;
  // "Authorization: Basic ..." is not ours; "Bearer" with nothing after is a failed attempt.
  return bearer ? s.slice(6).trimStart() : null;
}

/** Three dot-separated parts (each checked strictly for base64url later). */
function isJwtShaped(t: string): boolean {
  const a = t.indexOf('.');
  const b = a === -1 ? -1 : t.indexOf('.', a + 1);
  return b !== -1 && t.indexOf('.', b + 1) === -1;
}

function decodeSegment(s: string): Record<string, unknown> | null {
  if (!SEGMENT.test(s)) return null;
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Claims are shared by every request that hits the cache: no policy may change them for the next one. */
function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** A claim by exact name, else by dotted path into nested objects. */
export function claimAt(claims: Record<string, unknown>, path: string | undefined): unknown {
  if (path === undefined) return undefined;
  if (Object.hasOwn(claims, path)) return claims[path];
  let v: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** An array of strings, or a space-separated string, as a list; anything else is empty. */
function listClaim(v: unknown): string[] {
  if (typeof v === 'string') return v.split(' ').filter(Boolean);
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string' && x !== '');
  return [];
}

/** SHA-256 of the certificate's DER (RFC 8705 §3.1), once per certificate object. */
const thumbprints = new WeakMap<ClientCertificate, Buffer>();
function certThumbprint(c: ClientCertificate): Buffer {
  let t = thumbprints.get(c);
  if (!t) {
    t = createHash('sha256').update(c.raw).digest();
    thumbprints.set(c, t);
  }
  return t;
}

function compileIssuer(
  ic: Omit<IssuerConfig, 'discovery' | 'jwks_uri' | 'keys' | 'algorithms' | 'audiences'> & {
    audiences?: string[] | undefined;
    algorithms?: string[] | undefined;
  },
  keys: KeySource,
  local: LocalIssuer | null,
): Issuer {
  const algorithms = ic.algorithms ?? [...ASYMMETRIC_ALGS];
  return {
    iss: ic.issuer,
    keys,
    algorithms: new Set(algorithms),
    verify: {
      algorithms,
      issuer: ic.issuer,
      ...(ic.audiences && { audience: ic.audiences }),
      clockTolerance: ic.clock_skew_s,
      ...(ic.max_age_s !== undefined && { maxTokenAge: ic.max_age_s }),
      ...(ic.typ !== undefined && { typ: ic.typ }),
      // An access token without exp would never expire (RFC 9068 §2.2 makes it required).
      requiredClaims: [...new Set(['exp', ...ic.required_claims])],
    },
    skewS: ic.clock_skew_s,
    maxAgeS: ic.max_age_s ?? null,
    consumerClaim: ic.consumer_claim,
    rolesClaim: ic.roles_claim,
    scopesClaim: ic.scopes_claim,
    certBound: ic.cert_bound,
    local,
  };
}

function keySourceOf(
  ic: IssuerConfig,
  cfg: JwtConfig,
  env: PolicyEnv,
  agent: ReturnType<typeof keyFetchAgent>,
): KeySource {
  if (ic.keys) return new StaticKeySet(ic.keys.map(staticJwk));
  const discovery =
    ic.discovery === undefined || ic.discovery === false
      ? null
      : {
          url:
            ic.discovery === true
              ? `${ic.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
              : (ic.discovery as string),
          issuer: ic.issuer,
        };
  const j = cfg.jwks;
  const url = discovery ? `discovery:${discovery.url}|${ic.issuer}` : `jwks:${ic.jwks_uri}`;
  // One per URL and timing settings for the process: a reload keeps the keys and does not refetch.
  return env.services.shared(
    `jwt:keyset:${url}|${j.refresh_s}|${j.cooldown_s}|${j.max_stale_s}|${j.timeout_ms}|${j.max_bytes}`,
    () =>
      new RemoteKeySet({
        jwksUri: discovery ? null : (ic.jwks_uri ?? null),
        discovery,
        refreshS: j.refresh_s,
        cooldownS: j.cooldown_s,
        maxStaleS: j.max_stale_s,
        timeoutMs: j.timeout_ms,
        maxBytes: j.max_bytes,
        dispatcher: agent,
        logger: env.logger,
      }),
  );
}

/** A configured key as a checked public (or, for HS*, symmetric) JWK; the schema refused bad ones at load. */
function staticJwk(k: StaticKeyConfig): JWK {
  let jwk: unknown;
  if (typeof k === 'string') jwk = pemToJwk(k);
  else if ('pem' in k) jwk = pemToJwk(k.pem as string, k.kid as string | undefined);
  else if ('secret' in k)
    jwk = { kty: 'oct', k: Buffer.from(k.secret as string).toString('base64url'), ...(k.kid ? { kid: k.kid } : {}) };
  else jwk = k;
  const checked = checkJwk(jwk, { allowSecret: true });
  if (typeof checked === 'string') throw new Error(`jwt: static key refused: ${checked}`);
  return checked;
}

/** The consumer a token's subject (or client) names, by name then id, then the OAuth client's owner. */
async function lookupConsumer(
  store: NonNullable<PolicyEnv['services']['store']>,
  subject: string,
  clientId: string | null,
): Promise<ConsumerHit> {
  const c = (await store.consumers.getByName(subject)) ?? (await store.consumers.get(subject));
  if (c) return c;
  if (!clientId) return null;
  const client = await store.clients.get(clientId);
  return client ? store.consumers.get(client.consumer_id) : null;
}
