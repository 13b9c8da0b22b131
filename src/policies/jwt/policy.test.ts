import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
  SignJWT,
} from 'jose';
import type { LRUCache } from 'lru-cache';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tmpFile } from '../../../test/helpers.js';
import { makeCtx, silentLogger } from '../../../test/unit-helpers.js';
import { ConfigError, parseConfig } from '../../config/load.js';
import type { ClientCertificate, RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { LocalIssuer } from '../../core/identity.js';
import type { PolicyInstance } from '../../core/policy.js';
import { ServiceRegistry } from '../../core/shared.js';
import { openStore } from '../../store/index.js';
import { TestCipher } from '../../store/test-cipher.js';
import type { Store } from '../../store/types.js';
import { createCa, issue } from '../../tls/certs.js';
import def from './policy.js';
import { schema } from './schema.js';

const ISS = 'https://idp.example';
const AUD = 'https://api.example';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');

interface Pair {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
  pem: string;
}
async function pair(alg: 'ES256' | 'RS256' | 'EdDSA', kid: string): Promise<Pair> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid }, pem: await exportSPKI(publicKey) };
}

async function sign(
  k: { privateKey: CryptoKey | Uint8Array; kid?: string; alg: string },
  claims: JWTPayload = {},
  header: Partial<JWTHeaderParameters> = {},
  signOpts: { crit?: Record<string, boolean> } = {},
): Promise<string> {
  const t = now();
  return new SignJWT({ iss: ISS, aud: AUD, sub: 'alice', iat: t, exp: t + 300, jti: `j-${Math.random()}`, ...claims })
    .setProtectedHeader({ alg: k.alg, ...(k.kid && { kid: k.kid }), ...header } as JWTHeaderParameters)
    .sign(k.privateKey, signOpts);
}

/** A real LocalIssuer (the built-in authorization server's interface) on jose keys, with revocation and rotation. */
class TestIssuer implements LocalIssuer {
  readonly issuer = 'https://gateway.example/as';
  keys: Pair[] = [];
  readonly revoked = new Set<string>();
  activeChecks = 0;
  async rotate(): Promise<Pair> {
    const k = await pair('ES256', `as-${this.keys.length + 1}`);
    this.keys.unshift(k);
    return k;
  }
  retire(kid: string): void {
    this.keys = this.keys.filter((k) => k.kid !== kid);
  }
  jwks() {
    return { keys: this.keys.map((k) => ({ ...k.jwk, alg: 'ES256', use: 'sig' })) };
  }
  async isActive(jti: string): Promise<boolean> {
    this.activeChecks++;
    return !this.revoked.has(jti);
  }
  issue(claims: JWTPayload = {}): Promise<string> {
    const t = now();
    const k = this.keys[0]!;
    return new SignJWT({
      iss: this.issuer,
      sub: 'svc-1',
      client_id: 'svc-1',
      scope: 'a b',
      iat: t,
      exp: t + 300,
      jti: `as-${Math.random()}`,
      ...claims,
    })
      .setProtectedHeader({ alg: 'ES256', kid: k.kid, typ: 'at+jwt' })
      .sign(k.privateKey);
  }
}

function make(cfg: unknown, services = new ServiceRegistry()): { inst: PolicyInstance; services: ServiceRegistry } {
  const inst = def.create(schema.parse(cfg), { logger: silentLogger, scope: 'global', services });
  return { inst, services };
}

async function run(inst: PolicyInstance, token: string | null, o: { cert?: ClientCertificate; header?: string } = {}) {
  const headers: Record<string, string> = {};
  if (token !== null) headers[o.header ?? 'authorization'] = o.header ? token : `Bearer ${token}`;
  const ctx = makeCtx({ headers });
  if (o.cert) ctx.clientCert = o.cert;
  try {
    await inst.request?.(ctx);
    return { ctx, err: undefined };
  } catch (e) {
    return { ctx, err: e as GatewayError };
  }
}

function expectInvalid(r: { ctx: RequestContext; err: GatewayError | undefined }, why = '') {
  expect(r.err, why).toBeInstanceOf(GatewayError);
  expect(r.err?.code, why).toBe('UNAUTHENTICATED');
  expect(r.err?.detail, why).toBe('Authentication failed.');
  expect(r.err?.headers, why).toEqual({ 'www-authenticate': 'Bearer realm="rampart", error="invalid_token"' });
  expect(r.ctx.identity, why).toBeNull();
}

function tokenCache(services: ServiceRegistry) {
  return services.shared('jwt:tokens:global:10000', () => null) as LRUCache<string, { until: number }> | null;
}

