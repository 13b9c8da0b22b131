import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, killRampart, type Spawned, spawnRampart, startUpstream, tmpFile, waitForNew } from '../helpers.js';

/** SIGTERM on a real `rampart start --workers 1` process: drain in-flight requests, refuse new ones, exit. */

function config(port: number, upstream: string, shutdownMs: number, version = 1): string {
  return `listeners:
  - host: 127.0.0.1
    port: ${port}
metrics: { enabled: false }
shutdown_timeout_ms: ${shutdownMs}
upstreams:
  app:
    targets: ["${upstream}"]
    retries: { attempts: 0 }
routes:
  - name: main
    public: true
    paths: ["/*"]
    upstream: app
    policies:
      headers:
        response:
          set: { x-config-version: "${version}" }
`;
}

/** Connects a raw TCP socket; resolves with the socket, or rejects with the connect error (ECONNREFUSED). */
function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

async function get(base: string, path: string): Promise<{ status: number; body: string; version: unknown }> {
  const r = await request(`${base}${path}`);
  return { status: r.statusCode, body: await r.body.text(), version: r.headers['x-config-version'] };
}

describe('graceful shutdown (SIGTERM)', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let sp: Spawned | undefined;
  /** Requests the upstream has received, by path. */
  const arrived: string[] = [];
  let onArrive: () => void = () => {};

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      arrived.push(req.url ?? '');
      onArrive();
      if (req.url?.startsWith('/slow')) {
        setTimeout(() => res.end(`done ${req.url}`), 1000);
      } else if (req.url === '/hang') {
        // Never answers.
      } else if (req.url === '/hang-body') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first bytes, then nothing');
      } else res.end('ok');
    });
  });
  afterAll(async () => {
    await up.close();
  });
  afterEach(async () => {
    await killRampart(sp);
    sp = undefined;
  });

  async function boot(shutdownMs: number): Promise<{ port: number; base: string; file: string; sp: Spawned }> {
    const port = await freePort();
    const file = tmpFile('rampart.yaml', config(port, up.url, shutdownMs));
    sp = spawnRampart(['start', '--config', file, '--workers', '1']);
    await sp.waitFor((l) => l.msg === 'listening');
    return { port, base: `http://127.0.0.1:${port}`, file, sp };
  }

  function upstreamReceived(n: number): Promise<void> {
    const target = arrived.length + n;
    return new Promise((resolve) => {
      onArrive = () => {
        if (arrived.length >= target) resolve();
      };
    });
  }

  it('finishes in-flight requests, refuses new connections, and exits 0', async () => {
    const { port, base, sp } = await boot(10_000);
    // An idle keep-alive connection: drain closes it.
    const idle = await tcp(port);
    const idleClosed = new Promise<void>((r) => idle.once('close', () => r()));
    idle.on('error', () => {});

    const received = upstreamReceived(3);
    const inflight = [1, 2, 3].map((i) => get(base, `/slow/${i}`));
    await received;

    const t0 = performance.now();
    sp.proc.kill('SIGTERM');
    await sp.waitFor((l) => l.msg === 'draining');
    await expect(tcp(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await idleClosed;

    const results = await Promise.all(inflight);
    expect(results.map((r) => [r.status, r.body])).toEqual([
      [200, 'done /slow/1'],
      [200, 'done /slow/2'],
      [200, 'done /slow/3'],
    ]);
    expect(await sp.exited).toBe(0);
    console.log(`drain with 3 in-flight 1 s requests: exited ${Math.round(performance.now() - t0)} ms after SIGTERM`);
    // 'exit' may come before the last stdout chunk: wait for the final line, then everything before it is in.
    await sp.waitFor((l) => l.msg === 'stopped', 2000);
    expect(sp.logs.filter((l) => l.type === 'access' && l.status === 200)).toHaveLength(3);
  });

  it('exits after shutdown_timeout_ms when a request never finishes (no response yet)', async () => {
    const { base, sp } = await boot(300);
    const received = upstreamReceived(1);
    const hung = get(base, '/hang').then(
      (r) => r.status,
      (e: unknown) => (e as { code?: string }).code ?? String(e),
    );
    await received;
    const t0 = performance.now();
    sp.proc.kill('SIGTERM');
    expect(await sp.exited).toBe(0);
    console.log(`shutdown_timeout_ms 300, hung request: exited ${Math.round(performance.now() - t0)} ms after SIGTERM`);
    // The client is not left waiting: its connection is cut.
    expect(await hung).not.toBe(200);
  });

  it('exits after shutdown_timeout_ms when a response body never finishes', async () => {
    const { base, sp } = await boot(300);
    const r = await request(`${base}/hang-body`);
    expect(r.statusCode).toBe(200);
    const body = r.body.text().then(
      () => 'complete',
      () => 'cut',
    );
    sp.proc.kill('SIGTERM');
    expect(await sp.exited).toBe(0);
    expect(await body).toBe('cut');
  });

  it('waits for a request that started before a reload (on the old config)', async () => {
    const { base, file, port, sp } = await boot(10_000);
    const received = upstreamReceived(1);
    const slow = get(base, '/slow/old');
    await received;
    const reloaded = waitForNew(sp, (l) => l.msg === 'config reloaded');
    writeFileSync(file, config(port, up.url, 10_000, 2));
    await reloaded;
    expect((await get(base, '/fast')).version).toBe('2');

    sp.proc.kill('SIGTERM');
    expect(await slow).toEqual({ status: 200, body: 'done /slow/old', version: '1' });
    expect(await sp.exited).toBe(0);
  });
});
