import type { Dispatcher } from 'undici';
import { describe, expect, it } from 'vitest';
import { type BalancerKind, createBalancer } from './balancers.js';
import { newHealth } from './health.js';
import type { Target } from './target.js';

function target(name: string, weight = 1, inflight = 0): Target {
  return {
    origin: `http://${name}:80`,
    host: `${name}:80`,
    weight,
    pool: {} as Dispatcher,
    inflight,
    health: newHealth(),
  };
}

const all = () => true;
const except =
  (...down: Target[]) =>
  (t: Target) =>
    !down.includes(t);

function counts(picks: (Target | null)[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of picks) {
    const k = p === null ? 'null' : p.origin;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

function maxRun(picks: (Target | null)[], t: Target): number {
  let best = 0;
  let run = 0;
  for (const p of picks) {
    run = p === t ? run + 1 : 0;
    best = Math.max(best, run);
  }
  return best;
}

describe('common behaviour', () => {
  const kinds: BalancerKind[] = ['round-robin', 'weighted', 'least-connections', 'consistent-hash'];
  for (const kind of kinds) {
    it(`${kind}: returns null when nothing is available or there are no targets`, () => {
      const ts = [target('a'), target('b')];
      const b = createBalancer(kind, ts);
      expect(b.pick(() => false, 'key')).toBeNull();
      expect(b.pick(() => false)).toBeNull();
      expect(createBalancer(kind, []).pick(all, 'key')).toBeNull();
      expect(createBalancer(kind, []).pick(all)).toBeNull();
    });

    it(`${kind}: never returns an unavailable target`, () => {
      const ts = [target('a'), target('b'), target('c')];
      const [a, , c] = ts;
      const b = createBalancer(kind, ts);
      for (let i = 0; i < 200; i++) {
        const p = b.pick(except(a!, c!), `k${i}`);
        expect(p).toBe(ts[1]);
      }
    });
  }
});

describe('round-robin', () => {
  it('cycles in order with an exact distribution', () => {
    const ts = [target('a'), target('b'), target('c')];
    const b = createBalancer('round-robin', ts);
    const picks = Array.from({ length: 300 }, () => b.pick(all));
    expect(picks.slice(0, 6)).toEqual([ts[0], ts[1], ts[2], ts[0], ts[1], ts[2]]);
    expect([...counts(picks).values()]).toEqual([100, 100, 100]);
  });

  it('skips unavailable targets and resumes when they come back', () => {
    const ts = [target('a'), target('b'), target('c')];
    const [a, b0, c] = ts as [Target, Target, Target];
    const b = createBalancer('round-robin', ts);
    expect([b.pick(except(b0)), b.pick(except(b0)), b.pick(except(b0))]).toEqual([a, c, a]);
    // a was picked last; with everything back the rotation continues after it.
    expect([b.pick(all), b.pick(all), b.pick(all)]).toEqual([b0, c, a]);
  });
});

describe('weighted (smooth weighted round robin)', () => {
  it('gives 5:1:1 exactly over 700 picks, interleaved like nginx', () => {
    const ts = [target('a', 5), target('b', 1), target('c', 1)];
    const [a, b0, c] = ts as [Target, Target, Target];
    const b = createBalancer('weighted', ts);
    const picks = Array.from({ length: 700 }, () => b.pick(all));
    const m = counts(picks);
    expect(m.get(a.origin)).toBe(500);
    expect(m.get(b0.origin)).toBe(100);
    expect(m.get(c.origin)).toBe(100);
    // nginx's documented sequence for {5, 1, 1}.
    expect(picks.slice(0, 7)).toEqual([a, a, b0, a, c, a, a]);
    // Every cycle of 7 is exact, and a is never served 5 times in a row (that would be a burst).
    for (let i = 0; i < 700; i += 7) {
      const w = counts(picks.slice(i, i + 7));
      expect([w.get(a.origin), w.get(b0.origin), w.get(c.origin)]).toEqual([5, 1, 1]);
    }
    expect(maxRun(picks, a)).toBeLessThan(5);
    expect(maxRun(picks, b0)).toBe(1);
    expect(maxRun(picks, c)).toBe(1);
  });

  it('respects 3:2:1 exactly', () => {
    const ts = [target('a', 3), target('b', 2), target('c', 1)];
    const b = createBalancer('weighted', ts);
    const m = counts(Array.from({ length: 600 }, () => b.pick(all)));
    expect([...m.values()]).toEqual([300, 200, 100]);
  });

  it('redistributes over the remaining targets when one is unavailable, without a burst on return', () => {
    const ts = [target('a', 5), target('b', 1), target('c', 1)];
    const [a, b0, c] = ts as [Target, Target, Target];
    const b = createBalancer('weighted', ts);
    const down = Array.from({ length: 600 }, () => b.pick(except(b0)));
    const m = counts(down);
    expect(m.get(a.origin)).toBe(500);
    expect(m.get(c.origin)).toBe(100);
    expect(m.has(b0.origin)).toBe(false);
    // b did not bank score while down: once back it gets exactly its share, never twice in a row.
    const back = Array.from({ length: 700 }, () => b.pick(all));
    expect(counts(back).get(b0.origin)).toBe(100);
    expect(maxRun(back, b0)).toBe(1);
  });
});

describe('least-connections', () => {
  it('picks the least loaded target', () => {
    const ts = [target('a', 1, 3), target('b', 1, 1), target('c', 1, 2)];
    const b = createBalancer('least-connections', ts);
    for (let i = 0; i < 5; i++) expect(b.pick(all)).toBe(ts[1]);
  });

  it('divides inflight by weight', () => {
    // a: 4/4 = 1, b: 3/1 = 3, c: 3/2 = 1.5
    const ts = [target('a', 4, 4), target('b', 1, 3), target('c', 2, 3)];
    expect(createBalancer('least-connections', ts).pick(all)).toBe(ts[0]);
  });

  it('rotates among ties instead of always taking the first', () => {
    // a: 2/2 = 1 and b: 1/1 = 1 tie; c: 5/1 is busier.
    const ts = [target('a', 2, 2), target('b', 1, 1), target('c', 1, 5)];
    const b = createBalancer('least-connections', ts);
    const picks = Array.from({ length: 10 }, () => b.pick(all));
    expect(picks).toEqual([ts[0], ts[1], ts[0], ts[1], ts[0], ts[1], ts[0], ts[1], ts[0], ts[1]]);
  });

  it('balances load when the caller tracks inflight', () => {
    const ts = [target('a'), target('b'), target('c')];
    const b = createBalancer('least-connections', ts);
    for (let i = 0; i < 9; i++) {
      const p = b.pick(all)!;
      p.inflight++;
    }
    expect(ts.map((t) => t.inflight)).toEqual([3, 3, 3]);
    // Free two slots on c: it becomes the least loaded.
    ts[2]!.inflight -= 2;
    expect(b.pick(all)).toBe(ts[2]);
  });

  it('skips an unavailable least-loaded target', () => {
    const ts = [target('a', 1, 5), target('b', 1, 0), target('c', 1, 2)];
    expect(createBalancer('least-connections', ts).pick(except(ts[1]!))).toBe(ts[2]);
  });
});

describe('consistent-hash', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
  const names = ['a', 'b', 'c', 'd', 'e'];

  function owners(ts: Target[], avail: (t: Target) => boolean = all): Map<string, string> {
    const b = createBalancer('consistent-hash', ts);
    return new Map(keys.map((k) => [k, b.pick(avail, k)!.origin]));
  }

  it('is stable for a key, across picks and across rebuilds in a different order', () => {
    const ts = names.map((n) => target(n));
    const b = createBalancer('consistent-hash', ts);
    const first = b.pick(all, 'session-42');
    for (let i = 0; i < 20; i++) expect(b.pick(all, 'session-42')).toBe(first);
    const rebuilt = createBalancer('consistent-hash', [...ts].reverse());
    for (const k of keys.slice(0, 500)) expect(rebuilt.pick(all, k)).toBe(b.pick(all, k));
  });

  it('spreads keys roughly evenly', () => {
    const m = new Map<string, number>();
    for (const o of owners(names.map((n) => target(n))).values()) m.set(o, (m.get(o) ?? 0) + 1);
    expect(m.size).toBe(5);
    for (const n of m.values()) {
      expect(n).toBeGreaterThan(10_000 * 0.13);
      expect(n).toBeLessThan(10_000 * 0.27);
    }
  });

  it('gives a double-weight target about twice the keys', () => {
    const m = new Map<string, number>();
    for (const o of owners([target('a', 2), target('b'), target('c')]).values()) m.set(o, (m.get(o) ?? 0) + 1);
    const a = m.get('http://a:80')!;
    const b = m.get('http://b:80')!;
    const c = m.get('http://c:80')!;
    expect(a / ((b + c) / 2)).toBeGreaterThan(1.6);
    expect(a / ((b + c) / 2)).toBeLessThan(2.4);
  });

  it('moves only the removed target’s keys (~1/N) when a target is removed', () => {
    const ts = names.map((n) => target(n));
    const before = owners(ts);
    const after = owners(ts.filter((t) => t.origin !== 'http://c:80'));
    let moved = 0;
    for (const k of keys) {
      if (before.get(k) === after.get(k)) continue;
      moved++;
      // Only keys that lived on the removed target may move.
      expect(before.get(k)).toBe('http://c:80');
    }
    expect(moved / keys.length).toBeGreaterThan(0.12);
    expect(moved / keys.length).toBeLessThan(0.28);
  });

  it('moves only ~1/N keys, all onto the new target, when a target is added', () => {
    const ts = names.map((n) => target(n));
    const before = owners(ts);
    const after = owners([...ts, target('f')]);
    let moved = 0;
    for (const k of keys) {
      if (before.get(k) === after.get(k)) continue;
      moved++;
      expect(after.get(k)).toBe('http://f:80');
    }
    expect(moved / keys.length).toBeGreaterThan(0.1);
    expect(moved / keys.length).toBeLessThan(0.24);
  });

  it('walks clockwise past an unavailable owner: same result as a ring without it', () => {
    const ts = names.map((n) => target(n));
    const c = ts[2]!;
    const withCDown = owners(ts, except(c));
    const withoutC = owners(ts.filter((t) => t !== c));
    expect(withCDown).toEqual(withoutC);
    // Keys not owned by c are unaffected by c being down.
    const normal = owners(ts);
    for (const k of keys) if (normal.get(k) !== c.origin) expect(withCDown.get(k)).toBe(normal.get(k));
  });

  it('falls back to round robin when there is no hash key', () => {
    const ts = [target('a'), target('b'), target('c')];
    const b = createBalancer('consistent-hash', ts);
    expect(Array.from({ length: 6 }, () => b.pick(all))).toEqual([ts[0], ts[1], ts[2], ts[0], ts[1], ts[2]]);
  });

  it('honours the vnodes option and still resolves every key with 1 vnode', () => {
    const ts = names.map((n) => target(n));
    const b = createBalancer('consistent-hash', ts, { vnodes: 1 });
    for (const k of keys.slice(0, 100)) expect(ts).toContain(b.pick(all, k));
  });
});
