import { hash, timingSafeEqual } from 'node:crypto';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { decodeQueryComponent } from '../../core/query.js';
import { CREDENTIAL_MAC_PURPOSE } from '../../crypto/purposes.js';
import { parseApiKey } from '../../identity/api-key.js';
import { type CacheEntry, CredentialCache, LastUsed } from './credentials.js';
import { meta, schema } from './schema.js';

/** Logged at most this often while the store fails, so an outage does not flood the log. */
const STORE_ERROR_LOG_MS = 5_000;

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const { store, keyring } = env.services;
    if (!store || !keyring)
      throw new Error('api-key needs `store:` in the config (consumers and their keys live in the store)');
    if (cfg.query_param)
      env.logger.warn(
        { scope: env.scope, query_param: cfg.query_param },
        'api-key accepts keys in the query string: URLs are written to access logs (of proxies and upstreams too), browser history and Referer headers, so keys sent this way leak; prefer the header',
      );
    const cache = env.services.shared('api-key/credentials', () => new CredentialCache(store, keyring));
    const usage = env.services.shared('api-key/last-used', () => new LastUsed(store, env.logger));
    const { header, query_param: queryParam, cache_ttl_ms: ttl, hide_credentials: hide } = cfg;
    const challenge = `ApiKey header="${header}"`;
    const challengeHeaders = { 'www-authenticate': challenge };
    // Checked against unknown key ids too, so a missing credential costs the same MAC as a wrong secret.
    const decoy = keyring.mac(CREDENTIAL_MAC_PURPOSE, 'rampart api-key decoy');
    let lastStoreErrorLog = 0;

    // One answer for every failure (unknown, wrong secret, revoked, expired, consumer disabled, malformed).
    const failed = () => new GatewayError('UNAUTHENTICATED', 'Authentication failed.', { headers: challengeHeaders });

    const check = (ctx: RequestContext, key: string, entry: CacheEntry, now: number, inQuery: boolean): void => {
      const c = entry.value;
      let ok: boolean;
      if (c !== null && c.verified !== null) {
        ok = timingSafeEqual(hash('sha256', key, 'buffer'), c.verified);
      } else {
        ok = keyring.verifyMac(CREDENTIAL_MAC_PURPOSE, key, c ? c.secretHash : decoy);
        if (ok && c !== null) c.verified = hash('sha256', key, 'buffer');
      }
      if (c === null || !ok || now >= c.validUntil) throw failed();
      if (c.routes !== null && (ctx.route === null || !c.routes.has(ctx.route.name)))
        throw new GatewayError('INSUFFICIENT_SCOPE', 'This API key is not valid for this route.');
      ctx.identity = c.identity;
      usage.add(c.id);
      if (hide) {
        if (inQuery) stripQueryParam(ctx, queryParam as string);
        else delete ctx.upstreamHeaders[header];
      }
    };

    const unavailable = (e: unknown): never => {
      const now = Date.now();
      if (now - lastStoreErrorLog >= STORE_ERROR_LOG_MS) {
        lastStoreErrorLog = now;
        env.logger.error({ err: { message: (e as Error).message } }, 'api-key: credential lookup failed; refusing');
      }
      throw new GatewayError('AUTH_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' }, cause: e });
    };

    return {
      identity: { challenge },
      request(ctx) {
        let raw: string | string[] | undefined | null = ctx.req.headers[header];
        let inQuery = false;
        if (raw === undefined && queryParam !== undefined && ctx.query.length > 1) {
          raw = queryValue(ctx.query, queryParam);
          inQuery = raw !== undefined;
        }
        // No key of ours: another identity policy may recognise the caller, else the gate answers 401.
        if (raw === undefined) return;
        const parsed = parseApiKey(raw);
        if (parsed === null) {
          // Presented but malformed: a failed attempt for the client's address ('' names no credential).
          ctx.onAuthAttempt?.('');
          throw failed();
        }
        const { key, keyId } = parsed;
        // The key id (never the secret) names the credential tried, for brute-force and the audit log's failures.
        ctx.authAttempt = keyId;
        ctx.onAuthAttempt?.(keyId);
        const now = Date.now();
        const hit = cache.fresh(keyId, now, ttl);
        if (hit !== undefined) return check(ctx, key, hit, now, inQuery);
        return cache.load(keyId, now).then((e) => check(ctx, key, e, Date.now(), inQuery), unavailable);
      },
    };
  },
});

/**
 * The parameter's raw value from a query string ("?a=1&k=v"); undefined when absent, null when it appears more than
 * once (which copy would the upstream read? refused as malformed rather than guessed).
 */
function queryValue(query: string, name: string): string | undefined | null {
  if (!query.includes(name)) return undefined;
  let found: string | undefined | null;
  for (const part of query.slice(1).split('&')) {
    const eq = part.indexOf('=');
    if (decodeQueryComponent(eq === -1 ? part : part.slice(0, eq)) !== name) continue;
    if (found !== undefined) return null;
    found = eq === -1 ? '' : decodeQueryComponent(part.slice(eq + 1));
  }
  return found;
}

/** Removes every occurrence of the parameter from the query sent upstream, leaving the others byte for byte. */
function stripQueryParam(ctx: RequestContext, name: string): void {
  const old = ctx.query;
  const kept = old
    .slice(1)
    .split('&')
    .filter((part) => {
      const eq = part.indexOf('=');
      return decodeQueryComponent(eq === -1 ? part : part.slice(0, eq)) !== name;
    });
  const next = kept.length ? `?${kept.join('&')}` : '';
  ctx.query = next;
  if (ctx.upstreamPath.endsWith(old)) ctx.upstreamPath = ctx.upstreamPath.slice(0, -old.length || undefined) + next;
}
