import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generator } from '../detect/testing.js';
import { makeRecord, parseLine, RecordWriter } from './chain.js';
import { eventJson } from './event-json.js';
import type { AuditEvent } from './types.js';

/** Strings that JSON must escape or that are not ASCII: each must come back equal after JSON.parse. */
const AWKWARD = [
  '',
  'plain',
  'say "hi"',
  'back\\slash',
  'tab\there',
  'nl\nand\rcr',
  '\u0000\u001f\u007f',
  'caf\u00e9',
  '\u65e5\u672c',
  '\u{1f600} emoji',
  'lone \ud800 high',
  'lone \udc00 low',
  '</script>',
  '\u2028\u2029',
];

const NUMBERS = [0, -0, 1, -1, 1.5, 0.1 + 0.2, 1e21, 1e-7, 123456789.125, Number.MAX_SAFE_INTEGER, NaN, Infinity];

function randomEvent(r: () => number): AuditEvent {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)] as T;
  const maybe = <T>(v: T) => (r() < 0.6 ? v : undefined);
  const e: Record<string, unknown> = {
    time: '2026-11-29T13:19:22.123Z',
    kind: pick(['request', 'security', 'change', 'system'] as const),
    type: pick(['request', 'auth.failure', 'detection.sqli', pick(AWKWARD)]),
    node: maybe(pick(AWKWARD)),
    request_id: maybe('0f5c2c9a-7b1e-4c59-a1f5-2d9b0a3e4c11'),
    actor: maybe({
      consumer: maybe(pick(AWKWARD)),
      credential: maybe('key_01'),
      subject: maybe(pick(AWKWARD)),
      operator: maybe('root'),
      client_ip: maybe('::1'),
    }),
    route: maybe(pick(AWKWARD)),
    method: maybe('GET'),
    path: maybe(`/users/${pick(AWKWARD)}`),
    status: maybe(pick([200, 404, 0])),
    code: maybe('FORBIDDEN'),
    bytes_in: maybe(pick(NUMBERS)),
    bytes_out: maybe(pick(NUMBERS)),
    latency_ms: maybe(pick(NUMBERS)),
    upstream: maybe('127.0.0.1:3001'),
    decision: maybe({ effect: 'deny', policy: 'authorize', rule: pick(AWKWARD) }),
    events: maybe([{ type: 'detection.xss', policy: 'threat-detection', detail: { fragment: pick(AWKWARD), n: 3 } }]),
    change: maybe({ target: 'consumer', action: 'create', after_digest: 'ab'.repeat(32) }),
    severity: maybe('high'),
    detail: maybe({ [pick(AWKWARD)]: pick(AWKWARD), count: pick(NUMBERS), ok: true }),
  };
  return e as unknown as AuditEvent;
}

describe('eventJson', () => {
  it('reads back as the same value JSON.stringify gives, for 2,000 generated events with awkward strings and numbers', () => {
    const r = generator(8);
    for (let i = 0; i < 2000; i++) {
      const e = randomEvent(r);
      const text = eventJson(e);
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(e)));
    }
  });

  it('writes the fields in one fixed order, whatever order the object was built in', () => {
    const a: AuditEvent = { time: 't', kind: 'request', type: 'request', status: 200, path: '/x', node: 'n' };
    const b: AuditEvent = { node: 'n', path: '/x', status: 200, type: 'request', kind: 'request', time: 't' };
    expect(eventJson(a)).toBe(eventJson(b));
    expect(eventJson(a)).toBe('{"time":"t","kind":"request","type":"request","node":"n","path":"/x","status":200}');
  });

  it('writes non-finite numbers as null and escapes what JSON must (valid JSON, the same bytes as JSON.stringify)', () => {
    const e = { time: 't', kind: 'request', type: 'request', latency_ms: NaN, path: '"\\\n\u0001\ud800' } as AuditEvent;
    expect(eventJson(e)).toBe(
      `{"time":"t","kind":"request","type":"request","path":${JSON.stringify(e.path)},"latency_ms":null}`,
    );
  });
});

describe('RecordWriter', () => {
  it('writes the lines makeRecord writes, byte for byte, with the same hashes, across buffer growth', () => {
    const r = generator(9);
    const w = new RecordWriter();
    for (let batch = 0; batch < 4; batch++) {
      w.reset();
      const expected: string[] = [];
      let prev = '0'.repeat(64);
      // Big events (a 40 KB detail) force the buffer to grow in the middle of a batch.
      for (let seq = 1; seq <= 300; seq++) {
        const e = randomEvent(r);
        const big = seq % 97 === 0 ? { ...e, detail: { blob: '\u00e9x'.repeat(20_000) } } : e;
        const want = makeRecord(seq, prev, big);
        const hash = w.append(seq, prev, big);
        expect(hash).toBe(want.hash);
        expect(w.lastLine()).toBe(want.line);
        expected.push(want.line);
        prev = hash;
      }
      const text = w.bytes.toString('utf8');
      expect(text).toBe(`${expected.join('\n')}\n`);
      // Each line's hash is SHA-256 over its own bytes before `,"hash"` (what `audit verify` recomputes).
      for (const line of text.split('\n').filter(Boolean)) {
        const parsed = parseLine(line);
        expect(parsed?.hashOk).toBe(true);
        const bytes = Buffer.from(line, 'utf8');
        const head = bytes.subarray(0, bytes.length - 75);
        expect(createHash('sha256').update(head).digest('hex')).toBe(parsed?.record.hash);
      }
    }
  });
});
