import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/types.js';
import { freePort, killRampart, ROOT, type Spawned, send, spawnRampart, startUpstream } from '../helpers.js';

/**
 * Anomaly detection with 2 workers: the cluster primary hands connections out in turn, so each worker sees about
 * half of an attack. The auth-failure threshold and the alert cooldown are counted on the shared state, so the
 * burst is caught once, as with one process; each worker spools its own events for the SIEM.
 */
let dir: string;
let port: number;
let sp: Spawned | undefined;
let up: Awaited<ReturnType<typeof startUpstream>>;
let hookServer: Server;
let hecServer: Server;
const hooks: AuditEvent[] = [];
const hec: AuditEvent[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listen(handler: (body: string) => void): Promise<Server> {
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      handler(Buffer.concat(chunks).toString());
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
}
const portOf = (s: Server) => (s.address() as { port: number }).port;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-anomaly-workers-'));
  up = await startUpstream((_req, res) => res.end('{}'));
  hookServer = await listen((b) => hooks.push(JSON.parse(b) as AuditEvent));
  hecServer = await listen((b) => {
    for (const l of b.split('\n').filter(Boolean)) hec.push((JSON.parse(l) as { event: AuditEvent }).event);
  });
  port = await freePort();
  const file = join(dir, 'rampart.yaml');
  writeFileSync(
    file,
    `listeners: [{ host: 127.0.0.1, port: ${port} }]
metrics: { enabled: false }
shutdown_timeout_ms: 2000
data_dir: ./data
keyring: { master_keys_file: ./master.keys }
store: {}
audit:
  flush_ms: 10
  sinks:
    - name: hec
      type: http
      format: splunk_hec
      url: http://127.0.0.1:${portOf(hecServer)}/services/collector/event
  anomaly:
    webhook:
      url: http://127.0.0.1:${portOf(hookServer)}/hook
    detectors:
      auth_failure_burst: { threshold: 12, window_s: 60, deny_for_s: 60 }
upstreams:
  app: { targets: ["${up.url}"] }
policies:
  request-id: {}
  audit: {}
  ip-filter: { dynamic: true }
  api-key: {}
routes:
  - { name: orders, paths: ["/orders"], upstream: app }
  - { name: open, paths: ["/open/*"], upstream: app, public: true }
`,
  );
  await new Promise<void>((resolve, reject) =>
    execFile(
      process.execPath,
      [join(ROOT, 'dist/src/cli/main.js'), 'keyring', 'init', '--master-keys', join(dir, 'master.keys')],
      { cwd: dir },
      (err) => (err ? reject(err) : resolve()),
    ),
  );
  sp = spawnRampart(['start', '--config', file, '--workers', '2', '--no-watch']);
  await sp.waitFor((l) => l.msg === 'all workers listening', 30_000);
}, 60_000);

afterAll(async () => {
  await killRampart(sp);
  await up.close();
  await new Promise((r) => hookServer.close(r));
  await new Promise((r) => hecServer.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('anomaly detection over 2 workers', () => {
  it('catches a burst spread over both workers once, and denies the address on both', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await send(port, '/orders', { headers: { 'x-api-key': `rmpk_bogus${i}` } });
      expect(r.status).toBe(401);
      ids.push(String(r.headers['x-request-id']));
    }
    const end = Date.now() + 15_000;
    while (hooks.length === 0 && Date.now() < end) await sleep(50);
    expect(hooks.map((h) => h.type)).toEqual(['anomaly.auth_failure_burst']);
    // Both workers served part of the burst (so neither alone reached 12), as the access log's pids show.
    const served = () => sp!.logs.filter((l) => l.type === 'access' && ids.includes(String(l.request_id)));
    while (served().length < 12 && Date.now() < end) await sleep(50);
    const pids = new Set(served().map((l) => l.pid));
    expect(pids.size).toBe(2);
    // Every request's event reached the SIEM, each worker sending from its own spool.
    const arrived = () =>
      new Set(hec.filter((e) => e.kind === 'request' && ids.includes(e.request_id ?? '')).map((e) => e.request_id))
        .size;
    while (arrived() < 12 && Date.now() < end) await sleep(50);
    expect(arrived()).toBe(12);
    expect(readdirSync(join(dir, 'data', 'spool', 'hec')).sort()).toEqual(['w1', 'w2']);
    // Refused on every connection, whichever worker takes it.
    for (let i = 0; i < 4; i++) expect((await send(port, '/open/x')).status).toBe(403);
    await sleep(500);
    expect(hooks.length).toBe(1);
  }, 60_000);
});
