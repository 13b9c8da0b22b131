import { describe, expect, it } from 'vitest';
import { maskingHooks } from '../../../bench/redact-time.js';
import { DIGITS, many, pick, type R, RICH, rng, value } from '../../../test/redact-values.js';
import { DETECTORS, type Detector, SECRET_DETECTORS } from './detectors.js';
import { redactJsonText, wasmMemory } from './json-text.js';

/**
 * json-scan.as.ts (WebAssembly: grammar, gates, whole-value masks, the answer's assembly) against splice, the
 * JavaScript reader it stands in for: the same answer and the same findings in the same order, on generated
 * documents, on documents with one byte changed (mostly not JSON any more), and at the edges of its memory layout.
 */

const ODD_STRINGS = ['Zoë <zoe@example.de> 🎉', 'tab\t"q" \\ 536-90-4399', '\u2028 +1 415 555 2671', '', 'x'];
const NUMBERS = ['0', '-1', '3.5', '880001', '1717171717171', '4111111111111111', '4.111111111111111e15', '1e21'];
const KEYS = ['id', 'email', 'card', '0', '12', '0123', '4294967295', 'é', 'k"q', 'a b', 'A_1'];

/**
 * Phone numbers as countries write them (no "+"), dates and times, each sometimes changed by a character: the shapes
 * the phone pattern's other alternatives meet, and that phoneMayMatch rules out.
 */
function nationalLike(r: R): string {
  const d = (n: number) => many(r, DIGITS, n);
  const forms = [
    () => `(${d(3)})${pick(r, ' ')}${d(3)}${pick(r, ' .-')}${d(4)}`,
    () => `${d(3)}${pick(r, '.-')}${d(3)}${pick(r, '.-')}${d(4)}`,
    () => `0${d(1 + r(5))}${Array.from({ length: 1 + r(4) }, () => `${pick(r, ' .-:')}${d(1 + r(5))}`).join('')}`,
    () => `${d(4)}-${d(2)}-${d(2)}${pick(r, 'T ')}${d(2)}:${d(2)}:${d(2)}${pick(r, 'Z.+')}${d(r(4))}`,
    () => `${many(r, 'ab+_ ', 1)}0${d(1 + r(4))}-${d(2 + r(3))}.${d(2 + r(3))}`,
  ];
  let v = (forms[r(forms.length)] as () => string)();
  if (r(4) === 0) {
    const at = r(v.length + 1);
    v = v.slice(0, at) + pick(r, `${DIGITS} .-()+x`) + v.slice(at + r(2));
  }
  return v;
}

function doc(r: R, depth: number): string {
  const k = r(depth > 4 ? 7 : 11);
  if (k <= 1) return JSON.stringify(value(r));
  if (k <= 3) return JSON.stringify(r(2) ? value(r) : nationalLike(r));
  if (k === 4)
    return JSON.stringify(r(4) === 0 ? (ODD_STRINGS[r(ODD_STRINGS.length)] as string) : many(r, RICH, r(30)));
  if (k === 5) return NUMBERS[r(NUMBERS.length)] as string;
  if (k === 6) return ['null', 'true', 'false'][r(3)] as string;
  const ws = () => (r(4) === 0 ? pick(r, ' \n\t\r') : '');
  if (k <= 8) return `[${ws()}${Array.from({ length: r(5) }, () => doc(r, depth + 1)).join(`,${ws()}`)}${ws()}]`;
  const members = Array.from({ length: r(6) }, () => {
    const key = r(3) === 0 ? value(r) : (KEYS[r(KEYS.length)] as string);
    // Keys sometimes escaped where they need not be (an index spelled "\u0030" is still an index).
    const text =
      r(6) === 0
        ? JSON.stringify(key).replace(/[0-9a-z]/, (c) => `\\u00${c.charCodeAt(0).toString(16)}`)
        : JSON.stringify(key);
    return `${ws()}${text}${ws()}:${ws()}${doc(r, depth + 1)}`;
  });
  return `{${members.join(',')}${ws()}}`;
}

/** Both readers on one body: answers (as text, null, or undefined for the walk) and findings. */
function both(body: Buffer, detectors: Detector[], hashed: Detector[]) {
  const run = (wasm: boolean) => {
    const log: string[] = [];
    let out: string | null | undefined;
    let threw: string | null = null;
    try {
      const r = redactJsonText(
        body,
        maskingHooks(
          detectors,
          wasm,
          (t, n) => {
            for (let i = 0; i < n; i++) log.push(t);
          },
          hashed,
        ),
      );
      out = r === undefined ? undefined : r === null ? null : r.toString('latin1');
    } catch (e) {
      threw = String(e);
    }
    // The walk decides (undefined): findings before the point where a reader gave up are dropped with its answer
    // (the walk counts afresh), and where that point is differs (WebAssembly meets grammar errors first).
    // Findings as the policy's tally holds them: a count per type, types in the order of their first finding.
    const tally = new Map<string, number>();
    if (out !== undefined) for (const t of log) tally.set(t, (tally.get(t) ?? 0) + 1);
    return { out, threw, tally: [...tally] };
  };
  return { wasm: run(true), splice: run(false) };
}

