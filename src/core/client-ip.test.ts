import { describe, expect, it } from 'vitest';
import { cidrErrors, clientIpOf, compileCidrs, normalizeIp, parseIp } from './client-ip.js';

describe('compileCidrs', () => {
  it('matches IPv4 ranges and single addresses', () => {
    const m = compileCidrs(['10.0.0.0/8', '192.168.1.5', '172.16.0.0/12']);
    expect(m('10.1.2.3')).toBe(true);
    expect(m('10.255.255.255')).toBe(true);
    expect(m('11.0.0.1')).toBe(false);
    expect(m('192.168.1.5')).toBe(true);
    expect(m('192.168.1.6')).toBe(false);
    expect(m('172.31.255.1')).toBe(true);
    expect(m('172.32.0.1')).toBe(false);
  });

  it('matches IPv6 ranges and addresses, bracketed or not', () => {
    const m = compileCidrs(['2001:db8::/32', '::1']);
    expect(m('2001:db8:1::5')).toBe(true);
    expect(m('2001:DB8::ff')).toBe(true);
    expect(m('[2001:db8::1]')).toBe(true);
    expect(m('2001:db9::1')).toBe(false);
    expect(m('::1')).toBe(true);
    expect(m('::2')).toBe(false);
  });

  it('folds IPv4-mapped IPv6 addresses and CIDRs to IPv4', () => {
    const v4 = compileCidrs(['10.0.0.0/8']);
    expect(v4('::ffff:10.0.0.1')).toBe(true);
    expect(v4('::ffff:11.0.0.1')).toBe(false);
    const mapped = compileCidrs(['::ffff:10.0.0.0/104', '::ffff:192.0.2.9']);
    expect(mapped('10.9.9.9')).toBe(true);
    expect(mapped('::ffff:10.9.9.9')).toBe(true);
    expect(mapped('11.0.0.1')).toBe(false);
    expect(mapped('192.0.2.9')).toBe(true);
  });

  it('never matches across address families and never throws on garbage', () => {
    const v4 = compileCidrs(['0.0.0.0/0']);
    expect(v4('203.0.113.1')).toBe(true);
    expect(v4('2001:db8::1')).toBe(false);
    const v6 = compileCidrs(['::/0']);
    expect(v6('2001:db8::1')).toBe(true);
    expect(v6('203.0.113.1')).toBe(false);
    for (const bad of ['', 'unknown', '10.0.0.1:80', '10.0.0.256', '[::1', 'a.b.c.d']) expect(v4(bad), bad).toBe(false);
  });

  it('matches nothing when empty', () => {
    const m = compileCidrs([]);
    expect(m('127.0.0.1')).toBe(false);
    expect(m('::1')).toBe(false);
  });

  it('throws at compile time on a bad entry; cidrErrors names it', () => {
    expect(() => compileCidrs(['10.0.0.0/33'])).toThrow();
    expect(() => compileCidrs(['not-an-ip'])).toThrow();
    expect(cidrErrors(['10.0.0.0/8', 'nope', '::1', '1.2.3.4/40'])).toEqual([
      { index: 1, message: '"nope" is not an IP address or CIDR' },
      { index: 3, message: '"1.2.3.4/40" is not an IP address or CIDR' },
    ]);
    expect(cidrErrors([])).toEqual([]);
  });
});

describe('parseIp and normalizeIp', () => {
  it('parses plain, bracketed and mapped addresses', () => {
    expect(parseIp('10.0.0.1')?.toString()).toBe('10.0.0.1');
    expect(parseIp('[::1]:8080')?.toString()).toBe('::1');
    expect(parseIp('::ffff:1.2.3.4')?.kind()).toBe('ipv4');
    expect(parseIp('garbage')).toBeNull();
  });
  it('folds ::ffff:a.b.c.d only', () => {
    expect(normalizeIp('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(normalizeIp('::ffff:abcd')).toBe('::ffff:abcd');
    expect(normalizeIp('2001:db8::1')).toBe('2001:db8::1');
  });
});

describe('clientIpOf', () => {
  const trusted = compileCidrs(['10.0.0.0/8', 'fd00::/8']);

  it('ignores X-Forwarded-For from an untrusted peer', () => {
    expect(clientIpOf('203.0.113.7', '1.2.3.4', trusted)).toBe('203.0.113.7');
    expect(clientIpOf('203.0.113.7', ['1.2.3.4', '10.0.0.1'], trusted)).toBe('203.0.113.7');
  });

  it('is the peer when a trusted peer sends no X-Forwarded-For', () => {
    expect(clientIpOf('10.0.0.1', undefined, trusted)).toBe('10.0.0.1');
    expect(clientIpOf('10.0.0.1', '', trusted)).toBe('10.0.0.1');
  });

  it('walks a trusted chain from the right to the first untrusted address', () => {
    expect(clientIpOf('10.0.0.1', '203.0.113.7', trusted)).toBe('203.0.113.7');
    expect(clientIpOf('10.0.0.1', '203.0.113.7, 10.0.0.2,10.0.0.3', trusted)).toBe('203.0.113.7');
    expect(clientIpOf('fd00::1', '2001:db8::7, fd00::2', trusted)).toBe('2001:db8::7');
  });

  it('does not believe entries left of the first untrusted one (spoofed by the client)', () => {
    expect(clientIpOf('10.0.0.1', '10.9.9.9, 1.1.1.1, 203.0.113.7, 10.0.0.2', trusted)).toBe('203.0.113.7');
  });

  it('joins repeated X-Forwarded-For lines in order', () => {
    expect(clientIpOf('10.0.0.1', ['1.1.1.1, 203.0.113.7', '10.0.0.2'], trusted)).toBe('203.0.113.7');
  });

  it('is the leftmost address when every hop is trusted', () => {
    expect(clientIpOf('10.0.0.1', '10.0.0.3, 10.0.0.2', trusted)).toBe('10.0.0.3');
  });

  it('stops at a garbage entry and keeps the last good hop', () => {
    expect(clientIpOf('10.0.0.1', 'unknown', trusted)).toBe('10.0.0.1');
    expect(clientIpOf('10.0.0.1', '203.0.113.7, garbage', trusted)).toBe('10.0.0.1');
    expect(clientIpOf('10.0.0.1', '203.0.113.7, <script>, 10.0.0.2', trusted)).toBe('10.0.0.2');
    expect(clientIpOf('10.0.0.1', '203.0.113.7:4711', trusted)).toBe('203.0.113.7'); // port appended by some proxies
    expect(clientIpOf('10.0.0.1', ' , ', trusted)).toBe('10.0.0.1');
  });

  it('returns one canonical form of the client address', () => {
    expect(clientIpOf('10.0.0.1', '::ffff:203.0.113.7', trusted)).toBe('203.0.113.7');
    expect(clientIpOf('10.0.0.1', '[2001:db8::7]:443', trusted)).toBe('2001:db8::7');
    expect(clientIpOf('10.0.0.1', '2001:DB8:0:0:0:0:0:7', trusted)).toBe('2001:db8::7');
    expect(clientIpOf('10.0.0.1', '0177.0.0.1', trusted)).toBe('127.0.0.1');
  });

  it('treats an IPv4-mapped trusted hop as trusted', () => {
    expect(clientIpOf('10.0.0.1', '203.0.113.7, ::ffff:10.0.0.2', trusted)).toBe('203.0.113.7');
  });
});
