import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, killRampart, ROOT, type Spawned, spawnRampart, startUpstream } from '../helpers.js';

/**
 * kill -9 under load, for each durability mode: the requests the client saw answered 2xx (acknowledged) against the
 * request events found in the log afterwards (recorded). sync: nothing acknowledged may be missing. async: what is
 * missing is at most the unflushed batch; the counts are printed. Either way the chain verifies, and the next start
 * cuts off a torn last line and records the recovery.
 */

const procs: Spawned[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) await killRampart(p);
  for (const c of closers.splice(0)) await c();
});

function config(dir: string, port: number, upstream: string, durability: string, workers = 1): string {
  const file = join(dir, 'rampart.yaml');
  writeFileSync(
    file,
    `environment: development
workers: ${workers}
listeners: [{ port: ${port}, host: 127.0.0.1 }]
metrics: { enabled: false }
logging: { level: info, access_log: false }
data_dir: ${dir}/data
store: {}
audit:
  durability: ${durability}
  flush_ms: 100
  checkpoint_every: 500
policies:
  request-id: {}
  audit: {}
upstreams: { api: { targets: [{ url: "${upstream}" }] } }
routes:
  - { name: all, public: true, paths: ["/*"], upstream: api }
`,
  );
  return file;
}

/** Request events in every chain's segment files (whole lines only: a torn last line is what a crash leaves). */
function recordedIds(auditDir: string): Set<string> {
  const ids = new Set<string>();
  for (const chain of readdirSync(auditDir, { withFileTypes: true })) {
    if (!chain.isDirectory()) continue;
    for (const f of readdirSync(join(auditDir, chain.name))) {
      if (!f.endsWith('.jsonl')) continue;
      for (const line of readFileSync(join(auditDir, chain.name, f), 'utf8').split('\n')) {
        try {
          const r = JSON.parse(line) as { event: { type: string; request_id?: string } };
          if (r.event.type === 'request' && r.event.request_id) ids.add(r.event.request_id);
        } catch {
          // torn
        }
      }
    }
  }
  return ids;
}

/** Concurrent keep-alive clients until stopped; collects the request ids of the 2xx answers received. */
function load(port: number, clients: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const acked: string[] = [];
  let stop = false;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: `/item/${acked.length}`, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const id = res.headers['x-request-id'];
          if (res.statusCode && res.statusCode < 300 && typeof id === 'string') acked.push(id);
          resolve();
        });
        res.on('error', () => resolve());
      });
      req.on('error', () => {
        stop = true;
        resolve();
      });
      req.end();
    });
  const loops = Array.from({ length: clients }, async () => {
    while (!stop) await one();
  });
  return {
    acked,
    async end() {
      stop = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

function cli(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), ...args], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

async function crashUnderLoad(durability: 'async' | 'sync', workers = 1) {
  const dir = mkdtempSync(join(tmpdir(), `rampart-audit-kill-${durability}-`));
  const up = await startUpstream((_req, res) => res.end('ok'));
  closers.push(up.close);
  const port = await freePort();
  const file = config(dir, port, up.url, durability, workers);
  const gw = spawnRampart(['start', '--config', file, '--no-watch']);
  procs.push(gw);
  await gw.waitFor((l) => l.msg === (workers > 1 ? 'all workers listening' : 'listening'), 20_000);
  const l = load(port, 32);
  // Load until a few thousand requests were answered, then kill -9 in the middle of it.
  while (l.acked.length < 3000) await new Promise((r) => setTimeout(r, 20));
  // Every process of the gateway (the primary and its workers) dies at once, as on power loss.
  const workerPids = gw.logs.filter((x) => x.msg === 'listening' && x.pid !== gw.proc.pid).map((x) => Number(x.pid));
  expect(workerPids).toHaveLength(workers > 1 ? workers : 0);
  for (const pid of workerPids) process.kill(pid, 'SIGKILL');
  gw.proc.kill('SIGKILL');
  await gw.exited;
  await l.end();
  const acked = new Set(l.acked);
  const recorded = recordedIds(join(dir, 'data', 'audit'));
  const lost = [...acked].filter((id) => !recorded.has(id));
  return { dir, file, acked, recorded, lost, up };
}

describe('audit log durability under kill -9', () => {
  it('sync: every acknowledged request is in the log', { timeout: 120_000 }, async () => {
    const r = await crashUnderLoad('sync');
    console.log(
      `[audit sync kill -9] acknowledged ${r.acked.size}, recorded ${r.recorded.size}, acknowledged but not recorded ${r.lost.length}`,
    );
    expect(r.acked.size).toBeGreaterThanOrEqual(3000);
    expect(r.lost).toEqual([]);
    // The chain as the crash left it verifies (a torn last line is reported, not an error).
    const v = cli(['audit', 'verify', '--config', r.file]);
    expect(v.out).toMatch(/chain main: OK/);
    expect(v.status).toBe(0);
  });

  it('async: the loss is bounded by the unflushed batch; the next start recovers the chain', {
    timeout: 120_000,
  }, async () => {
    const r = await crashUnderLoad('async');
    console.log(
      `[audit async kill -9] acknowledged ${r.acked.size}, recorded ${r.recorded.size}, acknowledged but not recorded ${r.lost.length}`,
    );
    expect(r.acked.size).toBeGreaterThanOrEqual(3000);
    // What survived is whole: most of the acknowledged events, each recorded once (the rest is the unflushed batch).
    expect(r.recorded.size).toBeGreaterThan(r.acked.size / 2);
    const before = cli(['audit', 'verify', '--config', r.file]);
    expect(before.out).toMatch(/chain main: OK/);
    // Restart: the torn tail is cut, a signed audit.recovered record continues the chain; a clean stop signs the end.
    const gw = spawnRampart(['start', '--config', r.file, '--no-watch']);
    procs.push(gw);
    await gw.waitFor((l) => l.msg === 'listening', 20_000);
    gw.proc.kill('SIGTERM');
    await gw.exited;
    const after = cli(['audit', 'verify', '--config', r.file, '--json']);
    expect(after.status, after.out).toBe(0);
    const [rep] = JSON.parse(after.out.slice(0, after.out.lastIndexOf(']') + 1)) as {
      ok: boolean;
      torn_bytes: number;
      unsigned_tail: number;
    }[];
    expect(rep).toMatchObject({ ok: true, torn_bytes: 0, unsigned_tail: 0 });
    const found = cli(['audit', 'search', '--config', r.file, '--type', 'audit.recovered']);
    expect(found.out).toContain('audit.recovered');
  });

  it('sync with two workers: one chain per worker, nothing acknowledged lost', { timeout: 120_000 }, async () => {
    const r = await crashUnderLoad('sync', 2);
    console.log(
      `[audit sync, 2 workers, kill -9] acknowledged ${r.acked.size}, recorded ${r.recorded.size}, acknowledged but not recorded ${r.lost.length}`,
    );
    expect(r.acked.size).toBeGreaterThanOrEqual(3000);
    expect(r.lost).toEqual([]);
    const v = cli(['audit', 'verify', '--config', r.file]);
    expect(v.out).toMatch(/chain w1: OK/);
    expect(v.out).toMatch(/chain w2: OK/);
  });
});
