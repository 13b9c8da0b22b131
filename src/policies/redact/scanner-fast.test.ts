import { describe, expect, it } from 'vitest';
import { DIGITS, many, pick, rng, value } from '../../../test/redact-values.js';
import { compileScanner, DECODE, DETECTORS, type Detector, type Finding, mask } from './detectors.js';

/**
 * The scanner's fast paths against their references, on generated values: gatesOfJsonString (bytes) against the
 * gates replace() takes (text), replaceJson's whole-value shortcuts against the regular expression (replaceOpen),
 * and the masks against the two-pass keepLastDigits they replaced.
 */

const CONFIGS: Detector[][] = [
  [...DETECTORS],
  ['card', 'us_ssn', 'phone', 'email'],
  ['card', 'phone'],
  ['us_ssn'],
  ['phone'],
  ['email'],
  ['card'],
  ['phone', 'email'],
];

function collect(found: [Detector, number, number, string][]) {
  return (f: Finding) => {
    found.push([f.type, f.start, f.end, f.value]);
    return `<${f.type}>`;
  };
}

describe('scanner fast paths against their references', () => {
  it.each(CONFIGS.map((c, i) => [i, c] as const))('gates of JSON bytes = gates of the text (config %i)', (i, cfg) => {
    const s = compileScanner(cfg);
    const r = rng(7000 + i);
    let open = 0;
    for (let n = 0; n < 20000; n++) {
      const v = value(r);
      // At an even or an odd offset, read byte by byte and two bytes at a time (words).
      const pad = n % 2;
      const b = new Uint8Array(Buffer.from(`${' '.repeat(pad)}{"k":"${v}"}`));
      const words = new Uint16Array(b.buffer, 0, b.length >> 1);
      // The same bytes at an odd address (a slice of a socket read): the words start at its second byte.
      const oddStore = new Uint8Array(b.length + 2);
      oddStore.set(b, 1);
      const odd = oddStore.subarray(1, 1 + b.length);
      const oddWords = new Uint16Array(oddStore.buffer, 2, (b.length - 1) >> 1);
      const got = s.gatesOfJsonString(b, 6 + pad, b.length);
      expect(Math.floor(got / 32768)).toBe(b.length - 2);
      expect([v, got & 32767]).toEqual([v, s.gates(v)]);
      expect([v, s.gatesOfJsonString(b, 6 + pad, b.length, words)]).toEqual([v, got]);
      expect([v, s.gatesOfJsonString(odd, 6 + pad, b.length, oddWords, 1)]).toEqual([v, got]);
      // Cut before the closing quote: no string, either way.
      expect(s.gatesOfJsonString(b, 6 + pad, b.length - 2, words)).toBe(-1);
      expect(s.gatesOfJsonString(odd, 6 + pad, b.length - 2, oddWords, 1)).toBe(-1);
      if (got & 32767) open++;
    }
    expect(open).toBeGreaterThan(3000);
  });

  it('JSON bytes: the end, escapes and non-ASCII to decode, control characters refused', () => {
    const s = compileScanner([...DETECTORS]);
    const r = rng(42);
    for (let n = 0; n < 5000; n++) {
      const v = value(r);
      const at = r(v.length + 1);
      const odd = pick(r, '\u0001\t\n\u001f\\é');
      const json = `"${v.slice(0, at)}${odd === '\\' ? '\\"' : odd}${v.slice(at)}" `;
      const b = Buffer.from(json);
      const got = s.gatesOfJsonString(b, 1, b.length);
      if (odd < ' ') expect([json, got]).toEqual([json, -1]);
      else expect([json, got]).toEqual([json, (b.length - 2) * 32768 + DECODE]);
      // Cut before the closing quote: no string.
      expect(s.gatesOfJsonString(b, 1, b.length - 2)).toBe(-1);
    }
  });

  it.each(CONFIGS.map((c, i) => [i, c] as const))('whole-value shortcuts = the expression (config %i)', (i, cfg) => {
    const s = compileScanner(cfg);
    const r = rng(9000 + i);
    const types = new Map<string, number>();
    for (let n = 0; n < 20000; n++) {
      const v = value(r);
      const b = Buffer.from(`["${v}"]`);
      const open = s.gatesOfJsonString(b, 2, b.length) & 32767;
      if (open === 0) continue;
      const fast: [Detector, number, number, string][] = [];
      const slow: [Detector, number, number, string][] = [];
      const out = s.replaceJson(v, open, b, 2, collect(fast));
      expect({ v, out, fast }).toEqual({ v, out: s.replaceOpen(v, open, collect(slow)), fast: slow });
      for (const f of fast) if (f[1] === 0 && f[2] === v.length) types.set(f[0], (types.get(f[0]) ?? 0) + 1);
    }
    // The shapes were met, whole, many times over (where their detectors are on).
    for (const t of ['card', 'us_ssn', 'phone', 'email'] as const) {
      if (cfg.includes(t)) expect([t, types.get(t) ?? 0]).toEqual([t, expect.toSatisfy((x: number) => x > 300)]);
    }
  });

  it('card and phone masks = the two-pass mask', () => {
    /** keepLastDigits as it was: count the digits, then walk back over the last `keep`. */
    const reference = (v: string, keep: number): string => {
      let n = 0;
      for (const c of v) if (c >= '0' && c <= '9') n++;
      let from = v.length;
      let seen = 0;
      let sep = false;
      while (from > 0 && seen < keep) {
        const c = v[--from] as string;
        if (c >= '0' && c <= '9') seen++;
        else sep = true;
      }
      const tail = sep ? [...v.slice(from)].filter((c) => c >= '0' && c <= '9').join('') : v.slice(from);
      return '*'.repeat(Math.max(0, n - keep)) + tail;
    };
    const r = rng(5);
    for (let n = 0; n < 20000; n++) {
      const v = r(3) ? value(r) : many(r, `${DIGITS} -()+.`, r(90));
      expect([v, mask({ type: 'card', start: 0, end: v.length, value: v })]).toEqual([v, reference(v, 4)]);
      expect([v, mask({ type: 'phone', start: 0, end: v.length, value: v })]).toEqual([v, reference(v, 2)]);
    }
  });
});
