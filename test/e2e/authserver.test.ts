import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CryptoKey,
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
  jwtVerify,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthServer, authServerSettings, registerClient } from '../../src/authserver/index.js';
import { parseConfig } from '../../src/config/load.js';
import { ServiceRegistry } from '../../src/core/shared.js';
import { createLogger } from '../../src/observability/logger.js';
import { openServices, type Services } from '../../src/services.js';
import { freePort, LogSink, ROOT, send, startGateway, startUpstream } from '../helpers.js';

/**
 * The built-in authorization server through real gateways on one SQLite store: "a" is the gateway under test,
 * "b" a second node (its own provider, a 2 s token lifetime) sharing store and issuer, as workers and nodes do.
 */
type Gw = Awaited<ReturnType<typeof startGateway>>;

const tuning = { keyRefreshMs: 100, activationDelayMs: 400 };
let services: Services;
let a: { gw: Gw; auth: AuthServer };
let b: { gw: Gw; auth: AuthServer };
let upstream: Awaited<ReturnType<typeof startUpstream>>;
let issuer: string;
let audience: string;
let secretClient: { id: string; secret: string };
let keyClient: { id: string; key: CryptoKey };
let otherClient: { id: string; secret: string };

const yaml = (port: number, issuerPort: number, dir: string, upstreamUrl: string) => `
environment: development
listeners: [{ port: ${port} }]
data_dir: ${dir}
store: {}
metrics: { enabled: false }
logging: { level: warn }
auth_server:
  issuer: http://127.0.0.1:${issuerPort}/oauth
upstreams:
  api: { targets: ["${upstreamUrl}"] }
routes:
  - { name: api, paths: ["/api/*"], upstream: api, policies: { jwt: {} } }
`;

const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function token(
  port: number,
  c: { id: string; secret: string },
  extra: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await send(port, '/oauth/token', {
    method: 'POST',
    headers: { ...FORM, authorization: basic(c.id, c.secret) },
    body: form({ grant_type: 'client_credentials', ...extra }),
  });
  return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> };
}

async function accessToken(port: number, c: { id: string; secret: string }, scope = 'read'): Promise<string> {
  const r = await token(port, c, { scope });
  expect(r.status).toBe(200);
  return r.body.access_token as string;
}

async function introspect(port: number, c: { id: string; secret: string }, t: string) {
  const r = await send(port, '/oauth/token/introspection', {
    method: 'POST',
    headers: { ...FORM, authorization: basic(c.id, c.secret) },
    body: form({ token: t }),
  });
  expect(r.status).toBe(200);
  return JSON.parse(r.body) as Record<string, unknown>;
}

async function revoke(port: number, c: { id: string; secret: string }, t: string) {
  return send(port, '/oauth/token/revocation', {
    method: 'POST',
    headers: { ...FORM, authorization: basic(c.id, c.secret) },
    body: form({ token: t, token_type_hint: 'access_token' }),
  });
}

async function publishedJwks(port: number): Promise<JSONWebKeySet> {
  const r = await send(port, '/oauth/jwks');
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toMatch(/^application\/jwk-set\+json/);
  return JSON.parse(r.body) as JSONWebKeySet;
}

async function verifies(t: string, jwks: JSONWebKeySet): Promise<boolean> {
  return jwtVerify(t, createLocalJWKSet(jwks), { issuer, audience, typ: 'at+jwt' }).then(
    () => true,
    () => false,
  );
}

const assertion = (clientId: string, key: CryptoKey, jti = crypto.randomUUID()) =>
  new SignJWT({ jti })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(issuer)
    .setIssuedAt()
    .setExpirationTime('60s')
    .sign(key);

const keyTokenRequest = (port: number, jwt: string) =>
  send(port, '/oauth/token', {
    method: 'POST',
    headers: FORM,
    body: form({
      grant_type: 'client_credentials',
      scope: 'read',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: jwt,
    }),
  });

