/**
 * The attack detection engine's own time per request, in process (issue 7 asks for microseconds on benign and attack
 * inputs): the bench's 1 KB JSON order, the same order carrying an injection, and every line of the labelled corpus.
 */
import { evaluate, loadCorpus, toInspectRequest } from '../scripts/eval-corpus.js';
import { DetectionEngine } from '../src/detect/engine.js';
import type { InspectRequest } from '../src/detect/types.js';

export interface EngineTimes {
  benignOrderUs: number;
  /** The same with JSON bodies read by JSON.parse (the reader json-values.ts stands in for), in alternating rounds. */
  benignOrderJsonParseUs: number;
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
    // As the policy hands bodies over: the bytes read from the socket.
    body: Buffer.from(orderJson),
  };
  const attack: InspectRequest = {
    ...order,
    body: Buffer.from(orderJson.replace('"SPRING-2026"', '"x\' UNION SELECT card_number, cvv FROM payments--"')),
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
  const bytes = (q: InspectRequest): InspectRequest => (q.body === undefined ? q : { ...q, body: Buffer.from(q.body) });
  const benign = lines.filter((l) => l.label === 'benign').map((l) => bytes(toInspectRequest(l)));
  const attacks = lines.filter((l) => l.label !== 'benign').map((l) => bytes(toInspectRequest(l)));
  time(engine, [order, attack], 2000, 1);
  // The two JSON readers side by side: alternating rounds, so a slower stretch of the host falls on both.
  const parse = new DetectionEngine({ jsonReader: 'javascript' });
  time(parse, [order], 2000, 1);
  const wasmRounds: number[] = [];
  const parseRounds: number[] = [];
  for (let r = 0; r < 9; r++) {
    wasmRounds.push(time(engine, [order], 1000, 1));
    parseRounds.push(time(parse, [order], 1000, 1));
  }
  const median = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1] as number;
  return {
    benignOrderUs: median(wasmRounds),
    benignOrderJsonParseUs: median(parseRounds),
    attackOrderUs: time(engine, [attack], 3000),
    corpusBenignUs: time(engine, benign, 3),
    corpusAttackUs: time(engine, attacks, 3),
    corpusLines: { benign: benign.length, attacks: attacks.length },
  };
}
