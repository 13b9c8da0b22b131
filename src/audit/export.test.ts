import { describe, expect, it } from 'vitest';
import { digestOf, makeRecord, parseLine } from './chain.js';
import { formatEvent, matches } from './export.js';
import { auditSchema, parseAge, retentionOf } from './schema.js';
import type { AuditEvent } from './types.js';

const denied: AuditEvent = {
  time: '2026-11-29T10:00:00.000Z',
  kind: 'security',
  type: 'auth.failure',
  node: 'n1',
  request_id: 'r-1',
  actor: { client_ip: '10.0.0.9', consumer: 'c-1' },
  route: 'orders',
  method: 'GET',
  path: '/orders/7',
  status: 401,
  code: 'UNAUTHENTICATED',
  events: [{ type: 'auth.failure', policy: 'gateway', action: 'block' }],
  severity: 'medium',
};

describe('audit export and search filters', () => {
  it('matches each filter, type prefixes and time ranges', () => {
    expect(matches(denied, {})).toBe(true);
    expect(matches(denied, { types: ['auth.'] })).toBe(true);
    expect(matches(denied, { types: ['auth.lockout'] })).toBe(false);
    expect(matches(denied, { kinds: ['request'] })).toBe(false);
    expect(matches(denied, { consumer: 'c-1', ip: '10.0.0.9', route: 'orders', status: 401 })).toBe(true);
    expect(matches(denied, { ip: '10.0.0.8' })).toBe(false);
    expect(matches(denied, { text: 'ORDERS/7' })).toBe(true);
    const t = Date.parse(denied.time);
    expect(matches(denied, { from: t, to: t + 1 })).toBe(true);
    expect(matches(denied, { from: t + 1 })).toBe(false);
    expect(matches(denied, { to: t })).toBe(false);
  });

  it('formats JSON Lines (with chain, seq, hash), CEF and OCSF', () => {
    const r = makeRecord(7, '0'.repeat(64), denied);
    const jsonl = JSON.parse(formatEvent('main', r, 'jsonl', '1.0.0')) as Record<string, unknown>;
    expect(jsonl).toMatchObject({ chain: 'main', seq: 7, hash: r.hash, type: 'auth.failure', status: 401 });
    const cef = formatEvent('main', r, 'cef', '1.0.0');
    expect(cef).toMatch(/^CEF:0\|Rampart\|Rampart\|1\.0\.0\|auth\.failure\|/);
    expect(cef).toContain('src=10.0.0.9');
    const ocsf = JSON.parse(formatEvent('main', r, 'ocsf', '1.0.0')) as Record<string, unknown>;
    expect(ocsf).toMatchObject({
      class_uid: 3002,
      type_uid: 300201,
      status_id: 2,
      src_endpoint: { ip: '10.0.0.9' },
      metadata: { uid: 'main:7', correlation_uid: 'r-1' },
      http_request: { http_method: 'GET', url: { path: '/orders/7' } },
    });
  });
});

describe('audit records and config', () => {
  it('a line hashes its own bytes: parseLine accepts it and refuses any edit', () => {
    const r = makeRecord(1, '0'.repeat(64), denied);
    expect(parseLine(r.line)).toEqual({
      record: { seq: 1, prev: '0'.repeat(64), hash: r.hash, event: denied },
      hashOk: true,
    });
    expect(parseLine(r.line.replace('401', '402'))?.hashOk).toBe(false);
    expect(parseLine('not json')).toBeNull();
  });

  it('digests are stable across key order', () => {
    expect(digestOf({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(digestOf({ b: { d: 'x', c: [1, 2] }, a: 1 }));
    expect(digestOf({ a: 1 })).not.toBe(digestOf({ a: 2 }));
  });

  it('retention by type, else kind, else 7 years; bad durations refused with the field named', () => {
    const cfg = auditSchema.parse({ retention: { request: '30d', 'auth.failure': '90d' } });
    expect(retentionOf(cfg, 'security', 'auth.failure')).toBe(90 * 86_400_000);
    expect(retentionOf(cfg, 'request', 'request')).toBe(30 * 86_400_000);
    expect(retentionOf(cfg, 'change', 'config.reload')).toBe(parseAge('7y'));
    const bad = auditSchema.safeParse({ retention: { request: '30 days' } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['retention', 'request']);
    expect(auditSchema.safeParse({ durability: 'eventually' }).success).toBe(false);
  });
});
