import { describe, expect, it } from 'vitest';
import { Rng } from '../../scripts/corpus/util.js';
import { loadCorpus, toInspectRequest } from '../../scripts/eval-corpus.js';
import { F, rawFlags } from './detectors/common.js';
import { DetectionEngine } from './engine.js';
import { jsonValues, jsonValuesReady } from './json-values.js';
import { type RawValue, walkJson } from './parse.js';
import type { InspectRequest } from './types.js';

/** A seeded generator (the corpus's), so a failure repeats. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

const lines = loadCorpus();

/** Every string a corpus line carries: query values, JSON body strings, header values, the path. */
function corpusStrings(): string[] {
  const out = new Set<string>();
  const collect = (v: unknown) => {
    if (typeof v === 'string') out.add(v);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        out.add(k);
        collect(x);
      }
  };
  for (const l of lines) {
    const r = l.request;
    out.add(r.path);
    for (const pair of r.query.split('&')) {
      const v = pair.slice(pair.indexOf('=') + 1);
      try {
        out.add(decodeURIComponent(v.replaceAll('+', ' ')));
      } catch {
        out.add(v);
      }
    }
    for (const h of Object.values(r.headers)) if (typeof h === 'string') out.add(h);
    if (r.body !== undefined) {
      try {
        collect(JSON.parse(r.body));
      } catch {
        out.add(r.body);
      }
    }
  }
  return [...out];
}

const POOL = corpusStrings();
const PLAIN_VALUES = [
  'u_1001',
  'EUR',
  'BOOK-001',
  '62701',
  'a..b',
  'x--y',
  'a_b__c',
  'ls -la',
  'del\u007f',
  '9 lives',
  'Ünïcödé',
  'a@b.example',
  '3.14',
  '',
];
const KEYS = [
  'name',
  'Name',
  'url',
  'redirect_uri',
  'callback',
  'q',
  'email',
  'password',
  'filter',
  'where',
  'user.name',
  'a/b',
  'x~y',
  'ключ',
  '$ne',
  '$where',
  '__proto__',
  'constructor',
  'prototype',
  'a b',
  'k<script>',
  'snake__case',
  'x'.repeat(140),
  `UPPER_${'K'.repeat(130)}`,
];