let es: Pair;
let rs: Pair;
let ed: Pair;
let other: Pair;
beforeAll(async () => {
  [es, rs, ed, other] = await Promise.all([
    pair('ES256', 'es-1'),
    pair('RS256', 'rs-1'),
    pair('EdDSA', 'ed-1'),
    pair('ES256', 'es-1'), // same kid, other key: what an attacker would use
  ]);
});

const issuerCfg = (extra: Record<string, unknown> = {}) => ({
  issuer: ISS,
  keys: [es.jwk, { pem: rs.pem, kid: 'rs-1' }, ed.jwk],
  audiences: [AUD],
  ...extra,
});

describe('jwt: accepting tokens', () => {
  it('verifies ES256, RS256 and EdDSA tokens and maps claims to the identity', async () => {
    const { inst } = make({ issuers: [issuerCfg({ roles_claim: 'realm_access.roles' })] });
    for (const k of [es, rs, ed]) {
      const t = now();
      const token = await sign(k, {
        jti: 'id-1',
        exp: t + 120,
        scope: 'read write',
        azp: 'web-app',
        realm_access: { roles: ['admin', 7, 'ops'] },
      });
      const { ctx, err } = await run(inst, token);
      expect(err, k.alg).toBeUndefined();
      expect(ctx.identity).toMatchObject({
        kind: 'jwt',
        consumerId: null,
        subject: 'alice',
        credentialId: 'id-1',
        roles: ['admin', 'ops'],
        scopes: ['read', 'write'],
        clientId: 'web-app',
        expiresAt: t + 120,
      });
      expect(ctx.identity?.claims?.iss).toBe(ISS);
      expect(Object.isFrozen(ctx.identity)).toBe(true);
      expect(Object.isFrozen((ctx.identity!.claims!.realm_access as { roles: unknown[] }).roles)).toBe(true);
    }
  });

  it('reads scp arrays, a configured scopes claim, client_id over azp, and a custom header', async () => {
    const { inst } = make({ header: 'x-access-token', issuers: [issuerCfg({ consumer_claim: 'client_id' })] });
    const token = await sign(es, { scp: ['a', 'b'], client_id: 'cli', azp: 'other' });
    const { ctx, err } = await run(inst, token, { header: 'x-access-token' });
    expect(err).toBeUndefined();
    expect(ctx.identity).toMatchObject({ subject: 'cli', scopes: ['a', 'b'], clientId: 'cli' });
    const scoped = make({ issuers: [issuerCfg({ scopes_claim: 'https://example.com/perms' })] }).inst;
    const r = await run(scoped, await sign(es, { 'https://example.com/perms': 'x y', scope: 'ignored' }));
    expect(r.ctx.identity?.scopes).toEqual(['x', 'y']);
  });

  it('HS256 with a static secret works, and only for that issuer', async () => {
    const secret = 'k'.repeat(40);
    const { inst } = make({
      issuers: [{ issuer: ISS, keys: [{ secret, kid: 'h1' }], algorithms: ['HS256'], audiences: [AUD] }],
    });
    const good = await sign({ alg: 'HS256', kid: 'h1', privateKey: new TextEncoder().encode(secret) });
    expect((await run(inst, good)).err).toBeUndefined();
    expectInvalid(
      await run(inst, await sign({ alg: 'HS256', kid: 'h1', privateKey: new TextEncoder().encode('x'.repeat(40)) })),
    );
    // An ES256 token for the same issuer: not in the allowlist.
    expectInvalid(await run(inst, await sign(es)));
  });

  it('leaves requests without a bearer token to others, and opaque tokens unless told to refuse them', async () => {
    const { inst } = make({ issuers: [issuerCfg()] });
    for (const h of [undefined, 'Basic dXNlcjpwdw==', 'Digest x']) {
      const ctx = makeCtx({ headers: h ? { authorization: h } : {} });
      await inst.request?.(ctx);
      expect(ctx.identity).toBeNull();
      expect(ctx.authAttempt).toBeNull();
    }
    const opaque = await run(inst, 'an-opaque-token-for-introspection');
    expect(opaque.err).toBeUndefined();
    expect(opaque.ctx.identity).toBeNull();
    const strict = make({ issuers: [issuerCfg()], opaque_tokens: 'refuse' }).inst;
    expectInvalid(await run(strict, 'an-opaque-token'));
    expectInvalid(await run(strict, 'a.b'));
    // The scheme is case-insensitive (RFC 7235); "Bearerx" is another scheme.
    const good = await sign(es);
    for (const h of [`bearer ${good}`, `BEARER   ${good}`]) {
      const c = makeCtx({ headers: { authorization: h } });
      await inst.request?.(c);
      expect(c.identity?.subject, h.slice(0, 10)).toBe('alice');
    }
    const other = makeCtx({ headers: { authorization: `Bearerx ${good}` } });
    await inst.request?.(other);
    expect(other.identity).toBeNull();
    expect(other.authAttempt).toBeNull();
    // "Bearer" with nothing after it is a failed attempt, not an absent credential.
    const ctx = makeCtx({ headers: { authorization: 'Bearer' } });
    await expect(Promise.resolve().then(() => strict.request?.(ctx))).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
  });

  it('declares the Bearer challenge for the gate', () => {
    expect(make({}).inst.identity).toEqual({ challenge: 'Bearer realm="rampart"' });
  });
});