/** Polls until fn() holds, for at most `ms`; returns how long it took. */
async function within(ms: number, fn: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

beforeAll(async () => {
  upstream = await startUpstream((_req, res) => res.end('{"upstream":true}'));
  const dir = mkdtempSync(join(tmpdir(), 'rampart-as-'));
  const [portA, portB] = [await freePort(), await freePort()];
  const logger = createLogger('warn', new LogSink());
  const loaded = parseConfig(yaml(portA, portA, dir, upstream.url), 'test.yaml', ROOT);
  const opened = await openServices(loaded.config, 'test.yaml', logger);
  if (!opened) throw new Error('no store');
  services = opened;
  const settings = authServerSettings(loaded.config);
  if (!settings) throw new Error('auth_server off');
  issuer = settings.issuer;
  audience = settings.audience;
  const { store, keyring } = services;
  // Short overlap, so the test sees the previous key retire; node b also issues 2 s tokens.
  const start = async (port: number, ttl: number) => {
    const auth = await AuthServer.start({
      settings: { ...settings, overlapS: 2, accessTokenTtlS: ttl },
      store,
      keyring,
      logger,
      tuning,
    });
    const gw = await startGateway(
      yaml(port, portA, dir, upstream.url),
      {},
      { services: new ServiceRegistry(store, keyring, auth), setup: (g) => g.mount(auth.path, auth.handle) },
    );
    return { gw, auth };
  };
  a = await start(portA, 300);
  b = await start(portB, 2);

  const consumer = await store.consumers.create({ name: 'billing-service' });
  const s = await registerClient(store, keyring, { consumer_id: consumer.id, scopes: ['read', 'write'] });
  secretClient = { id: s.client.client_id, secret: s.secret as string };
  const o = await registerClient(store, keyring, { consumer_id: consumer.id, scopes: ['read'] });
  otherClient = { id: o.client.client_id, secret: o.secret as string };
  const pair = await generateKeyPair('ES256', { extractable: true });
  const k = await registerClient(store, keyring, {
    consumer_id: consumer.id,
    scopes: ['read'],
    jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), alg: 'ES256', use: 'sig' }] },
  });
  keyClient = { id: k.client.client_id, key: pair.privateKey };
});

afterAll(async () => {
  for (const n of [a, b]) {
    await n?.gw.close();
    await n?.auth.close();
  }
  await services?.close();
  await upstream?.close();
});

