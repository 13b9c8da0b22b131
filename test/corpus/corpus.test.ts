/**
 * Checks the labelled corpus itself (not the engine): size, format, unique ids, labels that match their file,
 * bodies that parse as their content type says, and that the committed files are exactly what the generator
 * writes (scripts/gen-corpus.ts), so the data cannot drift from its source.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toJsonl } from '../../scripts/corpus/util.js';
import { type LoadedLine, loadCorpus, repoRoot } from '../../scripts/eval-corpus.js';
import { buildCorpus } from '../../scripts/gen-corpus.js';
import { ATTACK_CLASSES } from '../../src/detect/types.js';

const dir = join(repoRoot(), 'test', 'corpus');
const lines: LoadedLine[] = loadCorpus(dir);
const attacks = lines.filter((l) => l.label !== 'benign');
const benign = lines.filter((l) => l.label === 'benign');

describe('test/corpus', () => {
  it('has at least 1,000 attacks and 1,000 benign requests', () => {
    expect(attacks.length).toBeGreaterThanOrEqual(1000);
    expect(benign.length).toBeGreaterThanOrEqual(1000);
  });

  it('has at least 100 attacks for every class, each in its own file', () => {
    for (const cls of ATTACK_CLASSES) {
      const of = attacks.filter((l) => l.label === cls);
      expect(of.length, cls).toBeGreaterThanOrEqual(100);
      expect(new Set(of.map((l) => l.file)), cls).toEqual(new Set([`attacks/${cls}.jsonl`]));
    }
    expect(new Set(attacks.map((l) => l.file)).size).toBe(ATTACK_CLASSES.length);
  });

  it('keeps the deliberately hard benign cases in benign/hard.jsonl, each saying why', () => {
    const hard = benign.filter((l) => l.file === 'benign/hard.jsonl');
    expect(hard.length).toBeGreaterThanOrEqual(40);
    for (const l of hard) expect(l.note, l.id).toMatch(/^hard: \S/);
  });

  it('has unique ids and a family note on every line', () => {
    expect(new Set(lines.map((l) => l.id)).size).toBe(lines.length);
    for (const l of lines) expect(l.note, l.id).toBeTruthy();
  });

  it('puts attacks in every location: query, path, headers, cookies, JSON, form, multipart and XML bodies', () => {
    const ct = (l: LoadedLine) => l.request.headers['content-type'] ?? '';
    const where = {
      query: attacks.some((l) => /query/.test(l.note ?? '')),
      path: attacks.some((l) => /; path/.test(l.note ?? '')),
      ua: attacks.some((l) => /; ua$/.test(l.note ?? '')),
      cookie: attacks.some((l) => /cookie\./.test(l.note ?? '')),
      json: attacks.some((l) => ct(l).startsWith('application/json')),
      form: attacks.some((l) => ct(l).startsWith('application/x-www-form-urlencoded')),
      multipart: attacks.some((l) => ct(l).startsWith('multipart/form-data')),
      xml: attacks.some((l) => /xml/.test(ct(l))),
    };
    expect(Object.entries(where).filter(([, v]) => !v)).toEqual([]);
  });

  it('has bodies that parse as their content type says', () => {
    for (const l of lines) {
      const ct = l.request.headers['content-type'] ?? '';
      const body = l.request.body;
      if (ct.startsWith('application/json')) expect(() => JSON.parse(body ?? ''), l.id).not.toThrow();
      if (ct.startsWith('multipart/form-data')) {
        const boundary = /boundary=(\S+)/.exec(ct)?.[1];
        expect(boundary, l.id).toBeTruthy();
        expect(body?.endsWith(`--${boundary}--\r\n`), l.id).toBe(true);
      }
      if (body !== undefined) expect(ct, `${l.id} has a body but no content-type`).not.toBe('');
      if (['GET', 'DELETE'].includes(l.request.method) && body === undefined) expect(ct, l.id).toBe('');
    }
  });

  it('README.md states the current line count of every file', () => {
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    const stated = Object.fromEntries(
      [...readme.matchAll(/^\| ((?:attacks|benign)\/[\w-]+\.jsonl) *\| *([\d,]+) *\|$/gm)].map((m) => [
        m[1],
        Number(m[2]!.replace(/,/g, '')),
      ]),
    );
    const actual: Record<string, number> = {};
    for (const l of lines) actual[l.file] = (actual[l.file] ?? 0) + 1;
    expect(stated).toEqual(actual);
  });

  it('is exactly what scripts/gen-corpus.ts writes (edit the generator, then npm run corpus:gen)', () => {
    const files = buildCorpus();
    const names = Object.keys(files).sort();
    expect(names).toEqual([...new Set(lines.map((l) => l.file))].sort());
    for (const name of names) expect(readFileSync(join(dir, name), 'utf8'), name).toBe(toJsonl(files[name]!));
  });
});
