/**
 * The attack detection engine's own time per request, in process (issue 7 asks for microseconds on benign and attack
 * inputs): the bench's 1 KB JSON order, the same order carrying an injection, and every line of the labelled corpus.
 */
import { evaluate, loadCorpus, toInspectRequest } from '../scripts/eval-corpus.js';
import { DetectionEngine } from '../src/detect/engine.js';
import type { InspectRequest } from '../src/detect/types.js';

export interface EngineTimes {
  benignOrderUs: number;
  attackOrderUs: number;
  corpusBenignUs: number;
  corpusAttackUs: number;
  corpusLines: { benign: number; attacks: number };
}

const HEADERS = {
  'content-type': 'application/json',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  accept: 'application/json',
  cookie: 'session=5f2b8c0e9a7d4e31b6c2; theme=dark',
  referer: 'https://shop.example.com/checkout',
};

/** Median of `rounds` timings of `n` inspections of each request, in µs per request. */
function time(engine: DetectionEngine, reqs: readonly InspectRequest[], n: number, rounds = 7): number {
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) for (const q of reqs) engine.inspect(q);
    per.push(Number(process.hrtime.bigint() - t0) / 1000 / (n * reqs.length));
  }
  per.sort((a, b) => a - b);
  return per[Math.floor(per.length / 2)] as number;
}

/** The bench's order as the engine sees it, benign and carrying an injection (engine-instructions.ts reads them too). */
export function orderRequests(orderJson: string): { order: InspectRequest; attack: InspectRequest } {
  const order: InspectRequest = {
    method: 'POST',
    path: '/orders',
    query: 'lang=en',
    headers: HEADERS,
    body: orderJson,
  };
  const attack: InspectRequest = {
    ...order,
    body: orderJson.replace('"SPRING-2026"', '"x\' UNION SELECT card_number, cvv FROM payments--"'),
  };
  return { order, attack };
}

export function engineTimes(orderJson: string): EngineTimes {
  const engine = new DetectionEngine();
  const { order, attack } = orderRequests(orderJson);
  if (engine.inspect(order).attack || !engine.inspect(attack).attack) throw new Error('engine answers unexpectedly');
  const lines = loadCorpus();
  // The corpus evaluation once (warms every detector), then each side timed on its own.
  evaluate(lines, (q) => engine.inspect(q));
  const benign = lines.filter((l) => l.label === 'benign').map(toInspectRequest);
  const attacks = lines.filter((l) => l.label !== 'benign').map(toInspectRequest);
  time(engine, [order, attack], 2000, 1);
  return {
    benignOrderUs: time(engine, [order], 3000),
    attackOrderUs: time(engine, [attack], 3000),
    corpusBenignUs: time(engine, benign, 3),
    corpusAttackUs: time(engine, attacks, 3),
    corpusLines: { benign: benign.length, attacks: attacks.length },
  };
}
