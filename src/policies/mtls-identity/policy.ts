import type { ClientCertificate, RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { definePolicy } from '../../core/policy.js';
import type { Consumer } from '../../store/types.js';
import { normalizeFingerprint } from '../../tls/fingerprint.js';
import { MtlsLookups } from './lookups.js';
import { type MatchRule, type MtlsIdentityConfig, meta, schema } from './schema.js';

/** No standard scheme names client certificates; a 401 still needs a challenge (RFC 9110 11.6.1). */
const CHALLENGE = 'mTLS realm="rampart"';

/** What rules match on, derived once per certificate (a keep-alive connection's requests share it). */
interface CertView {
  uri: string[];
  dns: string[];
  email: string[];
  cn: string | null;
  subject: string;
  issuer: string;
}

const views = new WeakMap<ClientCertificate, CertView>();

function viewOf(c: ClientCertificate): CertView {
  let v = views.get(c);
  if (!v) {
    const sans = (prefix: string) =>
      c.subjectAltNames.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
    v = {
      uri: sans('URI:'),
      dns: sans('DNS:').map((n) => n.toLowerCase()),
      email: sans('email:').map((n) => n.toLowerCase()),
      cn: c.commonName,
      subject: dn(c.subject),
      issuer: dn(c.issuer),
    };
    views.set(c, v);
  }
  return v;
}

/**
 * A DN as "O=Acme,CN=alice": node's one-RDN-per-line form, or what a config writes ("O = Acme, CN = alice"). Node
 * escapes special characters inside a value (RFC 4514: a CN "x,O=Acme" prints as "CN=x\,O=Acme"), so only an
 * unescaped "," or a line break separates RDNs: a crafted value stays one RDN and cannot pose as several.
 */
function dn(text: string): string {
  const rdns: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '\\' && i + 1 < text.length) {
      cur += ch + text[++i];
    } else if (ch === ',' || ch === '\n') {
      rdns.push(cur);
      cur = '';
    } else cur += ch;
  }
  rdns.push(cur);
  return rdns
    .map((rdn) => rdn.trim())
    .filter(Boolean)
    .map((rdn) => rdn.replace(/^([^=]+?)\s*=\s*/, '$1='))
    .join(',');
}

/** What "*" spans in a subject or issuer: one RDN value, escaped characters ("\,") included, never a separator. */
const RDN_VALUE = '(?:[^,\\\\]|\\\\[\\s\\S])+';

/**
 * An exact value or a single-"*" glob, anchored at both ends; `span` is what "*" may cover (at least one
 * character): a DNS label, an email part, an RDN value, or anything (URIs, CN).
 */