/** JSON text for v with some characters written as escapes JSON.stringify would not use. */
function escaped(v: string, rand: () => number): string {
  let s = JSON.stringify(v);
  if (rand() < 0.3)
    s = s.replace(/[<>&'/a]/g, (c) =>
      rand() < 0.5 ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c === '/' ? '\\/' : c,
    );
  return s;
}

function randomDoc(rand: () => number, depth: number): string {
  const r = rand();
  const pick = <T>(a: readonly T[]) => a[Math.floor(rand() * a.length)] as T;
  if (depth > 0 && r < 0.35) {
    const n = Math.floor(rand() * 5);
    const items = Array.from(
      { length: n },
      () => `${pick(['', ' ', '\n  '])}${escaped(pick(KEYS), rand)}:${randomDoc(rand, depth - 1)}`,
    );
    return `{${items.join(',')}}`;
  }
  if (depth > 0 && r < 0.5) {
    const n = Math.floor(rand() * 4);
    return `[${Array.from({ length: n }, () => randomDoc(rand, depth - 1)).join(pick([',', ', ']))}]`;
  }
  if (r < 0.8) return escaped(pick(POOL), rand);
  if (r < 0.9) return escaped(pick(PLAIN_VALUES), rand);
  return pick(['1', '-0.5e3', 'true', 'false', 'null', '12345678901234']);
}

function request(body: Buffer, contentType = 'application/json'): InspectRequest {
  return { method: 'POST', path: '/api/items', query: '', headers: { 'content-type': contentType }, body };
}

const wasm = new DetectionEngine();
const js = new DetectionEngine({ jsonReader: 'javascript' });

describe.skipIf(!jsonValuesReady)('json-values (WebAssembly reader of JSON bodies)', () => {
  it('gives the labelled corpus the same reports as JSON.parse', () => {
    let json = 0;
    for (const l of lines) {
      const req = toInspectRequest(l);
      const b = req.body === undefined ? undefined : Buffer.from(req.body);
      const q = b === undefined ? req : { ...req, body: b };
      if (String(req.headers['content-type'] ?? '').includes('json')) json++;
      expect(wasm.inspect(q), l.id).toEqual(js.inspect(q));
    }
    expect(json).toBeGreaterThan(300);
  });

  it('gives 20,000 generated bodies with corpus payloads the same reports as JSON.parse', () => {
    const rand = rng(7);
    let attacks = 0;
    for (let k = 0; k < 20_000; k++) {
      const body = Buffer.from(randomDoc(rand, 4));
      const a = wasm.inspect(request(body));
      expect(a, body.toString()).toEqual(js.inspect(request(body)));
      if (a.findings.length) attacks++;
    }
    // The pool is mostly attacks: most bodies have findings, and many have none.
    expect(attacks).toBeGreaterThan(5_000);
    expect(attacks).toBeLessThan(19_000);
  });

  it('gives broken, cut and mutated bodies the same reports as JSON.parse', () => {
    const rand = rng(11);
    const bytes = [0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x20, 0x00, 0x0a, 0x7f, 0xc3, 0xff, 0x30, 0x2d];
    for (let k = 0; k < 8_000; k++) {
      const b = Buffer.from(randomDoc(rand, 3));
      let m: Buffer;
      const r = rand();
      const at = Math.floor(rand() * (b.length + 1));
      if (r < 0.3) m = b.subarray(0, at);
      else if (r < 0.6) m = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
      else
        m = Buffer.concat([
          b.subarray(0, at),
          Buffer.from([bytes[Math.floor(rand() * bytes.length)] as number]),
          b.subarray(at),
        ]);
      if (m.length === 0) continue;
      expect(wasm.inspect(request(m)), JSON.stringify(m.toString('latin1'))).toEqual(js.inspect(request(m)));
    }
  });

  it('reads edge cases as JSON.parse does', () => {
    const cases = [
      '"<script>alert(1)</script>"',
      '  {"a":"1 OR 1=1"}  ',
      '\ufeff{"a":"<svg onload=alert(1)>"}',
      '{"a":"x","a":"<svg onload=alert(1)>"}',
      '{"a":"<svg onload=alert(1)>","a":"x"}',
      '{"a":"\\q"}',
      '{"a":"\\ud800\\u003cscript\\u003e"}',
      '{"a":"\t"}',
      '{"a":1,}',
      '[1,2,]',
      '{"a" "b"}',
      '01',
      '{"a":tru}',
      '{"__proto__":{"isAdmin":true}}',
      '{"constructor":{"prototype":{"x":1}}}',
      '{"user":{"$ne":null}}',
      '{"$where":"sleep(100)"}',
      '{"x":"PROTOTYPE"}',
      '{"x":"__proto__"}',
      '{"k\\u0024ne":1}',
      `${'['.repeat(40)}"; cat /etc/passwd"${']'.repeat(40)}`,
      `${'['.repeat(200)}"; cat /etc/passwd"${']'.repeat(200)}`,
      JSON.stringify({ items: Array.from({ length: 1200 }, (_, i) => `note ${i}; ok`) }),
      JSON.stringify({ items: Array.from({ length: 1200 }, (_, i) => `n${i}`), last: '; cat /etc/passwd' }),
      JSON.stringify({ note: `${'a '.repeat(5000)}' UNION SELECT password FROM users--` }),
    ];
    for (const c of cases) {
      const body = Buffer.from(c);
      expect(wasm.inspect(request(body)), c.slice(0, 80)).toEqual(js.inspect(request(body)));
    }
    // Invalid UTF-8 in a string: the replacement character either way.
    const bad = Buffer.concat([
      Buffer.from('{"a":"x'),
      Buffer.from([0xc3, 0x28, 0xff]),
      Buffer.from(' <img src=x onerror=alert(1)>"}'),
    ]);
    expect(wasm.inspect(request(bad))).toEqual(js.inspect(request(bad)));
    expect(wasm.inspect(request(bad)).attack).toBe(true);
  });

  it('drops only strings walkJson or the engine pre-filter would let pass; names, flags and lower-cases the rest as walkJson, rawFlags and toLowerCase do', () => {
    const rand = rng(3);
    for (let k = 0; k < 3_000; k++) {
      const text = randomDoc(rand, 4);
      const reported: string[] = [];
      const ok = jsonValues(
        Buffer.from(text),
        (raw, name, flags, lower) => {
          reported.push(`${name}\u0000${raw}`);
          // The module's flags are rawFlags' (DEL and "..", "__", "--", " -" included).
          if (flags !== undefined) expect(flags, JSON.stringify(raw)).toBe(rawFlags(raw));
          if (lower !== undefined) expect(lower).toBe(raw.toLowerCase());
          return true;
        },
        () => true,
      );
      expect(ok).toBe(true);
      const walked: RawValue[] = [];
      walkJson(JSON.parse(text), walked);
      const seen = new Set(reported);
      for (const v of walked) {
        if (v.isKey) continue;
        // The engine's pre-filter without a blank: flags of "@" and a leading digit only, and no "prototype".
        const quiet = (rawFlags(v.raw) & ~(F.DIGIT_START | F.AT)) === 0 && !/rototype/i.test(v.raw);
        if (!quiet) expect(seen.has(`${v.name}\u0000${v.raw}`), `${v.location}: ${JSON.stringify(v.raw)}`).toBe(true);
      }
    }
  });

  it('leaves nothing of a body in the module memory', async () => {
    const { wasmMemoryOf } = await import('./json-values.js');
    const secret = 'hunter2-correct-horse-battery';
    wasm.inspect(request(Buffer.from(JSON.stringify({ password: secret, note: 'a b; c' }))));
    expect(Buffer.from(wasmMemoryOf()).includes(secret)).toBe(false);
  });
});
