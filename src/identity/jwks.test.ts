import { generateKeyPairSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, LogSink, startUpstream } from '../../test/helpers.js';
import { createLogger } from '../observability/logger.js';
import {
  allowedKeyUrl,
  checkJwk,
  jwkThumbprint,
  KeysUnavailableError,
  keyFetchAgent,
  LocalIssuerKeySet,
  pemToJwk,
  RemoteKeySet,
  type RemoteKeySetOptions,
  StaticKeySet,
} from './jwks.js';

async function publicJwk(alg: 'ES256' | 'RS256' | 'EdDSA', kid: string): Promise<JWK> {
  const { publicKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(publicKey)), kid, alg };
}

/** A real JWKS (and discovery) server whose answer the test changes; it counts requests per path. */
async function idp() {
  const state = {
    keys: [] as unknown[],
    body: null as string | null,
    status: 200,
    hits: new Map<string, number>(),
    issuer: '',
  };
  const up = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    state.hits.set(path, (state.hits.get(path) ?? 0) + 1);
    if (path === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: state.issuer, jwks_uri: `http://127.0.0.1:${up.port}/jwks` }));
      return;
    }
    if (path === '/redirect') {
      res.writeHead(302, { location: '/jwks' }).end();
      return;
    }
    res.writeHead(state.status, { 'content-type': 'application/json' });
    res.end(state.body ?? JSON.stringify({ keys: state.keys }));
  });
  return { ...up, state, hits: (p = '/jwks') => state.hits.get(p) ?? 0 };
}

