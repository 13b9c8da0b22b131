import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Pool, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, killRampart, type Spawned, spawnRampart, startUpstream, tmpFile, waitForNew } from '../helpers.js';

/** Process-level hot reload: `rampart start --workers 1` on a temp config, rewritten while it serves. */

interface Opts {
  port: number;
  upstream: string;
  version: number;
  extraRoute?: boolean;
}

function config(o: Opts): string {
  return `# rewritten by reload.test.ts
listeners:
  - host: 127.0.0.1
    port: ${o.port}
metrics: { enabled: false }
upstreams:
  app:
    targets: ["${o.upstream}"]
routes:
  - name: main
    public: true
    paths: ["/main", "/slow"]
    upstream: app
    policies:
      headers:
        response:
          set: { x-config-version: "${o.version}" }
${
  o.extraRoute
    ? `  - name: extra
    paths: ["/extra"]
    public: true
    upstream: app
`
    : ''
}`;
}

const isReloaded = (l: Record<string, unknown>) => l.msg === 'config reloaded';
const isRejected = (l: Record<string, unknown>) => typeof l.msg === 'string' && l.msg.startsWith('config rejected');

async function get(base: string, path: string): Promise<{ status: number; version: string | undefined }> {
  const r = await request(`${base}${path}`);
  await r.body.text();
  const v = r.headers['x-config-version'];
  return { status: r.statusCode, version: typeof v === 'string' ? v : undefined };
}

interface Sample {
  start: number;
  status: number;
  version: number;
  error?: string;
}

/** `clients` keep-alive clients hammering /main until stop() resolves; every outcome recorded. */
function loadLoop(base: string, clients: number): { stop(): Promise<Sample[]> } {
  const pool = new Pool(base, { connections: clients });
  const samples: Sample[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const start = performance.now();
      try {
        const r = await pool.request({ path: '/main', method: 'GET' });
        await r.body.text();
        samples.push({ start, status: r.statusCode, version: Number(r.headers['x-config-version']) });
      } catch (e) {
        samples.push({ start, status: 0, version: 0, error: String(e) });
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      await pool.close();
      return samples;
    },
  };
}

