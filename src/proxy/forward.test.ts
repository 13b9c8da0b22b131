import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientResponseHeaders, type ForwardInfo, upstreamRequestHeaders } from './forward.js';

const untrusted: ForwardInfo = {
  peerIp: '198.51.100.7',
  peerTrusted: false,
  secure: true,
  host: 'api.example.com',
  upstreamHost: '10.1.0.5:8080',
};
const trusted: ForwardInfo = { ...untrusted, peerIp: '10.0.0.2', peerTrusted: true };

describe('upstreamRequestHeaders', () => {
  it('never forwards HTTP/2 pseudo-headers', () => {
    const h = {
      ':method': 'GET',
      ':path': '/x',
      ':scheme': 'https',
      ':authority': 'api.example.com',
      host: 'api.example.com',
      accept: '*/*',
    } as IncomingHttpHeaders;
    const out = upstreamRequestHeaders(h, untrusted);
    expect(Object.keys(out).filter((k) => k.startsWith(':'))).toEqual([]);
    expect(out.accept).toBe('*/*');
    expect(out.host).toBe('10.1.0.5:8080');
  });

  it('removes hop-by-hop headers and Expect, keeps end-to-end ones', () => {
    const h: IncomingHttpHeaders = {
      host: 'api.example.com',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      'transfer-encoding': 'chunked',
      te: 'trailers',
      trailer: 'x-checksum',
      upgrade: 'h2c',
      'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
      'http2-settings': 'AAMAAABkAAQAAP__',
      expect: '100-continue',
      accept: 'application/json',
      authorization: 'Bearer t',
      cookie: 'sid=1',
      'content-type': 'application/json',
      'content-length': '12',
      'x-custom': 'v',
    };
    const out = upstreamRequestHeaders(h, untrusted);
    expect(out).toEqual({
      host: '10.1.0.5:8080',
      accept: 'application/json',
      authorization: 'Bearer t',
      cookie: 'sid=1',
      'content-type': 'application/json',
      'content-length': '12',
      'x-custom': 'v',
      'x-forwarded-for': '198.51.100.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'api.example.com',
      forwarded: 'for=198.51.100.7;host=api.example.com;proto=https',
    });
  });

  it('removes the headers that Connection lists, in any case', () => {
    const out = upstreamRequestHeaders(
      { connection: 'close, X-Secret-Hop ,x-other', 'x-secret-hop': 'a', 'x-other': 'b', 'x-kept': 'c' },
      untrusted,
    );
    expect(out['x-secret-hop']).toBeUndefined();
    expect(out['x-other']).toBeUndefined();
    expect(out['x-kept']).toBe('c');
    expect(out.connection).toBeUndefined();
  });

  it('drops forwarding headers from an untrusted peer and rebuilds them', () => {
    const out = upstreamRequestHeaders(
      {
        'x-forwarded-for': '127.0.0.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'admin.internal',
        'x-forwarded-port': '443',
        forwarded: 'for=127.0.0.1',
        'x-real-ip': '127.0.0.1',
      },
      { ...untrusted, secure: false },
    );
    expect(out).toEqual({
      host: '10.1.0.5:8080',
      'x-forwarded-for': '198.51.100.7',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'api.example.com',
      forwarded: 'for=198.51.100.7;host=api.example.com;proto=http',
    });
  });

  it('keeps the chain from a trusted proxy and appends the peer', () => {
    const out = upstreamRequestHeaders(
      {
        'x-forwarded-for': '203.0.113.7, 10.0.0.9',
        'x-forwarded-proto': 'https, http',
        'x-forwarded-host': 'www.example.com',
        'x-real-ip': '203.0.113.7',
        'x-forwarded-port': '443',
        forwarded: 'for=203.0.113.7;proto=https',
      },
      { ...trusted, secure: false },
    );
    expect(out['x-forwarded-for']).toBe('203.0.113.7, 10.0.0.9, 10.0.0.2');
    expect(out['x-forwarded-proto']).toBe('https');
    expect(out['x-forwarded-host']).toBe('www.example.com');
    expect(out.forwarded).toBe('for=203.0.113.7;proto=https, for=10.0.0.2;host=api.example.com;proto=http');
    expect(out['x-real-ip']).toBeUndefined();
    expect(out['x-forwarded-port']).toBeUndefined();
  });

  it('joins repeated X-Forwarded-For lines from a trusted proxy', () => {
    const out = upstreamRequestHeaders({ 'x-forwarded-for': ['203.0.113.7', '10.0.0.9'] }, trusted);
    expect(out['x-forwarded-for']).toBe('203.0.113.7, 10.0.0.9, 10.0.0.2');
  });

  it('uses its own values when a trusted proxy sends none', () => {
    const out = upstreamRequestHeaders({}, trusted);
    expect(out['x-forwarded-for']).toBe('10.0.0.2');
    expect(out['x-forwarded-proto']).toBe('https');
    expect(out['x-forwarded-host']).toBe('api.example.com');
    expect(out.forwarded).toBe('for=10.0.0.2;host=api.example.com;proto=https');
  });

  it('quotes IPv6 nodes and hosts that are not tokens in Forwarded (RFC 7239)', () => {
    const v6 = upstreamRequestHeaders({}, { ...untrusted, peerIp: '2001:db8::1', host: 'api.example.com:8443' });
    expect(v6.forwarded).toBe('for="[2001:db8::1]";host="api.example.com:8443";proto=https');
    expect(v6['x-forwarded-for']).toBe('2001:db8::1');
    const v6Host = upstreamRequestHeaders({}, { ...untrusted, host: '[::1]:8080' });
    expect(v6Host.forwarded).toBe('for=198.51.100.7;host="[::1]:8080";proto=https');
    const evil = upstreamRequestHeaders({}, { ...untrusted, host: 'a"b\\c' });
    expect(evil.forwarded).toBe('for=198.51.100.7;host="abc";proto=https');
  });

  it('keeps Upgrade and sets Connection: upgrade only for a WebSocket handshake', () => {
    const h = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'k' };
    const ws = upstreamRequestHeaders(h, { ...untrusted, upgrade: true });
    expect(ws.connection).toBe('upgrade');
    expect(ws.upgrade).toBe('websocket');
    expect(ws['sec-websocket-key']).toBe('k');
    const plain = upstreamRequestHeaders(h, untrusted);
    expect(plain.connection).toBeUndefined();
    expect(plain.upgrade).toBeUndefined();
    const noUpgrade = upstreamRequestHeaders({ connection: 'keep-alive' }, { ...untrusted, upgrade: true });
    expect(noUpgrade.connection).toBeUndefined();
  });

  it('keeps array values as arrays', () => {
    const out = upstreamRequestHeaders({ 'x-multi': ['a', 'b'] } as IncomingHttpHeaders, untrusted);
    expect(out['x-multi']).toEqual(['a', 'b']);
  });
});

describe('clientResponseHeaders', () => {
  it('removes hop-by-hop and Connection-listed headers and keeps the rest', () => {
    const out = clientResponseHeaders({
      connection: 'keep-alive, X-Upstream-Hop',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'proxy-authenticate': 'Basic',
      trailer: 'x-checksum',
      upgrade: 'h2c',
      'x-upstream-hop': 'secret',
      'content-type': 'application/json',
      'set-cookie': ['a=1', 'b=2'],
      etag: '"v1"',
      'x-empty': undefined,
    });
    expect(out).toEqual({ 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'], etag: '"v1"' });
  });

  it('passes everything through when there is nothing to remove', () => {
    expect(clientResponseHeaders({ 'content-length': '2', 'cache-control': 'no-store' })).toEqual({
      'content-length': '2',
      'cache-control': 'no-store',
    });
  });
});