describe('jwt: refusing tokens (same 401 whatever failed)', () => {
  let inst: PolicyInstance;
  beforeAll(() => {
    inst = make({ issuers: [issuerCfg({ typ: 'at+jwt', required_claims: ['client_id'], max_age_s: 600 })] }).inst;
  });
  const ok = (c: JWTPayload = {}, h: Partial<JWTHeaderParameters> = {}) =>
    sign(es, { client_id: 'c', ...c }, { typ: 'at+jwt', ...h });

  it('accepts the baseline token', async () => {
    const r = await run(inst, await ok());
    expect(r.err).toBeUndefined();
    // typ is compared without "application/" and case (RFC 8725 §3.11).
    expect((await run(inst, await ok({}, { typ: 'application/AT+JWT' }))).err).toBeUndefined();
  });

  it('refuses bad claims: exp, nbf, iat, iss, aud, typ, required claims, max age', async () => {
    const t = now();
    const cases: [string, Promise<string>][] = [
      ['expired', ok({ exp: t - 60 })],
      ['expired within skew is ok? no: 31 s', ok({ exp: t - 31 })],
      ['no exp', sign(es, { client_id: 'c', exp: undefined }, { typ: 'at+jwt' })],
      ['not yet valid', ok({ nbf: t + 120 })],
      ['issued in the future', ok({ iat: t + 120 })],
      ['too old', ok({ iat: t - 700 })],
      ['wrong iss', ok({ iss: 'https://evil.example' })],
      ['iss as array', ok({ iss: [ISS] as unknown as string })],
      ['wrong aud', ok({ aud: 'https://other.example' })],
      ['no aud', ok({ aud: undefined })],
      ['wrong typ', ok({}, { typ: 'JWT' })],
      ['missing required claim', sign(es, {}, { typ: 'at+jwt' })],
      ['no subject', ok({ sub: undefined })],
      ['numeric subject', ok({ sub: 5 as unknown as string })],
      ['exp as string', ok({ exp: String(t + 60) as unknown as number })],
    ];
    for (const [why, p] of cases) expectInvalid(await run(inst, await p), why);
    // Within the skew (30 s) an expired or early token still passes.
    expect((await run(inst, await ok({ exp: t - 10, nbf: t + 10 }))).err).toBeUndefined();
  });

  it('refuses forged and hostile headers: alg none, HMAC with the public key, jku/x5u/jwk, crit, kid tricks', async () => {
    const t = now();
    const claims = { iss: ISS, aud: AUD, sub: 'alice', client_id: 'c', iat: t, exp: t + 300 };
    const none = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims)}.`;
    const noneKid = `${b64({ alg: 'none', kid: 'es-1', typ: 'at+jwt' })}.${b64(claims)}.`;
    const pub = new TextEncoder().encode(rs.pem);
    const attackerJwk = other.jwk;
    const cases: [string, string | Promise<string>][] = [
      ['alg none', none],
      ['alg none with kid', noneKid],
      ['alg NONE', `${b64({ alg: 'NONE', typ: 'at+jwt' })}.${b64(claims)}.`],
      [
        'HS256 with the RSA public key PEM',
        sign({ alg: 'HS256', kid: 'rs-1', privateKey: pub }, { client_id: 'c' }, { typ: 'at+jwt' }),
      ],
      [
        'HS256 with the JWK n',
        sign(
          { alg: 'HS256', kid: 'rs-1', privateKey: Buffer.from(rs.jwk.n as string) },
          { client_id: 'c' },
          { typ: 'at+jwt' },
        ),
      ],
      ['attacker key, known kid', sign(other, { client_id: 'c' }, { typ: 'at+jwt' })],
      ['jku', sign(other, { client_id: 'c' }, { typ: 'at+jwt', jku: 'http://127.0.0.1:1/jwks' })],
      ['x5u', sign(other, { client_id: 'c' }, { typ: 'at+jwt', x5u: 'http://127.0.0.1:1/cert' })],
      ['embedded jwk', sign(other, { client_id: 'c' }, { typ: 'at+jwt', jwk: attackerJwk })],
      [
        'jku with a valid signature too',
        sign(es, { client_id: 'c' }, { typ: 'at+jwt', jku: 'http://127.0.0.1:1/jwks' }),
      ],
      [
        'unknown crit',
        sign(es, { client_id: 'c' }, { typ: 'at+jwt', crit: ['urn:x'], 'urn:x': 1 } as never, {
          crit: { 'urn:x': true },
        }),
      ],
      ['kid path traversal', sign({ ...es, kid: '../../../../etc/passwd' }, { client_id: 'c' }, { typ: 'at+jwt' })],
      ['kid SQL', sign({ ...es, kid: "x' UNION SELECT 'secret' --" }, { client_id: 'c' }, { typ: 'at+jwt' })],
      ['kid __proto__', sign({ ...es, kid: '__proto__' }, { client_id: 'c' }, { typ: 'at+jwt' })],
      [
        'kid not a string',
        sign({ ...es, kid: undefined }, { client_id: 'c' }, { typ: 'at+jwt', kid: 5 as unknown as string }),
      ],
      ['EC key used as RS256', sign({ ...rs, kid: 'es-1' }, { client_id: 'c' }, { typ: 'at+jwt' })],
    ];
    for (const [why, p] of cases) expectInvalid(await run(inst, await p), why);
    // A valid RS256 token for an issuer that allows ES256 only.
    const esOnly = make({ issuers: [issuerCfg({ algorithms: ['ES256'] })] }).inst;
    expect((await run(esOnly, await sign(es))).err).toBeUndefined();
    expectInvalid(await run(esOnly, await sign(rs)), 'algorithm not in the allowlist');
  });

  it('refuses malformed and oversized tokens', async () => {
    const good = await ok();
    const [h, p, s] = good.split('.') as [string, string, string];
    const strict = make({ issuers: [issuerCfg()], opaque_tokens: 'refuse' }).inst;
    const cases: [string, string][] = [
      ['bad base64 in header', `${h}!.${p}.${s}`],
      ['base64 padding', `${h}==.${p}.${s}`],
      ['standard base64 chars', `${h}+/.${p}.${s}`],
      ['two segments', `${h}.${p}`],
      ['four segments', `${h}.${p}.${s}.x`],
      ['JSON garbage header', `${b64('{not json')}.${p}.${s}`],
      ['JSON array header', `${b64('[1,2]')}.${p}.${s}`],
      ['JSON garbage payload', `${h}.${b64('{"iss":')}.${s}`],
      ['payload is a string', `${h}.${b64('"hello"')}.${s}`],
      ['no signature', `${h}.${p}.`],
      ['signature of another token', `${h}.${p}.${(await ok({ sub: 'bob' })).split('.')[2]}`],
      ['payload tampered', `${h}.${b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin' })}.${s}`],
      ['oversized', await ok({ pad: 'x'.repeat(9000) })],
      ['empty', '..'],
    ];
    for (const [why, t] of cases) expectInvalid(await run(strict, t), why);
  });
});

