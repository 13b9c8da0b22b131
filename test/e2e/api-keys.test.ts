import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumOf } from '../../src/identity/api-key.js';
import {
  freePort,
  killRampart,
  ROOT,
  type SentResponse,
  type Spawned,
  send,
  spawnRampart,
  startUpstream,
} from '../helpers.js';

/**
 * API key lifecycle on real processes: `rampart start --workers 2` on a SQLite store with a master key file made by
 * `rampart keyring init`, and the `rampart consumers` / `rampart keys` CLI writing to the same store meanwhile.
 */

const CHALLENGE = 'ApiKey header="x-api-key"';

let dir: string;
let file: string;
let port: number;
let sp: Spawned;
let up: Awaited<ReturnType<typeof startUpstream>>;
/** Headers of the last request the upstream saw. */
let lastUpstream: { url: string; headers: Record<string, unknown> } = { url: '', headers: {} };

/** Runs the built CLI; rejects with its stderr on a non-zero exit. */
function rampart(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), ...args], { cwd: dir }, (err, stdout, stderr) =>
      err ? reject(new Error(`rampart ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
}

/** A store command on the test gateway's config. */
function cli(...args: string[]): Promise<string> {
  return rampart([...args, '--config', file]);
}

async function cliJson<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return JSON.parse(await cli(...args, '--json')) as T;
}

interface NewKey {
  key: string;
  credential: { id: string; key_id: string; expires_at: string | null };
  rotated?: { id: string; expires_at: string };
}

/** One request on its own connection: the cluster primary hands connections to the workers in turn. */
function get(path: string, key?: string): Promise<SentResponse> {
  return send(port, path, { headers: key === undefined ? {} : { 'x-api-key': key } });
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * Same key id, another secret, valid checksum: well-formed, so it reaches the store lookup and the keyed hash. The
 * first secret digit moves on by one, so forging a forgery never comes back to the real key.
 */
function forge(key: string): string {
  const next = BASE62[(BASE62.indexOf(key[22] as string) + 1) % 62];
  const body = `${key.slice(0, 22)}${next}${key.slice(23, 65)}`;
  return body + checksumOf(body);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Statuses of n requests, each on a fresh connection (so both workers answer). */
async function statuses(path: string, key: string | undefined, n = 6): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await get(path, key)).status);
  return out;
}

/** Which worker (pid) served each request id, from the access log lines. */
async function workersOf(ids: string[]): Promise<Map<string, number>> {
  const want = new Set(ids);
  const deadline = Date.now() + 5000;
  for (;;) {
    const map = new Map<string, number>();
    for (const l of sp.logs)
      if (l.type === 'access' && want.has(String(l.request_id))) map.set(String(l.request_id), l.pid as number);
    if (map.size === want.size || Date.now() > deadline) return map;
    await sleep(100);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-api-keys-'));
  up = await startUpstream((req, res) => {
    lastUpstream = { url: req.url ?? '', headers: req.headers };
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
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
upstreams:
  app: { targets: ["${up.url}"] }
policies:
  request-id: {}
  api-key: { cache_ttl_ms: 500 }
routes:
  - { name: orders, paths: ["/orders", "/orders/*"], upstream: app }
  - { name: admin, paths: ["/admin"], upstream: app }
  - name: login
    paths: ["/login"]
    upstream: app
    policies:
      brute-force: { max_failures: 3, window_s: 60, lockout_s: 1, max_lockout_s: 8 }
`,
  );
  await rampart(['keyring', 'init', '--master-keys', join(dir, 'master.keys')]);
  sp = spawnRampart(['start', '--config', file, '--workers', '2', '--no-watch']);
  await sp.waitFor((l) => l.msg === 'all workers listening');
});

