/**
 * `npm run bench`: Rampart (bare, and with the first policies) side by side with a minimal node:http + undici
 * proxy and the upstream direct, in the same run, one worker each, keep-alive, 64 connections.
 * Each target runs in its own process (a fresh one for each of FORKS parts of the run); the load generator
 * (autocannon) runs here. Rounds are interleaved so machine noise hits every target alike; medians are reported.
 * Results: bench/RESULTS.md.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { loadConfigFile } from '../src/config/load.js';
import { createLogger } from '../src/observability/logger.js';
import { openServices } from '../src/services.js';
import { createCa, issue } from '../src/tls/certs.js';
import { engineTimes } from './engine-time.js';
import { ORDER_JSON } from './order.js';
import { redactTimes } from './redact-time.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
/**
 * Each target's rounds are split over this many fresh processes of it (BENCH_FORKS, as JMH's forks): a process's JIT
 * and memory layout make it a few percent faster or slower than another process of the same code for its whole life,
 * and with one process per target that luck decided whole results (bench/RESULTS.md, session 8).
 */
const FORKS = Math.max(1, Math.min(ROUNDS, Number(process.env.BENCH_FORKS ?? 4)));
const CONNECTIONS = 64;

/**
 * With taskset and at least 2 cores (BENCH_PIN=0 turns it off): the target measured gets a core of its own (the last),
 * and the load generator and the upstream share the others. Otherwise the three compete for every core, and a
 * target's throughput says as much about the scheduler as about its own cost.
 */
const PIN = (() => {
  if (process.env.BENCH_PIN === '0' || cpus().length < 2) return null;
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const last = cpus().length - 1;
  return { target: String(last), rest: last === 1 ? '0' : `0-${last - 1}` };
})();
if (PIN) execFileSync('taskset', ['-a', '-p', '-c', PIN.rest, String(process.pid)], { stdio: 'ignore' });

/**
 * A local Redis is moved off the target's core for the run (its affinity restored at exit): in production it runs on
 * another host, and on the target's core its CPU would count against the Redis rows by chance of scheduling.
 */
function pinRedis(): void {
  if (!PIN) return;
  let pids: string[];
  try {
    pids = execFileSync('pgrep', ['-x', 'redis-server']).toString().trim().split('\n').filter(Boolean);
  } catch {
    return; // none running here (REDIS_URL elsewhere)
  }
  for (const pid of pids) {
    try {
      const mask = /affinity mask: ([0-9a-f]+)/.exec(execFileSync('taskset', ['-p', pid]).toString())?.[1];
      execFileSync('taskset', ['-a', '-p', '-c', PIN.rest, pid], { stdio: 'ignore' });
      if (mask) process.on('exit', () => execFileSync('taskset', ['-a', '-p', mask, pid], { stdio: 'ignore' }));
    } catch {
      process.stdout.write(`redis-server ${pid}: cannot set its CPU affinity; it runs where the scheduler puts it\n`);
    }
  }
}
pinRedis();

/**
 * `--only a,b`: measure only the rows whose name contains one of these words (plus the reference rows they are
 * compared with) and print them, without writing RESULTS.md: to check new rows on their own.
 */
const onlyArg = process.argv.indexOf('--only');
const ONLY = onlyArg === -1 ? null : (process.argv[onlyArg + 1] ?? '').split(',').filter(Boolean);

const children = new Set<ChildProcess>();
/** The cores each running target's process may use now (taskset lists). */
const placed = new Map<ChildProcess, string>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

interface Proc {
  child: ChildProcess;
  port: number;
}

let logSeq = 0;

/**
 * Each target writes its stdout straight to its own file in bench/.tmp/ (read afterwards if something failed):
 * piping logs through this process would tax the load generator, and so whichever target logs most.
 */
