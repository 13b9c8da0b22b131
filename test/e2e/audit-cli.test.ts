import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, killRampart, ROOT, type Spawned, send, spawnRampart, startUpstream } from '../helpers.js';

/** `rampart audit verify | pubkey | export | search` and the change events of the CLI, against a real gateway's log. */

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir = '';
let file = '';
let gw: Spawned | undefined;
let closeUp: () => Promise<void> = async () => {};
const ids: Record<string, string> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-audit-cli-'));
  const up = await startUpstream((_req, res) => res.end('ok'));
  closeUp = up.close;
  const port = await freePort();
  file = join(dir, 'rampart.yaml');
  writeFileSync(
    file,
    `environment: development
listeners: [{ port: ${port}, host: 127.0.0.1 }]
metrics: { enabled: false }
data_dir: ${dir}/data
store: {}
audit: { durability: sync }
policies:
  request-id: {}
  audit: {}
upstreams: { api: { targets: [{ url: "${up.url}" }] } }
routes:
  - { name: open, public: true, paths: ["/open/*"], upstream: api }
  - { name: closed, paths: ["/closed/*"], upstream: api }
`,
  );
  // A CLI change before the gateway runs: the "cli" chain.
  expect(cli(['consumers', 'create', 'alice', '--config', file]).status).toBe(0);
  gw = spawnRampart(['start', '--config', file, '--workers', '1', '--no-watch']);
  await gw.waitFor((l) => l.msg === 'listening', 20_000);
  for (const [name, path] of [
    ['ok', '/open/a?token=hunter2'],
    ['denied', '/closed/b'],
    ['unrouted', '/shadow/c'],
  ] as const) {
    const r = await send(port, path);
    ids[name] = String(r.headers['x-request-id']);
  }
  // A config reload: the change event carries the file's digests before and after.
  appendFileSync(file, '# edited\n');
  gw.proc.kill('SIGHUP');
  await gw.waitFor((l) => l.msg === 'config reloaded', 10_000);
  gw.proc.kill('SIGTERM');
  await gw.exited;
}, 60_000);

afterAll(async () => {
  await killRampart(gw);
  await closeUp();
});

describe('rampart audit', () => {
  it('verify: every chain OK (the gateway and the CLI each have one)', () => {
    const r = cli(['audit', 'verify', '--config', file]);
    expect(r.stdout).toMatch(/chain cli: OK/);
    expect(r.stdout).toMatch(/chain main: OK/);
    expect(r.status).toBe(0);
  });

  it('pubkey: a third party verifies with the exported key alone (no config, no keyring)', () => {
    const key = join(dir, 'audit.pub');
    expect(cli(['audit', 'pubkey', '--config', file, '--out', key]).status).toBe(0);
    expect(readFileSync(key, 'utf8')).toMatch(/BEGIN PUBLIC KEY/);
    const r = cli(['audit', 'verify', '--dir', join(dir, 'data', 'audit'), '--pubkey', key, '--json']);
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as { ok: boolean }[]).every((c) => c.ok)).toBe(true);
  });

  it('search: by status, type and route', () => {
    const r = cli(['audit', 'search', '--config', file, '--status', '404', '--json']);
    const found = JSON.parse(r.stdout) as { event: { request_id: string; code: string; path: string } }[];
    expect(found.map((f) => f.event.request_id)).toEqual([ids.unrouted]);
    expect(found[0]?.event).toMatchObject({ code: 'ROUTE_NOT_FOUND', path: '/shadow/c' });
    const fails = cli(['audit', 'search', '--config', file, '--type', 'auth.', '--json']);
    expect((JSON.parse(fails.stdout) as { event: { request_id: string } }[]).map((f) => f.event.request_id)).toEqual([
      ids.denied,
    ]);
    const text = cli(['audit', 'search', '--config', file, '--route', 'open']);
    expect(text.stdout).toContain(`id=${ids.ok}`);
  });

  it('change events: the CLI consumer creation and the config reload, with operator and digests', () => {
    const r = cli(['audit', 'search', '--config', file, '--kind', 'change', '--json']);
    const changes = (JSON.parse(r.stdout) as { chain: string; event: unknown }[]).map((c) => ({
      chain: c.chain,
      ...(c.event as { type: string; actor: { operator: string }; change: Record<string, string> }),
    }));
    const created = changes.find((c) => c.type === 'consumer.create');
    expect(created?.chain).toBe('cli');
    expect(created?.actor.operator).toBeTruthy();
    expect(created?.change.after_digest).toMatch(/^[0-9a-f]{64}$/);
    const reload = changes.find((c) => c.type === 'config.reload');
    expect(reload?.chain).toBe('main');
    expect(reload?.change.before_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(reload?.change.after_digest).not.toBe(reload?.change.before_digest);
  });

  it('export: JSON Lines, CEF and OCSF, never the query string', () => {
    const jsonl = cli(['audit', 'export', '--config', file, '--type', 'request']);
    const lines = jsonl.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { request_id: string; hash: string });
    expect(lines.map((l) => l.request_id).sort()).toEqual([ids.ok, ids.denied, ids.unrouted].sort());
    expect(jsonl.stdout).not.toContain('hunter2');
    const cef = cli(['audit', 'export', '--config', file, '--type', 'request', '--format', 'cef']);
    expect(cef.stdout.trim().split('\n')).toHaveLength(3);
    expect(cef.stdout).toMatch(/^CEF:0\|Rampart\|/m);
    const ocsf = cli(['audit', 'export', '--config', file, '--kind', 'security', '--format', 'ocsf']);
    const o = JSON.parse(ocsf.stdout.trim()) as { class_uid: number; metadata: { correlation_uid: string } };
    expect(o).toMatchObject({ class_uid: 3002, metadata: { correlation_uid: ids.denied } });
  });

  it('verify names the first altered record and exits 1', () => {
    const chainDir = join(dir, 'data', 'audit', 'main');
    const seg = readdirSync(chainDir).find((f) => f.endsWith('.jsonl')) as string;
    const ls = readFileSync(join(chainDir, seg), 'utf8').split('\n');
    const at = ls.findIndex((l) => l.includes(ids.denied as string));
    const seq = (JSON.parse(ls[at] as string) as { seq: number }).seq;
    ls[at] = (ls[at] as string).replace('"status":401', '"status":200');
    writeFileSync(join(chainDir, seg), ls.join('\n'));
    const r = cli(['audit', 'verify', '--config', file]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`chain main: FAILED at record ${seq}`);
    expect(r.stdout).toContain('(altered)');
  });
});
