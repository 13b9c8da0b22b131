/**
 * The CRS regression-test evaluation (scripts/eval-crs.ts) on test files written here in go-ftw's two formats: how a
 * test becomes a request, which expectation makes it an attack or a negative, and the paranoia-level filter.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateCrs, formatCrs, ftwExpects, ftwRequest } from '../../scripts/eval-crs.js';
import { DetectionEngine } from '../../src/detect/engine.js';

const dir = mkdtempSync(join(tmpdir(), 'rampart-crs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('CRS regression tests', () => {
  it('reads a test input, a raw request and a base64 one into the request the engine inspects', () => {
    expect(
      ftwRequest({ method: 'POST', uri: '/post?a=1', headers: { 'Content-Type': 'text/plain' }, data: ['x', 'y'] }),
    ).toEqual({
      method: 'POST',
      path: '/post',
      query: 'a=1',
      headers: { 'content-type': 'text/plain' },
      body: 'x\r\ny',
    });
    expect(ftwRequest({ method: 'POST', uri: '/post', data: 'var=1' })?.headers).toEqual({
      'content-type': 'application/x-www-form-urlencoded',
    });
    const raw = 'GET /a?q=%27 HTTP/1.1\r\nHost: localhost\r\nReferer: x\r\n\r\n';
    const fromRaw = { method: 'GET', path: '/a', query: 'q=%27', headers: { host: 'localhost', referer: 'x' } };
    expect(ftwRequest({ raw_request: raw })).toEqual(fromRaw);
    expect(ftwRequest({ encoded_request: Buffer.from(raw).toString('base64') })).toEqual(fromRaw);
    expect(ftwRequest({ raw_request: 'garbage' })).toBeNull();
  });

  it('tells attacks from negatives by the expected rule ids, in both formats', () => {
    expect(ftwExpects({ log: { expect_ids: [942100] } }, '942100')).toBe(true);
    expect(ftwExpects({ log: { no_expect_ids: [942100] } }, '942100')).toBe(false);
    expect(ftwExpects({ log_contains: 'id "942100"' }, '942100')).toBe(true);
    expect(ftwExpects({ no_log_contains: 'id "942100"' }, '942100')).toBe(false);
    expect(ftwExpects({ log: { expect_ids: [942101] } }, '942100')).toBeNull();
    expect(ftwExpects(undefined, '942100')).toBeNull();
  });

  it('counts per class, leaves out rules above the paranoia level, lists misses and flagged negatives', () => {
    mkdirSync(join(dir, 'REQUEST-942'));
    const test = (title: string, data: string, log: string) =>
      `  - test_title: ${title}\n    stages:\n      - input:\n          method: POST\n          uri: /post\n          data: "${data}"\n        output:\n          log:\n            ${log}\n`;
    writeFileSync(
      join(dir, 'REQUEST-942', '942100.yaml'),
      `---\nrule_id: 942100\ntests:\n${test('942100-1', "var=1' or '1'='1", 'expect_ids: [942100]')}${test('942100-2', 'var=hello world', 'expect_ids: [942100]')}${test('942100-3', 'var=nothing here', 'no_expect_ids: [942100]')}`,
    );
    writeFileSync(
      join(dir, 'REQUEST-942', '942432.yaml'),
      `---\nrule_id: 942432\ntests:\n${test('942432-1', 'var=((((', 'expect_ids: [942432]')}`,
    );
    const engine = new DetectionEngine();
    const r = evaluateCrs(dir, (q) => engine.inspect(q), { '942100': 1, '942432': 4 }, 1);
    expect(r.classes).toEqual({ sqli: { attacks: [1, 2], negatives: [0, 1] } });
    expect(r.skipped).toBe(1);
    expect(r.unreadable).toEqual([]);
    expect(r.misses).toEqual(['942100-2: var=hello world [score 0]']);
    expect(formatCrs(r, true)).toContain('sqli             1/2   50.0%         0/1    0.0%');
    writeFileSync(join(dir, 'REQUEST-942', '942999.yaml'), 'tests:\n  - data: "unclosed\n');
    const all = evaluateCrs(dir, (q) => engine.inspect(q), { '942100': 1, '942432': 4 }, 4);
    expect(all.classes.sqli?.attacks).toEqual([1, 3]);
    expect(all.unreadable).toHaveLength(1);
    expect(formatCrs(all)).toContain('not YAML, left out:');
  });
});