describe('jwt: brute-force hook', () => {
  it('calls onAuthAttempt with a short digest of the token before verifying, on hits and misses', async () => {
    const { inst } = make({ issuers: [issuerCfg()] });
    const token = await sign(es);
    const seen: string[] = [];
    for (let i = 0; i < 2; i++) {
      const ctx = makeCtx({ headers: { authorization: `Bearer ${token}` } });
      ctx.onAuthAttempt = (k) => seen.push(k);
      await inst.request?.(ctx);
      expect(ctx.identity).not.toBeNull();
      expect(ctx.authAttempt).toBe(seen[i]);
    }
    expect(seen[0]).toBe(seen[1]);
    expect(seen[0]).toMatch(/^jwt:[A-Za-z0-9_-]{22}$/);
    expect(seen[0]).not.toContain(token.slice(0, 20));
    // A locked credential is refused before any verification.
    const ctx = makeCtx({ headers: { authorization: `Bearer ${await sign(es, { sub: 'x' })}` } });
    ctx.onAuthAttempt = () => {
      throw new GatewayError('AUTH_LOCKED');
    };
    await expect(Promise.resolve().then(() => inst.request?.(ctx))).rejects.toMatchObject({ code: 'AUTH_LOCKED' });
    expect(ctx.identity).toBeNull();
  });
});