const CONFIGS: [Detector[], Detector[]][] = [
  [[...DETECTORS], []],
  [[...DETECTORS], ['email', 'us_ssn']],
  [['card', 'us_ssn', 'phone', 'email'], []],
  [['card', 'phone'], ['card']],
  [['email', 'iban', 'uk_nino', 'jwt', 'aws_key'], []],
  [['us_ssn'], []],
];

describe('redact: the WebAssembly reader against splice', () => {
  it('numbers the detectors as the module does (its bits and indexes are DETECTORS order)', () => {
    const at = (d: Detector) => DETECTORS.indexOf(d);
    expect(['email', 'iban', 'card', 'us_ssn', 'uk_nino', 'phone'].map((d) => at(d as Detector))).toEqual([
      8, 9, 10, 11, 12, 13,
    ]);
    // Secrets are bits 0-7 (SECRET_BITS).
    for (const d of DETECTORS.slice(0, 8)) expect(SECRET_DETECTORS.has(d)).toBe(true);
  });

  it.each(CONFIGS.map((c, i) => [i, ...c] as const))('config %i: same answers and findings', (i, detectors, hashed) => {
    const r = rng(31000 + i);
    let changed = 0;
    for (let n = 0; n < 1500; n++) {
      const text = doc(r, 0);
      const body = Buffer.from(text);
      const { wasm, splice } = both(body, detectors, hashed);
      expect({ text, ...wasm }).toEqual({ text, ...splice });
      if (typeof wasm.out === 'string') changed++;
      // The same text at an odd address (a slice of a socket read).
      const store = Buffer.alloc(body.length + 1);
      body.copy(store, 1);
      expect({ text, ...both(store.subarray(1), detectors, hashed).wasm }).toEqual({ text, ...splice });
    }
    expect(changed).toBeGreaterThan(50);
    // One value each, many of them: the gates and whole-value decisions meet every shape the generator makes.
    let phones = 0;
    for (let n = 0; n < 8000; n++) {
      const text = `["${n % 2 ? value(r) : nationalLike(r)}"]`;
      const { wasm, splice } = both(Buffer.from(text), detectors, hashed);
      expect({ text, ...wasm }).toEqual({ text, ...splice });
      if (n % 2 === 0 && wasm.tally.some(([t]) => t === 'phone')) phones++;
    }
    // National numbers were found, by the pattern's alternatives without "+", where phone is on.
    if (detectors.includes('phone')) expect(phones).toBeGreaterThan(500);
  });

  it('numbers written with blanks and dashes (numberGates), up to and past 32 characters: the same answers', () => {
    const r = rng(4242);
    let found = 0;
    for (let n = 0; n < 6000; n++) {
      // Digits with " " and "-" between them (doubled dashes too), sometimes after a "+", sometimes with another
      // character in them: what numberGates decides alone, and the texts it leaves to gatesOf.
      let v = `${r(3) === 0 ? '+' : ''}${many(r, `${DIGITS}${DIGITS}${DIGITS} -`, 6 + r(30))}`;
      if (r(4) === 0) {
        const at = r(v.length + 1);
        v = v.slice(0, at) + pick(r, '+.()xAK_@') + v.slice(at);
      }
      const text = JSON.stringify([v]);
      for (const [detectors, hashed] of CONFIGS) {
        const { wasm, splice } = both(Buffer.from(text), detectors, hashed);
        expect({ text, ...wasm }).toEqual({ text, ...splice });
        if (wasm.tally.length > 0) found++;
      }
    }
    expect(found).toBeGreaterThan(1000);
  });

  it('text with one byte changed: the same answer, or the walk for both', () => {
    const r = rng(777);
    let fallbacks = 0;
    for (let n = 0; n < 4000; n++) {
      const text = doc(r, 0);
      const at = r(text.length + 1);
      const op = r(3);
      const byte = pick(r, '{}[],:" \\0123456789e-.tfnu\u0001\u00e9');
      const changed =
        op === 0
          ? text.slice(0, at) + text.slice(at + 1)
          : op === 1
            ? text.slice(0, at) + byte + text.slice(at)
            : text.slice(0, at) + byte + text.slice(at + 1);
      const { wasm, splice } = both(Buffer.from(changed), [...DETECTORS], []);
      expect({ changed, ...wasm }).toEqual({ changed, ...splice });
      if (wasm.out === undefined) fallbacks++;
    }
    expect(fallbacks).toBeGreaterThan(1000);
  });

  it('dates and times (eight digits open the phone gate) are decided without the expressions', () => {
    const h = maskingHooks(DETECTORS, true, () => {});
    let calls = 0;
    const string = h.string;
    const counted = {
      ...h,
      string: (...a: Parameters<typeof string>) => {
        calls++;
        return string(...a);
      },
    };
    // ISO 8601 with a "T" (a date with a blank before the time, "01-15 10", is a candidate the pattern reads).
    const dates = ['2024-01-15T10:00:00Z', '2024-01-15T10:00:00.123+01:00', '20240115T100000Z', 'at 10:00:00.250'];
    const body = Buffer.from(JSON.stringify({ at: dates, n: 'x' }));
    expect(redactJsonText(body, counted)).toBeNull();
    expect(calls).toBe(0);
    // National numbers still go to them, and are masked.
    const phones = Buffer.from(JSON.stringify(['call (415) 555-2671', '020 7946 0958', 'fax 415.555.2671']));
    expect(redactJsonText(phones, counted)?.toString()).toBe('["call ********71","*********58","fax ********71"]');
    expect(calls).toBe(3);
  });

  it('keeps neither the text nor the answer in its memory after a call, nor after a block', () => {
    const name = 'Quentin Xylophone-Marchetti';
    const body = Buffer.from(JSON.stringify({ name, email: 'quentin.x@example.com', card: '4111 1111 1111 1111' }));
    const out = redactJsonText(
      body,
      maskingHooks(DETECTORS, true, () => {}),
    );
    expect(out?.toString()).toContain(name);
    const memory = Buffer.from(wasmMemory());
    for (const s of [name, 'quentin.x@example.com', '4111 1111 1111 1111']) expect(memory.indexOf(s)).toBe(-1);
    // A hook that throws (a block) mid-way: the text is wiped all the same.
    const blocking = maskingHooks(DETECTORS, true, () => {});
    const thrower = {
      ...blocking,
      string: () => {
        throw new Error('blocked');
      },
    };
    const dated = Buffer.from(JSON.stringify({ name, at: '2024-01-15 10:00:00', mail: 'q.x@example.com, backup' }));
    expect(() => redactJsonText(dated, thrower)).toThrow('blocked');
    expect(Buffer.from(wasmMemory()).indexOf(name)).toBe(-1);
    // An answer whose last piece is JavaScript's replacement (a whole top-level string it decoded): the module's
    // 16-byte copies write past the answer's end, and whatever lands there is wiped too. Each padding moves where.
    for (let k = 0; k < 16; k++) {
      const text = Buffer.from(JSON.stringify(`Quentin${' '.repeat(k)} Xylophone é 4111 1111 1111 1111`));
      const answer = redactJsonText(
        text,
        maskingHooks(DETECTORS, true, () => {}),
      );
      expect(answer?.toString()).toContain('1111"');
      expect(Buffer.from(wasmMemory()).indexOf('Quentin')).toBe(-1);
    }
  });

  it('writes the answer over the text when asked to and it fits, else into a new buffer', () => {
    const h = maskingHooks(DETECTORS, true, () => {});
    const shorter = Buffer.from('{"card":"4111 1111 1111 1111","n":1}');
    const copy = Buffer.from(shorter);
    const out = redactJsonText(shorter, h, true);
    expect(out?.toString()).toBe('{"card":"************1111","n":1}');
    expect(out?.toString()).toBe(redactJsonText(copy, h)?.toString());
    const same = (a: Buffer | null | undefined, b: Buffer) => a?.buffer === b.buffer && a.byteOffset === b.byteOffset;
    expect(same(out, shorter)).toBe(true);
    // "a***@xy.io" is longer than "ab@xy.io": a new buffer, and the text is left as it was.
    const longer = Buffer.from('["ab@xy.io"]');
    const grown = redactJsonText(longer, h, true);
    expect(grown?.toString()).toBe('["a***@xy.io"]');
    expect(same(grown, longer)).toBe(false);
    expect(longer.toString()).toBe('["ab@xy.io"]');
  });

  it('nesting: the walk decides from the depth splice gives it', () => {
    for (const depth of [126, 127, 128, 129, 400]) {
      for (const inner of ['"alice@example.com"', '[]', '{}']) {
        const body = Buffer.from(`${'['.repeat(depth)}${inner}${']'.repeat(depth)}`);
        const { wasm, splice } = both(body, [...DETECTORS], []);
        expect({ depth, inner, ...wasm }).toEqual({ depth, inner, ...splice });
      }
    }
  });

  it('more tokens to report than its room: splice reads the text, with the same answer', () => {
    const body = Buffer.from(
      `[${Array.from({ length: 70000 }, (_, i) => (i % 2 ? '4111111111111111' : '"536-90-4399"')).join(',')}]`,
    );
    const { wasm, splice } = both(body, [...DETECTORS], []);
    expect(wasm.out).toBe(splice.out);
    expect(wasm.tally).toEqual([
      ['us_ssn', 35000],
      ['card', 35000],
    ]);
    expect(wasm.out?.slice(0, 39)).toBe('["***-**-4399","************1111","***-');
  });

  it('the same answers one after another, a long text between short ones (its memory reused and grown)', () => {
    const short = Buffer.from('{"email":"alice@example.com","n":"x"}');
    const long = Buffer.from(JSON.stringify({ notes: 'x'.repeat(3_000_000), card: '4111 1111 1111 1111' }));
    for (const body of [short, long, short, long, short]) {
      const { wasm, splice } = both(body, [...DETECTORS], []);
      expect(wasm).toEqual(splice);
    }
    expect(both(short, [...DETECTORS], []).wasm.out).toBe('{"email":"a***@example.com","n":"x"}');
  });
});
