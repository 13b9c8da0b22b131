import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, startUpstream } from '../helpers.js';

type Upstream = Awaited<ReturnType<typeof startUpstream>>;
type Gw = Awaited<ReturnType<typeof startGateway>>;

/**
 * Three real upstreams that answer with their own name. Requests to /slow are held open by the upstream
 * named in `holdOn` until `release()`.
 */
const names = ['a', 'b', 'c'] as const;
const ups: Record<string, Upstream> = {};
const held: ServerResponse[] = [];
let holdOn: string | null = null;

function release(): void {
  for (const res of held.splice(0)) res.end('released');
}

function config(balancer: string, targets: string, extra = ''): string {
  return `
listeners: [{ port: 0 }]
metrics: { enabled: false }
logging: { level: silent, access_log: false }
upstreams:
  pool:
    balancer: ${balancer}
${extra}
    targets:
${targets}
routes:
  - name: all
    public: true
    paths: ["/*"]
    upstream: pool
`;
}

const plainTargets = () => names.map((n) => `      - "${ups[n]?.url}"`).join('\n');

async function whoAnswers(gw: Gw, path = '/', headers: Record<string, string> = {}): Promise<string> {
  const r = await fetch(`${gw.url}${path}`, { headers });
  expect(r.status).toBe(200);
  return r.text();
}

describe('load balancing over three real upstreams', () => {
  let gw: Gw | null = null;

  beforeAll(async () => {
    for (const n of names) {
      ups[n] = await startUpstream((req, res) => {
        if (req.url === '/slow' && holdOn === n) {
          held.push(res);
          return;
        }
        res.end(n);
      });
    }
  });

  afterEach(async () => {
    release();
    holdOn = null;
    await gw?.close();
    gw = null;
  });

  afterAll(async () => {
    for (const u of Object.values(ups)) await u.close();
  });

  it('round-robin cycles through the targets in order', async () => {
    gw = await startGateway(config('round-robin', plainTargets()));
    const seen: string[] = [];
    for (let i = 0; i < 9; i++) seen.push(await whoAnswers(gw));
    expect(seen).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('weighted gives each target exactly its share, interleaved', async () => {
    const targets = [
      `      - { url: "${ups.a?.url}", weight: 3 }`,
      `      - { url: "${ups.b?.url}", weight: 2 }`,
      `      - { url: "${ups.c?.url}", weight: 1 }`,
    ].join('\n');
    gw = await startGateway(config('weighted', targets));
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    const first: string[] = [];
    for (let i = 0; i < 60; i++) {
      const who = await whoAnswers(gw);
      counts[who] = (counts[who] ?? 0) + 1;
      if (i < 6) first.push(who);
    }
    expect(counts).toEqual({ a: 30, b: 20, c: 10 });
    // Smooth: one cycle of 6 holds each target its weight, and the heavy one is not served 3 in a row.
    expect(first.filter((x) => x === 'a')).toHaveLength(3);
    expect(first.join('')).not.toContain('aaa');
  });

  it('weighted 3:1 between two targets is exactly 3:1', async () => {
    const targets = [`      - { url: "${ups.a?.url}", weight: 3 }`, `      - { url: "${ups.b?.url}", weight: 1 }`].join(
      '\n',
    );
    gw = await startGateway(config('weighted', targets));
    const counts: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const who = await whoAnswers(gw);
      counts[who] = (counts[who] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 30, b: 10 });
  });

  it('least-connections sends new requests away from a target busy with slow requests', async () => {
    gw = await startGateway(config('least-connections', plainTargets()));
    const g = gw;
    holdOn = 'b';
    // Send /slow until one is held open by b (a and c answer at once). While b holds it, b has the most
    // connections, so no later request can land there.
    const slow: Promise<string>[] = [];
    for (let i = 0; i < 20 && held.length < 1; i++) {
      const before = held.length;
      const p = fetch(`${g.url}/slow`).then((r) => r.text());
      const done = await Promise.race([
        p.then(() => 'answered' as const),
        (async () => {
          for (let k = 0; k < 200 && held.length === before; k++) await new Promise((r) => setTimeout(r, 5));
          return held.length > before ? ('held' as const) : ('neither' as const);
        })(),
      ]);
      if (done === 'held') slow.push(p);
    }
    expect(held).toHaveLength(1);
    // More slow requests while b is busy: all answered by a or c, none held.
    for (let i = 0; i < 4; i++) expect(await whoAnswers(g, '/slow')).not.toBe('b');
    expect(held).toHaveLength(1);

    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 12; i++) {
      const who = await whoAnswers(g);
      counts[who] = (counts[who] ?? 0) + 1;
    }
    expect(counts.b).toBe(0);
    expect(counts.a).toBeGreaterThan(0);
    expect(counts.c).toBeGreaterThan(0);
    expect((counts.a ?? 0) + (counts.c ?? 0)).toBe(12);

    // Once the slow ones finish, b is in the rotation again.
    release();
    expect(await Promise.all(slow)).toEqual(['released']);
    const after = new Set<string>();
    for (let i = 0; i < 6; i++) after.add(await whoAnswers(g));
    expect(after).toEqual(new Set(['a', 'b', 'c']));
  });

  it('consistent-hash on a header pins each key to one target and spreads keys', async () => {
    gw = await startGateway(config('consistent-hash', plainTargets(), '    hash_on: "header:x-user"'));
    const owner = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (let u = 0; u < 30; u++) {
        const key = `user-${u}`;
        const who = await whoAnswers(gw, '/', { 'x-user': key });
        if (round === 0) owner.set(key, who);
        else expect(who, key).toBe(owner.get(key));
      }
    }
    const used = new Set(owner.values());
    expect(used.size).toBeGreaterThanOrEqual(2);
    // Requests without the key are spread rather than pinned.
    const keyless = new Set<string>();
    for (let i = 0; i < 6; i++) keyless.add(await whoAnswers(gw));
    expect(keyless.size).toBeGreaterThan(1);
  });
});
