import { writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, killRampart, type Spawned, spawnRampart, startUpstream, tmpFile, waitForNew } from '../helpers.js';

/** `rampart start --workers 2`: the primary forks two workers sharing the listener, aggregates metrics, fans out. */

function config(port: number, metricsPort: number, upstream: string, version: number): string {
  return `listeners:
  - host: 127.0.0.1
    port: ${port}
metrics: { host: 127.0.0.1, port: ${metricsPort} }
shutdown_timeout_ms: 10000
upstreams:
  app:
    targets: ["${upstream}"]
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

/** One request on a fresh connection (the cluster primary hands connections to workers in turn). */
function getFresh(url: string): Promise<{ status: number; version: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => {
        const v = res.headers['x-config-version'];
        resolve({ status: res.statusCode ?? 0, version: typeof v === 'string' ? v : undefined, body });
      });
    }).on('error', reject);
  });
}

/** Sum of a counter's samples in Prometheus text, optionally only those whose labels contain `labels`. */
function sumOf(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function until<T>(fn: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('cluster mode (rampart start --workers 2)', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let sp: Spawned;
  let file = '';
  let port = 0;
  let metricsPort = 0;
  let base = '';
  let workerPids: number[] = [];
  let slowArrived: () => void = () => {};

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      if (req.url === '/slow') {
        slowArrived();
        setTimeout(() => res.end('slow done'), 800);
      } else res.end(`hello ${req.url}`);
    });
    port = await freePort();
    metricsPort = await freePort();
    file = tmpFile('rampart.yaml', config(port, metricsPort, up.url, 1));
    // --no-watch: the reload below must come from SIGHUP alone.
    sp = spawnRampart(['start', '--config', file, '--workers', '2', '--no-watch']);
    await sp.waitFor((l) => l.msg === 'all workers listening');
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await killRampart(sp);
    await up.close();
  });

  it('serves requests from both workers', async () => {
    const results = [];
    for (let i = 0; i < 20; i++) results.push(await getFresh(`${base}/n/${i}`));
    expect(results.every((r) => r.status === 200 && r.version === '1')).toBe(true);
    const access = await until(
      () => sp.logs.filter((l) => l.type === 'access'),
      (a) => a.length >= 20,
    );
    expect(access).toHaveLength(20);
    workerPids = [...new Set(access.map((l) => l.pid as number))].sort();
    expect(workerPids).toHaveLength(2);
    expect(workerPids).not.toContain(sp.proc.pid);
    const perWorker = workerPids.map((p) => access.filter((l) => l.pid === p).length);
    console.log(`20 requests on fresh connections: ${perWorker.join(' + ')} across workers ${workerPids.join(', ')}`);
  });

  it('aggregates rampart_requests_total across workers on the primary metrics listener', async () => {
    const scrape = async () => {
      const r = await request(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(r.statusCode).toBe(200);
      return r.body.text();
    };
    const text = await until(scrape, (t) => sumOf(t, 'rampart_requests_total', 'route="main"') >= 20);
    expect(sumOf(text, 'rampart_requests_total', 'route="main"')).toBe(20);
    expect(sumOf(text, 'rampart_requests_total', 'status="200"')).toBe(20);
    // Each worker's access log shows it served only part of them: the 20 is the sum.
    expect(text).toMatch(/^rampart_request_duration_seconds_count\{route="main"\} 20$/m);
  });

  it('rejects an invalid config once, on the primary, and no worker applies it', async () => {
    writeFileSync(file, `${config(port, metricsPort, up.url, 9)}unknown_top_level: 1\n`);
    const rejected = waitForNew(sp, (l) => typeof l.msg === 'string' && l.msg.startsWith('config rejected'));
    sp.proc.kill('SIGHUP');
    const line = await rejected;
    expect(line.pid).toBe(sp.proc.pid);
    expect(line.issues).toContainEqual(expect.stringMatching(/:\d+:1 error unknown_top_level: unknown field/));
    expect((await getFresh(`${base}/still`)).version).toBe('1');
  });

  it('reaches every worker with a SIGHUP reload', async () => {
    writeFileSync(file, config(port, metricsPort, up.url, 2));
    const seen = new Set<number>();
    const both = waitForNew(sp, (l) => {
      if (l.msg === 'config reloaded') seen.add(l.pid as number);
      return seen.size === 2;
    });
    const sent = waitForNew(sp, (l) => l.msg === 'config reload sent to workers');
    sp.proc.kill('SIGHUP');
    expect((await sent).trigger).toBe('SIGHUP');
    await both;
    expect([...seen].sort()).toEqual(workerPids);
    const after = [];
    for (let i = 0; i < 6; i++) after.push((await getFresh(`${base}/after/${i}`)).version);
    expect(after).toEqual(['2', '2', '2', '2', '2', '2']);
  });

  it('drains and stops every worker on SIGTERM, exiting 0', async () => {
    const arrived = new Promise<void>((r) => {
      slowArrived = r;
    });
    const slow = getFresh(`${base}/slow`);
    await arrived;
    sp.proc.kill('SIGTERM');
    expect(await slow).toMatchObject({ status: 200, body: 'slow done' });
    expect(await sp.exited).toBe(0);
    await sp.waitFor((l) => l.msg === 'stopped' && l.pid === sp.proc.pid, 2000);
    for (const pid of workerPids) expect(alive(pid), `worker ${pid} still running`).toBe(false);
    await expect(getFresh(`${base}/gone`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
