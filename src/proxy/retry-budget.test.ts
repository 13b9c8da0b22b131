import { describe, expect, it } from 'vitest';
import { RetryBudget } from './retry-budget.js';

function setup(ratio: number, minPerSecond: number, windowMs = 10_000) {
  const clock = { t: 1_000_000 };
  const budget = new RetryBudget({ ratio, minPerSecond, windowMs }, () => clock.t);
  return { clock, budget };
}

function drain(b: RetryBudget): number {
  let n = 0;
  while (b.tryRetry()) n++;
  return n;
}

describe('RetryBudget', () => {
  it('allows the per-second floor with no traffic at all', () => {
    const { budget } = setup(0.2, 1); // 1/s over 10 s = 10
    expect(drain(budget)).toBe(10);
  });

  it('allows ratio * requests when that exceeds the floor', () => {
    const { budget } = setup(0.2, 0);
    for (let i = 0; i < 100; i++) budget.onRequest();
    expect(drain(budget)).toBe(20);
  });

  it('uses the larger of floor and ratio', () => {
    const { budget } = setup(0.2, 1); // floor 10
    for (let i = 0; i < 30; i++) budget.onRequest(); // ratio gives 6
    expect(drain(budget)).toBe(10);
  });

  it('rounds fractional allowances down and is not cheated by float error', () => {
    const a = setup(0.2, 0);
    for (let i = 0; i < 9; i++) a.budget.onRequest(); // 1.8
    expect(drain(a.budget)).toBe(1);
    const b = setup(0.57, 0);
    for (let i = 0; i < 100; i++) b.budget.onRequest(); // 0.57 * 100 = 56.99999999999999
    expect(drain(b.budget)).toBe(57);
  });

  it('grows as more requests arrive after exhaustion', () => {
    const { budget } = setup(0.1, 0);
    for (let i = 0; i < 10; i++) budget.onRequest();
    expect(drain(budget)).toBe(1);
    for (let i = 0; i < 10; i++) budget.onRequest();
    expect(drain(budget)).toBe(1);
  });

  it('refills when old retries and requests leave the window', () => {
    const { clock, budget } = setup(0.5, 0, 1_000);
    for (let i = 0; i < 4; i++) budget.onRequest();
    expect(drain(budget)).toBe(2);
    clock.t += 1_100;
    // Old requests gone too: nothing to fund retries.
    expect(budget.tryRetry()).toBe(false);
    for (let i = 0; i < 4; i++) budget.onRequest();
    expect(drain(budget)).toBe(2);
  });

  it('denies everything with ratio 0 and no floor', () => {
    const { budget } = setup(0, 0);
    for (let i = 0; i < 1000; i++) budget.onRequest();
    expect(budget.tryRetry()).toBe(false);
  });
});
