import { execFile } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/types.js';
import { generateApiKey } from '../../src/identity/api-key.js';
import { freePort, killRampart, ROOT, type Spawned, send, spawnRampart, startUpstream } from '../helpers.js';

/**
 * The SIEM sink and the anomaly detectors on a real gateway process (`rampart start`, audit log on, SQLite store):
 * a local HEC collector gets every request's event, also across a collector outage and a gateway restart with a
 * non-empty spool; a scripted burst of bad API keys raises a signed webhook alert and puts the address on the
 * dynamic deny list.
 */

interface Hit {
  events: AuditEvent[];
  server: Server | null;
  port: number;
}
const collector: Hit = { events: [], server: null, port: 0 };
const hooks: { body: string; signature: string; timestamp: string }[] = [];
let hookServer: Server;
let dir: string;
let file: string;
let port: number;
let sp: Spawned | undefined;
let up: Awaited<ReturnType<typeof startUpstream>>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startCollector(): Promise<void> {
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== 'Splunk hec-e2e') return void res.writeHead(403).end();
      for (const l of Buffer.concat(chunks).toString().split('\n').filter(Boolean))
        collector.events.push((JSON.parse(l) as { event: AuditEvent }).event);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
    });
  });
  await new Promise<void>((r) => s.listen(collector.port, '127.0.0.1', r));
  collector.port = (s.address() as { port: number }).port;
  collector.server = s;
}
async function stopCollector(): Promise<void> {
  const s = collector.server!;
  collector.server = null;
  s.closeAllConnections();
  await new Promise((r) => s.close(r));
}

async function waitFor(check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(50);
  }
}

function rampart(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), ...args], { cwd: dir }, (err, stdout, stderr) =>
      err ? reject(new Error(`rampart ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
}

async function startRampart(): Promise<void> {
  sp = spawnRampart(['start', '--config', file, '--workers', '1', '--no-watch'], {
    HEC_TOKEN: 'hec-e2e',
    HOOK_SECRET: 'hook-e2e-secret',
  });
  await sp.waitFor((l) => l.msg === 'listening');
}

async function stopRampart(): Promise<void> {
  const p = sp!;
  sp = undefined;
  p.proc.kill('SIGTERM');
  await p.exited;
}

const received = (ids: string[]) => {
  const have = new Set(collector.events.filter((e) => e.kind === 'request').map((e) => e.request_id));
  return ids.filter((id) => have.has(id)).length;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-siem-'));
  up = await startUpstream((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  await startCollector();
  hookServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      hooks.push({
        body: Buffer.concat(chunks).toString(),
        signature: String(req.headers['x-rampart-signature']),
        timestamp: String(req.headers['x-rampart-timestamp']),
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
  port = await freePort();
  file = join(dir, 'rampart.yaml');
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
    - name: collector
      type: http
      format: splunk_hec
      url: http://127.0.0.1:${collector.port}/services/collector/event
      token: \${env:HEC_TOKEN}
      batch_events: 50
      retry: { base_ms: 50, max_ms: 400 }
  anomaly:
    webhook:
      url: "http://127.0.0.1:${(hookServer.address() as { port: number }).port}/hook"
      secret: \${env:HOOK_SECRET}
    detectors:
      auth_failure_burst: { threshold: 12, window_s: 60, deny_for_s: 60 }
      credential_stuffing: { distinct_credentials: 8, window_s: 60 }
upstreams:
  app: { targets: ["${up.url}"] }
policies:
  request-id: {}
  audit: {}
  ip-filter: { dynamic: true }
  api-key: {}
routes:
  - { name: orders, paths: ["/orders", "/orders/*"], upstream: app }
  - { name: open, paths: ["/open/*"], upstream: app, public: true }
`,
  );
  await rampart(['keyring', 'init', '--master-keys', join(dir, 'master.keys')]);
  await startRampart();
}, 60_000);

afterAll(async () => {
  await killRampart(sp);
  await up.close();
  if (collector.server) await stopCollector();
  await new Promise((r) => hookServer.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** n requests to public routes; their request ids (from the response header). */
async function traffic(n: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await send(port, `/open/${tag}/${i}`);
    expect(r.status).toBe(200);
    ids.push(String(r.headers['x-request-id']));
  }
  return ids;
}

describe('SIEM sink and anomaly detection on a real gateway', () => {
  it('sends every request event to the collector, through a collector outage', async () => {
    const before = await traffic(40, 'a');
    await waitFor(() => received(before) === before.length);
    await stopCollector();
    const during = await traffic(60, 'b');
    await sleep(500);
    expect(received(during)).toBe(0);
    await startCollector();
    const after = await traffic(20, 'c');
    const all = [...before, ...during, ...after];
    await waitFor(() => received(all) === all.length);
  }, 60_000);

  it('a gateway restart with events still spooled sends them once the collector is back', async () => {
    await stopCollector();
    const ids = await traffic(50, 'r');
    await sleep(300);
    await stopRampart();
    await startCollector();
    expect(received(ids)).toBe(0);
    await startRampart();
    await waitFor(() => received(ids) === ids.length);
  }, 60_000);

  it('a burst of bad API keys raises a signed webhook alert, an audit event, and a deny-list entry', async () => {
    // Well-formed keys that do not exist, each with its own key id: a burst of failures and credential stuffing.
    for (let i = 0; i < 12; i++) {
      const r = await send(port, '/orders', { headers: { 'x-api-key': generateApiKey().key } });
      expect(r.status).toBe(401);
    }
    const typed = (t: string) => hooks.find((x) => (JSON.parse(x.body) as AuditEvent).type === t);
    await waitFor(() => typed('anomaly.auth_failure_burst') !== undefined);
    await waitFor(() => typed('anomaly.credential_stuffing') !== undefined);
    const h = typed('anomaly.auth_failure_burst')!;
    const expected = `sha256=${createHmac('sha256', 'hook-e2e-secret').update(`${h.timestamp}.${h.body}`).digest('hex')}`;
    expect(timingSafeEqual(Buffer.from(h.signature), Buffer.from(expected))).toBe(true);
    const alert = JSON.parse(h.body) as AuditEvent;
    expect(alert).toMatchObject({
      kind: 'security',
      type: 'anomaly.auth_failure_burst',
      actor: { client_ip: '127.0.0.1' },
      detail: { deny_for_s: 60 },
    });
    // The alert went into the audit log too, and from there to the SIEM.
    await waitFor(() => collector.events.some((e) => e.type === 'anomaly.auth_failure_burst'));
    // The address is now refused everywhere, public routes included.
    const r = await send(port, '/open/x');
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).code).toBe('IP_DENIED');
  }, 60_000);
});