describe('jwt: verified-token cache', () => {
  it('caches by a hash of the token, until exp at most, and can be turned off', async () => {
    const { inst, services } = make({ issuers: [issuerCfg()] });
    const t = now();
    const token = await sign(es, { exp: t + 100 });
    await run(inst, token);
    const cache = tokenCache(services)!;
    expect(cache.size).toBe(1);
    const [key, entry] = [...cache.entries()][0]!;
    expect(key).toBe(createHash('sha256').update(token).digest('base64url'));
    expect(entry.until).toBeLessThanOrEqual((t + 100) * 1000);
    expect((await run(inst, token)).ctx.identity?.subject).toBe('alice');
    const off = make({ issuers: [issuerCfg()], cache: { enabled: false } });
    await run(off.inst, token);
    expect(tokenCache(off.services)).toBeNull();
    expect((await run(off.inst, token)).ctx.identity?.subject).toBe('alice');
  });

  it('bounds an entry by max_ttl_s and max_age_s, and drops one whose exp passed', async () => {
    const { inst, services } = make({ issuers: [issuerCfg({ max_age_s: 60 })], cache: { max_ttl_s: 10 } });
    const t = now();
    await run(inst, await sign(es, { iat: t - 55, exp: t + 1000 }));
    const e = [...tokenCache(services)!.values()][0]!;
    expect(e.until).toBeLessThanOrEqual((t + 5) * 1000 + 999);
    // An entry past its bound is not used: the token is verified again (and now refused, being too old).
    const token = await sign(es, { iat: t - 10, exp: t + 1000 });
    await run(inst, token);
    const cache = tokenCache(services)!;
    const key = createHash('sha256').update(token).digest('base64url');
    cache.set(key, { ...cache.get(key)!, until: Date.now() - 1 });
    expect((await run(inst, token)).err).toBeUndefined(); // re-verified (still valid)
    expect(cache.get(key)!.until).toBeGreaterThan(Date.now());
  });

  it('a config change does not reuse entries verified under another config', async () => {
    const services = new ServiceRegistry();
    const a = make({ issuers: [issuerCfg()] }, services).inst;
    const token = await sign(es, { aud: AUD });
    expect((await run(a, token)).err).toBeUndefined();
    // Same scope, stricter audience: the cached verification must not carry over.
    const b = make({ issuers: [issuerCfg({ audiences: ['https://other.example'] })] }, services).inst;
    expectInvalid(await run(b, token));
  });
});

describe('jwt: certificate-bound tokens (RFC 8705)', () => {
  let alice: ClientCertificate;
  let bob: ClientCertificate;
  const certOf = (pem: string): ClientCertificate => {
    const x = new X509Certificate(pem);
    return {
      subject: x.subject,
      issuer: x.issuer,
      commonName: null,
      subjectAltNames: [],
      serialNumber: x.serialNumber,
      fingerprint256: x.fingerprint256,
      validFrom: new Date(x.validFrom),
      validTo: new Date(x.validTo),
      raw: x.raw,
    };
  };
  const x5t = (c: ClientCertificate) => createHash('sha256').update(c.raw).digest('base64url');
  beforeAll(async () => {
    const ca = await createCa();
    alice = certOf((await issue(ca, { commonName: 'alice', usage: 'client' })).cert);
    bob = certOf((await issue(ca, { commonName: 'bob', usage: 'client' })).cert);
  });

  it('if_present (default): a bound token needs the matching certificate, on every hit', async () => {
    const { inst } = make({ issuers: [issuerCfg()] });
    const bound = await sign(es, { cnf: { 'x5t#S256': x5t(alice) } });
    expect((await run(inst, bound, { cert: alice })).err).toBeUndefined();
    expect((await run(inst, bound, { cert: alice })).err).toBeUndefined(); // cached
    expectInvalid(await run(inst, bound, { cert: bob }), 'other cert on a cache hit');
    expectInvalid(await run(inst, bound), 'no cert on a cache hit');
    const fresh = await sign(es, { cnf: { 'x5t#S256': x5t(alice) } });
    expectInvalid(await run(inst, fresh, { cert: bob }), 'other cert');
    expectInvalid(await run(inst, await sign(es, { cnf: { 'x5t#S256': 'AAAA' } }), { cert: alice }), 'short hash');
    expectInvalid(await run(inst, await sign(es, { cnf: { jkt: 'abc' } }), { cert: alice }), 'DPoP binding');
    // An unbound token needs no certificate.
    expect((await run(inst, await sign(es))).err).toBeUndefined();
  });

  it('required refuses unbound tokens; off ignores the binding', async () => {
    const req = make({ issuers: [issuerCfg({ cert_bound: 'required' })] }).inst;
    expectInvalid(await run(req, await sign(es), { cert: alice }));
    expect((await run(req, await sign(es, { cnf: { 'x5t#S256': x5t(alice) } }), { cert: alice })).err).toBeUndefined();
    const off = make({ issuers: [issuerCfg({ cert_bound: 'off' })] }).inst;
    expect((await run(off, await sign(es, { cnf: { 'x5t#S256': x5t(alice) } }), { cert: bob })).err).toBeUndefined();
  });
});