afterAll(async () => {
  await killRampart(sp);
  await up.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('API keys end to end (2 workers, SQLite store, CLI)', () => {
  // Keys made by the first test, one per later test: CLI runs are the slow part, so they run side by side.
  let key = '';
  let keyId = '';
  let admin: NewKey;
  let rotating: NewKey;
  let doomed: NewKey;

  it('creates a consumer and keys with the CLI; a key works, the upstream never sees it', async () => {
    const consumer = await cliJson('consumers', 'create', 'acme', '--group', 'partners');
    expect(consumer).toMatchObject({ name: 'acme', status: 'active', groups: ['partners'] });
    let main: NewKey;
    [main, admin, rotating, doomed] = await Promise.all([
      cliJson<NewKey>('keys', 'create', 'acme', '--scope', 'orders:read'),
      cliJson<NewKey>('keys', 'create', 'acme', '--route', 'admin'),
      cliJson<NewKey>('keys', 'create', 'acme'),
      cliJson<NewKey>('keys', 'create', 'acme'),
    ]);
    ({ key } = main);
    keyId = main.credential.key_id;
    expect(key).toMatch(/^rmpk_[a-z2-7]{16}_[0-9A-Za-z]{49}$/);

    expect(await statuses('/orders', key)).toEqual([200, 200, 200, 200, 200, 200]);
    const r = await get('/orders/17?x=1', key);
    expect(r.status).toBe(200);
    expect(lastUpstream.url).toBe('/orders/17?x=1');
    expect(lastUpstream.headers['x-api-key']).toBeUndefined();
    // The key never reaches the logs.
    expect(JSON.stringify(sp.logs)).not.toContain(key.slice(22));
  });

  it('answers a wrong, unknown, malformed or missing key with the same 401 and the ApiKey challenge', async () => {
    const answers = new Set<string>();
    for (const k of [forge(key), forge(forge(key)), 'rmpk_short', `${key}x`, undefined]) {
      const r = await get('/orders', k);
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe(CHALLENGE);
      expect(r.headers['content-type']).toBe('application/problem+json');
      const { instance: _i, request_id: _r, detail: _d, ...problem } = JSON.parse(r.body) as Record<string, unknown>;
      answers.add(JSON.stringify(problem));
    }
    expect([...answers]).toEqual([
      JSON.stringify({
        type: 'https://rampart.dev/errors/unauthenticated',
        title: 'Unauthorized',
        status: 401,
        code: 'UNAUTHENTICATED',
      }),
    ]);
  });

  it('refuses a key limited to another route with 403, accepts it on its own route', async () => {
    expect(await statuses('/admin', admin.key, 4)).toEqual([200, 200, 200, 200]);
    const r = await get('/orders', admin.key);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'INSUFFICIENT_SCOPE' });
    // the unrestricted key works on both
    expect((await get('/admin', key)).status).toBe(200);
  });

  it('rotates with a grace period (old and new both work, then only the new) and expires keys', async () => {
    const [expiring, rotated] = await Promise.all([
      cliJson<NewKey>('keys', 'create', 'acme', '--expires', '3s'),
      cliJson<NewKey>('keys', 'rotate', rotating.credential.id, '--grace', '3s'),
    ]);
    expect(rotated.rotated?.id).toBe(rotating.credential.id);
    expect(await statuses('/orders', rotating.key, 4)).toEqual([200, 200, 200, 200]);
    expect(await statuses('/orders', rotated.key, 4)).toEqual([200, 200, 200, 200]);
    expect(await statuses('/orders', expiring.key, 4)).toEqual([200, 200, 200, 200]);

    const graceEnd = Date.parse(rotated.rotated?.expires_at ?? '');
    const expiry = Date.parse(expiring.credential.expires_at ?? '');
    await sleep(Math.max(graceEnd, expiry) - Date.now() + 50);
    expect(await statuses('/orders', rotating.key)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(await statuses('/orders', expiring.key)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(await statuses('/orders', rotated.key)).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it('refuses a revoked key within 1 s on every worker', async () => {
    const warm = await Promise.all(Array.from({ length: 10 }, () => get('/orders', doomed.key)));
    expect(warm.map((r) => r.status)).toEqual(Array(10).fill(200));

    // Requests on fresh connections, four at a time, before, during and after the revocation.
    const seen: { sentAt: number; doneAt: number; status: number; id: string }[] = [];
    let stopAt = Number.POSITIVE_INFINITY;
    const loop = async () => {
      while (Date.now() < stopAt) {
        const sentAt = Date.now();
        const r = await get('/orders', doomed.key);
        seen.push({ sentAt, doneAt: Date.now(), status: r.status, id: String(r.headers['x-request-id']) });
        await sleep(5);
      }
    };
    const loops = Array.from({ length: 4 }, loop);
    await sleep(200);
    const { revoked_at } = await cliJson<{ revoked_at: string }>('keys', 'revoke', `rmpk_${doomed.credential.key_id}`);
    const t0 = Date.parse(revoked_at);
    stopAt = t0 + 1500;
    await Promise.all(loops);

    const pids = await workersOf(seen.map((s) => s.id));
    const workers = [...new Set(pids.values())].sort();
    expect(workers).toHaveLength(2);
    const report: string[] = [];
    for (const pid of workers) {
      const mine = seen.filter((s) => pids.get(s.id) === pid);
      const lastAccepted = Math.max(...mine.filter((s) => s.status === 200).map((s) => s.doneAt)) - t0;
      const firstRefused = Math.min(...mine.filter((s) => s.status === 401).map((s) => s.doneAt)) - t0;
      const late = mine.filter((s) => s.sentAt > t0 + 1000);
      expect(late.length, `worker ${pid} answered after 1 s`).toBeGreaterThan(0);
      expect(late.every((s) => s.status === 401)).toBe(true);
      expect(lastAccepted).toBeLessThan(1000);
      expect(mine.every((s) => s.status === 200 || s.status === 401)).toBe(true);
      report.push(
        `worker ${pid}: last 200 at ${lastAccepted} ms, first 401 at ${firstRefused} ms (${mine.length} requests)`,
      );
    }
    console.log(`revocation (cache_ttl_ms 500), times after revoked_at: ${report.join('; ')}`);
  });

  it('locks a client out after repeated failures (429, Retry-After), then lets it back in after lockout_s', async () => {
    // One keep-alive connection: the same worker counts every attempt (counts are per process for now).
    const client = new Client(`http://127.0.0.1:${port}`);
    const call = async (k?: string) => {
      const r = await client.request({ path: '/login', method: 'GET', headers: k ? { 'x-api-key': k } : {} });
      await r.body.text();
      return { status: r.statusCode, retry: r.headers['retry-after'] };
    };
    try {
      // No credential is not a guess: never counted.
      for (let i = 0; i < 5; i++) expect((await call()).status).toBe(401);
      expect((await call(key)).status).toBe(200);
      for (let i = 0; i < 3; i++) expect((await call(forge(key))).status).toBe(401);
      expect(await call(key)).toEqual({ status: 429, retry: '1' });
      // a wrong key meets the same 429: nothing says whether it would have verified
      expect(await call(forge(key))).toEqual({ status: 429, retry: '1' });
      await sleep(1100);
      expect((await call(key)).status).toBe(200);
      // a repeat lockout lasts twice as long
      for (let i = 0; i < 3; i++) expect((await call(forge(key))).status).toBe(401);
      expect(await call(key)).toEqual({ status: 429, retry: '2' });
    } finally {
      await client.close();
    }
  });

  it('records last use (batched), and refuses every key of a disabled consumer within 1 s', async () => {
    // Last use is written every 5 s per worker: by now (> 5 s after the first request) it is in the store.
    const [list] = await Promise.all([
      cliJson<{ key_id: string; last_used_at: string | null }[]>('keys', 'list'),
      cli('consumers', 'disable', 'acme'),
    ]);
    expect(list.find((k) => k.key_id === keyId)?.last_used_at).not.toBeNull();
    await sleep(1000);
    expect(await statuses('/orders', key)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(await statuses('/admin', admin.key, 4)).toEqual([401, 401, 401, 401]);
  });
});
