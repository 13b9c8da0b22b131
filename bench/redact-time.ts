/**
 * Redaction's own time per answer, in process (issue 9's 10 KB answer, bench/large-json.ts): the policy's reader of
 * JSON text (WebAssembly, json-scan.as.ts) side by side with the JavaScript reader it stands in for (splice), which
 * still reads what the first cannot (member names to redact, `remove`). Both mask as the default config does.
 */
import {
  compileScanner,
  DETECTORS,
  type Detector,
  detectorBit,
  type Finding,
  mask,
} from '../src/policies/redact/detectors.js';
import { type JsonTextHooks, redactJsonText } from '../src/policies/redact/json-text.js';
import { LARGE_JSON } from './large-json.js';

export interface RedactTimes {
  wasmUs: number;
  javascriptUs: number;
  findings: number;
}

/**
 * Hooks as the policy makes them for masking (its default config): `wasm` false sends every text to the JavaScript
 * reader; the detectors in `hashed` get a stand-in for a hash (made, as the real one, of characters a JSON string
 * holds as they are) rather than the mask. `found` hears every finding, one type at a time.
 */
export function maskingHooks(
  detectors: readonly Detector[],
  wasm: boolean,
  found: (type: string, n: number) => void,
  hashed: readonly Detector[] = [],
): JsonTextHooks {
  const scanner = compileScanner(detectors);
  const onFinding = (f: Finding) => {
    found(f.type, 1);
    return hashed.includes(f.type) ? `[${f.type}:h${f.value.length}]` : mask(f);
  };
  return {
    scanner,
    cards: detectors.includes('card'),
    // Nothing here returns DROP: the JavaScript reader is taken only because this says it might.
    drops: !wasm,
    maskedBits: detectors.filter((d) => !hashed.includes(d)).reduce((m, d) => m | detectorBit(d), 0),
    found,
    names: new Set(),
    nameLengths: new Set(),
    string: (s, open, b, at) =>
      open < 0
        ? scanner.replace(s, onFinding)
        : b === undefined
          ? scanner.replaceOpen(s, open, onFinding)
          : scanner.replaceJson(s, open, b, at ?? 0, onFinding),
    field: () => '[REDACTED:field]',
  };
}

/** Median over rounds of µs per redaction of the answer, the two readers alternating round by round. */
export function redactTimes(rounds = 9, n = 2000): RedactTimes {
  const body = Buffer.from(LARGE_JSON);
  let findings = 0;
  const readers = [true, false].map((wasm) => {
    const h = maskingHooks(DETECTORS, wasm, (_, k) => {
      findings += k;
    });
    return { run: () => redactJsonText(body, h), times: [] as number[] };
  });
  const [a, b] = readers.map((r) => r.run()?.toString());
  if (a === undefined || a !== b) throw new Error('the two readers disagree on the bench answer');
  // Both warmed up (compiled by the JIT, the module tiered up) before the first timed round.
  for (const reader of readers) for (let i = 0; i < n; i++) reader.run();
  for (let r = 0; r < rounds; r++) {
    for (const reader of readers) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) reader.run();
      reader.times.push(Number(process.hrtime.bigint() - t0) / 1000 / n);
    }
  }
  const median = (v: number[]) => v.sort((x, y) => x - y)[Math.floor(v.length / 2)] as number;
  findings = 0;
  readers[0]?.run();
  return {
    wasmUs: median(readers[0]?.times ?? []),
    javascriptUs: median(readers[1]?.times ?? []),
    findings,
  };
}
