import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../types.js';
import { bulkItem, cefRecord, hecEvent, syslogLine, truncateUtf8 } from './format.js';

const e: AuditEvent = {
  time: '2026-11-29T04:00:00.123Z',
  kind: 'security',
  type: 'auth.failure',
  node: 'gw 1',
  request_id: 'r-1',
  severity: 'high',
  actor: { client_ip: '192.0.2.1', consumer: 'a"b]c\\d', credential: 'key|1' },
  route: 'users',
  status: 401,
  code: 'UNAUTHENTICATED',
  detail: { note: 'x=1\r\ny', 'bad key': 'dropped' },
};

describe('RFC 5424', () => {
  it('writes PRI, version, header fields, escaped structured data and a BOM-marked MSG', () => {
    const line = syslogLine(e, { facility: 13, appName: 'rampart', procId: '42' }, '{"m":1}');
    // facility 13 × 8 + severity 3 (error, for "high").
    expect(line).toBe(
      '<107>1 2026-11-29T04:00:00.123Z gw_1 rampart 42 auth.failure [rampart@32473 kind="security" type="auth.failure" request_id="r-1" client_ip="192.0.2.1" consumer="a\\"b\\]c\\\\d" route="users" status="401" code="UNAUTHENTICATED" severity="high"] \uFEFF{"m":1}',
    );
  });
});

describe('CEF', () => {
  it('escapes "|" and "\\" in the header, "=", "\\" and newlines in extensions', () => {
    const c = cefRecord({ ...e, type: 'odd|type\\x' }, '1.2.3');
    expect(c.startsWith('CEF:0|Rampart|Rampart|1.2.3|odd\\|type\\\\x|odd\\|type\\\\x|8|')).toBe(true);
    expect(c).toContain('suser=a"b]c\\\\d');
    expect(c).toContain('suid=key|1');
    expect(c).toContain('rampart_note=x\\=1\\r\\ny');
    expect(c).toContain(`rt=${Date.parse(e.time)}`);
    expect(c).not.toContain('bad key');
    expect(c).not.toMatch(/[\r\n]/);
  });
});

describe('HEC and _bulk', () => {
  it('wraps the event line with time in epoch seconds', () => {
    const line = JSON.stringify(e);
    const o = JSON.parse(hecEvent(line, e, { source: 's', sourcetype: 'st', index: 'i' }));
    expect(o).toEqual({ time: 1_795_924_800.123, host: 'gw 1', source: 's', sourcetype: 'st', index: 'i', event: e });
  });
  it('gives the same _id to the same event, so a resent batch does not duplicate', () => {
    const line = JSON.stringify(e);
    const [a1, d1] = bulkItem(line, 'idx').split('\n');
    const [a2] = bulkItem(line, 'idx').split('\n');
    expect(a1).toBe(a2);
    expect(JSON.parse(a1!)).toEqual({ index: { _index: 'idx', _id: expect.stringMatching(/^[0-9a-f]{32}$/) } });
    expect(JSON.parse(d1!)).toEqual(e);
    expect(bulkItem(JSON.stringify({ ...e, request_id: 'r-2' }), 'idx').split('\n')[0]).not.toBe(a1);
  });
});

describe('truncateUtf8', () => {
  it('never splits a multi-byte character', () => {
    expect(truncateUtf8('aé€😀', 100)).toBe('aé€😀');
    expect(truncateUtf8('aé€😀', 3)).toBe('aé');
    expect(truncateUtf8('aé€😀', 5)).toBe('aé');
    expect(truncateUtf8('aé€😀', 6)).toBe('aé€');
    expect(truncateUtf8('aé€😀', 9)).toBe('aé€');
    expect(truncateUtf8('aé€😀', 10)).toBe('aé€😀');
  });
});
