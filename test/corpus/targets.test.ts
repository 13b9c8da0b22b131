import { describe, expect, it } from 'vitest';
import { evaluate, loadCorpus, TARGETS, targetFailures } from '../../scripts/eval-corpus.js';
import { inspectRequest } from '../../src/detect/engine.js';

/**
 * The targets on the labelled corpus, with the real engine at its default threshold: >= 97% recall per
 * attack class, <= 0.5% false positives over every benign line (hard.jsonl included). A regression guard: the
 * engine was tuned on these lines, so they do not measure how it generalises (see test/corpus/README.md).
 */
describe('detection targets on the labelled corpus', () => {
  it('meets recall per class and the false-positive rate at the default threshold', () => {
    const r = evaluate(loadCorpus(), (req) => inspectRequest(req));
    expect(targetFailures(r, TARGETS, 'total')).toEqual([]);
    expect(r.benign.count).toBeGreaterThanOrEqual(1000);
    expect(Object.values(r.classes).reduce((n, c) => n + c.count, 0)).toBeGreaterThanOrEqual(1000);
  });
});
