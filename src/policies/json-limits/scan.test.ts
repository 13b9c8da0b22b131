import { describe, expect, it } from 'vitest';
import { DEFAULT_JSON_LIMITS, type JsonLimits, JsonProblem, parseJsonSafely, scanJson } from './scan.js';

const problem = (text: string | Buffer, limits: Partial<JsonLimits> = {}): { kind: string; pointer: string } | null => {
  try {
    scanJson(Buffer.isBuffer(text) ? text : Buffer.from(text), { ...DEFAULT_JSON_LIMITS, ...limits });
    return null;
  } catch (e) {
    if (!(e instanceof JsonProblem)) throw e;
    return { kind: e.kind, pointer: e.pointer };
  }
};

describe('scanJson', () => {
  it('passes ordinary documents', () => {
    expect(problem('{"a":[1,2,{"b":"c\\"d\\u00e9\\ud83d\\ude00"}],"e":null,"f":true,"g":-1.5e3}')).toBeNull();
    expect(problem('[]')).toBeNull();
    expect(problem('"just a string"')).toBeNull();
    expect(problem('{"constructor":{"name":"x"},"prototype":1}')).toBeNull();
  });

  it('limits: depth, keys, array length, string length, total size, with a pointer', () => {
    expect(problem('[[[1]]]', { maxDepth: 3 })).toBeNull();
    expect(problem('{"a":[[{"b":1}]]}', { maxDepth: 3 })).toEqual({ kind: 'depth', pointer: '/a/0/0' });
    expect(problem('{"a":1,"b":2}', { maxKeys: 2 })).toBeNull();
    expect(problem('{"x":{"a":1,"b":2,"c":3}}', { maxKeys: 2 })).toEqual({ kind: 'keys', pointer: '/x/c' });
    expect(problem('[1,2,3]', { maxArrayLength: 3 })).toBeNull();
    expect(problem('{"l":[1,"2",[],{}]}', { maxArrayLength: 3 })).toEqual({ kind: 'array', pointer: '/l/3' });
    expect(problem('{"s":"12345"}', { maxStringBytes: 5 })).toBeNull();
    expect(problem('{"s":"123456"}', { maxStringBytes: 5 })).toEqual({ kind: 'string', pointer: '/s' });
    expect(problem('{"123456":1}', { maxStringBytes: 5 })?.kind).toBe('string');
    expect(problem('[1, 2]', { maxTotalBytes: 5 })).toEqual({ kind: 'size', pointer: '' });
  });

  it('a 100,000-deep document stops at the limit (no recursion)', () => {
    expect(problem('['.repeat(100_000) + ']'.repeat(100_000))?.kind).toBe('depth');
  });

  it('duplicate keys, also when spelled with escapes', () => {
    expect(problem('{"a":1,"a":2}')).toEqual({ kind: 'duplicate-key', pointer: '/a' });
    expect(problem('{"role":"user","r\\u006fle":"admin"}')?.kind).toBe('duplicate-key');
    expect(problem('{"a":{"a":1},"b":{"a":1}}')).toBeNull();
    expect(problem('{"<b>x</b>":1,"<b>x</b>":2}')).toEqual({ kind: 'duplicate-key', pointer: '/*' });
  });

  it('escapes anywhere do not hide what follows (the fast string skip)', () => {
    expect(problem('{"a":"x\\"y","b\\u0041":"z\\\\","c":1}')).toBeNull();
    expect(problem('{"a":"\\\\","__proto__":1}')?.kind).toBe('proto-key');
    expect(problem('["\\"]", "\\u0000"]')?.kind).toBe('nul');
    expect(problem('{"k\\"":1,"k\\u0022":2}')?.kind).toBe('duplicate-key');
    expect(problem('{"a":"\\n","b":"\\n","a":3}')?.kind).toBe('duplicate-key');
  });

  it('prototype pollution keys, plain or escaped', () => {
    expect(problem('{"__proto__":{"admin":true}}')).toEqual({ kind: 'proto-key', pointer: '/__proto__' });
    expect(problem('{"x":[{"\\u005f_proto__":1}]}')?.kind).toBe('proto-key');
    expect(problem('{"constructor":{"prototype":{"admin":true}}}')).toEqual({
      kind: 'proto-key',
      pointer: '/constructor/prototype',
    });
  });

  it('NUL bytes and escapes; invalid UTF-8; lone surrogates', () => {
    expect(problem('{"a":"x\\u0000y"}')?.kind).toBe('nul');
    expect(problem(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x00, 0x7d]))?.kind).toBe('nul');
    expect(problem(Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]))?.kind).toBe(
      'unicode',
    );
    // An overlong "/" and a UTF-8-encoded surrogate are not UTF-8.
    expect(problem(Buffer.concat([Buffer.from('["'), Buffer.from([0xc0, 0xaf]), Buffer.from('"]')]))?.kind).toBe(
      'unicode',
    );
    expect(problem(Buffer.concat([Buffer.from('["'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"]')]))?.kind).toBe(
      'unicode',
    );
    expect(problem('["\\ud800"]')?.kind).toBe('unicode');
    expect(problem('["\\ud800\\u0041"]')?.kind).toBe('unicode');
    expect(problem('["\\udc00"]')?.kind).toBe('unicode');
  });

  it('parseJsonSafely: scan then parse; malformed JSON is a JsonProblem', () => {
    expect(parseJsonSafely(Buffer.from('{"a":[1]}'))).toEqual({ a: [1] });
    expect(() => parseJsonSafely(Buffer.from('{"a":'))).toThrow(JsonProblem);
    expect(() => parseJsonSafely(Buffer.from('{"a":1}x'))).toThrow(/malformed/);
  });

  it('is linear: a 4 MB document with 200,000 keys in 2,000 objects is scanned', () => {
    const obj = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v'.repeat(10)]));
    const doc = Buffer.from(JSON.stringify(Array.from({ length: 2000 }, () => obj)));
    expect(doc.length).toBeGreaterThan(3_000_000);
    expect(problem(doc)).toBeNull();
  });
});
