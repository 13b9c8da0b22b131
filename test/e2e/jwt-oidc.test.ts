import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
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
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, startGateway, startUpstream } from '../helpers.js';
import { makePki, type Pki } from '../tls-helpers.js';

/**
 * The jwt policy against a real oidc-provider as the external IdP: client-credentials tokens in JWT format
 * (RFC 9068, through resource indicators), OIDC discovery, key rotation at the IdP, the IdP going down, forged and
 * malformed tokens, and a certificate-bound token (RFC 8705) checked against a real mTLS client certificate.
 */

const AUD = 'https://api.rampart.test';
const APP = { id: 'app', secret: 'app-secret-0123456789abcdef' };
const BOUND = { id: 'bound-app', secret: 'bound-secret-0123456789abcdef' };

type Gw = Awaited<ReturnType<typeof startGateway>>;
interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  privateJwk: JWK;
  publicJwk: JWK;
  pem: string;
}

async function rsaKey(kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  return {
    kid,
    privateKey,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
    pem: await exportSPKI(publicKey),
  };
}

// The IdP: one HTTP port (issuer, discovery, JWKS, token endpoint) and one HTTPS port with client certificates
// (the token endpoint for certificate-bound tokens). The provider behind them is replaced to rotate its keys.
let idp: Server;
let idpPort = 0;
let idpTls: HttpsServer;
let idpTlsPort = 0;
let issuer = '';
let handler: RequestListener = () => {};
const idpHits = new Map<string, number>();
const hitsOf = (path: string) => idpHits.get(path) ?? 0;

function provider(keys: SigningKey[]): RequestListener {
  const p = new Provider(issuer, {
    clients: [
      {
        client_id: APP.id,
        client_secret: APP.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: 'api:read api:write',
      },
      {
        client_id: BOUND.id,
        client_secret: BOUND.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: 'api:read',
        tls_client_certificate_bound_access_tokens: true,
      },
    ],
    jwks: { keys: keys.map((k) => k.privateJwk) },
    scopes: ['api:read', 'api:write'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => AUD,
        getResourceServerInfo: async () => ({
          scope: 'api:read api:write',
          audience: AUD,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
        }),
      },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        getCertificate: (ctx) => (ctx.req.socket as TLSSocket).getPeerX509Certificate?.(),
      },
    },
  });
  return p.callback() as RequestListener;
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** A JWT access token from the IdP (client credentials grant). */
async function idpToken(): Promise<string> {
  const r = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(APP.id, APP.secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api:read' }),
  });
  const body = (await r.json()) as { access_token?: string };
  expect(r.status, JSON.stringify(body)).toBe(200);
  return body.access_token as string;
}

function listen(s: Server | HttpsServer, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve((s.address() as AddressInfo).port));
  });
}
function stop(s: Server | HttpsServer): Promise<void> {
  s.closeAllConnections();
  return new Promise((r) => s.close(() => r()));
}

const header = (t: string) =>
  JSON.parse(Buffer.from(t.split('.')[0] as string, 'base64url').toString()) as Record<string, unknown>;
const payload = (t: string) =>
  JSON.parse(Buffer.from(t.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
const b64 = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pki: Pki;
let k1: SigningKey;
let k2: SigningKey;
let k3: SigningKey;
let up: Awaited<ReturnType<typeof startUpstream>>;
let upstreamHits = 0;
let gw: Gw;
let gwYaml = '';

const call = (path: string, token?: string) =>
  send(gw.port, path, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  [k1, k2, k3] = await Promise.all([rsaKey('k1'), rsaKey('k2'), rsaKey('k3')]);
  pki = await makePki('rampart-jwt-');
  idp = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0] as string;
    idpHits.set(path, (idpHits.get(path) ?? 0) + 1);
    handler(req, res);
  });
  idpPort = await listen(idp);
  issuer = `http://127.0.0.1:${idpPort}`;
  const idpCert = await pki.leaf('idp', { commonName: 'idp', altNames: ['127.0.0.1'] });
  idpTls = createHttpsServer(
    { cert: idpCert.cert, key: idpCert.key, requestCert: true, rejectUnauthorized: false },
    (req, res) => handler(req, res),
  );
  idpTlsPort = await listen(idpTls);
  handler = provider([k1]);

  up = await startUpstream((_req, res) => {
    upstreamHits++;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('upstream');
  });
  gwYaml = `
listeners: [{ port: 0 }]
upstreams:
  api: { targets: ["${up.url}"] }
routes:
  - name: api
    paths: ["/api"]
    upstream: api
policies:
  jwt:
    opaque_tokens: refuse
    issuers:
      - issuer: "${issuer}"
        discovery: true
        audiences: ["${AUD}"]
        typ: at+jwt
        required_claims: [client_id]
        clock_skew_s: 5
    jwks: { refresh_s: 300, cooldown_s: 1, max_stale_s: 4, timeout_ms: 1000 }
`;
  gw = await startGateway(gwYaml);
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
  if (idp?.listening) await stop(idp);
  if (idpTls?.listening) await stop(idpTls);
});

