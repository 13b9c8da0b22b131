import { describe, expect, it } from 'vitest';
import { decodeValue, htmlDecode, MAY_DECODE } from './decode.js';
import { leadingWord, unquoteGlued } from './detectors/cmdi.js';
import { charFlags, F, HIGH, rawFlags } from './detectors/common.js';
import { IDENTICAL, identicalAfterLogic, mayHaveShape, shapes, tokenize } from './detectors/sqli.js';
import { dangerousScheme } from './detectors/ssrf.js';
import { PHP_FILTER, phpFilterNamed } from './detectors/traversal.js';
import { cachedKeyShape, keyShape, walkJson } from './parse.js';
import { generatedValues } from './testing.js';

/**
 * The fast paths must answer exactly as the slower code they stand in front of: each is checked against its
 * reference on generated values (a fixed-seed generator over the characters and words that matter).
 */

/** charFlags as it was written before the lookup table: a switch per character after the first flagged one. */
function charFlagsReference(s: string): number {
  let f = s.length > 0 && s.charCodeAt(0) >= 48 && s.charCodeAt(0) <= 57 ? F.DIGIT_START : 0;
  if (s.indexOf(' ') !== -1) f |= F.SPACE;
  if (s.indexOf('..') !== -1) f |= F.DOTDOT;
  const first = /[^a-zA-Z0-9 .,]/.exec(s);
  if (!first) return f;
  let prev = first.index > 0 ? s.charCodeAt(first.index - 1) : 0;
  const simple: Record<number, number> = {
    39: F.QUOTE,
    34: F.QUOTE,
    60: F.LT,
    62: F.GT,
    58: F.COLON,
    47: F.SLASH,
    92: F.BACKSLASH,
    36: F.DOLLAR,
    123: F.BRACE,
    40: F.LPAREN,
    41: F.RPAREN,
    59: F.SEMI,
    124: F.PIPE,
    38: F.AMP,
    96: F.BACKTICK,
    10: F.NEWLINE,
    13: F.NEWLINE,
    35: F.HASH,
    64: F.AT,
    37: F.PERCENT,
    61: F.EQ,
    42: F.STAR,
    32: F.SPACE,
    9: F.SPACE | F.CONTROL,
    11: F.SPACE | F.CONTROL,
    12: F.SPACE | F.CONTROL,
    91: F.BRACKET,
    33: F.BANG,
    43: F.PLUS,
  };
  for (let i = first.index; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 && prev === 46) f |= F.DOTDOT;
    else if (c === 95 && prev === 95) f |= F.UNDERSCORE2;
    else if (c === 45 && prev === 45) f |= F.DASH2;
    else if (c === 45 && prev === 32) f |= F.DASH_OPT;
    else f |= simple[c] ?? (c < 32 ? F.CONTROL : 0);
    prev = c;
  }
  return f;
}

