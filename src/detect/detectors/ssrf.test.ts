import { describe, expect, it } from 'vitest';
import { detects, inHeader, inJson, inQuery } from '../testing.js';
import { classifyHost, parseIPv4Loose } from './ssrf.js';

const ATTACKS = [
  'http://169.254.169.254/latest/meta-data/',
  'http://metadata.google.internal/computeMetadata/v1/',
  'https://metadata.packet.net/userdata',
  'http://2130706433/',
  'http://0x7f000001/',
  'http://0177.0.0.1/',
  'http://127.1/admin',
  'http://[::1]:80/',
  'http://[::ffff:127.0.0.1]/',
  'http://[0:0:0:0:0:ffff:7f00:1]/',
  'http://evil.com@127.0.0.1/',
  'http://10.0.0.5:9200/_cat/indices',
  'http://192.168.1.1/admin',
  'http://127.0.0.1.nip.io/',
  'http://localhost:8080/admin',
  'gopher://127.0.0.1:6379/_SET',
  'dict://10.0.0.1:11211/stat',
  'http://①②⑦.⓪.⓪.①/',
  'http://[fd00:ec2::254]/latest/meta-data/',
];
const BENIGN = ['https://example.com/hook', 'https://api.github.com/repos', 'page 0', '10.5', 'version 1.2.3'];

describe('ssrf detector', () => {
  it.each(ATTACKS)('detects %s', (p) => {
    expect(detects(inQuery(p, 'webhook'), 'ssrf')).toBe(true);
  });
  it.each(BENIGN)('passes %s', (p) => {
    expect(inQuery(p, 'url').attack).toBe(false);
  });
  it('bare hosts count in URL-named parameters only', () => {
    expect(detects(inQuery('127.0.0.1:22', 'host'), 'ssrf')).toBe(true);
    expect(inQuery('0', 'page').attack).toBe(false);
    expect(inQuery('127.50', 'price').attack).toBe(false);
  });
  it('parses addresses the way inet_aton does', () => {
    expect(parseIPv4Loose('127.1')).toEqual([127, 0, 0, 1]);
    expect(parseIPv4Loose('0x7f.1')).toEqual([127, 0, 0, 1]);
    expect(parseIPv4Loose('2130706433')).toEqual([127, 0, 0, 1]);
    expect(parseIPv4Loose('256.1.1.1')).toBeNull();
    expect(classifyHost('[::ffff:a9fe:a9fe]')).toBe('metadata');
    expect(classifyHost('example.com')).toBeNull();
  });
  it('ignores a localhost Referer, OAuth loopback redirect URIs and URLs mentioned in prose', () => {
    expect(inHeader('referer', 'http://localhost:3000/app').attack).toBe(false);
    expect(inJson({ redirect_uris: ['http://localhost:3000/callback'] }).attack).toBe(false);
    expect(inJson({ body: 'Works on http://localhost:3000 but not in prod' }).attack).toBe(false);
  });

  it('answers the same for a host seen before, and after the remembered hosts were cleared', () => {
    for (let round = 0; round < 2; round++) {
      expect(detects(inQuery('http://127.0.0.1:8080/admin', 'url'), 'ssrf')).toBe(true);
      expect(inQuery('https://www.example.org/blog', 'url').attack).toBe(false);
    }
    // More distinct hosts than are remembered (4,096): the memory is cleared, never wrong.
    for (let i = 0; i < 5000; i++) expect(inQuery(`https://h${i}.example.net/x`, 'url').attack).toBe(false);
    expect(detects(inQuery('http://127.0.0.1:8080/admin', 'url'), 'ssrf')).toBe(true);
    expect(detects(inQuery('http://h1.127.0.0.1.nip.io/', 'url'), 'ssrf')).toBe(true);
  });
});