describe('RemoteKeySet', () => {
  let server: Awaited<ReturnType<typeof idp>>;
  let k1: JWK;
  let k2: JWK;
  const agent = keyFetchAgent(2000);
  const logs = new LogSink();
  const logger = createLogger('debug', logs);
  let now = Date.now();
  const clock = () => now;
  const made: RemoteKeySet[] = [];
  const make = (o: Partial<RemoteKeySetOptions> = {}) => {
    const ks = new RemoteKeySet({
      jwksUri: `${server.url}/jwks`,
      discovery: null,
      refreshS: 300,
      cooldownS: 30,
      maxStaleS: 600,
      timeoutMs: 2000,
      maxBytes: 65536,
      dispatcher: agent,
      logger,
      clock,
      ...o,
    });
    made.push(ks);
    return ks;
  };

  beforeAll(async () => {
    server = await idp();
    k1 = await publicJwk('ES256', 'k1');
    k2 = await publicJwk('RS256', 'k2');
  });
  afterAll(async () => {
    for (const k of made) k.close();
    await agent.close();
    await server.close();
  });

  it('fetches once, selects by kid and alg, and treats kid as an opaque string', async () => {
    server.state.keys = [k1];
    const ks = make();
    ks.acquire();
    const before = server.hits();
    expect((await ks.keysFor('ES256', 'k1')).map((k) => k.kid)).toEqual(['k1']);
    expect(await ks.keysFor('RS256', 'k1')).toEqual([]); // an EC key never verifies RS256
    expect(await ks.keysFor('HS256', 'k1')).toEqual([]);
    expect((await ks.keysFor('ES256', undefined)).length).toBe(1);
    expect(server.hits() - before).toBe(1);
    // Hostile kids are map keys that miss: the first one refetches (cool-down passed), the rest do not.
    now += 31_000;
    for (const kid of ['../../../../etc/passwd', "' OR '1'='1", 'k1\u0000', '__proto__', 'constructor'])
      expect(await ks.keysFor('ES256', kid)).toEqual([]);
    expect(server.hits() - before).toBe(2);
    ks.release();
  });

  it('refetches an unknown kid at most once per cool-down, and picks up a rotation', async () => {
    server.state.keys = [k1];
    const ks = make({ cooldownS: 10 });
    ks.acquire();
    await ks.refresh();
    const base = server.hits();
    server.state.keys = [k1, k2];
    // Within the cool-down of the first fetch: no refetch, the new kid is unknown.
    expect(await ks.keysFor('RS256', 'k2')).toEqual([]);
    expect(server.hits()).toBe(base);
    now += 10_000;
    const [a, b] = await Promise.all([ks.keysFor('RS256', 'k2'), ks.keysFor('RS256', 'k2')]);
    expect(a.map((k) => k.kid)).toEqual(['k2']);
    expect(b.map((k) => k.kid)).toEqual(['k2']);
    expect(server.hits()).toBe(base + 1); // single flight
    // Flooding with unknown kids right after: no fetch.
    for (let i = 0; i < 20; i++) await ks.keysFor('ES256', `nope-${i}`);
    expect(server.hits()).toBe(base + 1);
    // The key removed at the IdP: after the next fetch, check() says the key is gone.
    const t1 = (await ks.keysFor('ES256', 'k1'))[0]!.thumbprint;
    expect(ks.check(t1)).toBe('ok');
    server.state.keys = [k2];
    await ks.refresh();
    expect(ks.check(t1)).toBe('gone');
    const changed = logs.lines.filter((l) => l.msg === 'JWKS keys changed');
    expect(changed.some((l) => JSON.stringify(l.added) === '["k2"]')).toBe(true);
    expect(changed.some((l) => JSON.stringify(l.removed) === '["k1"]')).toBe(true);
    // Never key material in the logs.
    const text = JSON.stringify(logs.lines);
    expect(text).not.toContain(k2.n as string);
    expect(text).not.toContain(k1.x as string);
    ks.release();
  });

  it('refreshes in the background every refresh_s', async () => {
    server.state.keys = [k1];
    const ks = make({ refreshS: 1, clock: Date.now });
    ks.acquire();
    await ks.refresh();
    const t = (await ks.keysFor('ES256', 'k1'))[0]!.thumbprint;
    server.state.keys = [k2];
    const deadline = Date.now() + 5000;
    while (ks.check(t) !== 'gone' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(ks.check(t)).toBe('gone');
    expect(ks.kids).toEqual(['k2']);
    ks.release();
  });

  it('serves the last good keys while the IdP is down, up to max_stale, then answers unavailable', async () => {
    server.state.keys = [k1];
    server.state.status = 200;
    const ks = make({ cooldownS: 5, maxStaleS: 60 });
    ks.acquire();
    await ks.refresh();
    const t = (await ks.keysFor('ES256', 'k1'))[0]!.thumbprint;
    server.state.status = 503;
    now += 30_000;
    await ks.refresh(); // fails
    expect((await ks.keysFor('ES256', 'k1')).length).toBe(1);
    expect(ks.check(t)).toBe('ok');
    now += 31_000; // 61 s after the last good fetch
    expect(ks.check(t)).toBe('unavailable');
    const e = await ks.keysFor('ES256', 'k1').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KeysUnavailableError);
    expect((e as KeysUnavailableError).retryAfterS).toBeGreaterThanOrEqual(1);
    expect((e as KeysUnavailableError).retryAfterS).toBeLessThanOrEqual(5);
    expect(logs.lines.some((l) => l.msg === 'JWKS unreachable and no usable keys: tokens answered 503')).toBe(true);
    // The IdP back: the next request past the cool-down refetches and works again.
    server.state.status = 200;
    now += 5_000;
    expect((await ks.keysFor('ES256', 'k1')).length).toBe(1);
    expect(logs.lines.some((l) => l.msg === 'JWKS reachable again')).toBe(true);
    ks.release();
  });

  it('answers unavailable when no key was ever fetched (IdP down from the start)', async () => {
    const port = await freePort();
    const ks = make({ jwksUri: `http://127.0.0.1:${port}/jwks` });
    ks.acquire();
    const e = await ks.keysFor('ES256', 'k1').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KeysUnavailableError);
    expect(ks.check('x')).toBe('unavailable');
    ks.release();
  });

  it('refuses bad documents and keeps the last good keys: not JSON, too large, no keys, redirects, private or weak keys', async () => {
    server.state.keys = [k1];
    server.state.body = null;
    const ks = make({ cooldownS: 1, maxBytes: 4096 });
    ks.acquire();
    await ks.refresh();
    const t = (await ks.keysFor('ES256', 'k1'))[0]!.thumbprint;
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const priv = { ...(await exportJWK(privateKey)), kid: 'priv' };
    const weak = {
      ...(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }) as JWK),
      kid: 'weak',
    };
    const bad = [
      'not json',
      JSON.stringify({ keys: 'x' }),
      JSON.stringify({ nokeys: [] }),
      JSON.stringify({ keys: [] }),
      JSON.stringify({ keys: [{ kty: 'oct', k: 'a'.repeat(64), kid: 'hmac' }] }),
      JSON.stringify({ keys: [priv] }),
      JSON.stringify({ keys: [weak] }),
      JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', kid: 'junk' }] }),
      JSON.stringify({ keys: [k1], pad: 'x'.repeat(5000) }),
      JSON.stringify({ keys: Array.from({ length: 101 }, () => k1) }),
    ];
    for (const body of bad) {
      server.state.body = body;
      now += 2000;
      await ks.refresh();
      expect(ks.kids, body.slice(0, 40)).toEqual(['k1']);
      expect(ks.check(t)).toBe('ok');
    }
    server.state.body = null;
    // A redirect is not followed (the key set must come from the configured URL).
    const r = make({ jwksUri: `${server.url}/redirect` });
    r.acquire();
    await expect(r.keysFor('ES256', 'k1')).rejects.toBeInstanceOf(KeysUnavailableError);
    const skipped = logs.lines.filter((l) => l.msg === 'JWKS key skipped').map((l) => l.reason);
    expect(skipped).toEqual(
      expect.arrayContaining([
        'symmetric (oct) keys are never taken from a key set',
        'the key holds private key material',
        'RSA keys must have at least 2048 bits',
        'not a valid public key',
      ]),
    );
    expect(JSON.stringify(logs.lines)).not.toContain(priv.d as string);
    r.release();
    ks.release();
  });

  it('discovery: reads jwks_uri from the document and refuses a document naming another issuer', async () => {
    server.state.keys = [k1];
    server.state.issuer = 'https://idp.example';
    const ok = make({
      jwksUri: null,
      discovery: { url: `${server.url}/.well-known/openid-configuration`, issuer: 'https://idp.example' },
    });
    ok.acquire();
    expect((await ok.keysFor('ES256', 'k1')).length).toBe(1);
    const wrong = make({
      jwksUri: null,
      discovery: { url: `${server.url}/.well-known/openid-configuration`, issuer: 'https://other.example' },
    });
    wrong.acquire();
    await expect(wrong.keysFor('ES256', 'k1')).rejects.toBeInstanceOf(KeysUnavailableError);
    expect(
      logs.lines.some(
        (l) =>
          String(l.err).includes('another issuer') &&
          l.msg === 'JWKS unreachable and no usable keys: tokens answered 503',
      ),
    ).toBe(true);
    ok.release();
    wrong.release();
  });
});

