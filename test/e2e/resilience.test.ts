import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startGateway, startUpstream } from '../helpers.js';

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  code: string | undefined;
}

/** One request over a fresh connection; `chunks` are sent as a chunked body. */
function send(
  base: string,
  path: string,
  opts: { method?: string; body?: string; chunks?: string[]; headers?: Record<string, string> } = {},
): Promise<Res> {
  const u = new URL(path, base);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    const req = httpRequest(
      { host: '127.0.0.1', port: u.port, path: u.pathname, method: opts.method ?? 'GET', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          let code: string | undefined;
          if (String(res.headers['content-type']).startsWith('application/problem+json'))
            code = (JSON.parse(body) as { code?: string }).code;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, code });
        });
        res.on('error', reject);
      },
    );
    // The gateway may answer (413, 502) before it reads the whole body; that is not a client error here.
    req.on('error', (e: NodeJS.ErrnoException) =>
      e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e),
    );
    if (opts.body !== undefined) req.write(opts.body);
    for (const c of opts.chunks ?? []) req.write(c);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until `pred` holds (bounded); returns the last value, so the caller's expect shows what was seen. */
async function until<T>(fn: () => Promise<T>, pred: (v: T) => boolean, tries = 100, everyMs = 30): Promise<T> {
  let v = await fn();
  for (let i = 1; i < tries && !pred(v); i++) {
    await sleep(everyMs);
    v = await fn();
  }
  return v;
}

/** An http server on a given port (to bring a dead target back on its old address). */
async function listenOn(port: number, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const s = createServer(handler);
  await new Promise<void>((r, j) => {
    s.once('error', j);
    s.listen(port, '127.0.0.1', () => r());
  });
  return s;
}

function closeServer(s: Server): Promise<void> {
  s.closeAllConnections();
  return new Promise((r) => s.close(() => r()));
}

/** Accepts TCP connections and drops them at once, counting them: the upstream saw the request, then reset. */
async function resettingServer(): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  let n = 0;
  const sockets = new Set<Socket>();
  const s: NetServer = createNetServer((sock) => {
    n++;
    sockets.add(sock);
    sock.once('data', () => sock.destroy());
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const addr = s.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    connections: () => n,
    close: () =>
      new Promise<void>((r) => {
        for (const x of sockets) x.destroy();
        s.close(() => r());
      }),
  };
}

function config(upstream: string, routeExtra = ''): string {
  return `
environment: development
listeners: [{ port: 0 }]
metrics: { enabled: false }
logging: { level: silent, access_log: false }
upstreams:
  svc:
${upstream
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
routes:
  - name: all
    public: true
    paths: ["/*"]
    upstream: svc
${routeExtra}
`;
}

