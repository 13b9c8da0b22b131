/**
 * The payload-list evaluation (scripts/eval-payload-lists.ts) on a small directory of lists written here: how each
 * payload is sent, which directories count, and the counts and report.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  benignRequests,
  evaluateBenign,
  evaluateCsv,
  evaluateLists,
  formatCsv,
  formatLists,
  listRequests,
  parseCsv,
  payloadsOf,
} from '../../scripts/eval-payload-lists.js';
import { DetectionEngine } from '../../src/detect/engine.js';

const dir = mkdtempSync(join(tmpdir(), 'rampart-lists-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('payload lists', () => {
  it('reads lines, drops blanks and repeats, fills {FILE} in', () => {
    expect(payloadsOf("' or 1=1--\r\n\n  ' or 1=1--  \n../{FILE}\n")).toEqual(["' or 1=1--", '../etc/passwd']);
  });

  it('sends a payload where its class is sent', () => {
    const [q, j] = listRequests('sqli', "1' or '1'='1 #x");
    expect(q?.[1].query).toBe(`q=${encodeURIComponent("1' or '1'='1 #x")}`);
    expect(JSON.parse(String(j?.[1].body))).toEqual({ comment: "1' or '1'='1 #x" });
    expect(listRequests('traversal', '..%2f..%2fetc/passwd #')[0]?.[1].query).toBe('file=..%2f..%2fetc/passwd%20%23');
    expect(listRequests('nosqli', '[$ne]=1')[0]?.[1].query).toBe('username[$ne]=1');
    expect(JSON.parse(String(listRequests('nosqli', '{"$gt": ""}')[1]?.[1].body))).toEqual({ comment: { $gt: '' } });
    const x = listRequests('xxe', '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>');
    expect(x.map(([p, r]) => [p, r.headers['content-type']])).toEqual([['xml', 'application/xml']]);
  });

  it('counts detections per list and place, and lists the misses', () => {
    mkdirSync(join(dir, 'sqli'));
    mkdirSync(join(dir, 'notes'));
    writeFileSync(join(dir, 'sqli', 'mine.txt'), "' or 1=1--\n1 union select null,null--\nhello world\n");
    writeFileSync(join(dir, 'notes', 'readme.txt'), 'not a class\n');
    const engine = new DetectionEngine();
    const results = evaluateLists(dir, (r) => engine.inspect(r));
    expect(results.map((r) => [r.cls, r.list, r.payloads, r.places])).toEqual([
      ['sqli', 'mine.txt', 3, { query: [2, 3], json: [2, 3] }],
    ]);
    expect(results[0]?.misses).toEqual(['query: hello world [score 0]', 'json: hello world [score 0]']);
    const text = formatLists(results, true);
    expect(text).toContain('sqli (query)');
    expect(text).toContain('66.7%');
    expect(text).toContain('miss query: hello world');
  });
});

describe('labelled CSV', () => {
  it('reads RFC 4180 records: quotes, doubled quotes, commas and line breaks inside fields, CRLF', () => {
    expect(parseCsv('payload,label\r\n"a ""b"", c",norm\nx,"multi\nline"\n')).toEqual([
      ['payload', 'label'],
      ['a "b", c', 'norm'],
      ['x', 'multi\nline'],
    ]);
    expect(parseCsv('a,b\n1,')).toEqual([
      ['a', 'b'],
      ['1', ''],
    ]);
  });

  it('counts recall for attack rows and false positives for benign rows, per place', () => {
    const csv = [
      'payload,length,attack_type,label',
      `"1' union all select null,null--",31,sqli,anom`,
      'juan de mariana,15,norm,norm',
      `"O'Brien, 12",12,norm,norm`,
      '<script>alert(1)</script>,25,xss,anom',
      'something,9,unknown,anom',
    ].join('\n');
    const engine = new DetectionEngine();
    const r = evaluateCsv(csv, (q) => engine.inspect(q));
    expect(r.counts).toEqual({
      sqli: { query: [1, 1], json: [1, 1] },
      benign: { query: [0, 2], json: [0, 2] },
      xss: { query: [1, 1], json: [1, 1] },
    });
    expect(r.skipped).toBe(1);
    expect(r.errors).toEqual([]);
    expect(formatCsv(r)).toContain('benign     query           0/2  0.0%');
    expect(() => evaluateCsv('a,b\n1,2\n', (q) => engine.inspect(q))).toThrow(/payload/);
    // A byte-order mark before the header is not part of the first column's name.
    expect(evaluateCsv(`\ufeffpayload,label\nx,norm\n`, (q) => engine.inspect(q)).counts.benign?.query).toEqual([0, 1]);
  });
});

describe('benign lists', () => {
  it('sends each string as a value and as a name, in a query and in JSON, and lists what is flagged', () => {
    const reqs = benignRequests('a b');
    expect(reqs.map(([p]) => p)).toEqual(['query value', 'query name', 'JSON value', 'JSON key']);
    expect(reqs[1]?.[1].query).toBe('a%20b=1');
    expect(JSON.parse(String(reqs[3]?.[1].body))).toEqual({ 'a b': 1 });
    const engine = new DetectionEngine();
    const r = evaluateBenign("# a comment\n\nO'Brien & Sons\n<script>alert(1)</script>\n", (q) => engine.inspect(q));
    expect(r.sent).toBe(8);
    expect(r.flagged).toHaveLength(4);
    expect(r.flagged.every((f) => f.includes('<script>'))).toBe(true);
  });
});