function startProc(
  args: string[],
  env: NodeJS.ProcessEnv,
  readyWhen: (line: string) => number | null,
  core: 'target' | 'rest' = 'target',
): Promise<Proc> {
  const dir = new URL('../../bench/.tmp/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const logFile = new URL(`${++logSeq}-${args[0]?.split('/').pop()}.log`, dir);
  const out = openSync(logFile, 'w');
  // taskset execs the program: the child's pid is the target's own (its CPU time is read from /proc/<pid>/stat).
  const [cmd, argv] = PIN ? ['taskset', ['-c', PIN[core], process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(cmd, argv, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', out, 'inherit'],
  });
  closeSync(out);
  children.add(child);
  if (PIN) placed.set(child, PIN[core]);
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 20_000;
    const poll = setInterval(() => {
      for (const line of readFileSync(logFile, 'utf8').split('\n')) {
        const port = readyWhen(line);
        if (port) {
          clearInterval(poll);
          resolve({ child, port });
          return;
        }
      }
      if (Date.now() > deadline) {
        clearInterval(poll);
        reject(new Error(`${args.join(' ')} did not start; see ${logFile.pathname}`));
      }
    }, 50);
    child.once('exit', (c) => {
      clearInterval(poll);
      reject(new Error(`${args.join(' ')} exited with ${c}; see ${logFile.pathname}`));
    });
  });
}

/** SIGTERM, then SIGKILL if it has not exited within 10 s; resolves once it is gone. */
function stopProc(p: Proc): Promise<void> {
  return new Promise((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
    const kill = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
    p.child.once('exit', () => {
      clearTimeout(kill);
      children.delete(p.child);
      placed.delete(p.child);
      resolve();
    });
    p.child.kill('SIGTERM');
  });
}

/**
 * Only `p` on the target core: every other target's process, idle until its turn, moves to the other cores. Idle
 * processes still run timers, GC and background work (an audit log archiving a segment after its round), and on the
 * measured target's core that work would count against whichever target runs next.
 */
function placeAlone(p: Proc): void {
  if (!PIN) return;
  for (const [child, cores] of placed) {
    const want = child === p.child ? PIN.target : PIN.rest;
    if (cores === want || child.exitCode !== null || child.signalCode !== null) continue;
    execFileSync('taskset', ['-a', '-p', '-c', want, String(child.pid)], { stdio: 'ignore' });
    placed.set(child, want);
  }
}

const jsonPort = (line: string): number | null => {
  try {
    const o = JSON.parse(line) as { ready?: boolean; port?: number; msg?: string; address?: string };
    if (o.ready && o.port) return o.port;
    if (o.msg === 'listening' && o.address) return Number(new URL(o.address).port);
  } catch {}
  return null;
};