describe('resilience end to end', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  async function gateway(yaml: string) {
    const gw = await startGateway(yaml);
    cleanup.push(() => gw.close());
    return gw;
  }
  async function upstream(handler: (req: IncomingMessage, res: ServerResponse) => void) {
    const u = await startUpstream(handler);
    cleanup.push(() => u.close());
    return u;
  }

  describe('passive health', () => {
    it('ejects a refusing target, keeps serving from the healthy one, and takes the target back after eject_ms', async () => {
      const deadPort = await freePort();
      let liveHits = 0;
      const live = await upstream((_req, res) => {
        liveHits++;
        res.end('live');
      });
      const gw = await gateway(
        config(`
targets: ["http://127.0.0.1:${deadPort}", "${live.url}"]
retries: { attempts: 2 }
health:
  passive: { max_failures: 2, eject_ms: 300, max_eject_ms: 1000 }`),
      );
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const r = await send(gw.url, '/x');
        statuses.push(r.status);
        expect(r.body).toBe('live');
      }
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(liveHits).toBe(20);

      // The target comes back on its old address: once the ejection expires, a probe finds it healthy.
      let revivedHits = 0;
      const revived = await listenOn(deadPort, (_req, res) => {
        revivedHits++;
        res.end('revived');
      });
      cleanup.push(() => closeServer(revived));
      const last = await until(
        () => send(gw.url, '/x'),
        (r) => r.body === 'revived',
        200,
        20,
      );
      expect(last.status).toBe(200);
      expect(last.body).toBe('revived');
      // And it stays in the rotation (round-robin alternates again).
      const bodies = new Set<string>();
      for (let i = 0; i < 4; i++) bodies.add((await send(gw.url, '/x')).body);
      expect(bodies).toEqual(new Set(['live', 'revived']));
      expect(revivedHits).toBeGreaterThanOrEqual(3);
    });

    it('a half-open probe cut short by the client body limit does not leave the target ejected for good', async () => {
      let failing = true;
      const up = await upstream((req, res) => {
        req.resume();
        res.statusCode = failing ? 503 : 200;
        res.end(failing ? 'down' : 'up');
      });
      const gw = await gateway(
        config(
          `
targets: ["${up.url}"]
health:
  passive: { max_failures: 1, eject_ms: 100, max_eject_ms: 100 }`,
          `    policies:
      request-limits: { max_body_bytes: 16 }`,
        ),
      );
      expect((await send(gw.url, '/x')).status).toBe(503); // passed through, and ejects the target
      failing = false;
      expect((await send(gw.url, '/x')).code).toBe('NO_HEALTHY_UPSTREAM');
      // After the ejection, the first request through is the probe: a chunked body over the limit stops it.
      const probe = await until(
        () => send(gw.url, '/x', { method: 'POST', chunks: ['0123456789', '0123456789', '0123456789'] }),
        (r) => r.code !== 'NO_HEALTHY_UPSTREAM',
      );
      expect(probe.status).toBe(413);
      expect(probe.code).toBe('PAYLOAD_TOO_LARGE');
      // The target was never at fault: traffic reaches it again.
      const r = await until(
        () => send(gw.url, '/x'),
        (x) => x.status === 200,
        50,
      );
      expect(r.status).toBe(200);
      expect(r.body).toBe('up');
    });
  });

  describe('active health checks', () => {
    it('ejects a target whose /health fails and restores it when it recovers', async () => {
      const healthy: Record<string, boolean> = { a: true, b: true };
      const make = (name: string) =>
        upstream((req, res) => {
          if (req.url === '/health') {
            res.statusCode = healthy[name] ? 200 : 500;
            res.end();
            return;
          }
          res.end(name);
        });
      const a = await make('a');
      const b = await make('b');
      const gw = await gateway(
        config(`
targets: ["${a.url}", "${b.url}"]
health:
  active: { path: /health, interval_ms: 100, timeout_ms: 1000, healthy_threshold: 1, unhealthy_threshold: 1 }`),
      );
      const window = async () => {
        const seen: string[] = [];
        for (let i = 0; i < 4; i++) seen.push((await send(gw.url, '/x')).body);
        return seen;
      };
      expect(new Set(await window())).toEqual(new Set(['a', 'b']));

      healthy.b = false;
      const down = await until(window, (seen) => seen.every((x) => x === 'a'));
      expect(down).toEqual(['a', 'a', 'a', 'a']);

      healthy.b = true;
      const up = await until(window, (seen) => seen.includes('b'));
      expect(up).toContain('b');
      expect(up).toContain('a');
    });
  });

  describe('retries', () => {
    it('retries a GET that hit a dropped connection on another target, and never a POST', async () => {
      const reset = await resettingServer();
      cleanup.push(() => reset.close());
      const seen: string[] = [];
      const hosts: (string | undefined)[] = [];
      const live = await upstream((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        hosts.push(req.headers.host);
        req.resume();
        res.end('live');
      });
      const gw = await gateway(
        config(`
targets: ["${reset.url}", "${live.url}"]
retries: { attempts: 2 }
health:
  passive: { enabled: false }`),
      );
      // Round-robin starts at the resetting target: the GET fails there and is retried on the live one.
      const get = await send(gw.url, '/get');
      expect(get.status).toBe(200);
      expect(get.body).toBe('live');
      expect(reset.connections()).toBe(1);
      expect(seen).toEqual(['GET /get']);
      // The retry carries the Host of the target it went to, not of the one that failed.
      expect(hosts).toEqual([new URL(live.url).host]);

      // Next turn is the resetting target again: a POST there is not retried (it may have been processed).
      const post = await send(gw.url, '/post', { method: 'POST', body: '{"charge":1}' });
      expect(post.status).toBe(502);
      expect(post.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(reset.connections()).toBe(2);
      expect(seen).toEqual(['GET /get']);
    });

    it('retries a GET to a closed port on another target', async () => {
      const deadPort = await freePort();
      let hits = 0;
      const live = await upstream((_req, res) => {
        hits++;
        res.end('live');
      });
      const gw = await gateway(
        config(`
targets: ["http://127.0.0.1:${deadPort}", "${live.url}"]
health:
  passive: { enabled: false }`),
      );
      for (let i = 0; i < 4; i++) expect((await send(gw.url, '/x')).body).toBe('live');
      expect(hits).toBe(4);
      const post = await send(gw.url, '/x', { method: 'POST', body: 'x' });
      // Round-robin: every request starts at the dead target; the POST is not retried from there.
      expect(post.status).toBe(502);
      expect(post.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(hits).toBe(4);
    });
  });

  describe('timeouts', () => {
    it('answers 504 UPSTREAM_TIMEOUT when the upstream never answers (header_ms and total_ms)', async () => {
      const hung: ServerResponse[] = [];
      const up = await upstream((_req, res) => {
        hung.push(res);
      });
      cleanup.push(async () => {
        for (const r of hung) r.destroy();
      });
      const gw = await startGateway(`
listeners: [{ port: 0 }]
metrics: { enabled: false }
logging: { level: silent, access_log: false }
upstreams:
  slow:
    targets: ["${up.url}"]
    health: { passive: { enabled: false } }
routes:
  - name: header
    public: true
    paths: ["/header"]
    upstream: slow
    timeouts: { header_ms: 150 }
  - name: total
    public: true
    paths: ["/total"]
    upstream: slow
    timeouts: { total_ms: 150 }
`);
      cleanup.push(() => gw.close());
      for (const p of ['/header', '/total']) {
        const r = await send(gw.url, p);
        expect(r.status, p).toBe(504);
        expect(r.code, p).toBe('UPSTREAM_TIMEOUT');
        expect(r.headers['content-type'], p).toBe('application/problem+json');
      }
      // A timed-out GET is not retried: each request reached the upstream once.
      expect(hung).toHaveLength(2);
    });
  });

  describe('all targets down', () => {
    it('answers 502 then 503 problem+json without internals', async () => {
      const p1 = await freePort();
      const p2 = await freePort();
      const gw = await gateway(
        config(`
targets: ["http://127.0.0.1:${p1}", "http://127.0.0.1:${p2}"]
health:
  passive: { max_failures: 3, eject_ms: 60000 }`),
      );
      const codes = new Set<string | undefined>();
      for (let i = 0; i < 4; i++) {
        const r = await send(gw.url, '/secret/path');
        expect([502, 503]).toContain(r.status);
        expect(r.headers['content-type']).toBe('application/problem+json');
        codes.add(r.code);
        const body = JSON.parse(r.body) as Record<string, unknown>;
        expect(Object.keys(body).sort()).toEqual(['code', 'instance', 'status', 'title', 'type']);
        for (const leak of ['127.0.0.1', String(p1), String(p2), 'ECONNREFUSED', 'stack', '    at ', 'Error'])
          expect(r.body).not.toContain(leak);
        if (r.status === 503) expect(r.headers['retry-after']).toBeDefined();
      }
      expect(codes).toEqual(new Set(['UPSTREAM_UNAVAILABLE', 'NO_HEALTHY_UPSTREAM']));
    });
  });

  describe('circuit breaker', () => {
    it('opens after failures (503 CIRCUIT_OPEN) and closes again after open_ms', async () => {
      let failing = true;
      let hits = 0;
      const up = await upstream((_req, res) => {
        hits++;
        res.statusCode = failing ? 500 : 200;
        res.end(failing ? 'bad' : 'good');
      });
      const gw = await gateway(
        config(`
targets: ["${up.url}"]
circuit_breaker: { window_ms: 5000, min_requests: 3, failure_ratio: 0.5, open_ms: 200, half_open_requests: 1 }`),
      );
      for (let i = 0; i < 3; i++) expect((await send(gw.url, '/x')).status).toBe(500);
      const open = await send(gw.url, '/x');
      expect(open.status).toBe(503);
      expect(open.code).toBe('CIRCUIT_OPEN');
      expect(open.headers['retry-after']).toBeDefined();
      expect(hits).toBe(3);

      failing = false;
      const closed = await until(
        () => send(gw.url, '/x'),
        (r) => r.status === 200,
      );
      expect(closed.body).toBe('good');
      for (let i = 0; i < 5; i++) expect((await send(gw.url, '/x')).status).toBe(200);
    });

    it('a half-open breaker that finds no healthy target does not stay open for good', async () => {
      const port = await freePort();
      const gw = await gateway(
        config(`
targets: ["http://127.0.0.1:${port}"]
retries: { attempts: 0 }
health:
  passive: { max_failures: 2, eject_ms: 600, max_eject_ms: 600 }
circuit_breaker: { window_ms: 5000, min_requests: 2, failure_ratio: 0.5, open_ms: 100, half_open_requests: 1 }`),
      );
      expect((await send(gw.url, '/x')).code).toBe('UPSTREAM_UNAVAILABLE');
      expect((await send(gw.url, '/x')).code).toBe('UPSTREAM_UNAVAILABLE');
      expect((await send(gw.url, '/x')).code).toBe('CIRCUIT_OPEN');
      // open_ms passes while the only target is still ejected: the trial request finds no target.
      const noTarget = await until(
        () => send(gw.url, '/x'),
        (r) => r.code === 'NO_HEALTHY_UPSTREAM',
      );
      expect(noTarget.code).toBe('NO_HEALTHY_UPSTREAM');
      const back = await listenOn(port, (_req, res) => res.end('back'));
      cleanup.push(() => closeServer(back));
      const r = await until(
        () => send(gw.url, '/x'),
        (x) => x.status === 200,
        150,
      );
      expect(r.status).toBe(200);
      expect(r.body).toBe('back');
    });
  });

  it('does not count clients that hang up as upstream failures (no ejection, circuit stays closed)', async () => {
    const pending: ServerResponse[] = [];
    const up = await upstream((req, res) => {
      if (req.url === '/slow') pending.push(res);
      else res.end('ok');
    });
    const gw = await gateway(
      config(`
targets: ["${up.url}"]
health:
  passive: { max_failures: 2, eject_ms: 60000 }
circuit_breaker: { min_requests: 2, failure_ratio: 0.5, open_ms: 60000 }`),
    );
    // Five clients give up while the upstream is still working on their requests.
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve) => {
        const req = httpRequest({ host: '127.0.0.1', port: gw.port, path: '/slow', agent: false });
        req.on('error', () => resolve());
        req.end();
        void until(
          async () => pending.length,
          (n) => n > i,
        ).then(() => {
          req.destroy();
          resolve();
        });
      });
    }
    await until(
      async () => pending.filter((r) => r.destroyed || r.writableEnded || r.socket?.destroyed).length,
      (n) => n === 5,
    );
    const r = await send(gw.url, '/fast');
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok');
    for (const p of pending) p.destroy();
  });

  it('passes an upstream 500 through as-is', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain', 'x-upstream': 'yes' });
      res.end('upstream exploded: details for the client');
    });
    const gw = await gateway(config(`targets: ["${up.url}"]`));
    const r = await send(gw.url, '/x');
    expect(r.status).toBe(500);
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.headers['x-upstream']).toBe('yes');
    expect(r.body).toBe('upstream exploded: details for the client');
  });
});
