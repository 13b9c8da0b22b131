import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { startGateway, startUpstream } from '../helpers.js';

/**
 * The identity gate and the brute-force lockout on WebSocket handshakes, through the real server (handleUpgrade):
 * a failed authentication on an Upgrade request counts like any other, so it cannot be used for free guessing.
 */

const ISS = 'https://idp.test';
const AUD = 'https://api.test';
const SECRET = randomBytes(32).toString('base64url');

let up: Awaited<ReturnType<typeof startUpstream>>;
let wss: WebSocketServer;
let gw: Awaited<ReturnType<typeof startGateway>>;

beforeAll(async () => {
  up = await startUpstream((_req, res) => res.end('ok'));
  wss = new WebSocketServer({ server: up.server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
  gw = await startGateway(
    `listeners: [{ host: 127.0.0.1, port: 0 }]
metrics: { enabled: false }
upstreams:
  app: { targets: ["${up.url}"] }
policies:
  brute-force: { max_failures: 3, window_s: 60, lockout_s: 60, max_lockout_s: 60 }
  jwt:
    issuers:
      - issuer: ${ISS}
        audiences: [${AUD}]
        algorithms: [HS256]
        keys: [{ secret: "\${env:WS_TEST_JWT_SECRET}" }]
routes:
  - { name: ws, paths: ["/*"], upstream: app, websocket: true }
`,
    { WS_TEST_JWT_SECRET: SECRET },
  );
});

afterAll(async () => {
  await gw?.close();
  wss?.close();
  await up?.close();
});

function token(secret = SECRET): Promise<string> {
  return new SignJWT({ sub: 'alice' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(Buffer.from(secret));
}

/** The handshake's status: 101 when the upgrade went through, else the refusal's status. */
function handshake(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/socket`, { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', (e) => reject(e));
  });
}

describe('WebSocket handshakes and identity', () => {
  it('lets an authenticated handshake through and refuses one without a credential (not counted)', async () => {
    expect(await handshake({ authorization: `Bearer ${await token()}` })).toBe(101);
    for (let i = 0; i < 5; i++) expect(await handshake({})).toBe(401);
    expect(await handshake({ authorization: `Bearer ${await token()}` })).toBe(101);
  });

  it('counts failed handshakes toward the lockout, which then holds for every request from that address', async () => {
    const forged = randomBytes(32).toString('base64url');
    for (let i = 0; i < 3; i++) expect(await handshake({ authorization: `Bearer ${await token(forged)}` })).toBe(401);
    expect(await handshake({ authorization: `Bearer ${await token()}` })).toBe(429);
    const plain = await fetch(`${gw.url}/x`, { headers: { authorization: `Bearer ${await token()}` } });
    expect(plain.status).toBe(429);
    expect(plain.headers.get('retry-after')).toMatch(/^\d+$/);
  });
});
