import { describe, expect, it } from 'vitest';
import { decodeValue, htmlDecode, jsUnescape, percentDecodeOnce } from './decode.js';

describe('decoders', () => {
  it('percent-decodes repeatedly (double and triple encoding) and maps + in forms only', () => {
    expect(decodeValue('%2527', false)).toBe("'");
    expect(decodeValue('%252527', false)).toBe("'");
    expect(decodeValue('a+b', true)).toBe('a b');
    expect(decodeValue('a+b', false)).toBe('a+b');
    expect(percentDecodeOnce('%zz%4', false)).toBe('%zz%4');
    expect(percentDecodeOnce('%E2%82%AC', false)).toBe('€');
  });
  it('decodes IIS %u, overlong UTF-8 for . / \\ and look-alike slashes', () => {
    expect(decodeValue('%u003cscript', false)).toBe('<script');
    expect(decodeValue('..%c0%af..%c0%af', false)).toBe('../../');
    expect(decodeValue('..%c1%9c', false)).toBe('..\\');
    expect(decodeValue('%uff0e%uff0e%u2215', false)).toBe('../');
  });
  it('decodes HTML entities (named, decimal, hex, without semicolon) and JS escapes', () => {
    expect(htmlDecode('&lt;&#60;&#x3C;&#0000060&colon;&amp')).toBe('<<<<:&');
    expect(jsUnescape('\\u003c\\x3e\\u{41}')).toBe('<>A');
    expect(decodeValue('%26lt%3Bscript%26gt%3B', false)).toBe('<script>');
  });
  it('folds fullwidth forms and removes NUL and zero-width characters', () => {
    expect(decodeValue('＜ｓｃｒｉｐｔ＞', false)).toBe('<script>');
    expect(decodeValue('a%00b\u200bc', false)).toBe('abc');
  });
  it('never throws on malformed input and bounds the length', () => {
    expect(() => decodeValue('%E0%A4%A', false)).not.toThrow();
    expect(decodeValue('x'.repeat(100_000), false).length).toBe(8192);
  });
});
