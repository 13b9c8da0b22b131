import { describe, expect, it } from 'vitest';
import { dnsNames, lookupHost, splitAltNames } from './names.js';

describe('splitAltNames', () => {
  it('splits node subjectAltName text', () => {
    expect(splitAltNames('DNS:a.example, DNS:*.b.example, IP Address:127.0.0.1, URI:spiffe://x/y')).toEqual([
      'DNS:a.example',
      'DNS:*.b.example',
      'IP Address:127.0.0.1',
      'URI:spiffe://x/y',
    ]);
    expect(splitAltNames(undefined)).toEqual([]);
    expect(splitAltNames('')).toEqual([]);
  });

  it('keeps a quoted value with a comma whole (a crafted name cannot add an entry)', () => {
    expect(splitAltNames('URI:"http://a, DNS:evil.example", DNS:ok.example')).toEqual([
      'URI:http://a, DNS:evil.example',
      'DNS:ok.example',
    ]);
  });

  it('dnsNames lists only DNS entries, lower case', () => {
    expect(dnsNames('DNS:API.Example, IP Address:10.0.0.1, email:a@b')).toEqual(['api.example']);
  });
});

describe('lookupHost', () => {
  const map = new Map([
    ['api.example.com', 'api'],
    ['*.example.com', 'wild'],
    ['example.com', 'apex'],
  ]);
  it('prefers an exact name, then a one-label wildcard', () => {
    expect(lookupHost(map, 'api.example.com')).toBe('api');
    expect(lookupHost(map, 'WWW.Example.COM.')).toBe('wild');
    expect(lookupHost(map, 'example.com')).toBe('apex');
  });
  it('does not stretch a wildcard over two labels or the apex', () => {
    expect(lookupHost(map, 'a.b.example.com')).toBeUndefined();
    expect(lookupHost(new Map([['*.example.com', 1]]), 'example.com')).toBeUndefined();
    expect(lookupHost(map, 'other.test')).toBeUndefined();
  });
});
