import { describe, expect, it } from 'vitest';
import type { GatewayError } from './errors.js';
import { normalizeTarget } from './path.js';

const norm = (u: string) => normalizeTarget(u).path;
const bad = (u: string) => {
  try {
    normalizeTarget(u);
  } catch (e) {
    return (e as GatewayError).code;
  }
  return 'ok';
};

describe('normalizeTarget', () => {
  it('keeps plain paths and splits the query', () => {
    expect(normalizeTarget('/users/1?x=1&y=%2F')).toEqual({ path: '/users/1', query: '?x=1&y=%2F' });
    expect(norm('/')).toBe('/');
  });
  it('resolves dot segments and merges slashes', () => {
    expect(norm('/public/../admin')).toBe('/admin');
    expect(norm('/a/./b//c')).toBe('/a/b/c');
    expect(norm('/a/b/..')).toBe('/a/');
    expect(norm('/a/%2e%2e/b')).toBe('/b');
    expect(norm('/a/%2E/b')).toBe('/a/b');
  });
  it('decodes unreserved escapes only', () => {
    expect(norm('/%7Euser/%41')).toBe('/~user/A');
    expect(norm('/q/%3a%20x')).toBe('/q/%3A%20x');
  });
  it('refuses encodings that upstreams read differently', () => {
    expect(bad('/a%2fb')).toBe('BAD_PATH');
    expect(bad('/a%5Cb')).toBe('BAD_PATH');
    expect(bad('/a\\b')).toBe('BAD_PATH');
    expect(bad('/a%00b')).toBe('BAD_PATH');
    expect(bad('/../etc/passwd')).toBe('BAD_PATH');
    expect(bad('/%2e%2e/etc')).toBe('BAD_PATH');
    expect(bad('/a%zz')).toBe('BAD_PATH');
    expect(bad('http://evil/x')).toBe('BAD_PATH');
    expect(bad('/ok')).toBe('ok');
  });
});
