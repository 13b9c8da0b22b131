import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, startGateway, startUpstream } from '../helpers.js';

/**
 * The introspection policy against a real oidc-provider issuing opaque access tokens (client credentials), with a
 * small recording reverse proxy in front of its introspection endpoint: it counts the gateway's calls and can be
 * stopped to take the endpoint down.
 */

const APP = { id: 'app', secret: 'app-secret-0123456789' };
const GATEWAY = { id: 'rampart', secret: 'gw-secret-0123456789' };

type Gw = Awaited<ReturnType<typeof startGateway>>;

let idp: Server;
let issuer = '';
let proxy: Server;
let proxyPort = 0;
/** Introspection calls that reached the IdP through the proxy, with the client they authenticated as. */
const introspections: { authorization: string | undefined }[] = [];
let hang = false;
let up: Awaited<ReturnType<typeof startUpstream>>;
let upstreamHits = 0;
let gw: Gw;

function startProxy(port: number): Promise<Server> {
  const s = createServer((req: IncomingMessage, res) => {
    if (req.url === '/token/introspection') introspections.push({ authorization: req.headers.authorization });
    if (hang) return; // never answers (the gateway's timeout_ms decides)
    const out = httpRequest(
      {
        host: '127.0.0.1',
        port: Number(new URL(issuer).port),
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  return new Promise((resolve) => s.listen(port, '127.0.0.1', () => resolve(s)));
}

function stop(s: Server): Promise<void> {
  s.closeAllConnections();
  return new Promise((r) => s.close(() => r()));
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function idpPost(path: string, body: Record<string, string>): Promise<{ status: number; json: unknown }> {
  const r = await fetch(`${issuer}${path}`, {
    method: 'POST',
    headers: { authorization: basic(APP.id, APP.secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

/** A fresh opaque access token for the app client (client credentials grant). */
async function accessToken(): Promise<string> {
  const r = await idpPost('/token', { grant_type: 'client_credentials', scope: 'api:read' });
  expect(r.status).toBe(200);
  const t = (r.json as { access_token: string }).access_token;
  expect(t).not.toContain('.'); // opaque, not a JWT
  return t;
}

const call = (path: string, token?: string) =>
  send(gw.port, path, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

const introspectionPolicy = (secretVar: string, extra: string) => `
      introspection:
        endpoint: "http://127.0.0.1:${proxyPort}/token/introspection"
        client_id: ${GATEWAY.id}
        client_secret: "\${env:${secretVar}}"
        issuer: "${issuer}"
        timeout_ms: 500
        ${extra}`;

beforeAll(async () => {
  idp = createServer();
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', () => r()));
  issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: APP.id,
        client_secret: APP.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: 'api:read api:write',
      },
      { client_id: GATEWAY.id, client_secret: GATEWAY.secret, grant_types: [], response_types: [], redirect_uris: [] },
    ],
    scopes: ['api:read', 'api:write'],
    ttl: { ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // The gateway may introspect any client's tokens; a client may revoke only its own (RFC 7009).
      introspection: { enabled: true, allowedPolicy: async (_ctx, client) => client.clientId === GATEWAY.id },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
    },
  });
  idp.on('request', provider.callback());
  proxy = await startProxy(0);
  proxyPort = (proxy.address() as AddressInfo).port;
  up = await startUpstream((_req, res) => {
    upstreamHits++;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('upstream');
  });
  gw = await startGateway(
    `
listeners: [{ port: 0 }]
upstreams:
  api: { targets: ["${up.url}"] }
routes:
  - name: api
    paths: ["/api"]
    upstream: api
    policies:${introspectionPolicy('IDP_SECRET', 'required_scopes: ["api:read"]')}
  - name: short
    paths: ["/short"]
    upstream: api
    policies:${introspectionPolicy('IDP_SECRET', 'cache: { max_ttl_s: 1 }')}
  - name: wrong-secret
    paths: ["/wrong"]
    upstream: api
    policies:${introspectionPolicy('WRONG_SECRET', '')}
`,
    { IDP_SECRET: GATEWAY.secret, WRONG_SECRET: 'not-the-secret' },
  );
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
  if (proxy?.listening) await stop(proxy);
  if (idp) await stop(idp);
});

describe('introspection against oidc-provider (opaque tokens)', () => {
  it('lets an active token through, then answers from the cache without a second introspection', async () => {
    const token = await accessToken();
    const before = { calls: introspections.length, hits: upstreamHits };
    const first = await call('/api', token);
    expect(first.status).toBe(200);
    expect(first.body).toBe('upstream');
    expect(introspections.length).toBe(before.calls + 1);
    expect(introspections.at(-1)?.authorization).toBe(basic(GATEWAY.id, GATEWAY.secret));
    for (let i = 0; i < 3; i++) expect((await call('/api', token)).status).toBe(200);
    expect(introspections.length).toBe(before.calls + 1);
    expect(upstreamHits).toBe(before.hits + 4);
  });

  it('refuses a missing, an unknown and a JWT-shaped token with 401 and a Bearer challenge', async () => {
    const hits = upstreamHits;
    const none = await call('/api');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="rampart"');
    const unknown = await call('/api', 'm7P0o1hU2bR9cYk3vQeWx8sTzLaNdGfJ4iHu6ElK5Cq');
    expect(unknown.status).toBe(401);
    expect(unknown.headers['www-authenticate']).toBe('Bearer realm="rampart", error="invalid_token"');
    expect(JSON.parse(unknown.body)).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    // Left to a jwt policy (none here): the gate refuses it, and the IdP is not asked.
    const calls = introspections.length;
    expect((await call('/api', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.')).status).toBe(401);
    expect(introspections.length).toBe(calls);
    expect(upstreamHits).toBe(hits);
  });

  it('refuses a token revoked at the IdP (RFC 7009) once the cache window has passed', async () => {
    const token = await accessToken();
    expect((await call('/short', token)).status).toBe(200);
    const fetchedAt = Date.now();
    const calls = introspections.length;
    expect((await idpPost('/token/revocation', { token, token_type_hint: 'access_token' })).status).toBe(200);
    const revokedAt = Date.now();
    const soon = await call('/short', token);
    // Within max_ttl_s (1 s) of the introspection the cached answer still stands; the window is the bound.
    if (Date.now() - fetchedAt < 800) expect(soon.status).toBe(200);
    let last = soon;
    while (last.status === 200 && Date.now() - revokedAt < 5000) {
      await new Promise((r) => setTimeout(r, 50));
      last = await call('/short', token);
    }
    expect(last.status).toBe(401);
    expect(last.headers['www-authenticate']).toBe('Bearer realm="rampart", error="invalid_token"');
    expect(Date.now() - fetchedAt).toBeLessThan(1000 + 1500);
    expect(introspections.length).toBe(calls + 1);
    // The inactive answer is cached too (negative_ttl_s): no call per refused request.
    expect((await call('/short', token)).status).toBe(401);
    expect(introspections.length).toBe(calls + 1);
  });

  it('answers 503 with Retry-After, never 200 or 401, while the introspection endpoint is down; recovers after', async () => {
    const token = await accessToken();
    const hits = upstreamHits;
    await stop(proxy);
    const down = await call('/api', token);
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('5');
    expect(JSON.parse(down.body)).toMatchObject({ code: 'AUTH_UNAVAILABLE', status: 503 });
    expect(JSON.parse(down.body).detail).toBeUndefined();
    expect(upstreamHits).toBe(hits);
    const line = gw.logs.lines.find((l) => l.msg === 'token introspection failed: refusing with 503');
    expect(line).toMatchObject({ reason: 'unreachable', policy: 'introspection', scope: 'route:api' });

    // An endpoint that accepts the connection but never answers: 503 after timeout_ms.
    proxy = await startProxy(proxyPort);
    hang = true;
    try {
      const t0 = Date.now();
      const slow = await call('/api', token);
      expect(slow.status).toBe(503);
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      hang = false;
    }
    // Failures are not cached: the same token works as soon as the endpoint answers again.
    expect((await call('/api', token)).status).toBe(200);
    expect(upstreamHits).toBe(hits + 1);
  });

  it("fails closed (503) and logs when the IdP refuses the gateway's client secret", async () => {
    const token = await accessToken();
    const hits = upstreamHits;
    const calls = introspections.length;
    const r = await call('/wrong', token);
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('5');
    expect(introspections.length).toBe(calls + 1);
    expect(introspections.at(-1)?.authorization).toBe(basic(GATEWAY.id, 'not-the-secret'));
    expect(upstreamHits).toBe(hits);
    const line = gw.logs.lines.findLast((l) => l.msg === 'token introspection failed: refusing with 503');
    expect(line).toMatchObject({ reason: 'status', status: 401, scope: 'route:wrong-secret' });
    expect(JSON.stringify(gw.logs.lines)).not.toContain('not-the-secret');
    expect(JSON.stringify(gw.logs.lines)).not.toContain(token);
    // The good route still accepts the same token: answers are cached per client credentials.
    expect((await call('/api', token)).status).toBe(200);
  });
});
