import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type CircuitBreakerOptions, RollingWindow } from './breaker.js';

const opts: CircuitBreakerOptions = {
  windowMs: 10_000,
  minRequests: 10,
  failureRatio: 0.5,
  openMs: 5_000,
  halfOpenRequests: 2,
};

function setup(o: Partial<CircuitBreakerOptions> = {}) {
  const clock = { t: 1_000_000 };
  const breaker = new CircuitBreaker({ ...opts, ...o }, () => clock.t);
  return { clock, breaker };
}

function feed(b: CircuitBreaker, ok: number, failed: number): void {
  for (let i = 0; i < ok; i++) b.record(true);
  for (let i = 0; i < failed; i++) b.record(false);
}

describe('CircuitBreaker', () => {
  it('stays closed below minRequests even at 100% failures', () => {
    const { breaker } = setup();
    feed(breaker, 0, 9);
    expect(breaker.state).toBe('closed');
    expect(breaker.allow()).toBe(true);
  });

  it('stays closed when the failure ratio is below the threshold', () => {
    const { breaker } = setup();
    feed(breaker, 6, 4);
    expect(breaker.state).toBe('closed');
  });

  it('opens at minRequests with ratio >= failureRatio, and rejects while open', () => {
    const { breaker } = setup();
    feed(breaker, 5, 4);
    expect(breaker.state).toBe('closed');
    breaker.record(false); // 5/10 = 0.5
    expect(breaker.state).toBe('open');
    expect(breaker.allow()).toBe(false);
  });

  it('forgets failures that slid out of the window', () => {
    const { clock, breaker } = setup();
    feed(breaker, 0, 9);
    clock.t += 11_000;
    feed(breaker, 1, 0);
    expect(breaker.state).toBe('closed');
    // Only one request in the window now; 9 more failures are needed to reach minRequests.
    feed(breaker, 0, 8);
    expect(breaker.state).toBe('closed');
    breaker.record(false);
    expect(breaker.state).toBe('open');
  });

  it('counts requests spread over the window', () => {
    const { clock, breaker } = setup();
    for (let i = 0; i < 10; i++) {
      breaker.record(false);
      clock.t += 900;
    }
    expect(breaker.state).toBe('open');
  });

  it('goes half-open after openMs and admits only halfOpenRequests trials at once', () => {
    const { clock, breaker } = setup();
    feed(breaker, 0, 10);
    clock.t += 4_999;
    expect(breaker.allow()).toBe(false);
    clock.t += 1;
    expect(breaker.state).toBe('half-open');
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(false);
    breaker.record(true);
    // One trial finished: a slot frees up.
    expect(breaker.state).toBe('half-open');
    expect(breaker.allow()).toBe(true);
  });

  it('closes after halfOpenRequests successes with a fresh window', () => {
    const { clock, breaker } = setup();
    feed(breaker, 0, 10);
    clock.t += 5_000;
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(true);
    breaker.record(true);
    breaker.record(true);
    expect(breaker.state).toBe('closed');
    expect(breaker.allow()).toBe(true);
    // The 10 failures that opened it were discarded: 9 new failures are not enough.
    feed(breaker, 0, 9);
    expect(breaker.state).toBe('closed');
  });

  it('re-opens on any failure in half-open, for another full openMs', () => {
    const { clock, breaker } = setup();
    feed(breaker, 0, 10);
    clock.t += 5_000;
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(true);
    breaker.record(true);
    breaker.record(false);
    expect(breaker.state).toBe('open');
    expect(breaker.allow()).toBe(false);
    clock.t += 4_999;
    expect(breaker.allow()).toBe(false);
    clock.t += 1;
    expect(breaker.allow()).toBe(true);
  });

  it('ignores outcomes reported while open', () => {
    const { clock, breaker } = setup();
    feed(breaker, 0, 10);
    feed(breaker, 50, 0);
    expect(breaker.state).toBe('open');
    clock.t += 5_000;
    expect(breaker.state).toBe('half-open');
  });
});

describe('RollingWindow', () => {
  it('sums per series and drops buckets older than the window', () => {
    const clock = { t: 0 };
    const w = new RollingWindow(1_000, 2, () => clock.t);
    w.add(0, 3);
    w.add(1);
    clock.t = 500;
    w.add(0);
    expect([w.sum(0), w.sum(1)]).toEqual([4, 1]);
    clock.t = 1_050; // bucket [0, 100) has left the window, bucket [500, 600) has not
    expect([w.sum(0), w.sum(1)]).toEqual([1, 0]);
    clock.t = 1_600;
    expect(w.sum(0)).toBe(0);
    w.add(0);
    w.reset();
    expect(w.sum(0)).toBe(0);
  });
});
