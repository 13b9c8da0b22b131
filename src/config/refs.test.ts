import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { referencedFiles, resolveRefs } from './refs.js';

const DIR = mkdtempSync(join(tmpdir(), 'rampart-refs-'));
mkdirSync(join(DIR, 'secrets'));
writeFileSync(join(DIR, 'secrets', 'token'), 's3cr3t\n');
writeFileSync(join(DIR, 'pem'), 'line1\nline2\n\n');
writeFileSync(join(DIR, 'crlf'), 'value\r\n');

describe('resolveRefs', () => {
  it('leaves text without references alone', () => {
    expect(resolveRefs('plain text', DIR, {})).toEqual({ value: 'plain text', fromRef: false, errors: [] });
  });

  it('substitutes ${env:NAME}', () => {
    expect(resolveRefs('${env:PORT}', DIR, { PORT: '8080' })).toEqual({ value: '8080', fromRef: true, errors: [] });
  });

  it('substitutes several references and keeps the text around them', () => {
    const r = resolveRefs('http://${env:HOST}:${env:PORT}/x', DIR, { HOST: 'a.test', PORT: '81' });
    expect(r).toEqual({ value: 'http://a.test:81/x', fromRef: true, errors: [] });
  });

  it('uses the ${env:NAME:-fallback} when the variable is unset or empty', () => {
    expect(resolveRefs('${env:PORT:-8080}', DIR, {}).value).toBe('8080');
    expect(resolveRefs('${env:PORT:-8080}', DIR, { PORT: '' }).value).toBe('8080');
    expect(resolveRefs('${env:PORT:-8080}', DIR, { PORT: '9' }).value).toBe('9');
    expect(resolveRefs('${env:URL:-http://h:1}', DIR, {}).value).toBe('http://h:1');
    expect(resolveRefs('${env:X:-}', DIR, {})).toEqual({ value: '', fromRef: true, errors: [] });
  });

  it('keeps an empty variable without a fallback (it is set)', () => {
    expect(resolveRefs('${env:X}', DIR, { X: '' })).toEqual({ value: '', fromRef: true, errors: [] });
  });

  it('reports an unset variable', () => {
    expect(resolveRefs('${env:NOPE}', DIR, {})).toEqual({
      value: '',
      fromRef: true,
      errors: ['environment variable NOPE is not set'],
    });
  });

  it('reports empty references', () => {
    expect(resolveRefs('${env:}', DIR, {}).errors).toEqual([
      'empty env reference "${env:}": name a variable, e.g. ${env:PORT}',
    ]);
    expect(resolveRefs('${env::-x}', DIR, {}).errors[0]).toMatch(/^empty env reference/);
    expect(resolveRefs('${file:}', DIR, {}).errors[0]).toMatch(/^empty file reference/);
  });

  it('reads ${file:PATH} relative to the base folder, dropping one trailing newline', () => {
    expect(resolveRefs('${file:secrets/token}', DIR, {})).toEqual({ value: 's3cr3t', fromRef: true, errors: [] });
    expect(resolveRefs('${file:pem}', DIR, {}).value).toBe('line1\nline2\n');
    expect(resolveRefs('${file:crlf}', DIR, {}).value).toBe('value');
  });

  it('reads an absolute ${file:PATH} as is', () => {
    expect(resolveRefs(`\${file:${join(DIR, 'secrets', 'token')}}`, '/elsewhere', {}).value).toBe('s3cr3t');
  });

  it('reports an unreadable file with its resolved path', () => {
    const r = resolveRefs('${file:missing.pem}', DIR, {});
    expect(r.errors).toEqual([`cannot read ${join(DIR, 'missing.pem')}: no such file`]);
    expect(r.value).toBe('');
    expect(resolveRefs('${file:secrets}', DIR, {}).errors).toEqual([`cannot read ${join(DIR, 'secrets')}: EISDIR`]);
  });

  it('treats $${ as an escaped literal ${', () => {
    expect(resolveRefs('$${env:X}', DIR, {})).toEqual({ value: '${env:X}', fromRef: false, errors: [] });
    expect(resolveRefs('a $${file:b} ${env:X}', DIR, { X: 'x' })).toEqual({
      value: 'a ${file:b} x',
      fromRef: true,
      errors: [],
    });
  });

  it('leaves ${...} that is not a reference (no kind) alone', () => {
    expect(resolveRefs('${HOME} and ${}', DIR, {})).toEqual({ value: '${HOME} and ${}', fromRef: false, errors: [] });
  });

  it('reports a misspelt reference kind', () => {
    const r = resolveRefs('${evn:PORT}', DIR, { PORT: '1' });
    expect(r.value).toBe('${evn:PORT}');
    expect(r.errors).toEqual([
      'unknown reference "${evn:PORT}": use ${env:NAME} or ${file:PATH} (write $${ for a literal ${)',
    ]);
  });

  it('reports a reference without its closing brace', () => {
    expect(resolveRefs('${env:PORT', DIR, { PORT: '1' }).errors).toEqual(['a reference is missing its closing "}"']);
    expect(resolveRefs('$${env:PORT', DIR, {}).errors).toEqual([]);
  });
});

describe('referencedFiles', () => {
  it('lists ${file:...} paths, resolved against the base folder', () => {
    const text = 'a: ${file:secrets/token}\nb: ${file:/etc/rampart/ca.pem}\nc: ${env:X}\n';
    expect(referencedFiles(text, DIR)).toEqual([join(DIR, 'secrets', 'token'), '/etc/rampart/ca.pem']);
  });

  it('skips escaped, empty and non-file references', () => {
    expect(referencedFiles('a: $${file:x}\nb: ${file:}\nc: ${env:Y}\nd: ${evn:z}', DIR)).toEqual([]);
  });

  it('lists a file once per mention, in order', () => {
    expect(referencedFiles('${file:a}${file:b}${file:a}', '/base')).toEqual(['/base/a', '/base/b', '/base/a']);
  });
});
