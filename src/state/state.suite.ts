import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Algorithm, ConsumeRequest, SharedState } from './types.js';

/**
 * The one behaviour suite every SharedState backend runs (memory, cluster, redis). Real time: windows are short and
 * the assertions leave room for scheduling, never for a wrong count. Keys carry a per-run tag.
 */
export function runStateSuite(name: string, open: () => Promise<SharedState>): void {
  describe(`state: ${name}`, () => {
    let state: SharedState;
    const tag = randomBytes(4).toString('hex');
    let n = 0;
    const key = (s: string) => `t:${tag}:${s}:${n++}`;
    const req = (
      k: string,
      algorithm: Algorithm,
      limit: number,
      windowMs: number,
      extra: Partial<ConsumeRequest> = {},
    ) => ({ key: k, algorithm, limit, windowMs, ...extra }) satisfies ConsumeRequest;

    beforeAll(async () => {
      state = await open();
    });
    afterAll(async () => {
      await state?.close();
    });

    for (const algorithm of ['gcra', 'sliding-window'] as const) {
      describe(algorithm, () => {
        it('admits exactly the limit out of 1000 concurrent consumes', async () => {
          const k = key('exact');
          const rs = await Promise.all(
            Array.from({ length: 1000 }, () => state.consume(req(k, algorithm, 100, 60_000))),
          );
          expect(rs.filter((r) => r.allowed)).toHaveLength(100);
          const remaining = rs.filter((r) => r.allowed).map((r) => r.remaining);
          expect(new Set(remaining).size).toBe(100); // each admitted request saw its own count
          expect(Math.min(...remaining)).toBe(0);
          for (const r of rs.filter((x) => !x.allowed)) expect(r.remaining).toBe(0);
        });

        it('counts cost, and a refused request uses none', async () => {
          const k = key('cost');
          const r = (cost: number) => state.consume(req(k, algorithm, 10, 60_000, { cost }));
          expect((await r(3)).remaining).toBe(7);
          expect((await r(3)).remaining).toBe(4);
          const big = await r(5);
          expect(big).toMatchObject({ allowed: false, remaining: 0 });
          expect(big.retryAfterMs).toBe(0); // room for one unit is there now, just not for five
          expect(await r(4)).toMatchObject({ allowed: true, remaining: 0 });
          const refused = await r(1);
          expect(refused.allowed).toBe(false);
          expect(refused.retryAfterMs).toBeGreaterThan(0);
        });

        it('gives retryAfter and reset, and admits again once the window has moved', async () => {
          const k = key('window');
          const w = 400;
          const c = () => state.consume(req(k, algorithm, 2, w));
          const first = await c();
          expect(first).toMatchObject({ allowed: true, remaining: 1, retryAfterMs: 0 });
          expect(first.resetMs).toBeGreaterThan(0);
          expect(first.resetMs).toBeLessThanOrEqual(w);
          const second = await c();
          expect(second).toMatchObject({ allowed: true, remaining: 0 });
          expect(second.retryAfterMs).toBeGreaterThan(0);
          expect(second.retryAfterMs).toBeLessThanOrEqual(w);
          const third = await c();
          expect(third).toMatchObject({ allowed: false, remaining: 0 });
          expect(third.retryAfterMs).toBeGreaterThan(0);
          expect(third.retryAfterMs).toBeLessThanOrEqual(w);
          expect(third.resetMs).toBeGreaterThanOrEqual(third.retryAfterMs);
          expect(third.resetMs).toBeLessThanOrEqual(w);
          await sleep(third.retryAfterMs + 30);
          expect((await c()).allowed).toBe(true);
          await sleep(w + 50);
          // Fully reset: the whole limit again.
          expect(await c()).toMatchObject({ allowed: true, remaining: 1 });
          expect(await c()).toMatchObject({ allowed: true, remaining: 0 });
          expect((await c()).allowed).toBe(false);
        });
      });
    }

    it('gcra: burst caps what passes at once, then one unit per emission interval', async () => {
      const k = key('burst');
      // 10 per 10 s = one per second, at most 3 at once.
      const c = () => state.consume(req(k, 'gcra', 10, 10_000, { burst: 3 }));
      const rs = await Promise.all(Array.from({ length: 20 }, c));
      expect(rs.filter((r) => r.allowed)).toHaveLength(3);
      const refused = await c();
      expect(refused.retryAfterMs).toBeGreaterThan(900);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(1000);
      expect(refused.resetMs).toBeGreaterThan(2900);
      expect(refused.resetMs).toBeLessThanOrEqual(3000);
    });

    it('sliding window: keeps the exact count across the window edge (no two-bucket estimate)', async () => {
      const k = key('edge');
      const w = 600;
      const c = () => state.consume(req(k, 'sliding-window', 4, w));
      expect((await Promise.all([c(), c()])).every((r) => r.allowed)).toBe(true);
      await sleep(300);
      expect((await Promise.all([c(), c()])).every((r) => r.allowed)).toBe(true);
      expect((await c()).allowed).toBe(false);
      await sleep(350); // the first two left the window, the last two did not
      const rs = await Promise.all([c(), c(), c()]);
      expect(rs.filter((r) => r.allowed)).toHaveLength(2);
    });

    it('acquire/release: at most `limit` slots, exact under concurrency', async () => {
      const k = key('slots');
      const rs = await Promise.all(Array.from({ length: 200 }, () => state.acquire(k, 10, 60_000)));
      expect(rs.filter((r) => r.acquired)).toHaveLength(10);
      expect(await state.acquire(k, 10, 60_000)).toEqual({ acquired: false, held: 10 });
      await state.release(k);
      expect(await state.acquire(k, 10, 60_000)).toEqual({ acquired: true, held: 10 });
      for (let i = 0; i < 10; i++) await state.release(k);
      await state.release(k); // releasing more than held is harmless
      expect(await state.acquire(k, 10, 60_000)).toEqual({ acquired: true, held: 1 });
    });

    it('acquire: a slot held past its TTL is freed', async () => {
      const k = key('ttl');
      expect(await state.acquire(k, 1, 200)).toEqual({ acquired: true, held: 1 });
      expect(await state.acquire(k, 1, 200)).toEqual({ acquired: false, held: 1 });
      await sleep(260);
      expect(await state.acquire(k, 1, 200)).toEqual({ acquired: true, held: 1 });
    });

    it('set/get/delete with expiry', async () => {
      const k = key('value');
      expect(await state.get(k)).toBeNull();
      await state.set(k, 'deny', 60_000);
      expect(await state.get(k)).toBe('deny');
      await state.set(k, 'deny-2', 60_000);
      expect(await state.get(k)).toBe('deny-2');
      await state.delete(k);
      expect(await state.get(k)).toBeNull();
      await state.delete(k);
      await state.set(k, 'short', 150);
      expect(await state.get(k)).toBe('short');
      await sleep(220);
      expect(await state.get(k)).toBeNull();
    });

    it('increment: admits exactly the limit out of 1000 concurrent increments, each seeing its own count', async () => {
      const k = key('inc');
      const spec = [{ key: k, limit: 100, expiresAtMs: Date.now() + 60_000 }];
      const rs = await Promise.all(Array.from({ length: 1000 }, () => state.increment(spec, 1)));
      const ok = rs.filter((r) => r.admitted);
      expect(ok).toHaveLength(100);
      expect(new Set(ok.map((r) => r.counts[0])).size).toBe(100);
      expect(Math.max(...ok.map((r) => r.counts[0] ?? 0))).toBe(100);
      for (const r of rs.filter((x) => !x.admitted)) expect(r.counts).toEqual([100]);
    });

    it('increment: all or nothing across counters, by > 1, and by 0 reads', async () => {
      const exp = Date.now() + 60_000;
      const day = { key: key('day'), limit: 5, expiresAtMs: exp };
      const month = { key: key('month'), limit: 8, expiresAtMs: exp };
      expect(await state.increment([day, month], 3)).toEqual({ admitted: true, counts: [3, 3] });
      // the day would pass 5: refused, and the month is not charged either
      expect(await state.increment([day, month], 3)).toEqual({ admitted: false, counts: [3, 3] });
      expect(await state.increment([day, month], 2)).toEqual({ admitted: true, counts: [5, 5] });
      expect(await state.increment([month], 3)).toEqual({ admitted: true, counts: [8] });
      expect(await state.increment([day, month], 0)).toEqual({ admitted: true, counts: [5, 8] });
      expect(await state.increment([{ ...month, limit: 7 }], 0)).toEqual({ admitted: false, counts: [8] });
      // a request costing more than the limit is always refused
      expect((await state.increment([{ key: key('big'), limit: 5, expiresAtMs: exp }], 6)).admitted).toBe(false);
    });

    it('increment: a counter ends at its expiry and starts again from 0; later calls keep the first expiry', async () => {
      const k = key('exp');
      const first = Date.now() + 250;
      expect(await state.increment([{ key: k, limit: 2, expiresAtMs: first }], 2)).toEqual({
        admitted: true,
        counts: [2],
      });
      // a later call with a far expiry neither extends the window nor passes the limit
      expect((await state.increment([{ key: k, limit: 2, expiresAtMs: Date.now() + 60_000 }], 1)).admitted).toBe(false);
      await sleep(first - Date.now() + 80);
      expect(await state.increment([{ key: k, limit: 2, expiresAtMs: Date.now() + 60_000 }], 1)).toEqual({
        admitted: true,
        counts: [1],
      });
    });

    it('delete ends a counter too (a failure count reset), and leaves other keys alone', async () => {
      const k = key('reset');
      const other = key('other');
      const spec = (kk: string) => [{ key: kk, limit: 10, expiresAtMs: Date.now() + 60_000 }];
      await state.increment(spec(k), 4);
      await state.increment(spec(other), 4);
      await state.delete(k);
      expect((await state.increment(spec(k), 1)).counts).toEqual([1]);
      expect((await state.increment(spec(other), 1)).counts).toEqual([5]);
    });

    it('increment: refuses nonsense', async () => {
      const spec = [{ key: key('bad'), limit: 1, expiresAtMs: Date.now() + 1000 }];
      await expect(state.increment(spec, -1)).rejects.toThrow(/invalid increment/);
      await expect(state.increment(spec, 1.5)).rejects.toThrow(/invalid increment/);
      await expect(state.increment([], 1)).rejects.toThrow(/invalid increment/);
    });

    it('keeps keys apart', async () => {
      const a = key('a');
      const b = key('b');
      expect((await state.consume(req(a, 'gcra', 1, 60_000))).allowed).toBe(true);
      expect((await state.consume(req(a, 'gcra', 1, 60_000))).allowed).toBe(false);
      expect((await state.consume(req(b, 'gcra', 1, 60_000))).allowed).toBe(true);
    });
  });
}
