/**
 * In-process A/B of one policy: a single gateway process with two routes to the same upstream, `/a/*` without
 * policies and `/b/*` with the policy under test, loaded in alternating slices; the process's own CPU time per
 * request is read per slice. Both routes share the process, its JIT state and the machine's drift, so the difference
 * is the policy's own cost. It does not show what a policy costs the process as a whole (a larger heap; GC that one
 * route's garbage triggers runs in either slice), so it reads lower than `npm run bench`'s separate processes.
 *
 *   node dist/bench/ab.js --policy 'redact: {}' [--path /large-json] [--body FILE] [--rounds 12] [--top 'store: {}']
 *
 * The gateway runs on the last core, the harness and the upstream on the others (taskset, as in run.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}

const policy = arg('policy', 'request-id: {}');
const path = arg('path', '/users/u_1001');
const bodyFile = arg('body', '');
const rounds = Number(arg('rounds', '12'));
const top = arg('top', '');
const body = bodyFile ? readFileSync(bodyFile, 'utf8') : undefined;
const root = fileURLToPath(new URL('../..', import.meta.url));
const n = cpus().length;
const pin = (core: string, args: string[]) =>
  n >= 2 ? spawn('taskset', ['-c', core, process.execPath, ...args]) : spawn(process.execPath, args);

const dir = mkdtempSync(join(tmpdir(), 'rampart-ab-'));
const up = pin('0', [join(root, 'dist/bench/upstream.js')]);
const upPort = await new Promise<number>((resolve) =>
  up.stdout?.once('data', (d: Buffer) => resolve((JSON.parse(String(d)) as { port: number }).port)),
);
const indented = policy
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n');
writeFileSync(
  join(dir, 'ab.yaml'),
  `listeners: [{ port: 0, keep_alive_timeout_ms: 60000 }]
metrics: { enabled: false }
logging: { level: info, access_log: false }
data_dir: ${dir}
${top}
upstreams: { backend: { targets: [{ url: "http://127.0.0.1:${upPort}" }] } }
routes:
  - { name: a, public: true, paths: ["/a/*"], upstream: backend, strip_prefix: /a }
  - name: b
    public: true
    paths: ["/b/*"]
    upstream: backend
    strip_prefix: /b
    policies:
${indented}
`,
);
const gw = pin(String(n - 1), [
  join(root, 'dist/src/cli/main.js'),
  'start',
  '--config',
  join(dir, 'ab.yaml'),
  '--workers',
  '1',
  '--no-watch',
]);
const port = await new Promise<number>((resolve, reject) => {
  let out = '';
  gw.stdout?.on('data', (d: Buffer) => {
    out += d;
    for (const line of out.split('\n')) {
      try {
        const o = JSON.parse(line) as { msg?: string; address?: string };
        if (o.msg === 'listening' && o.address) resolve(Number(new URL(o.address).port));
      } catch {}
    }
  });
  gw.once('exit', (c) => reject(new Error(`gateway exited with ${c}: ${out.slice(-2000)}`)));
});

/** utime + stime of the gateway, in clock ticks (100 per second). */
function ticks(): number {
  const f = readFileSync(`/proc/${gw.pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(x[11]) + Number(x[12]);
}

async function slice(route: 'a' | 'b', duration: number): Promise<{ cpu: number; rps: number }> {
  const t0 = ticks();
  const r = await autocannon({
    url: `http://127.0.0.1:${port}/${route}${path}`,
    connections: 64,
    duration,
    ...(body !== undefined && { method: 'POST', body, headers: { 'content-type': 'application/json' } }),
  });
  if (r.non2xx || r.errors) throw new Error(`/${route}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { cpu: ((ticks() - t0) * 10_000) / r.requests.total, rps: r.requests.average };
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
try {
  await slice('a', 2);
  await slice('b', 2);
  const a: { cpu: number; rps: number }[] = [];
  const b: { cpu: number; rps: number }[] = [];
  for (let i = 0; i < rounds; i++) {
    a.push(await slice('a', 1.5));
    b.push(await slice('b', 1.5));
  }
  a.push(await slice('a', 1.5));
  // Each /b slice against the mean of the /a slices before and after it.
  const cpu = b.map((x, i) => x.cpu / (((a[i]?.cpu ?? 0) + (a[i + 1]?.cpu ?? 0)) / 2));
  const rps = b.map((x, i) => x.rps / (((a[i]?.rps ?? 0) + (a[i + 1]?.rps ?? 0)) / 2));
  const ac = median(a.map((x) => x.cpu));
  const bc = median(b.map((x) => x.cpu));
  process.stdout.write(
    `${policy.split('\n')[0]} on ${path}: CPU per request ${ac.toFixed(1)} -> ${bc.toFixed(1)} µs (${(bc - ac).toFixed(1)}), ` +
      `CPU ratio ${median(cpu).toFixed(3)}, throughput ratio ${median(rps).toFixed(3)} (medians of ${rounds} bracketed slices)\n`,
  );
} finally {
  gw.kill('SIGTERM');
  up.kill();
}