describe('built-in authorization server', () => {
  it('publishes discovery with its endpoints under the mount path', async () => {
    const r = await send(a.gw.port, '/oauth/.well-known/openid-configuration');
    expect(r.status).toBe(200);
    const d = JSON.parse(r.body) as Record<string, unknown>;
    expect(d).toMatchObject({
      issuer,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      introspection_endpoint: `${issuer}/token/introspection`,
      revocation_endpoint: `${issuer}/token/revocation`,
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    });
    expect(d.grant_types_supported).toContain('client_credentials');
    expect(d).not.toHaveProperty('userinfo_endpoint');
    expect(d.token_endpoint_auth_signing_alg_values_supported).not.toContain('HS256');
  });

  it('issues a short-lived JWT (client_secret_basic) that the published JWKS verifies', async () => {
    const r = await token(a.gw.port, secretClient, { scope: 'read' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'read' });
    const t = r.body.access_token as string;
    expect(decodeProtectedHeader(t)).toMatchObject({ alg: 'ES256', typ: 'at+jwt', kid: a.auth.signingKid });
    const { payload } = await jwtVerify(t, createLocalJWKSet(await publishedJwks(a.gw.port)), {
      issuer,
      audience,
      typ: 'at+jwt',
    });
    expect(payload).toMatchObject({ sub: secretClient.id, client_id: secretClient.id, scope: 'read' });
    expect((payload.exp as number) - (payload.iat as number)).toBe(300);
    // The LocalIssuer the jwt policy uses publishes the same keys; neither has a private part.
    expect(await verifies(t, a.auth.jwks() as JSONWebKeySet)).toBe(true);
    for (const k of [...(await publishedJwks(a.gw.port)).keys, ...a.auth.jwks().keys])
      expect(k).not.toHaveProperty('d');
  });

  it('also takes client_secret_post, and refuses a wrong secret, an unknown client and no credentials', async () => {
    const post = await send(a.gw.port, '/oauth/token', {
      method: 'POST',
      headers: FORM,
      body: form({ grant_type: 'client_credentials', client_id: secretClient.id, client_secret: secretClient.secret }),
    });
    expect(post.status).toBe(200);

    const wrong = await token(a.gw.port, { ...secretClient, secret: wrongLast(secretClient.secret) });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const unknown = await token(a.gw.port, { id: 'rmc_nobody', secret: secretClient.secret });
    expect(unknown).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    // The same answer whichever part failed.
    expect(unknown.body.error_description).toBe(wrong.body.error_description);
    const none = await send(a.gw.port, '/oauth/token', {
      method: 'POST',
      headers: FORM,
      body: form({ grant_type: 'client_credentials' }),
    });
    expect(none.status).toBe(400);
  });

  it('refuses a scope beyond the client’s, a foreign resource, and other grants', async () => {
    expect(await token(a.gw.port, secretClient, { scope: 'read admin' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_scope' },
    });
    expect(await token(a.gw.port, otherClient, { scope: 'write' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_scope' },
    });
    expect(await token(a.gw.port, secretClient, { resource: 'https://elsewhere.example' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_target' },
    });
    const code = await send(a.gw.port, '/oauth/token', {
      method: 'POST',
      headers: { ...FORM, authorization: basic(secretClient.id, secretClient.secret) },
      body: form({ grant_type: 'password', username: 'u', password: 'p' }),
    });
    expect(code.status).toBe(400);
    expect(JSON.parse(code.body)).toMatchObject({ error: 'unsupported_grant_type' });
  });

  it('authenticates private_key_jwt and refuses a replayed assertion, on any node', async () => {
    const jwt = await assertion(keyClient.id, keyClient.key);
    const first = await keyTokenRequest(a.gw.port, jwt);
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({ token_type: 'Bearer', scope: 'read' });
    for (const port of [a.gw.port, b.gw.port]) {
      const again = await keyTokenRequest(port, jwt);
      expect(again.status).toBe(401);
      expect(JSON.parse(again.body)).toMatchObject({ error: 'invalid_client' });
    }
    // One fresh assertion sent to both nodes at once: exactly one gets a token.
    const race = await assertion(keyClient.id, keyClient.key);
    const both = await Promise.all([keyTokenRequest(a.gw.port, race), keyTokenRequest(b.gw.port, race)]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 401]);
    // A key the client did not register is refused.
    const stranger = await generateKeyPair('ES256');
    expect((await keyTokenRequest(a.gw.port, await assertion(keyClient.id, stranger.privateKey))).status).toBe(401);
  });

  it('introspects its own JWTs (RFC 7662): active for the owner, nothing for another client or a forgery', async () => {
    const t = await accessToken(a.gw.port, secretClient);
    const { payload } = await jwtVerify(t, createLocalJWKSet(await publishedJwks(a.gw.port)));
    expect(await introspect(a.gw.port, secretClient, t)).toMatchObject({
      active: true,
      client_id: secretClient.id,
      scope: 'read',
      iss: issuer,
      aud: audience,
      token_type: 'Bearer',
      exp: payload.exp,
    });
    expect(await introspect(b.gw.port, secretClient, t)).toMatchObject({ active: true });
    expect(await introspect(a.gw.port, otherClient, t)).toEqual({ active: false });
    const forged = await new SignJWT({ jti: payload.jti, client_id: secretClient.id })
      .setProtectedHeader({ alg: 'ES256', kid: a.auth.signingKid })
      .setIssuer(issuer)
      .sign((await generateKeyPair('ES256')).privateKey);
    expect(await introspect(a.gw.port, secretClient, forged)).toEqual({ active: false });
    expect(await introspect(a.gw.port, secretClient, 'not-a-token')).toEqual({ active: false });
  });

  it('revokes (RFC 7009): introspection and every LocalIssuer then say inactive within 1 s', async () => {
    const t = await accessToken(a.gw.port, secretClient);
    const jti = (await jwtVerify(t, createLocalJWKSet(a.auth.jwks() as JSONWebKeySet))).payload.jti as string;
    expect(await a.auth.isActive(jti)).toBe(true);
    expect(await b.auth.isActive(jti)).toBe(true);
    // Only the owner may revoke it.
    expect((await revoke(a.gw.port, otherClient, t)).status).toBe(400);
    expect(await introspect(a.gw.port, secretClient, t)).toMatchObject({ active: true });

    expect((await revoke(a.gw.port, secretClient, t)).status).toBe(200);
    expect(await introspect(a.gw.port, secretClient, t)).toEqual({ active: false });
    expect(await introspect(b.gw.port, secretClient, t)).toEqual({ active: false });
    const took = await within(1000, async () => !(await a.auth.isActive(jti)) && !(await b.auth.isActive(jti)));
    expect(took).toBeLessThan(1000);
    // Revoking again, or an unknown token, is still 200.
    expect((await revoke(a.gw.port, secretClient, t)).status).toBe(200);
    expect((await revoke(a.gw.port, secretClient, 'garbage')).status).toBe(200);
  });

  it('a client calls a jwt-protected route; once revoked the token is refused with 401', async () => {
    const t = await accessToken(a.gw.port, secretClient);
    const ok = await send(a.gw.port, '/api/things', { headers: { authorization: `Bearer ${t}` } });
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('{"upstream":true}');
    const anonymous = await send(a.gw.port, '/api/things');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['content-type']).toMatch(/problem\+json/);

    expect((await revoke(a.gw.port, secretClient, t)).status).toBe(200);
    await within(1000, async () => {
      const r = await send(a.gw.port, '/api/things', { headers: { authorization: `Bearer ${t}` } });
      return r.status === 401;
    });
    const refused = await send(a.gw.port, '/api/things', { headers: { authorization: `Bearer ${t}` } });
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('the gateway keeps its own problem+json answers next to the mount', async () => {
    for (const path of ['/oauthx', '/nothing']) {
      const r = await send(a.gw.port, path);
      expect(r.status).toBe(404);
      expect(r.headers['content-type']).toMatch(/problem\+json/);
    }
    const unknownEndpoint = await send(a.gw.port, '/oauth/nope');
    expect(unknownEndpoint.status).toBe(404);
  });

  it('rotates the signing key with overlap: published first, then signing, old tokens valid until retired', async () => {
    const before = await accessToken(a.gw.port, secretClient);
    const oldKid = decodeProtectedHeader(before).kid as string;
    const { key, signsFrom } = await a.auth.rotateKey();
    expect(key.kid).not.toBe(oldKid);
    expect(signsFrom.getTime()).toBeGreaterThan(Date.now() - 50);

    // Published at once on every node, before it signs anything.
    await within(1000, async () => (await publishedJwks(b.gw.port)).keys.some((k) => k.kid === key.kid));
    const published = (await publishedJwks(a.gw.port)).keys.map((k) => k.kid);
    expect(published).toEqual(expect.arrayContaining([oldKid, key.kid]));

    // After the activation delay both nodes sign with the new key; the old one stays published.
    await within(2000, async () => {
      const [ta, tb] = [await accessToken(a.gw.port, secretClient), await accessToken(b.gw.port, secretClient)];
      return decodeProtectedHeader(ta).kid === key.kid && decodeProtectedHeader(tb).kid === key.kid;
    });
    const after = await accessToken(a.gw.port, secretClient);
    const jwks = await publishedJwks(a.gw.port);
    expect(await verifies(before, jwks)).toBe(true);
    expect(await verifies(after, jwks)).toBe(true);
    expect(await introspect(a.gw.port, secretClient, before)).toMatchObject({ active: true });
    const ok = await send(a.gw.port, '/api/x', { headers: { authorization: `Bearer ${before}` } });
    expect(ok.status).toBe(200);

    // Past the overlap (2 s here) the old key retires: gone from the JWKS and the store's active keys.
    await within(4000, async () => !(await publishedJwks(a.gw.port)).keys.some((k) => k.kid === oldKid));
    expect(await verifies(before, await publishedJwks(a.gw.port))).toBe(false);
    expect((await services.store.signingKeys.get(oldKid))?.status).toBe('retired');
    expect(await verifies(after, await publishedJwks(b.gw.port))).toBe(true);
  });

  it('expires tokens (node b issues 2 s tokens): introspection, isActive and the JWT all agree', async () => {
    const r = await token(b.gw.port, secretClient, { scope: 'read' });
    expect(r.body.expires_in).toBe(2);
    const t = r.body.access_token as string;
    const jti = (await jwtVerify(t, createLocalJWKSet(b.auth.jwks() as JSONWebKeySet))).payload.jti as string;
    expect(await introspect(a.gw.port, secretClient, t)).toMatchObject({ active: true });
    await within(4000, async () => !(await a.auth.isActive(jti)));
    expect(await introspect(a.gw.port, secretClient, t)).toEqual({ active: false });
    expect(await verifies(t, await publishedJwks(a.gw.port))).toBe(false);
    const refused = await send(a.gw.port, '/api/x', { headers: { authorization: `Bearer ${t}` } });
    expect(refused.status).toBe(401);
  });

  it('keeps only a keyed hash of client secrets, and a disabled consumer’s clients get no token', async () => {
    const row = await services.store.clients.get(secretClient.id);
    expect(row?.secret_hash).toMatch(/^v\d+\./);
    expect(row?.has_secret).toBe(false);
    expect(JSON.stringify(row)).not.toContain(secretClient.secret);
    const consumer = await services.store.consumers.getByName('billing-service');
    await services.store.consumers.update(consumer?.id as string, { status: 'disabled' });
    try {
      expect((await token(a.gw.port, secretClient)).status).toBe(401);
    } finally {
      await services.store.consumers.update(consumer?.id as string, { status: 'active' });
    }
    expect((await token(a.gw.port, secretClient)).status).toBe(200);
  });
});

/** The secret with its last character changed (never to itself, which would make the "wrong" secret right). */
function wrongLast(secret: string): string {
  return `${secret.slice(0, -1)}${secret.endsWith('x') ? 'y' : 'x'}`;
}