function compilePattern(p: string, span: string, fold: boolean): (v: string) => boolean {
  const pat = fold ? p.toLowerCase() : p;
  const star = pat.indexOf('*');
  if (star === -1) return (v) => v === pat;
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^${esc(pat.slice(0, star))}${span}${esc(pat.slice(star + 1))}$`);
  return (v) => re.test(v);
}

/** A rule as one predicate: every field it gives must match (any of the certificate's SANs of that kind). */
function compileRule(r: MatchRule): (v: CertView) => boolean {
  const checks: ((v: CertView) => boolean)[] = [];
  const anyOf = (p: string, span: string, fold: boolean, get: (v: CertView) => readonly string[]) => {
    const m = compilePattern(p, span, fold);
    checks.push((v) => get(v).some(m));
  };
  if (r.san_uri !== undefined) anyOf(r.san_uri, '[\\s\\S]+', false, (v) => v.uri);
  if (r.san_dns !== undefined) anyOf(r.san_dns, '[^.]+', true, (v) => v.dns);
  if (r.san_email !== undefined) anyOf(r.san_email, '[^@]+', true, (v) => v.email);
  if (r.cn !== undefined) anyOf(r.cn, '[\\s\\S]+', false, (v) => (v.cn === null ? [] : [v.cn]));
  if (r.subject !== undefined) anyOf(dn(r.subject), RDN_VALUE, false, (v) => [v.subject]);
  if (r.issuer !== undefined) anyOf(dn(r.issuer), RDN_VALUE, false, (v) => [v.issuer]);
  return (v) => checks.every((c) => c(v));
}

function refused(): GatewayError {
  return new GatewayError('UNAUTHENTICATED', 'Authentication failed.', {
    headers: { 'www-authenticate': CHALLENGE },
  });
}

function epochSeconds(iso: string | Date): number {
  return Math.floor(new Date(iso).getTime() / 1000);
}

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg: MtlsIdentityConfig, env) {
    const store = env.services.store;
    if (cfg.fingerprints === true && !store) {
      throw new Error('mtls-identity: fingerprints: true needs a store (configure `store:`)');
    }
    const byFingerprint = (cfg.fingerprints ?? true) && store !== null;
    if (!byFingerprint && cfg.match.length === 0) {
      throw new Error(
        'mtls-identity maps no certificate: give match rules, or configure a store for fingerprint bindings',
      );
    }
    const lookups = store ? env.services.shared('mtls-identity:lookups', () => new MtlsLookups(store)) : null;
    const rules = cfg.match.map((r) => ({ consumer: r.consumer, test: compileRule(r) }));
    const ttl = cfg.cache_ttl_ms;

    // Problems that last (a store outage, a rule naming no consumer) log at most one line per second.
    const lastLog = new Map<string, number>();
    const throttled = (what: string) => {
      const now = Date.now();
      if (now - (lastLog.get(what) ?? 0) < 1000) return false;
      lastLog.set(what, now);
      return true;
    };
    const storeFailed = (e: unknown): GatewayError => {
      if (throttled('store')) {
        env.logger.error({ err: e }, 'mtls-identity: store lookup failed: refusing with 503');
      }
      return new GatewayError('AUTH_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' } });
    };

    const fromConsumer = (
      consumer: Consumer | null,
      credentialId: string,
      scopes: readonly string[],
      expiresAt: number,
    ): Identity | null =>
      consumer && consumer.status === 'active'
        ? {
            kind: 'mtls',
            consumerId: consumer.id,
            subject: consumer.name,
            credentialId,
            roles: consumer.groups,
            scopes,
            attributes: consumer.attributes,
            claims: null,
            clientId: null,
            expiresAt,
          }
        : null;

    async function identify(ctx: RequestContext, cert: ClientCertificate, fp: string): Promise<Identity | null> {
      const certExpires = epochSeconds(cert.validTo);
      if (byFingerprint && lookups) {
        const b = await lookups.binding(fp, ttl).catch((e: unknown) => {
          throw storeFailed(e);
        });
        if (b) {
          const c = b.credential;
          ctx.authAttempt = `mtls:${fp}`;
          ctx.onAuthAttempt?.(ctx.authAttempt);
          // A revoked or expired binding refuses the certificate outright, even if a rule would match it. A
          // revoked_at that lies ahead (a grace period) counts from then on, as for every credential.
          const now = Date.now();
          if ((c.revoked_at && Date.parse(c.revoked_at) <= now) || (c.expires_at && Date.parse(c.expires_at) <= now))
            throw refused();
          const expiresAt = Math.min(
            certExpires,
            ...[c.expires_at, c.revoked_at].flatMap((t) => (t ? [epochSeconds(t)] : [])),
          );
          const id = fromConsumer(b.consumer, c.id, c.scopes, expiresAt);
          if (!id) throw refused();
          if (c.routes.length && !(ctx.route && c.routes.includes(ctx.route.name))) {
            ctx.identity = id;
            throw new GatewayError('INSUFFICIENT_SCOPE', 'This certificate is not allowed on this route.');
          }
          return id;
        }
      }
      if (!rules.length) return null;
      const view = viewOf(cert);
      const rule = rules.find((r) => r.test(view));
      if (!rule) return null;
      ctx.authAttempt = `mtls:${fp}`;
      ctx.onAuthAttempt?.(ctx.authAttempt);
      if (!lookups) {
        // No store: the rule's name is the identity, with no groups or attributes.
        return {
          kind: 'mtls',
          consumerId: null,
          subject: rule.consumer,
          credentialId: fp,
          roles: [],
          scopes: [],
          attributes: {},
          claims: null,
          clientId: null,
          expiresAt: certExpires,
        };
      }
      const consumer = await lookups.consumerByName(rule.consumer, ttl).catch((e: unknown) => {
        throw storeFailed(e);
      });
      if (!consumer && throttled(`missing:${rule.consumer}`)) {
        env.logger.warn({ consumer: rule.consumer }, 'mtls-identity: a rule names no such consumer');
      }
      const id = fromConsumer(consumer, fp, [], certExpires);
      if (!id) throw refused();
      return id;
    }

    return {
      identity: { challenge: CHALLENGE },
      async request(ctx) {
        const cert = ctx.clientCert;
        if (ctx.identity || !cert) return;
        // TLS checked the dates at the handshake only: a keep-alive connection, an HTTP/2 session or a resumed TLS
        // session outlives the certificate.
        if (cert.validTo.getTime() <= Date.now()) throw refused();
        const fp = normalizeFingerprint(cert.fingerprint256);
        if (!fp) throw refused();
        const id = await identify(ctx, cert, fp);
        if (id) ctx.identity = id;
        else if (cfg.require) throw refused();
      },
    };
  },
});
