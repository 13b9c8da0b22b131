import { describe, expect, it } from 'vitest';
import { MemoryState } from './memory.js';
import { runStateSuite } from './state.suite.js';

runStateSuite('memory', async () => new MemoryState());

describe('MemoryState (fake clock)', () => {
  const clocked = () => {
    const clock = { t: 1_000_000 };
    return { clock, s: new MemoryState({ now: () => clock.t, sweepMs: 0 }) };
  };

  it('gcra: exact values with a fractional emission interval', () => {
    const { clock, s } = clocked();
    const r = () => s.consumeSync({ key: 'k', algorithm: 'gcra', limit: 3, windowMs: 1000 });
    expect([r(), r(), r()].map((x) => x.remaining)).toEqual([2, 1, 0]);
    expect(r()).toEqual({ allowed: false, remaining: 0, retryAfterMs: 334, resetMs: 1000 });
    clock.t += 333;
    expect(r().allowed).toBe(false);
    clock.t += 1;
    expect(r()).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('sliding window: exact retryAfter and reset', () => {
    const { clock, s } = clocked();
    const r = (cost = 1) => s.consumeSync({ key: 'k', algorithm: 'sliding-window', limit: 3, windowMs: 1000, cost });
    expect(r(2)).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0, resetMs: 1000 });
    clock.t += 400;
    expect(r()).toEqual({ allowed: true, remaining: 0, retryAfterMs: 600, resetMs: 1000 });
    clock.t += 100;
    expect(r()).toEqual({ allowed: false, remaining: 0, retryAfterMs: 500, resetMs: 900 });
    clock.t += 500;
    expect(r(2)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 400, resetMs: 1000 });
  });

  it('keeps at most maxKeys counters per algorithm under a flood of new keys, forgetting the oldest', () => {
    const s = new MemoryState({ now: () => 1_000_000, sweepMs: 0, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) {
      s.consumeSync({ key: `g${i}`, algorithm: 'gcra', limit: 1, windowMs: 60_000 });
      s.consumeSync({ key: `s${i}`, algorithm: 'sliding-window', limit: 1, windowMs: 60_000 });
    }
    expect(s.size()).toMatchObject({ gcra: 100, sliding: 100 });
    // The newest keys are still counted exactly; a forgotten one starts afresh (admits, never wrongly refuses).
    expect(s.consumeSync({ key: 'g999', algorithm: 'gcra', limit: 1, windowMs: 60_000 }).allowed).toBe(false);
    expect(s.consumeSync({ key: 's999', algorithm: 'sliding-window', limit: 1, windowMs: 60_000 }).allowed).toBe(false);
    expect(s.consumeSync({ key: 'g0', algorithm: 'gcra', limit: 1, windowMs: 60_000 }).allowed).toBe(true);
  });

  it('sweeps expired entries, so memory is bounded by live keys', () => {
    const { clock, s } = clocked();
    for (let i = 0; i < 1000; i++) {
      s.consumeSync({ key: `g${i}`, algorithm: 'gcra', limit: 10, windowMs: 1000 });
      s.consumeSync({ key: `w${i}`, algorithm: 'sliding-window', limit: 10, windowMs: 1000 });
      s.acquireSync(`c${i}`, 1, 1000);
      s.setSync(`v${i}`, 'x', 1000);
      s.incrementSync([{ key: `n${i}`, limit: 5, expiresAtMs: clock.t + 1000 }], 1);
    }
    const all = { gcra: 1000, sliding: 1000, slots: 1000, values: 1000, counters: 1000 };
    expect(s.size()).toEqual(all);
    clock.t += 50; // a GCRA key lives one emission interval (100 ms) per unit
    s.sweep();
    expect(s.size()).toEqual(all);
    clock.t += 1001;
    s.sweep();
    expect(s.size()).toEqual({ gcra: 0, sliding: 0, slots: 0, values: 0, counters: 0 });
  });

  it('increment: keeps at most maxKeys counters, forgetting the oldest', () => {
    const s = new MemoryState({ now: () => 1_000_000, sweepMs: 0, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) s.incrementSync([{ key: `n${i}`, limit: 1, expiresAtMs: 2_000_000 }], 1);
    expect(s.size().counters).toBe(100);
    expect(s.incrementSync([{ key: 'n999', limit: 1, expiresAtMs: 2_000_000 }], 1).admitted).toBe(false);
    expect(s.incrementSync([{ key: 'n0', limit: 1, expiresAtMs: 2_000_000 }], 1).admitted).toBe(true);
  });

  it('sliding log never holds more than `limit` entries', () => {
    const { clock, s } = clocked();
    for (let i = 0; i < 10_000; i++) {
      clock.t += 1;
      s.consumeSync({ key: 'k', algorithm: 'sliding-window', limit: 50, windowMs: 1_000_000 });
    }
    expect(s.consumeSync({ key: 'k', algorithm: 'sliding-window', limit: 50, windowMs: 1_000_000 }).allowed).toBe(
      false,
    );
  });

  it('rejects nonsense requests rather than admitting everything', () => {
    const { s } = clocked();
    expect(() => s.consumeSync({ key: 'k', algorithm: 'gcra', limit: 0, windowMs: 1000 })).toThrow(RangeError);
    expect(() => s.consumeSync({ key: 'k', algorithm: 'gcra', limit: 1, windowMs: Number.NaN })).toThrow(RangeError);
  });
});
