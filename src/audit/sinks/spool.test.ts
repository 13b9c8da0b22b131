import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Spool } from './spool.js';

const dir = () => mkdtempSync(join(tmpdir(), 'rampart-spool-'));
const recs = (from: number, n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: from + i }));

describe('Spool', () => {
  it('hands out records in order, keeps them until acknowledged, and survives a reopen', () => {
    const d = dir();
    const s = new Spool(d, { maxBytes: 1 << 20, segmentBytes: 200 });
    expect(s.append(recs(0, 30))).toBe(0);
    expect(s.count).toBe(30);
    const b1 = s.peek(10, 1 << 20)!;
    expect(b1.records.map((r) => JSON.parse(r).id)).toEqual([...Array(10).keys()]);
    // Not acknowledged: the same records again.
    expect(s.peek(10, 1 << 20)!.records).toEqual(b1.records);
    s.ack(b1);
    expect(s.count).toBe(20);
    s.close();
    const s2 = new Spool(d, { maxBytes: 1 << 20, segmentBytes: 200 });
    expect(s2.count).toBe(20);
    const ids: number[] = [];
    for (let b = s2.peek(7, 1 << 20); b; b = s2.peek(7, 1 << 20)) {
      ids.push(...b.records.map((r) => JSON.parse(r).id));
      s2.ack(b);
    }
    expect(ids).toEqual([...Array(20).keys()].map((i) => i + 10));
    expect(s2.count).toBe(0);
    expect(s2.bytes).toBe(0);
    // Sent segments are deleted: only the one being written remains.
    expect(readdirSync(d).filter((f) => f.endsWith('.log')).length).toBeLessThanOrEqual(1);
    s2.close();
  });

  it('drops what exceeds the cap and counts it, then accepts again once room is made', () => {
    const s = new Spool(dir(), { maxBytes: 100, segmentBytes: 4096 });
    const line = JSON.stringify({ id: 1, pad: 'x'.repeat(30) }); // 42 bytes + newline
    expect(s.append([line, line, line])).toBe(1);
    expect(s.count).toBe(2);
    s.ack(s.peek(1, 1 << 20)!);
    expect(s.append([line])).toBe(0);
    expect(s.count).toBe(2);
    s.close();
  });

  it('cuts a torn last record left by a crash and keeps the whole ones', async () => {
    const d = dir();
    const s = new Spool(d, { maxBytes: 1 << 20, segmentBytes: 1 << 20 });
    s.append(recs(0, 3));
    s.close();
    const { appendFileSync } = await import('node:fs');
    const seg = readdirSync(d).find((f) => f.endsWith('.log'))!;
    appendFileSync(join(d, seg), '{"id":3,"tor');
    const s2 = new Spool(d, { maxBytes: 1 << 20, segmentBytes: 1 << 20 });
    expect(s2.count).toBe(3);
    s2.append(recs(4, 1));
    expect(s2.peek(10, 1 << 20)!.records.map((r) => JSON.parse(r).id)).toEqual([0, 1, 2, 4]);
    s2.close();
  });

  it('respects the byte budget of a batch but always returns at least one record', () => {
    const s = new Spool(dir(), { maxBytes: 1 << 20, segmentBytes: 1 << 20 });
    s.append(recs(0, 5));
    expect(s.peek(100, 1)!.records.length).toBe(1);
    expect(s.peek(100, 20)!.records.length).toBe(2);
    s.close();
  });
});
