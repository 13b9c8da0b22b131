import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { send, startGateway, startUpstream } from '../helpers.js';

/** One request on its own connection, with exactly the headers given (Host, Connection, X-Forwarded-For ...). */

interface Echo {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Gw = Awaited<ReturnType<typeof startGateway>>;

async function accessLine(gw: Gw, requestId: string): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 100; i++) {
    const line = gw.logs.lines.find((l) => l.type === 'access' && l.request_id === requestId);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 10));
  }
  return undefined;
}

describe('forwarding end to end', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let wss: WebSocketServer;
  let wsPort: number;
  const wsHandshakes: IncomingHttpHeaders[] = [];
  let gw: Gw;
  let trusted: Gw;

  const gatewayYaml = (wsUrl: string, extra = '') => `
listeners: [{ port: 0 }]
metrics: { enabled: false }
logging: { level: info, access_log: true }
${extra}
upstreams:
  echo:
    targets: ["${up.url}"]
  ws:
    targets: ["${wsUrl}"]
policies:
  request-id: {}
routes:
  - name: trust-id
    public: true
    paths: ["/trust/*"]
    upstream: echo
    policies:
      request-id: { trust_incoming: true }
  - name: ws
    public: true
    paths: ["/ws"]
    upstream: ws
    websocket: true
  - name: no-ws
    public: true
    paths: ["/no-ws"]
    upstream: ws
  - name: echo
    public: true
    paths: ["/*"]
    upstream: echo
`;

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/hop') {
          res.setHeader('connection', 'x-secret');
          res.setHeader('x-secret', 'internal');
          res.setHeader('keep-alive', 'timeout=99');
          res.setHeader('proxy-authenticate', 'Basic realm="inner"');
          res.setHeader('x-kept', 'yes');
        }
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      });
    });
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    wsPort = (wss.address() as AddressInfo).port;
    wss.on('connection', (sock, req) => {
      wsHandshakes.push(req.headers);
      sock.on('message', (data, isBinary) => sock.send(data, { binary: isBinary }));
    });
    gw = await startGateway(gatewayYaml(`http://127.0.0.1:${wsPort}`));
    trusted = await startGateway(gatewayYaml(`http://127.0.0.1:${wsPort}`, 'trusted_proxies: [127.0.0.1/32]'));
  });

  afterAll(async () => {
    await gw.close();
    await trusted.close();
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    await up.close();
  });

  describe('hop-by-hop headers', () => {
    it('strips hop-by-hop and Connection-listed request headers before the upstream', async () => {
      const r = await send(gw.port, '/echo', {
        headers: {
          connection: 'x-hop, close',
          'x-hop': 'drop me',
          'keep-alive': 'timeout=5',
          te: 'trailers',
          'proxy-authorization': 'Basic c2VjcmV0',
          'proxy-connection': 'keep-alive',
          'x-keep': 'yes',
        },
      });
      expect(r.status).toBe(200);
      const h = (JSON.parse(r.body) as Echo).headers;
      for (const k of ['x-hop', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection'])
        expect(h[k], k).toBeUndefined();
      expect(h.connection ?? '').not.toContain('x-hop');
      expect(h['x-keep']).toBe('yes');
    });

    it('strips hop-by-hop and Connection-listed response headers before the client', async () => {
      const r = await send(gw.port, '/hop', { headers: { connection: 'close' } });
      expect(r.status).toBe(200);
      expect(r.headers['x-secret']).toBeUndefined();
      expect(r.headers['keep-alive']).toBeUndefined();
      expect(r.headers['proxy-authenticate']).toBeUndefined();
      expect(r.headers.connection).toBe('close');
      expect(r.headers['x-kept']).toBe('yes');
    });

    it('answers Expect: 100-continue itself and forwards the body', async () => {
      const r = await send(gw.port, '/upload', {
        method: 'POST',
        headers: { expect: '100-continue', 'content-type': 'text/plain', 'content-length': '5' },
        body: 'hello',
      });
      expect(r.status).toBe(200);
      const echo = JSON.parse(r.body) as Echo;
      expect(echo.body).toBe('hello');
      expect(echo.headers.expect).toBeUndefined();
    });
  });

  describe('forwarding headers and the client address', () => {
    const spoofed = {
      'x-forwarded-for': '198.51.100.9, 203.0.113.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'spoofed.example',
      'x-forwarded-port': '443',
      forwarded: 'for=198.51.100.9;proto=https',
      'x-real-ip': '198.51.100.9',
    };

    it('sets X-Forwarded-For/Proto/Host and Forwarded for a direct client', async () => {
      const r = await send(gw.port, '/echo', { headers: { host: 'api.example.com' } });
      const h = (JSON.parse(r.body) as Echo).headers;
      expect(h['x-forwarded-for']).toBe('127.0.0.1');
      expect(h['x-forwarded-proto']).toBe('http');
      expect(h['x-forwarded-host']).toBe('api.example.com');
      expect(h.forwarded).toBe('for=127.0.0.1;host=api.example.com;proto=http');
    });

    it('quotes a Forwarded host with a port (":" is not a token character)', async () => {
      const r = await send(gw.port, '/echo');
      const h = (JSON.parse(r.body) as Echo).headers;
      expect(h['x-forwarded-host']).toBe(`127.0.0.1:${gw.port}`);
      expect(h.forwarded).toBe(`for=127.0.0.1;host="127.0.0.1:${gw.port}";proto=http`);
    });

    it('ignores forwarding headers from an untrusted peer: upstream and access log see only the peer', async () => {
      const r = await send(gw.port, '/echo', { headers: { ...spoofed, host: 'api.example.com' } });
      const h = (JSON.parse(r.body) as Echo).headers;
      expect(h['x-forwarded-for']).toBe('127.0.0.1');
      expect(h['x-forwarded-proto']).toBe('http');
      expect(h['x-forwarded-host']).toBe('api.example.com');
      expect(h['x-forwarded-port']).toBeUndefined();
      expect(h['x-real-ip']).toBeUndefined();
      expect(h.forwarded).toBe('for=127.0.0.1;host=api.example.com;proto=http');
      const line = await accessLine(gw, String(r.headers['x-request-id']));
      expect(line?.client_ip).toBe('127.0.0.1');
    });

    it('keeps the chain from a trusted peer; the client is the right-most untrusted hop', async () => {
      const r = await send(trusted.port, '/echo', {
        headers: { ...spoofed, 'x-forwarded-for': '198.51.100.9, 203.0.113.7, 127.0.0.1', host: 'api.example.com' },
      });
      const h = (JSON.parse(r.body) as Echo).headers;
      expect(h['x-forwarded-for']).toBe('198.51.100.9, 203.0.113.7, 127.0.0.1, 127.0.0.1');
      expect(h['x-forwarded-proto']).toBe('https');
      expect(h['x-forwarded-host']).toBe('spoofed.example');
      expect(h.forwarded).toBe('for=198.51.100.9;proto=https, for=127.0.0.1;host=api.example.com;proto=http');
      const line = await accessLine(trusted, String(r.headers['x-request-id']));
      expect(line?.client_ip).toBe('203.0.113.7');
    });
  });

  describe('request id', () => {
    it('generates an id, sends it upstream and echoes it back', async () => {
      const r = await send(gw.port, '/echo');
      const id = r.headers['x-request-id'];
      expect(id).toMatch(UUID);
      expect((JSON.parse(r.body) as Echo).headers['x-request-id']).toBe(id);
      const other = await send(gw.port, '/echo');
      expect(other.headers['x-request-id']).not.toBe(id);
      expect((await accessLine(gw, String(id)))?.route).toBe('echo');
    });

    it('ignores an incoming id unless trust_incoming, and a malformed one even then', async () => {
      const ignored = await send(gw.port, '/echo', { headers: { 'x-request-id': 'client-chosen-1' } });
      expect(ignored.headers['x-request-id']).toMatch(UUID);
      expect((JSON.parse(ignored.body) as Echo).headers['x-request-id']).toBe(ignored.headers['x-request-id']);

      const kept = await send(gw.port, '/trust/x', { headers: { 'x-request-id': 'client-chosen-1' } });
      expect(kept.headers['x-request-id']).toBe('client-chosen-1');
      expect((JSON.parse(kept.body) as Echo).headers['x-request-id']).toBe('client-chosen-1');

      const bad = await send(gw.port, '/trust/x', { headers: { 'x-request-id': 'bad id"<script>' } });
      expect(bad.headers['x-request-id']).toMatch(UUID);
    });

    it('puts the id on error answers too', async () => {
      const r = await send(gw.port, '/..');
      expect(r.status).toBe(400);
      const id = r.headers['x-request-id'];
      expect(id).toMatch(UUID);
      expect((JSON.parse(r.body) as { request_id?: string }).request_id).toBe(id);
    });
  });

  describe('WebSocket', () => {
    function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { headers });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)));
      });
    }
    function next(ws: WebSocket): Promise<{ data: string; binary: boolean }> {
      return new Promise((resolve) => ws.once('message', (d, binary) => resolve({ data: d.toString(), binary })));
    }

    it('echoes text and binary messages through the gateway, with policies run on the handshake', async () => {
      const before = wsHandshakes.length;
      const ws = await open(`ws://127.0.0.1:${gw.port}/ws`, { 'x-forwarded-for': '198.51.100.9' });
      try {
        let m = next(ws);
        ws.send('hello through rampart');
        expect(await m).toEqual({ data: 'hello through rampart', binary: false });
        m = next(ws);
        ws.send(Buffer.from([1, 2, 3]));
        const bin = await m;
        expect(bin.binary).toBe(true);
        const big = 'x'.repeat(200_000);
        m = next(ws);
        ws.send(big);
        expect((await m).data).toBe(big);
      } finally {
        ws.close();
      }
      expect(wsHandshakes.length).toBe(before + 1);
      const h = wsHandshakes[before]!;
      expect(h['x-request-id']).toMatch(UUID);
      expect(h['x-forwarded-for']).toBe('127.0.0.1');
      expect(h.host).toBe(`127.0.0.1:${wsPort}`);
      await new Promise<void>((r) => ws.once('close', () => r()));
      const line = await accessLine(gw, String(h['x-request-id']));
      expect(line?.websocket).toBe(true);
      expect(line?.status).toBe(101);
    });

    it('refuses an upgrade on a route without websocket: true', async () => {
      const before = wsHandshakes.length;
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/no-ws`);
        ws.once('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          res.resume();
          ws.terminate();
        });
        ws.once('open', () => reject(new Error('upgrade accepted')));
        ws.on('error', () => {});
      });
      expect(status).toBe(404);
      expect(wsHandshakes.length).toBe(before);
    });
  });
});