describe('hot reload (rampart start --workers 1)', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let sp: Spawned | undefined;
  /** Resolvers for /slow requests the upstream is holding. */
  const held: (() => void)[] = [];
  let slowSeen: () => void = () => {};

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      if (req.url === '/slow') {
        slowSeen();
        held.push(() => res.end('slow done'));
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url }));
    });
  });
  afterAll(async () => {
    await up.close();
  });
  afterEach(async () => {
    await killRampart(sp);
    sp = undefined;
  });

  async function boot(extraArgs: string[] = []): Promise<{ file: string; base: string; o: Opts; sp: Spawned }> {
    const o: Opts = { port: await freePort(), upstream: up.url, version: 1 };
    const file = tmpFile('rampart.yaml', config(o));
    sp = spawnRampart(['start', '--config', file, '--workers', '1', ...extraArgs]);
    await sp.waitFor((l) => l.msg === 'listening');
    return { file, base: `http://127.0.0.1:${o.port}`, o, sp };
  }

  it('reloads on file change under continuous load with zero failed requests', async () => {
    const { file, base, o, sp } = await boot();
    expect((await get(base, '/main')).version).toBe('1');
    expect((await get(base, '/extra')).status).toBe(404);

    const started = performance.now();
    const load = loadLoop(base, 8);
    /** When the test saw the reload line for each version: requests started later must see it. */
    const seenAt = new Map<number, number>();
    for (let v = 2; v <= 5; v++) {
      await new Promise((r) => setTimeout(r, 400));
      const next = config({ ...o, version: v, extraRoute: v >= 4 });
      const reloaded = waitForNew(sp, isReloaded);
      if (v === 3) {
        // The way editors and secret managers write: a new file renamed over the old one.
        const tmp = join(dirname(file), 'rampart.yaml.tmp');
        writeFileSync(tmp, next);
        renameSync(tmp, file);
      } else writeFileSync(file, next);
      const line = await reloaded;
      expect(line.trigger).toBe('file change');
      seenAt.set(v, performance.now());
      expect((await get(base, '/main')).version).toBe(String(v));
    }
    await new Promise((r) => setTimeout(r, 400));
    const samples = await load.stop();
    const seconds = (performance.now() - started) / 1000;

    const failed = samples.filter((s) => s.status !== 200);
    expect(failed.slice(0, 5)).toEqual([]);
    expect(samples.length).toBeGreaterThan(200);
    // Requests that started after a reload was logged never see an older config.
    for (const [v, at] of seenAt) {
      const stale = samples.filter((s) => s.start > at && s.version < v);
      expect(stale.slice(0, 3), `stale responses after reload to v${v}`).toEqual([]);
    }
    const versions = new Set(samples.map((s) => s.version));
    expect([...versions].sort()).toEqual([1, 2, 3, 4, 5]);
    // The route added by the v4 reload serves.
    expect((await get(base, '/extra')).status).toBe(200);
    console.log(
      `reload under load: ${samples.length} requests in ${seconds.toFixed(1)} s ` +
        `(${Math.round(samples.length / seconds)} req/s, 8 clients), 4 reloads, ${failed.length} failed`,
    );
  });

  it('reloads on SIGHUP (and, with --no-watch, only then)', async () => {
    const { file, base, o, sp } = await boot(['--no-watch']);
    writeFileSync(file, config({ ...o, version: 2 }));
    await new Promise((r) => setTimeout(r, 600));
    expect((await get(base, '/main')).version).toBe('1');
    expect(sp.logs.filter(isReloaded)).toEqual([]);

    const reloaded = waitForNew(sp, isReloaded);
    sp.proc.kill('SIGHUP');
    expect((await reloaded).trigger).toBe('SIGHUP');
    expect((await get(base, '/main')).version).toBe('2');
  });

  it('rejects an invalid config with file:line:col and field, and keeps serving the old one', async () => {
    const { file, base, o, sp } = await boot();

    // Unknown field: named with its path and exact position.
    const unknown = config({ ...o, version: 2 }).replace('    upstream: app\n', '    upstream: app\n    retrys: 2\n');
    const unknownLine = unknown.split('\n').findIndex((l) => l.includes('retrys')) + 1;
    let rejected = waitForNew(sp, isRejected);
    writeFileSync(file, unknown);
    let line = await rejected;
    expect(line.level).toBe('error');
    expect(line.msg).toBe('config rejected; the running config keeps serving');
    const issues = line.issues as string[];
    expect(issues).toContainEqual(
      expect.stringMatching(
        new RegExp(`^${escapeRe(file)}:${unknownLine}:5 error routes\\[0\\]\\.retrys: unknown field "retrys"`),
      ),
    );
    expect((await get(base, '/main')).version).toBe('1');

    // Broken YAML (an unquoted "{" inside a flow sequence): the parser's position and a hint.
    const broken = config({ ...o, version: 3 }).replace('paths: ["/main", "/slow"]', 'paths: [/main/{id, /slow]');
    const brokenLine = broken.split('\n').findIndex((l) => l.includes('/main/{id')) + 1;
    rejected = waitForNew(sp, isRejected);
    writeFileSync(file, broken);
    line = await rejected;
    const yamlIssues = line.issues as string[];
    expect(yamlIssues.length).toBeGreaterThan(0);
    for (const i of yamlIssues) expect(i).toMatch(new RegExp(`^${escapeRe(file)}:\\d+:\\d+ error `));
    expect(yamlIssues.some((i) => i.startsWith(`${file}:${brokenLine}:`))).toBe(true);
    expect((await get(base, '/main')).version).toBe('1');

    // A reference to a missing upstream: the field named.
    const dangling = config({ ...o, version: 4 }).replace('    upstream: app\n', '    upstream: nope\n');
    rejected = waitForNew(sp, isRejected);
    writeFileSync(file, dangling);
    line = await rejected;
    expect(line.issues).toContainEqual(expect.stringMatching(/ error routes\[0\]\.upstream: no upstream named "nope"/));
    expect((await get(base, '/main')).version).toBe('1');

    // Nothing was applied; a good file afterwards still reloads.
    expect(sp.logs.filter(isReloaded)).toEqual([]);
    const reloaded = waitForNew(sp, isReloaded);
    writeFileSync(file, config({ ...o, version: 5 }));
    await reloaded;
    expect((await get(base, '/main')).version).toBe('5');
  });

  it('lets an in-flight request finish on the config it started on', async () => {
    const { file, base, o, sp } = await boot();
    const upstreamHasIt = new Promise<void>((r) => {
      slowSeen = r;
    });
    const slow = get(base, '/slow');
    await upstreamHasIt;

    const reloaded = waitForNew(sp, isReloaded);
    writeFileSync(file, config({ ...o, version: 2 }));
    await reloaded;
    // New requests see the new config while the old one is still being answered.
    expect((await get(base, '/main')).version).toBe('2');

    for (const release of held.splice(0)) release();
    expect(await slow).toEqual({ status: 200, version: '1' });
    const access = await sp.waitFor((l) => l.type === 'access' && l.path === '/slow');
    expect(access.status).toBe(200);
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