describe('jwt against oidc-provider', () => {
  let t1 = '';

  it('discovers the JWKS and accepts a token from the IdP on a non-public route', async () => {
    const none = await call('/api');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="rampart"');
    t1 = await idpToken();
    expect(header(t1)).toMatchObject({ alg: 'RS256', kid: 'k1', typ: 'at+jwt' });
    expect(payload(t1)).toMatchObject({ iss: issuer, aud: AUD, client_id: APP.id, scope: 'api:read' });
    const hits = upstreamHits;
    const r = await call('/api', t1);
    expect(r.status, r.body).toBe(200);
    expect(r.body).toBe('upstream');
    expect(upstreamHits).toBe(hits + 1);
    expect(hitsOf('/.well-known/openid-configuration')).toBeGreaterThanOrEqual(1);
    expect(hitsOf('/jwks')).toBeGreaterThanOrEqual(1);
    // A hot token is served from the cache: no more key fetches.
    const jwks = hitsOf('/jwks');
    for (let i = 0; i < 5; i++) expect((await call('/api', t1)).status).toBe(200);
    expect(hitsOf('/jwks')).toBe(jwks);
    // A config reload keeps the process-wide key set: no refetch, no rediscovery.
    const discovery = hitsOf('/.well-known/openid-configuration');
    gw.reload(gwYaml);
    expect((await call('/api', t1)).status).toBe(200);
    expect(hitsOf('/jwks')).toBe(jwks);
    expect(hitsOf('/.well-known/openid-configuration')).toBe(discovery);
  });

  it('refuses attack tokens with one uniform 401, never reaching the upstream or a URL named in the token', async () => {
    let attackerHits = 0;
    const attacker = await startUpstream((_req, res) => {
      attackerHits++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    const evil = await generateKeyPair('RS256', { extractable: true });
    const evilJwk = { ...(await exportJWK(evil.publicKey)), kid: 'evil' };
    const real = payload(t1);
    const now = Math.floor(Date.now() / 1000);
    const claims = { ...real, iat: now, exp: now + 300 };
    // Signed with the IdP's real key unless said otherwise: only the named claim or header is wrong.
    const signed = (
      c: JWTPayload,
      h: Partial<JWTHeaderParameters> = {},
      key: CryptoKey | Uint8Array = k1.privateKey,
      crit?: Record<string, boolean>,
    ) =>
      new SignJWT({ ...claims, ...c })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'at+jwt', ...h } as JWTHeaderParameters)
        .sign(key, crit ? { crit } : {});
    const [h, p, s] = t1.split('.') as [string, string, string];
    const attacks: [string, string | Promise<string>][] = [
      ['alg none', `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims)}.`],
      ['alg none with kid', `${b64({ alg: 'none', kid: 'k1', typ: 'at+jwt' })}.${b64(claims)}.`],
      ['HS256 with the RSA public key as secret', signed({}, { alg: 'HS256' }, new TextEncoder().encode(k1.pem))],
      ['expired', signed({ iat: now - 600, exp: now - 60 })],
      ['not yet valid', signed({ nbf: now + 600 })],
      ['wrong iss', signed({ iss: 'http://127.0.0.1:1' })],
      ['wrong aud', signed({ aud: 'https://other.rampart.test' })],
      [
        'unknown crit',
        signed({}, { crit: ['urn:rampart:x'], 'urn:rampart:x': true } as never, k1.privateKey, {
          'urn:rampart:x': true,
        }),
      ],
      ['kid path traversal', signed({}, { kid: '../../../../../etc/passwd' })],
      ['kid SQL', signed({}, { kid: "k1' OR '1'='1" })],
      ['jku to the attacker', signed({}, { kid: 'evil', jku: `${attacker.url}/jwks` }, evil.privateKey)],
      ['jku with the real kid', signed({}, { jku: `${attacker.url}/jwks` }, evil.privateKey)],
      ['x5u to the attacker', signed({}, { kid: 'evil', x5u: `${attacker.url}/cert.pem` }, evil.privateKey)],
      ['embedded jwk', signed({}, { kid: 'evil', jwk: evilJwk }, evil.privateKey)],
      ['attacker key, real kid', signed({}, {}, evil.privateKey)],
      ['oversized', signed({ pad: 'x'.repeat(9000) })],
      ['bad base64', `${h}.${p}%%.${s}`],
      ['two segments', `${h}.${p}`],
      ['JSON garbage', `${b64('{"alg":"RS256",')}.${b64('not json')}.${s}`],
      ['tampered payload', `${h}.${b64({ ...real, scope: 'api:read api:write admin' })}.${s}`],
    ];
    const hits = upstreamHits;
    const bodies = new Set<string>();
    for (const [why, t] of attacks) {
      const r = await call('/api', await t);
      expect(r.status, why).toBe(401);
      expect(r.headers['www-authenticate'], why).toBe('Bearer realm="rampart", error="invalid_token"');
      const { request_id: _id, ...body } = JSON.parse(r.body) as Record<string, unknown>;
      expect(body, why).toMatchObject({ code: 'UNAUTHENTICATED', status: 401, detail: 'Authentication failed.' });
      bodies.add(JSON.stringify(body));
    }
    // Identical answers: nothing tells which check failed.
    expect(bodies.size).toBe(1);
    expect(upstreamHits).toBe(hits);
    expect(attackerHits).toBe(0);
    await attacker.close();
    // Never a token in the logs.
    expect(JSON.stringify(gw.logs.lines)).not.toContain(s);
  });

  it('follows a key rotation at the IdP: a new kid is fetched on first sight, a removed kid stops working', async () => {
    // The IdP adds k2 and signs with it; k1 is still published.
    handler = provider([k2, k1]);
    await sleep(1100); // past the cool-down of the last fetch
    const t2 = await idpToken();
    expect(header(t2).kid).toBe('k2');
    const before = hitsOf('/jwks');
    expect((await call('/api', t2)).status).toBe(200);
    expect(hitsOf('/jwks')).toBe(before + 1);
    expect(gw.logs.lines.some((l) => l.msg === 'unknown kid: refetching the JWKS' && l.kid === 'k2')).toBe(true);
    expect((await call('/api', t1)).status).toBe(200); // both during the overlap
    // Next rotation: k3 added, k1 removed. The first k3 token refetches; t1 (cached until now) is refused.
    handler = provider([k3, k2]);
    await sleep(1100);
    const t3 = await idpToken();
    expect(header(t3).kid).toBe('k3');
    expect((await call('/api', t3)).status).toBe(200);
    const refused = await call('/api', t1);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="rampart", error="invalid_token"');
    expect((await call('/api', t2)).status).toBe(200);
    const changes = gw.logs.lines.filter((l) => l.msg === 'JWKS keys changed');
    expect(changes.map((l) => [l.added, l.removed])).toEqual(
      expect.arrayContaining([
        [['k2'], []],
        [['k3'], ['k1']],
      ]),
    );
    expect(JSON.stringify(gw.logs.lines)).not.toContain(k1.publicJwk.n as string);
  });

  it('IdP down: stale keys keep working within max_stale_s, then 503 AUTH_UNAVAILABLE with Retry-After; recovers', async () => {
    // A token obtained now but first presented with the IdP down: verified with the stale keys.
    const t = await idpToken();
    const lastFetch = Date.now();
    await stop(idp);
    expect((await call('/api', t)).status).toBe(200);
    // An unknown kid while down: one failed refetch, then the key set carries on.
    await sleep(1100);
    const odd = await new SignJWT({ ...payload(t) })
      .setProtectedHeader({ alg: 'RS256', kid: 'k9', typ: 'at+jwt' })
      .sign(k3.privateKey);
    expect((await call('/api', odd)).status).toBe(401);
    expect((await call('/api', t)).status).toBe(200);
    // Past max_stale_s (4 s) since the last good fetch: 503, cached or not.
    await sleep(Math.max(0, lastFetch + 4300 - Date.now()));
    const down = await call('/api', t);
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toMatchObject({ code: 'AUTH_UNAVAILABLE', status: 503 });
    expect(Number(down.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(down.headers['www-authenticate']).toBeUndefined();
    expect(gw.logs.lines.some((l) => l.msg === 'JWKS unreachable and no usable keys: tokens answered 503')).toBe(true);
    // The IdP back on its port: the next request past the cool-down refetches and passes.
    await listen(idp, idpPort);
    await sleep(1100);
    expect((await call('/api', t)).status).toBe(200);
    expect(gw.logs.lines.some((l) => l.msg === 'JWKS reachable again')).toBe(true);
  });
});

describe('certificate-bound tokens (RFC 8705) over mTLS', () => {
  let tlsGw: Gw;
  let alice: Awaited<ReturnType<Pki['leaf']>>;
  let bob: Awaited<ReturnType<Pki['leaf']>>;
  beforeAll(async () => {
    const server = await pki.leaf('gateway', { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
    alice = await pki.leaf('alice', { commonName: 'alice', usage: 'client' });
    bob = await pki.leaf('bob', { commonName: 'bob', usage: 'client' });
    tlsGw = await startGateway(`
listeners:
  - port: 0
    tls:
      certificates: [{ cert_file: ${server.certFile}, key_file: ${server.keyFile} }]
      client_auth: { mode: request, ca_file: ${pki.dir}/ca.pem }
upstreams:
  api: { targets: ["${up.url}"] }
routes:
  - { name: api, paths: ["/api"], upstream: api }
policies:
  jwt:
    issuers:
      - issuer: "${issuer}"
        jwks_uri: "${issuer}/jwks"
        audiences: ["${AUD}"]
        typ: at+jwt
`);
  });
  afterAll(async () => {
    await tlsGw?.close();
  });

  /** HTTPS with an optional client certificate. */
  function tlsCall(
    port: number,
    path: string,
    o: { token?: string; cert?: { cert: string; key: string }; form?: string; auth?: string },
  ) {
    return new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port,
          path,
          method: o.form ? 'POST' : 'GET',
          ca: pki.ca.cert,
          servername: 'localhost',
          agent: false,
          ...(o.cert && { cert: o.cert.cert, key: o.cert.key }),
          headers: {
            ...(o.token && { authorization: `Bearer ${o.token}` }),
            ...(o.auth && { authorization: o.auth }),
            ...(o.form && { 'content-type': 'application/x-www-form-urlencoded' }),
          },
          // The IdP's certificate names 127.0.0.1 only; the gateway's names localhost.
          checkServerIdentity: () => undefined,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('error', reject);
      req.end(o.form);
    });
  }

  it('accepts a bound token only with the certificate it is bound to', async () => {
    // The IdP binds the token to the client certificate used at its token endpoint.
    const tok = await tlsCall(idpTlsPort, '/token', {
      cert: alice,
      auth: basic(BOUND.id, BOUND.secret),
      form: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api:read' }).toString(),
    });
    expect(tok.status, tok.body).toBe(200);
    const bound = (JSON.parse(tok.body) as { access_token: string }).access_token;
    expect(payload(bound).cnf).toHaveProperty(['x5t#S256']);
    expect((await tlsCall(tlsGw.port, '/api', { token: bound, cert: alice })).status).toBe(200);
    expect((await tlsCall(tlsGw.port, '/api', { token: bound, cert: alice })).status).toBe(200); // cached
    expect((await tlsCall(tlsGw.port, '/api', { token: bound, cert: bob })).status).toBe(401);
    expect((await tlsCall(tlsGw.port, '/api', { token: bound })).status).toBe(401);
    // An unbound token needs no certificate.
    expect((await tlsCall(tlsGw.port, '/api', { token: await idpToken() })).status).toBe(200);
  });
});