describe('fast paths agree with their references', () => {
  it('charFlags: the lookup table sets the flags the per-character switch did', () => {
    const chars = [...'aZ09 .,-_\'"<>:/\\${}()[];|&`\n\r\t#@%=*!+é\u00a0\u000b\u0000\u0001\u001f\f'];
    for (const v of generatedValues(chars, 5000)) expect(charFlags(v), JSON.stringify(v)).toBe(charFlagsReference(v));
  });

  it('rawFlags: charFlags plus HIGH for DEL and non-ASCII; without a flag decoding acts on, decoding is idle', () => {
    const chars = [...'aZ09 .,-_\'"<>:/\\${}()[];|&`\n\r\t#@%=*!+é\u00a0\u000b\u0000\u007f\uff1c&lt;%3c\\u003c'];
    for (const v of generatedValues(chars, 5000)) {
      const f = rawFlags(v);
      expect(f & ~HIGH, JSON.stringify(v)).toBe(charFlags(v));
      expect((f & HIGH) !== 0, JSON.stringify(v)).toBe(/[\u007f-\uffff]/.test(v));
      // The engine's shortcut (engine.ts, inspectUncached): no such flag, so the decoded value is the value.
      if (!(f & MAY_DECODE)) expect(decodeValue(v, false), JSON.stringify(v)).toBe(v);
      // Given the flags, decodeValue skips its own scans and answers the same.
      for (const plus of [false, true]) expect(decodeValue(v, plus, f), JSON.stringify(v)).toBe(decodeValue(v, plus));
      // Letter case sets no flag: the flags of the lower-case form are the value's.
      expect(charFlags(v.toLowerCase()), JSON.stringify(v)).toBe(charFlags(v));
    }
  });

  it('phpFilterNamed holds wherever PHP_FILTER matches (it only gates the scan)', () => {
    const pieces = ['php', 'data', 'expect', ':', '//', '/', 'filter', 'text/plain', ';base64', 'x', 'https', ' '];
    let matched = 0;
    for (const v of generatedValues(pieces, 20000)) {
      if (!PHP_FILTER.test(v)) continue;
      matched++;
      expect(phpFilterNamed(v), JSON.stringify(v)).toBe(true);
    }
    expect(matched).toBeGreaterThan(40);
    expect(phpFilterNamed('see https://example.com/a:b')).toBe(false);
  });

  it('cachedKeyShape gives keyShape, cached or not', () => {
    const pieces = ['a', 'B', '_', '$', '[', '~', '/', 'rototype', 'é', '__'];
    for (const k of generatedValues(pieces, 3000)) {
      expect(cachedKeyShape(k), JSON.stringify(k)).toBe(keyShape(k));
      expect(cachedKeyShape(k), JSON.stringify(k)).toBe(keyShape(k));
    }
  });

  it('leadingWord is the first-word pattern it stands for', () => {
    const pieces = ['ls', 'a', 'b9', '-', '_', '.', ' ', '\t', '\u00a0', 'X', '/', 'abcdefghij', '1'];
    for (const v of generatedValues(pieces, 5000))
      expect(leadingWord(v), JSON.stringify(v)).toBe(/^\s*([a-z][a-z0-9_.-]{1,20})(?=\s)/.exec(v)?.[1] ?? null);
  });

  it('identicalAfterLogic is IDENTICAL.test', () => {
    const pieces = [
      ' or ',
      ' and ',
      'xor ',
      'x',
      'a',
      'ab',
      'abc',
      'abcd',
      '1',
      ' ',
      '\t',
      '=',
      '==',
      'a=a',
      '_',
      'Or',
    ];
    let hits = 0;
    for (const v of generatedValues(pieces, 20000)) {
      const want = IDENTICAL.test(v);
      if (want) hits++;
      expect(identicalAfterLogic(v), JSON.stringify(v)).toBe(want);
    }
    expect(hits).toBeGreaterThan(20);
  });

  it('unquoteGlued is the regex replacement it stands for', () => {
    const pieces = ['a', 'b', '1', "'", '"', ' ', '-', 'x9', 'A', '$'];
    for (const v of generatedValues(pieces, 5000))
      expect(unquoteGlued(v), JSON.stringify(v)).toBe(v.replace(/([a-z0-9])['"]([a-z0-9]+)['"]?/g, '$1$2'));
    expect(unquoteGlued("c'a't /etc/passwd")).toBe('cat /etc/passwd');
    expect(unquoteGlued('w"h"oami')).toBe('whoami');
  });

  it('htmlDecode returns text with "&" but no reference as it is, and still decodes references', () => {
    for (const v of ['Tom & Jerry', '?a=1&b=2&lang=en', 'x &&& y', 'R&D', '& ;']) expect(htmlDecode(v)).toBe(v);
    expect(htmlDecode('&lt;script&gt;')).toBe('<script>');
    expect(htmlDecode('a &AMP; b &#60; &#x3C &Colon;')).toBe('a & b < < :');
  });

  it('sqli: when mayHaveShape says no, no context of the value has a shape', () => {
    const pieces = [
      ' ',
      'a',
      'x',
      '1',
      "'",
      '"',
      'or',
      'and',
      'select',
      'union',
      'order',
      'by',
      'is',
      'like',
      '=',
      '(',
      ')',
      ';',
      ',',
      '-',
      '#',
      '/*',
      '*/',
      '@',
      '@@',
      '&',
      '|',
      'sleep(',
      'into',
      'outfile',
      'if',
      'true',
      'don',
      't',
      '.',
      '\n',
      'null',
      'unknown',
      '?',
      '`',
      '0x1f',
      '@a',
      'a.b',
      'xor',
      '\u00a0',
      'é',
      // Numbers and variables whose last character is not a digit: 1e- 1. @a.b 0xab.
      '1e-',
      '1.',
      '@x.y',
      '0xab',
      '\t',
      // Statement words in prose, and what makes them statements after all.
      'select the ',
      'update your ',
      ' warm ',
      'from ',
      'set ',
      'call me ',
      'except ',
      'all ',
      'distinct ',
    ];
    let skipped = 0;
    for (const v of generatedValues(pieces, 20_000, 11)) {
      if (mayHaveShape(v, charFlags(v))) continue;
      skipped++;
      const none = tokenize(v, 0);
      expect(none ? shapes(none, false, v) : null, JSON.stringify(v)).toBeNull();
      for (const q of [39, 34]) {
        const toks = tokenize(v, q);
        expect(toks ? shapes(toks, true, v) : null, JSON.stringify(v)).toBeNull();
      }
    }
    // The generator must exercise the skip, not only the full path.
    expect(skipped).toBeGreaterThan(1000);
  });

  it('ssrf: dangerousScheme finds the match the scheme regex found', () => {
    const re = /(?:^|[^a-z0-9+.-])(gopher|dict|ldap|ldaps|tftp|sftp|jar|netdoc|file|phar|smb|redis|mysql|ftp)\s*:\/\//;
    const pieces = ['gopher', 'ftp', 'sftp', 'ldaps', 'file', 'http', 'x', '1', '.', '+', '-', ' ', '\t', '\u00a0'];
    const more = ['\u2003', '://', ':', '/', '//', 'é', '(', '='];
    let found = 0;
    for (const v of generatedValues([...pieces, ...more], 20_000, 5)) {
      const m = re.exec(v);
      if (m) found++;
      expect(dangerousScheme(v), JSON.stringify(v)).toEqual(m ? { name: m[1], index: m.index } : null);
    }
    expect(found).toBeGreaterThan(500);
  });

  it('walkJson ignores enumerable properties inherited from Object.prototype, as Object.keys did', () => {
    const doc = JSON.parse('{"a": {"b": "x y <z>"}, "c": ["q r"]}');
    const before: unknown[] = [];
    walkJson(doc, before as never);
    Object.defineProperty(Object.prototype, 'polluted', {
      value: '<script>',
      enumerable: true,
      configurable: true,
      writable: true,
    });
    try {
      const after: unknown[] = [];
      walkJson(doc, after as never);
      expect(after).toEqual(before);
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
  });
});