interface Sample {
  /** CPU time (user + system) the target's own process spent per request, in µs: steadier than req/s on a shared machine. */
  cpuUs: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

/** utime + stime of a process, in clock ticks (USER_HZ = 100 on Linux). */
function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function load(
  port: number,
  duration: number,
  pid: number,
  https = false,
  headers: Record<string, string> = {},
  path = '/users/u_1001',
  body?: string,
): Promise<Sample> {
  const before = cpuTicks(pid);
  const url = `${https ? 'https' : 'http'}://127.0.0.1:${port}${path}`;
  const r = await autocannon(
    body === undefined
      ? { url, connections: CONNECTIONS, duration, headers }
      : {
          url,
          connections: CONNECTIONS,
          duration,
          method: 'POST',
          body,
          headers: { ...headers, 'content-type': 'application/json' },
        },
  );
  const cpuUs = ((cpuTicks(pid) - before) * 10_000) / Math.max(1, r.requests.total);
  if (r.non2xx) process.stdout.write(`  non-2xx answers: ${JSON.stringify(r.statusCodeStats)}\n`);
  return {
    cpuUs,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

/**
 * The reference's value around sample i: the mean of its rounds i and i+1 (the last round: its own). The reference is
 * measured earlier in each round than the row compared with it, so this brackets the row in time: a machine that
 * slows down or speeds up during the run moves both sides alike.
 */
function bracket(ref: readonly Sample[], i: number, k: 'rps' | 'cpuUs'): number {
  const a = ref[i]?.[k];
  const b = ref[i + 1]?.[k];
  if (a === undefined) return Number.NaN;
  return b === undefined ? a : (a + b) / 2;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const upstream = await startProc(['dist/bench/upstream.js'], { PORT: '0' }, jsonPort, 'rest');
  const UPSTREAM_URL = `http://127.0.0.1:${upstream.port}`;
  const rampart = (cfg: string, accessLog: boolean) =>
    startProc(
      ['dist/src/cli/main.js', 'start', '--config', cfg, '--workers', '1', '--no-watch'],
      { PORT: '0', UPSTREAM_URL, METRICS_PORT: '0', ACCESS_LOG: String(accessLog) },
      jsonPort,
    );
  // A throwaway CA and localhost certificate for the TLS rows.
  const tlsDir = new URL('../../bench/.tmp/tls/', import.meta.url);
  mkdirSync(tlsDir, { recursive: true });
  const ca = await createCa({ name: 'Rampart bench CA' });
  const leaf = await issue(ca, { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
  const TLS_CERT = fileURLToPath(new URL('cert.pem', tlsDir));
  const TLS_KEY = fileURLToPath(new URL('key.pem', tlsDir));
  writeFileSync(TLS_CERT, leaf.cert);
  writeFileSync(TLS_KEY, leaf.key, { mode: 0o600 });
  const tlsEnv = { TLS_CERT, TLS_KEY };

  const identity = await identitySetup();
  // Configs with a store: the one identitySetup filled (consumer, API key, ownership record).
  const withStore = (cfg: string) =>
    startProc(
      ['dist/src/cli/main.js', 'start', '--config', cfg, '--workers', '1', '--no-watch'],
      { PORT: '0', UPSTREAM_URL, METRICS_PORT: '0', ACCESS_LOG: 'false', DATA_DIR: identity.dataDir },
      jsonPort,
    );
  // Configs with Redis counters: the local Redis (or REDIS_URL), keys under a prefix of this run only.
  const redisPrefix = `rampart-bench-${process.pid}-${Date.now()}:`;
  const withRedis = (cfg: string) =>
    startProc(
      ['dist/src/cli/main.js', 'start', '--config', cfg, '--workers', '1', '--no-watch'],
      { PORT: '0', UPSTREAM_URL, METRICS_PORT: '0', ACCESS_LOG: 'false', BENCH_REDIS_PREFIX: redisPrefix },
      jsonPort,
    );
  const targets: {
    name: string;
    /** Starts the target's process: once per fork (see FORKS). */
    start: () => Promise<Proc>;
    proc?: Proc;
    /** Started once for the whole run (the upstream: the others point at it). */
    keep?: boolean;
    https?: boolean;
    /** Index of the row this one is compared with (default 1, the minimal proxy). */
    ref?: number;
    headers?: Record<string, string>;
    /** Request path (default /users/u_1001, the small JSON answer). */
    path?: string;
    /** A JSON body to POST instead of a GET. */
    body?: string;
  }[] = [
    { name: 'upstream direct', start: async () => upstream, proc: upstream, keep: true },
    {
      name: 'minimal node:http + undici proxy',
      start: () => startProc(['dist/bench/minimal-proxy.js'], { PORT: '0', UPSTREAM_URL }, jsonPort),
    },
    { name: 'rampart bare (bench/bare.yaml)', start: () => rampart('bench/bare.yaml', false) },
    { name: 'rampart bare + access log to a file', start: () => rampart('bench/bare.yaml', true) },
    { name: 'rampart + first policies (bench/policies.yaml)', start: () => rampart('bench/policies.yaml', false) },
    {
      name: 'minimal proxy over TLS 1.3 (https)',
      https: true,
      start: () => startProc(['dist/bench/minimal-proxy.js'], { PORT: '0', UPSTREAM_URL, ...tlsEnv }, jsonPort),
    },
    {
      name: 'rampart bare over TLS 1.3 (bench/tls.yaml)',
      https: true,
      ref: 5,
      start: () =>
        startProc(
          ['dist/src/cli/main.js', 'start', '--config', 'bench/tls.yaml', '--workers', '1', '--no-watch'],
          { PORT: '0', UPSTREAM_URL, METRICS_PORT: '0', ACCESS_LOG: 'false', ...tlsEnv },
          jsonPort,
        ),
    },
    {
      name: 'rampart + api-key (bench/api-key.yaml)',
      ref: 2,
      headers: { 'x-api-key': identity.apiKey },
      start: () => withStore('bench/api-key.yaml'),
    },
    {
      name: 'rampart + jwt, cached (bench/jwt-cached.yaml)',
      ref: 2,
      headers: { authorization: `Bearer ${identity.jwt}` },
      start: () => rampart('bench/jwt-cached.yaml', false),
    },
    {
      name: 'rampart + jwt, verified every request (bench/jwt-nocache.yaml)',
      ref: 2,
      headers: { authorization: `Bearer ${identity.jwt}` },
      start: () => rampart('bench/jwt-nocache.yaml', false),
    },
    {
      name: 'rampart + api-key + authorize roles (bench/authorize-rbac.yaml)',
      ref: 7,
      headers: { 'x-api-key': identity.apiKey },
      start: () => withStore('bench/authorize-rbac.yaml'),
    },
    {
      name: 'rampart + api-key + authorize CEL (bench/authorize-cel.yaml)',
      ref: 7,
      headers: { 'x-api-key': identity.apiKey },
      start: () => withStore('bench/authorize-cel.yaml'),
    },
    {
      name: 'rampart + api-key + object-access ownership (bench/object-access.yaml)',
      ref: 7,
      headers: { 'x-api-key': identity.apiKey },
      start: () => withStore('bench/object-access.yaml'),
    },
    // Traffic (issue 6): the same one-key rate limit on the in-process memory state and on Redis, and a quota on Redis.
    {
      name: 'rampart + rate-limit-memory (bench/rate-limit-memory.yaml)',
      ref: 2,
      start: () => rampart('bench/rate-limit-memory.yaml', false),
    },
    {
      name: 'rampart + rate-limit-redis (bench/rate-limit-redis.yaml)',
      ref: 2,
      start: () => withRedis('bench/rate-limit-redis.yaml'),
    },
    {
      name: 'rampart + quota-redis (bench/quota-redis.yaml)',
      ref: 2,
      start: () => withRedis('bench/quota-redis.yaml'),
    },
    // Audit (issue 8): an event per request into the hash-chained log; the cost of each durability mode against bare.
    {
      name: 'rampart + audit-async (bench/audit-async.yaml)',
      ref: 2,
      start: () => withStore('bench/audit-async.yaml'),
    },
    { name: 'rampart + audit-sync (bench/audit-sync.yaml)', ref: 2, start: () => withStore('bench/audit-sync.yaml') },
    // The store and keyring alone (what the audit rows open besides the log), to tell their cost from the log's.
    { name: 'rampart + store only (bench/bare-store.yaml)', ref: 2, start: () => withStore('bench/bare-store.yaml') },
  ];
  // Response protection (issue 9): a 10 KB JSON answer through bare Rampart, then cut to its schema and field rules,
  // then scanned for personal data and secrets; each compared with the bare row on the same answer.
  const largeMinimal = targets.length;
  const largeBare = largeMinimal + 1;
  targets.push(
    {
      name: 'minimal node:http + undici proxy, 10 KB JSON answer',
      path: '/large-json',
      start: () => startProc(['dist/bench/minimal-proxy.js'], { PORT: '0', UPSTREAM_URL }, jsonPort),
    },
    {
      name: 'rampart bare, 10 KB JSON answer (bench/bare.yaml)',
      path: '/large-json',
      ref: largeMinimal,
      start: () => rampart('bench/bare.yaml', false),
    },
    {
      name: 'rampart + response-filter, 10 KB JSON (bench/response-filter.yaml)',
      path: '/large-json',
      ref: largeBare,
      start: () => rampart('bench/response-filter.yaml', false),
    },
    {
      name: 'rampart + redact, 10 KB JSON (bench/redact.yaml)',
      path: '/large-json',
      ref: largeBare,
      start: () => rampart('bench/redact.yaml', false),
    },
    {
      // The same masks by the JavaScript reader the WebAssembly one stands in for (bench/redact-js.yaml).
      name: 'rampart + redact, JavaScript reader, 10 KB JSON (bench/redact-js.yaml)',
      path: '/large-json',
      ref: largeBare,
      start: () => rampart('bench/redact-js.yaml', false),
    },
  );
  // Attack detection (issue 7): a typical 1 KB JSON request (an order with a customer's note) POSTed through bare
  // Rampart, then inspected by every detector; compared with the bare row on the same request.
  const postBare = targets.length;
  targets.push(
    {
      name: 'rampart bare, 1 KB JSON POST (bench/bare.yaml)',
      path: '/orders',
      body: ORDER_JSON,
      start: () => rampart('bench/bare.yaml', false),
    },
    {
      name: 'rampart + threat-detection, 1 KB JSON POST (bench/threat-detection.yaml)',
      path: '/orders',
      body: ORDER_JSON,
      ref: postBare,
      start: () => rampart('bench/threat-detection.yaml', false),
    },
  );
  // The engine's own time, measured here before the load rounds (nothing else runs in this process then).
  const t = ONLY === null || ONLY.some((o) => 'threat-detection'.includes(o)) ? engineTimes(ORDER_JSON) : null;
  const us = (v: number) => `${v.toFixed(1)} µs`;
  const engine = t && {
    engineBenign: `${us(t.benignOrderUs)} (${us(t.benignOrderJsonParseUs)} with JSON bodies read by JSON.parse instead of the WebAssembly reader)`,
    engineAttack: us(t.attackOrderUs),
    engineCorpus: `${us(t.corpusBenignUs)} per benign request (${t.corpusLines.benign}) and ${us(t.corpusAttackUs)} per attack (${t.corpusLines.attacks})`,
  };
  // Redaction's own time per 10 KB answer, its two JSON readers side by side (also with --only redact).
  const rt = ONLY === null || ONLY.some((o) => 'redact'.includes(o)) ? redactTimes() : null;
  const redaction =
    rt &&
    `redaction's own time per 10 KB answer (${rt.findings} findings masked), in this process: ${us(rt.wasmUs)} with the WebAssembly reader, ${us(rt.javascriptUs)} with the JavaScript reader it stands in for (${(rt.javascriptUs / rt.wasmUs).toFixed(1)}x)`;
  if (redaction) process.stdout.write(`${redaction}\n`);
  const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
  const chosen = (t: (typeof targets)[number]) => ONLY === null || ONLY.some((o) => t.name.includes(o));
  const measured = new Set(targets.filter(chosen).flatMap((t) => [t, targets[t.ref ?? 1], targets[2]]));
  const list = targets.filter((t) => measured.has(t));
  let round = 0;
  for (let fork = 1; fork <= FORKS; fork++) {
    // Fresh processes, one at a time (each one's start-up is not measured against another's rounds).
    for (const t of list) if (!t.keep) t.proc = await t.start();
    // A new process's JIT needs more than a round's warm-up before its first round.
    for (const t of list) {
      const p = t.proc as Proc;
      placeAlone(p);
      await load(p.port, 2 * WARMUP, p.child.pid as number, t.https, t.headers, t.path, t.body);
    }
    for (const end = Math.round((fork * ROUNDS) / FORKS); round < end; ) {
      round++;
      for (const t of list) {
        const p = t.proc as Proc;
        const pid = p.child.pid as number;
        placeAlone(p);
        await load(p.port, WARMUP, pid, t.https, t.headers, t.path, t.body);
        const s = await load(p.port, DURATION, pid, t.https, t.headers, t.path, t.body);
        samples.get(t.name)?.push(s);
        process.stdout.write(
          `round ${round} (fork ${fork}) ${t.name}: ${Math.round(s.rps)} req/s p50 ${s.p50} ms p99 ${s.p99} ms cpu ${s.cpuUs.toFixed(0)} µs/req errors ${s.errors} non2xx ${s.non2xx}\n`,
        );
      }
    }
    // Stopped and gone before the next fork starts (an audit chain takes one writer at a time).
    await Promise.all(list.filter((t) => !t.keep).map((t) => stopProc(t.proc as Proc)));
  }
  upstream.child.kill('SIGTERM');

  // Ratios are taken within each round (paired with the reference measured moments before) and then the median
  // over rounds: a shared VM's slow spells hit both sides of a pair, so they cancel instead of deciding the result.
  const rows = targets.map((t) => {
    // TLS rows compare with the minimal proxy over TLS, identity rows with bare Rampart, authorization rows with
    // the API-key row (the identity they need); the others with the minimal proxy.
    const ref = samples.get(targets[t.ref ?? 1]?.name as string) ?? [];
    const s = samples.get(t.name) ?? [];
    return {
      name: t.name,
      rps: median(s.map((x) => x.rps)),
      p50: median(s.map((x) => x.p50)),
      p99: median(s.map((x) => x.p99)),
      cpuUs: median(s.map((x) => x.cpuUs)),
      rpsRatio: median(s.map((x, i) => x.rps / bracket(ref, i, 'rps'))),
      rpsVsBare: median(s.map((x, i) => x.rps / bracket(samples.get(targets[2]?.name as string) ?? [], i, 'rps'))),
      cpuRatio: median(s.map((x, i) => x.cpuUs / bracket(ref, i, 'cpuUs'))),
      p99Ratio: median(s.map((x, i) => x.p99 / (ref[i]?.p99 ?? Number.NaN))),
      errors: s.reduce((a, x) => a + x.errors + x.non2xx, 0),
    };
  });
  const table = [
    '| target | req/s | p50 ms | p99 ms | throughput vs reference¹ | p99 vs the same | CPU µs/request (own process) | CPU per request vs the same | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows
      .filter((_, i) => measured.has(targets[i] as (typeof targets)[number]))
      .map(
        (r) =>
          `| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.rpsRatio.toFixed(2)}x | ${r.p99Ratio.toFixed(2)}x | ${r.cpuUs.toFixed(0)} | ${r.cpuRatio.toFixed(2)}x | ${r.errors} |`,
      ),
  ].join('\n');
  const byName = (w: string) => rows.find((r) => r.name.includes(w));
  const [rlMem, rlRedis, quotaRedis] = ['rate-limit-memory', 'rate-limit-redis', 'quota-redis'].map(byName);
  const trafficVerdict = `Traffic (issue 6), against bare Rampart in the same round: rate limit on the in-memory state ${rlMem?.rpsRatio.toFixed(2)}x throughput, on Redis ${rlRedis?.rpsRatio.toFixed(2)}x, quota on Redis ${quotaRedis?.rpsRatio.toFixed(2)}x. Target: in-memory costs <= 5% (>= 0.95x), Redis <= 25% (>= 0.75x).`;
  if (ONLY !== null) {
    const det = byName('threat-detection');
    const detLine = det
      ? `\nAttack detection against bare Rampart on the same POST: ${det.rpsRatio.toFixed(2)}x throughput.${engine ? ` The engine's own time for the benign order: ${engine.engineBenign}.` : ''}`
      : '';
    process.stdout.write(`\n${table}\n\n${trafficVerdict}${detLine}\n(--only: RESULTS.md not written)\n`);
    return;
  }
  const bare = rows[2] as (typeof rows)[number];
  const tlsRow = rows[6] as (typeof rows)[number];
  const [apiKey, jwtCached, jwtForced, rbac, cel, owner] = rows.slice(7) as (typeof rows)[number][];
  const authz = (r: (typeof rows)[number] | undefined) =>
    `${r?.rpsRatio.toFixed(2)}x of API key alone (${r?.rpsVsBare.toFixed(2)}x of bare)`;
  const authzVerdict = `Authorization (issue 5), each on top of the API key it needs: roles ${authz(rbac)}, CEL condition ${authz(cel)}, ownership check ${authz(owner)}. Target: each costs <= 10% (>= 0.90x).`;
  const identityVerdict = `Identity (issue 4), against bare Rampart in the same round: API key ${apiKey?.rpsRatio.toFixed(2)}x throughput, cached JWT ${jwtCached?.rpsRatio.toFixed(2)}x, JWT verified on every request ${jwtForced?.rpsRatio.toFixed(2)}x. Target: API key and cached JWT each cost <= 10% (>= 0.90x).`;
  const [auditAsync, auditSync, storeOnly, filter, redact, redactJs, detection] = [
    'audit-async',
    'audit-sync',
    'bare-store',
    'response-filter',
    'redact.yaml',
    'redact-js.yaml',
    'threat-detection',
  ].map(byName);
  const x = (r: (typeof rows)[number] | undefined) => `${r?.rpsRatio.toFixed(2)}x`;
  const auditVerdict = `Audit (issue 8), against bare Rampart in the same round (the audit rows also open a store and keyring, for the signing key): async ${x(auditAsync)} throughput, sync ${x(auditSync)}; the store and keyring alone (no audit log) ${x(storeOnly)}. Target: async costs <= 10% (>= 0.90x).`;
  const responseVerdict = `Response protection (issue 9), a 10 KB JSON answer, against bare Rampart on the same answer: schema filtering and field rules ${x(filter)} throughput, redaction ${x(redact)} (with the JavaScript reader ${x(redactJs)}). Target: each costs <= 20% (>= 0.80x). The ${redaction}.`;
  const e = engine as NonNullable<typeof engine>;
  const detectionVerdict = `Attack detection (issue 7), a 1 KB JSON POST, against bare Rampart on the same request: ${x(detection)} throughput. Target: <= 15% cost (>= 0.85x). The engine's own time per request, in this process: the benign 1 KB order ${e.engineBenign}, the same order carrying an injection ${e.engineAttack}; over the labelled corpus ${e.engineCorpus}.`;
  const verdict = `Target: bare Rampart >= 0.90x the minimal proxy's throughput (measured ${bare.rpsRatio.toFixed(2)}x) and p99 within 1.3x (measured ${bare.p99Ratio.toFixed(2)}x). Over TLS 1.3 against the minimal proxy over TLS: ${tlsRow.rpsRatio.toFixed(2)}x throughput, ${tlsRow.p99Ratio.toFixed(2)}x p99.`;
  const md = `# Benchmark results

Generated by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}.
Each target is its own process with one worker; autocannon runs in the harness process with ${CONNECTIONS} keep-alive
connections, GET of a ~90-byte JSON answer. ${ROUNDS} interleaved rounds of ${DURATION} s (after ${WARMUP} s warm-up),
split over ${FORKS} fresh processes of each target (forks).
Absolute columns are medians over rounds; the ratio columns are medians of the per-round ratios to the reference
(the mean of its measurement in that round and the next, which brackets the row in time). ${PIN ? `Each target runs alone on core ${PIN.target} while it is measured (taskset; the idle targets wait on the other cores); the load generator and the upstream share core(s) ${PIN.rest}, and so does a local Redis (for the Redis rows; moved there for the run, as it would run on another host). The target is then the bottleneck, so a ratio is its cost against the reference's` : 'The load generator, the targets and the upstream share the cores (no taskset), so absolute numbers are noisy'}; the paired ratios are what to compare.

"bare" is Rampart's core with no policies and the access log off: routing, path normalisation, forwarding headers,
balancing, passive health, timeouts, metrics. The access-log row is the same with one JSON line per request written to
a file, to show that cost apart. Each target's stdout is in \`bench/.tmp/\` after a run.

${table}

¹ Reference: the minimal proxy for the plain rows, the minimal proxy over TLS for the TLS row, bare Rampart for the
identity rows (API key: one SQLite lookup per key per 500 ms, an HMAC-SHA256 per request; JWT: ES256, a static key),
and the API-key row for the authorization rows (they need an identity; the ownership check reads a bounded cache);
bare Rampart for the traffic and audit rows (one rate-limit or quota counter per request, on one hot key; one
audit event per request), bare Rampart on the same 10 KB answer for the response-protection rows, and bare Rampart on
the same 1 KB JSON POST for the attack-detection row.

${verdict}

${identityVerdict}

${authzVerdict}

${trafficVerdict}

${auditVerdict}

${detectionVerdict}

${responseVerdict}
`;
  writeFileSync(new URL('../../bench/RESULTS.md', import.meta.url), md);
  process.stdout.write(
    `\n${table}\n\n${verdict}\n${identityVerdict}\n${authzVerdict}\n${trafficVerdict}\n${auditVerdict}\n${detectionVerdict}\n${responseVerdict}\n`,
  );
}

/**
 * A store with one consumer and API key (made with the CLI, as an operator would), and an ES256 key pair whose
 * public half bench/jwt-*.yaml read from bench/.tmp/jwt-public.pem, with a token valid for the whole run.
 */
async function identitySetup(): Promise<{ dataDir: string; apiKey: string; jwt: string }> {
  const tmp = fileURLToPath(new URL('../../bench/.tmp/', import.meta.url));
  const dataDir = mkdtempSync(`${tmp}store-`);
  const env = { ...process.env, DATA_DIR: dataDir, PORT: '0', UPSTREAM_URL: 'http://127.0.0.1:1' };
  const cli = (...args: string[]) =>
    execFileSync(process.execPath, ['dist/src/cli/main.js', ...args, '--config', 'bench/api-key.yaml'], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
  // As an operator would: a consumer (an admin bound to user u_1001, for the authorization rows) and its key.
  const consumer = (
    JSON.parse(cli('consumers', 'create', 'bench', '--group', 'admin', '--attr', 'user_id=u_1001', '--json')) as {
      id: string;
    }
  ).id;
  const apiKey = (JSON.parse(cli('keys', 'create', 'bench', '--json')) as { key: string }).key;
  // The ownership record bench/object-access.yaml checks (no CLI for ownership imports yet).
  const services = await openServices(
    loadConfigFile(`${root}bench/api-key.yaml`, env).config,
    `${root}bench/api-key.yaml`,
    createLogger('warn'),
  );
  await services?.store.ownership.upsert({ resource_type: 'user', resource_id: 'u_1001', owner_id: consumer });
  await services?.close();
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  writeFileSync(`${tmp}jwt-public.pem`, await exportSPKI(publicKey));
  const jwt = await new SignJWT({ scope: 'read' })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench', typ: 'at+jwt' })
    .setIssuer('https://issuer.bench.test')
    .setAudience('bench-api')
    .setSubject('bench-client')
    .setIssuedAt()
    .setExpirationTime('4h')
    .sign(privateKey);
  return { dataDir, apiKey, jwt };
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