describe('key helpers', () => {
  it('computes the RFC 7638 thumbprint (the RFC example)', () => {
    const jwk = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    expect(jwkThumbprint(jwk)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('checks JWKs: public members only, no oct unless allowed, sane sizes', async () => {
    const pub = await publicJwk('EdDSA', 'ed');
    expect(checkJwk({ ...pub, extra: 'dropped' })).toEqual(pub);
    expect(checkJwk('x')).toMatch(/not a JSON object/);
    expect(checkJwk({ ...pub, kid: 5 })).toMatch(/kid/);
    expect(checkJwk({ kty: 'oct', k: 'a'.repeat(43) })).toMatch(/never taken/);
    expect(checkJwk({ kty: 'oct', k: 'a'.repeat(10) }, { allowSecret: true })).toMatch(/32 bytes/);
    expect(checkJwk({ kty: 'oct', k: 'a'.repeat(43) }, { allowSecret: true })).toMatchObject({ kty: 'oct' });
    expect(checkJwk({ kty: 'foo' })).toMatch(/unsupported kty/);
  });

  it('turns a PEM key or certificate into a public JWK', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = pemToJwk(publicKey.export({ format: 'pem', type: 'spki' }) as string, 'pem-kid');
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid: 'pem-kid' });
    expect(jwk.d).toBeUndefined();
  });

  it('allows key URLs over https, or http on loopback only', () => {
    expect(allowedKeyUrl('https://idp.example/jwks')).toBe(true);
    expect(allowedKeyUrl('http://127.0.0.1:8080/jwks')).toBe(true);
    expect(allowedKeyUrl('http://localhost/jwks')).toBe(true);
    expect(allowedKeyUrl('http://[::1]/jwks')).toBe(true);
    expect(allowedKeyUrl('http://idp.example/jwks')).toBe(false);
    expect(allowedKeyUrl('http://127.0.0.1.evil.example/jwks')).toBe(false);
    expect(allowedKeyUrl('https://user:pw@idp.example/jwks')).toBe(false);
    expect(allowedKeyUrl('file:///etc/passwd')).toBe(false);
    expect(allowedKeyUrl('not a url')).toBe(false);
  });

  it("static and built-in key sets select by kid and follow the built-in issuer's rotation", async () => {
    const a = await publicJwk('ES256', 'a');
    const b = await publicJwk('ES256', 'b');
    const st = new StaticKeySet([a]);
    expect((await st.keysFor('ES256', 'a')).length).toBe(1);
    expect(await st.keysFor('ES256', 'b')).toEqual([]);
    let keys = [a];
    const local = new LocalIssuerKeySet(
      { issuer: 'https://as', jwks: () => ({ keys: keys as Record<string, unknown>[] }), isActive: async () => true },
      createLogger('silent'),
    );
    const ta = (await local.keysFor('ES256', 'a'))[0]!.thumbprint;
    keys = [a, b];
    expect((await local.keysFor('ES256', 'b')).length).toBe(1);
    keys = [b];
    expect(local.check(ta)).toBe('gone');
  });
});