describe('jwt: key availability', () => {
  it('answers 503 AUTH_UNAVAILABLE with Retry-After when the JWKS cannot be had', async () => {
    const services = new ServiceRegistry();
    const { inst } = make(
      { issuers: [{ issuer: ISS, jwks_uri: 'http://127.0.0.1:9/jwks', audiences: [AUD] }], jwks: { timeout_ms: 500 } },
      services,
    );
    const r = await run(inst, await sign(es));
    expect(r.err?.code).toBe('AUTH_UNAVAILABLE');
    expect(r.err?.status).toBe(503);
    expect(Number(r.err?.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
    // Tokens of unknown issuers are still a plain 401 (no key fetch for them).
    expectInvalid(await run(inst, await sign(es, { iss: 'https://other.example' })));
    inst.close?.();
    await services.close();
  });
});

describe('jwt: built-in authorization server', () => {
  let as: TestIssuer;
  beforeAll(async () => {
    as = new TestIssuer();
    await as.rotate();
  });

  it('trusts it with no config, checks revocation on every request (cached or not)', async () => {
    const services = new ServiceRegistry(null, null, as);
    const { inst } = make({}, services);
    const jti = 'tok-1';
    const token = await as.issue({ jti });
    const before = as.activeChecks;
    const r = await run(inst, token);
    expect(r.err).toBeUndefined();
    expect(r.ctx.identity).toMatchObject({
      kind: 'jwt',
      subject: 'svc-1',
      clientId: 'svc-1',
      scopes: ['a', 'b'],
      credentialId: jti,
    });
    expect((await run(inst, token)).err).toBeUndefined();
    expect(as.activeChecks - before).toBe(2);
    as.revoked.add(jti);
    expectInvalid(await run(inst, token), 'revoked, cached');
    expectInvalid(await run(inst, await as.issue({ jti: undefined })), 'no jti');
    // When it cannot tell (its store is down), the request is refused with 503, never let through.
    const broken = Object.assign(Object.create(as) as TestIssuer, {
      isActive: async () => {
        throw new Error('store down');
      },
    });
    const r503 = await run(make({}, new ServiceRegistry(null, null, broken)).inst, await as.issue());
    expect(r503.err?.code).toBe('AUTH_UNAVAILABLE');
    expect(r503.err?.headers?.['retry-after']).toBe('1');
    // Its tokens are not accepted when the built-in issuer is turned off.
    const off = make({ builtin_issuer: { enabled: false } }, services).inst;
    expectInvalid(await run(off, await as.issue()));
  });

  it('follows its key rotation: a new key works, a retired key stops working even when cached', async () => {
    const services = new ServiceRegistry(null, null, as);
    const { inst } = make({}, services);
    const old = await as.issue();
    expect((await run(inst, old)).err).toBeUndefined();
    const oldKid = as.keys[0]!.kid;
    await as.rotate();
    const fresh = await as.issue();
    expect((await run(inst, fresh)).err).toBeUndefined();
    expect((await run(inst, old)).err).toBeUndefined(); // overlap
    as.retire(oldKid);
    expectInvalid(await run(inst, old), 'retired key');
    expect((await run(inst, fresh)).err).toBeUndefined();
  });

  it('checks an audience only when configured, and is looked up per request (it may start later)', async () => {
    const services = new ServiceRegistry();
    const { inst } = make({ builtin_issuer: { audiences: [AUD] } }, services);
    const token = await as.issue({ aud: AUD });
    expectInvalid(await run(inst, token), 'not running yet');
    services.authServer = as;
    expect((await run(inst, token)).err).toBeUndefined();
    expectInvalid(await run(inst, await as.issue({ aud: 'https://elsewhere' })));
    // Without configured audiences, the server's own audience is checked when it has one.
    const withAud = Object.assign(Object.create(as) as TestIssuer, { audience: 'https://gw.example' });
    const byDefault = make({}, new ServiceRegistry(null, null, withAud)).inst;
    expect((await run(byDefault, await as.issue({ aud: 'https://gw.example' }))).err).toBeUndefined();
    expectInvalid(await run(byDefault, await as.issue({ aud: 'https://elsewhere' })));
    expectInvalid(await run(byDefault, await as.issue()), 'no aud');
    // Keys of an external issuer never verify a token claiming the built-in issuer.
    const forged = await new SignJWT({ iss: as.issuer, sub: 'x', exp: now() + 60, jti: 'f', aud: AUD })
      .setProtectedHeader({ alg: 'ES256', kid: as.keys[0]!.kid })
      .sign(es.privateKey);
    expectInvalid(await run(inst, forged));
  });
});

describe('jwt: consumers from the store', () => {
  let dir: string;
  let store: Store;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rampart-jwt-'));
    store = await openStore({ kind: 'sqlite', dataDir: join(dir, 'data') }, new TestCipher());
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('maps the subject (or client) to a consumer: id, groups and attributes; a disabled consumer is refused', async () => {
    const alice = await store.consumers.create({ name: 'alice', groups: ['staff'], attributes: { tier: 'gold' } });
    await store.consumers.create({ name: 'mallory', status: 'disabled' });
    const owner = await store.consumers.create({ name: 'svc-owner', groups: ['machines'] });
    await store.clients.create({ client_id: 'svc-client', consumer_id: owner.id });
    const { inst } = make(
      { issuers: [issuerCfg({ roles_claim: 'roles' })], consumer_lookup: true },
      new ServiceRegistry(store),
    );
    const r = await run(inst, await sign(es, { roles: ['reader'] }));
    expect(r.ctx.identity).toMatchObject({
      consumerId: alice.id,
      subject: 'alice',
      roles: ['staff', 'reader'],
      attributes: { tier: 'gold' },
    });
    expectInvalid(await run(inst, await sign(es, { sub: 'mallory' })));
    const svc = await run(inst, await sign(es, { sub: 'opaque-sub', client_id: 'svc-client' }));
    expect(svc.ctx.identity).toMatchObject({ consumerId: owner.id, subject: 'svc-owner', roles: ['machines'] });
    const unknown = await run(inst, await sign(es, { sub: 'nobody' }));
    expect(unknown.ctx.identity).toMatchObject({ consumerId: null, subject: 'nobody' });
  });

  it('refuses a cached token within 1 s of its consumer being disabled', async () => {
    const carol = await store.consumers.create({ name: 'carol' });
    const { inst } = make({ issuers: [issuerCfg()], consumer_lookup: true }, new ServiceRegistry(store));
    const token = await sign(es, { sub: 'carol' });
    expect((await run(inst, token)).ctx.identity).toMatchObject({ consumerId: carol.id });
    await store.consumers.update(carol.id, { status: 'disabled' });
    await new Promise((r) => setTimeout(r, 1000));
    expectInvalid(await run(inst, token));
  });

  it('answers 503 when the store cannot be read (never lets the token through unmapped)', async () => {
    const closed = await openStore({ kind: 'sqlite', dataDir: join(dir, 'closed') }, new TestCipher());
    await closed.close();
    const { inst } = make({ issuers: [issuerCfg()], consumer_lookup: true }, new ServiceRegistry(closed));
    const r = await run(inst, await sign(es));
    expect(r.err?.code).toBe('AUTH_UNAVAILABLE');
    expect(r.ctx.identity).toBeNull();
  });

  it('needs the store when consumer_lookup is on', () => {
    expect(() => make({ consumer_lookup: true })).toThrow(/needs the store/);
  });
});

describe('jwt: schema', () => {
  const parse = (cfg: unknown) => schema.safeParse(cfg);
  const messages = (cfg: unknown) => {
    const r = parse(cfg);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('defaults', () => {
    const c = schema.parse({});
    expect(c).toMatchObject({ issuers: [], header: 'authorization', max_token_bytes: 8192, opaque_tokens: 'pass' });
    expect(c.cache).toEqual({ enabled: true, max_entries: 10_000, max_ttl_s: 300 });
    expect(c.jwks).toMatchObject({ refresh_s: 300, cooldown_s: 30, max_stale_s: 21_600 });
    const i = schema.parse({ issuers: [{ issuer: ISS, jwks_uri: 'https://idp.example/jwks', audiences: [AUD] }] })
      .issuers[0]!;
    expect(i).toMatchObject({ clock_skew_s: 30, consumer_claim: 'sub', cert_bound: 'if_present' });
  });

  it('refuses unsafe or ambiguous issuers', () => {
    const base = { issuer: ISS, audiences: [AUD] };
    expect(messages({ issuers: [{ ...base, jwks_uri: 'https://x/j', algorithms: ['none'] }] }).join()).toMatch(
      /algorithms/,
    );
    expect(messages({ issuers: [{ ...base, jwks_uri: 'https://x/j', algorithms: ['HS256'] }] }).join()).toMatch(
      /static symmetric/,
    );
    expect(
      messages({ issuers: [{ ...base, keys: [{ secret: 's'.repeat(40) }], algorithms: ['HS256', 'RS256'] }] }).join(),
    ).toMatch(/mixed/);
    expect(
      messages({ issuers: [{ ...base, keys: [{ secret: 's'.repeat(40) }, es.jwk], algorithms: ['HS256'] }] }).join(),
    ).toMatch(/symmetric/);
    expect(messages({ issuers: [{ ...base, keys: [{ secret: 's'.repeat(40) }] }] }).join()).toMatch(/algorithms: \[HS/);
    expect(messages({ issuers: [{ ...base, keys: [{ secret: 'short' }], algorithms: ['HS256'] }] }).join()).toMatch(
      /32 bytes/,
    );
    expect(messages({ issuers: [{ ...base }] }).join()).toMatch(/exactly one key source/);
    expect(messages({ issuers: [{ ...base, jwks_uri: 'https://x/j', keys: [es.jwk] }] }).join()).toMatch(/exactly one/);
    expect(messages({ issuers: [{ ...base, jwks_uri: 'http://idp.example/jwks' }] }).join()).toMatch(/https/);
    expect(messages({ issuers: [{ issuer: 'http://idp.example', discovery: true, audiences: [AUD] }] }).join()).toMatch(
      /https issuer/,
    );
    expect(messages({ issuers: [{ issuer: ISS, jwks_uri: 'https://x/j' }] }).join()).toMatch(/audiences/);
    expect(messages({ issuers: [{ ...base, jwks_uri: 'https://x/j', clock_skew_s: 301 }] }).join()).toMatch(
      /at most 300/,
    );
    expect(messages({ issuers: [{ ...base, keys: [{ ...es.jwk, d: 'AAAA' }] }] }).join()).toMatch(/private key/);
    expect(
      messages({ issuers: [{ ...base, keys: ['-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----'] }] }).join(),
    ).toMatch(/PEM/);
    expect(
      messages({
        issuers: [
          { ...base, jwks_uri: 'https://x/j' },
          { ...base, jwks_uri: 'https://y/j' },
        ],
      }).join(),
    ).toMatch(/twice/);
    expect(messages({ issuers: [{ ...base, jwks_uri: 'https://x/j', keys_url: 'x' }] }).join()).toMatch(/keys_url/);
  });

  it('accepts discovery (true or a URL), a JWKS URL, PEM and JWK keys', () => {
    expect(messages({ issuers: [{ issuer: ISS, discovery: true, audiences: [AUD] }] })).toEqual([]);
    expect(
      messages({
        issuers: [{ issuer: ISS, discovery: 'https://idp.example/.well-known/openid-configuration', audiences: [AUD] }],
      }),
    ).toEqual([]);
    expect(
      messages({ issuers: [{ issuer: ISS, keys: [rs.pem, { pem: es.pem, kid: 'k' }, ed.jwk], audiences: [AUD] }] }),
    ).toEqual([]);
  });
});

describe('jwt: in rampart.yaml', () => {
  const yaml = (policy: string, env = 'production') => `
environment: ${env}
listeners: [{ port: 0 }]
routes:
  - { name: r, paths: ["/r"], policies: { jwt: ${policy} } }
`;
  const issuesOf = (text: string, env: NodeJS.ProcessEnv = {}) => {
    try {
      parseConfig(text, 'rampart.yaml', ROOT, env);
      return [];
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return e.issues.map((i) => `${i.line} ${i.severity} ${i.path}: ${i.message}`);
    }
  };

  it('reads a PEM key through ${file:} and an HMAC secret through ${env:}', () => {
    const pem = tmpFile('idp.pem', rs.pem);
    const cfg = `{ issuers: [{ issuer: "${ISS}", audiences: ["${AUD}"], keys: ["\${file:${pem}}"] }] }`;
    expect(issuesOf(yaml(cfg))).toEqual([]);
    const hs = `{ issuers: [{ issuer: "${ISS}", audiences: ["${AUD}"], algorithms: [HS256], keys: [{ secret: "\${env:JWT_HMAC}" }] }] }`;
    expect(issuesOf(yaml(hs), { JWT_HMAC: 'h'.repeat(40) })).toEqual([]);
  });

  it('refuses an inline HMAC secret in production and alg none, with the line', () => {
    const inline = `{ issuers: [{ issuer: "${ISS}", audiences: ["${AUD}"], algorithms: [HS256], keys: [{ secret: "${'h'.repeat(40)}" }] }] }`;
    expect(issuesOf(yaml(inline)).join()).toMatch(
      /5 error routes\[0\]\.policies\.jwt\.issuers\[0\]\.keys\[0\]\.secret: a secret written inline/,
    );
    const none = `{ issuers: [{ issuer: "${ISS}", audiences: ["${AUD}"], jwks_uri: "https://idp.example/jwks", algorithms: [none] }] }`;
    expect(issuesOf(yaml(none, 'development')).join()).toMatch(/algorithms/);
  });
});
