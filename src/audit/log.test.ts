import { readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type AuditRecord, makeRecord } from './chain.js';
import { eventJson } from './event-json.js';
import { readRecords } from './export.js';
import { AuditLog } from './log.js';
import { auditMetrics } from './metrics.js';
import { archiveAad, readMeta, readSegmentText, segmentName } from './segments.js';
import { AUDIT_PURPOSE } from './signer.js';
import { auditConfig, openTestLog, requestEvent, tempDir, tempKeyring, testSigner } from './test-helpers.js';
import type { AuditEvent } from './types.js';
import { verifyAuditDir } from './verify.js';

/** Writes n request events (checkpoint every 10) and closes the log; returns the segment path and signer. */
async function chainOf(n: number, over: Record<string, unknown> = {}) {
  const dir = await tempDir();
  const signer = testSigner();
  const log = await openTestLog(dir, signer, { checkpoint_every: 10, ...over });
  for (let i = 1; i <= n; i++) {
    log.record(requestEvent(i));
    if (i % 5 === 0) await log.flush();
  }
  await log.flush();
  await log.close();
  const seg = join(dir, 'main', segmentName(1));
  return { dir, signer, seg };
}

/** A log with Prometheus metrics on `registry`. */
function openWithMetrics(dir: string, registry: Registry) {
  return AuditLog.open({
    dir,
    chain: 'main',
    node: 't',
    signer: testSigner(),
    keyring: null,
    config: auditConfig(),
    metrics: auditMetrics(registry),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter(Boolean);
}

async function verify(dir: string, signer: ReturnType<typeof testSigner>) {
  const [r] = await verifyAuditDir(dir, { publicKeys: [signer.publicKey] });
  if (!r) throw new Error('no chain');
  return r;
}

describe('audit log: hash chain and signed checkpoints', () => {
  it('writes a chain that verifies, with start, checkpoints and a signed stop', async () => {
    const { dir, signer, seg } = await chainOf(25);
    const recs = (await lines(seg)).map((l) => JSON.parse(l) as AuditRecord);
    expect(recs.map((r) => r.seq)).toEqual(recs.map((_, i) => i + 1));
    const types = recs.map((r) => r.event.type);
    expect(types[0]).toBe('audit.start');
    expect(types.at(-1)).toBe('audit.stop');
    expect(types.filter((t) => t === 'request')).toHaveLength(25);
    expect(types.filter((t) => t === 'audit.checkpoint').length).toBeGreaterThanOrEqual(2);
    const r = await verify(dir, signer);
    expect(r.ok).toBe(true);
    expect(r.last_seq).toBe(recs.length);
    expect(r.unsigned_tail).toBe(0);
  });

  it('hands every event to subscribers after it is written, in order', async () => {
    const dir = await tempDir();
    const log = await openTestLog(dir, testSigner());
    const got: AuditEvent[] = [];
    log.subscribe({ name: 't', handle: (evs) => got.push(...evs) });
    for (let i = 1; i <= 5; i++) log.record(requestEvent(i));
    await log.flush();
    expect(got.filter((e) => e.type === 'request').map((e) => e.request_id)).toEqual([
      'req-1',
      'req-2',
      'req-3',
      'req-4',
      'req-5',
    ]);
    await log.close();
  });

  it('counts records and batch commits in its metrics', async () => {
    const registry = new Registry();
    const log = await openWithMetrics(await tempDir(), registry);
    for (let i = 1; i <= 7; i++) log.record(requestEvent(i));
    await log.flush();
    const text = await registry.metrics();
    expect(text).toMatch(/^rampart_audit_records_total 8$/m); // 7 events and the signed start record
    expect(text).toMatch(/^rampart_audit_commit_seconds_count [1-9]/m);
    expect(text).toMatch(/^rampart_audit_dropped_total 0$/m);
    await log.close();
  });

  it('a failed write: async events (objects or JSON) are counted as dropped, a sync caller is refused (and not counted)', async () => {
    const registry = new Registry();
    const dir = await tempDir();
    const log = await openWithMetrics(dir, registry);
    await log.flush();
    // The next segment is /dev/full: every write to it fails with ENOSPC, as on a full disk.
    await symlink('/dev/full', join(dir, 'main', segmentName(log.stats.written + 2)));
    await log.rotate();
    for (let i = 1; i <= 3; i++) log.record(requestEvent(i));
    log.recordRequestJson(eventJson(requestEvent(5)));
    const durable = log.recordDurable(requestEvent(4));
    await expect(durable).rejects.toThrow();
    await log.flush();
    expect(log.healthy).toBe(false);
    expect(await registry.metrics()).toMatch(/^rampart_audit_dropped_total 4$/m);
    await log.close();
  });
  it('a key other than the trusted one fails verification', async () => {
    const { dir } = await chainOf(3);
    const r = await verify(dir, testSigner());
    expect(r.ok).toBe(false);
    expect(r.problem?.kind).toBe('signature');
  });
});

describe("audit log: request events recorded as JSON (the audit policy's fast path)", () => {
  /** A request event whose JSON (eventJson) is recorded with recordRequestJson. */
  const jsonEvent = (i: number) =>
    requestEvent(i, { time: new Date(Date.UTC(2026, 10, 29, 12, 0, 0, i)).toISOString(), path: `/caf\u00e9/"${i}"` });

  it('writes the records record() would write, in order with object events, across batches and split batches', async () => {
    const dir = await tempDir();
    const signer = testSigner();
    // batch_max 4: a flush takes 4 entries and leaves staged ones behind (moved to the stage's start).
    const log = await openTestLog(dir, signer, { batch_max: 4, checkpoint_every: 7 });
    expect(log.takesJson).toBe(true);
    const expected: string[] = [];
    for (let i = 1; i <= 30; i++) {
      if (i % 7 === 0) {
        const e: AuditEvent = { ...requestEvent(i), kind: 'security', type: 'detection.sqli', severity: 'medium' };
        log.record(e);
        expected.push(eventJson(e));
      } else {
        const json = eventJson(jsonEvent(i));
        log.recordRequestJson(json);
        expected.push(json);
      }
      if (i % 11 === 0) await log.flush();
    }
    await log.close();
    const recs = await lines(join(dir, 'main', segmentName(1)));
    // The event part of each request or security line, byte for byte.
    const written = recs
      .filter((l) => !l.includes('"kind":"system"'))
      .map((l) => l.slice(l.indexOf(',"event":') + 9, l.lastIndexOf(',"hash":')));
    expect(written).toEqual(expected);
    const r = await verify(dir, signer);
    expect(r.ok).toBe(true);
    expect(log.stats.recorded).toBe(30);
  });

  it('puts their times in the segment meta (first and last per type), as for object events', async () => {
    const dir = await tempDir();
    const log = await openTestLog(dir, testSigner());
    log.recordRequestJson(eventJson(jsonEvent(1)));
    log.recordRequestJson(eventJson(jsonEvent(2)));
    log.record({
      time: '2026-11-29T12:00:00.500Z',
      kind: 'change',
      type: 'consumer.delete',
      actor: { operator: 'ops' },
    });
    log.recordRequestJson(eventJson(jsonEvent(3)));
    await log.rotate();
    const meta = await readMeta(join(dir, 'main'), 1);
    expect(meta?.last_by_type.request).toEqual({ kind: 'request', time: '2026-11-29T12:00:00.003Z' });
    expect(meta?.last_by_type['consumer.delete']?.time).toBe('2026-11-29T12:00:00.500Z');
    await log.close();
  });

  it('is only offered in async durability with no subscriber; a subscriber added later gets them as objects', async () => {
    const sync = await openTestLog(await tempDir(), testSigner(), { durability: 'sync' });
    expect(sync.takesJson).toBe(false);
    await sync.close();
    const dir = await tempDir();
    const log = await openTestLog(dir, testSigner());
    log.recordRequestJson(eventJson(jsonEvent(1)));
    const got: AuditEvent[] = [];
    log.subscribe({ name: 't', handle: (evs) => got.push(...evs) });
    expect(log.takesJson).toBe(false);
    await log.flush();
    expect(got.filter((e) => e.type === 'request')).toEqual([jsonEvent(1)]);
    await log.close();
    expect(log.takesJson).toBe(false);
  });

  it("past queue_max they are dropped and counted, like record()'s", async () => {
    const dir = await tempDir();
    const log = await openTestLog(dir, testSigner(), { queue_max: 3, flush_ms: 10_000 });
    for (let i = 1; i <= 5; i++) log.recordRequestJson(eventJson(jsonEvent(i)));
    expect(log.stats.dropped).toBe(2);
    await log.flush();
    await log.close();
    const recs = (await lines(join(dir, 'main', segmentName(1)))).map((l) => JSON.parse(l) as AuditRecord);
    expect(recs.filter((x) => x.event.type === 'request')).toHaveLength(3);
    expect(recs.find((x) => x.event.type === 'audit.dropped')?.event.detail).toEqual({ count: 2 });
  });
});

describe('audit verify names the first tampered record', () => {
  it('modify: a changed field', async () => {
    const { dir, signer, seg } = await chainOf(20);
    const ls = await lines(seg);
    ls[6] = (ls[6] as string).replace('"status":200', '"status":201');
    await writeFile(seg, `${ls.join('\n')}\n`);
    const r = await verify(dir, signer);
    expect(r.problem).toMatchObject({ kind: 'altered', seq: 7 });
  });

  it('modify: an edit that leaves the JSON equal (spaces) is still found', async () => {
    const { dir, signer, seg } = await chainOf(20);
    const ls = await lines(seg);
    ls[3] = (ls[3] as string).replace('"method":', '"method": ');
    await writeFile(seg, `${ls.join('\n')}\n`);
    const r = await verify(dir, signer);
    expect(r.problem).toMatchObject({ kind: 'altered', seq: 4 });
  });

  it('modify with a recomputed hash breaks the next link', async () => {
    const { dir, signer, seg } = await chainOf(20);
    const ls = await lines(seg);
    const rec = JSON.parse(ls[6] as string) as AuditRecord;
    const forged = makeRecord(rec.seq, rec.prev, { ...rec.event, status: 500 });
    ls[6] = forged.line;
    await writeFile(seg, `${ls.join('\n')}\n`);
    const r = await verify(dir, signer);
    expect(r.problem).toMatchObject({ kind: 'altered', seq: 7 });
  });

  it('delete: a removed record', async () => {
    const { dir, signer, seg } = await chainOf(20);
    const ls = await lines(seg);
    ls.splice(8, 1);
    await writeFile(seg, `${ls.join('\n')}\n`);
    const r = await verify(dir, signer);
    expect(r.problem).toMatchObject({ kind: 'removed', seq: 9 });
  });

  it('insert: a forged record linked into place', async () => {
    const { dir, signer, seg } = await chainOf(20);
    const ls = await lines(seg);
    const before = JSON.parse(ls[4] as string) as AuditRecord;
    const forged = makeRecord(before.seq + 1, before.hash, requestEvent(999));
    ls.splice(5, 0, forged.line);
    await writeFile(seg, `${ls.join('\n')}\n`);
    const r = await verify(dir, signer);
    expect(r.ok).toBe(false);
    expect(r.problem?.kind).toBe('inserted');
    expect(r.problem?.seq).toBe(6);
  });

  it('insert with the whole rest of the chain re-hashed: the next signature fails', async () => {
    const { dir, signer, seg } = await chainOf(20);
    const original = await lines(seg);
    const recs = original.map((l) => JSON.parse(l) as AuditRecord);
    const out: string[] = original.slice(0, 5);
    let prev = (recs[4] as AuditRecord).hash;
    const rest = [requestEvent(999), ...recs.slice(5).map((r) => r.event)];
    for (const ev of rest) {
      const r = makeRecord(out.length + 1, prev, ev);
      out.push(r.line);
      prev = r.hash;
    }
    await writeFile(seg, `${out.join('\n')}\n`);
    const r = await verify(dir, signer);
    expect(r.problem?.kind).toMatch(/signature|altered/);
    // The first signed record after the insertion (a checkpoint) is where it is caught, no later.
    const firstSignedAfter = recs.slice(5).find((x) => x.event.type === 'audit.checkpoint') as AuditRecord;
    expect(r.problem?.seq).toBe(firstSignedAfter.seq + 1);
  });

  it('reorder: two records swapped', async () => {
    const { dir, signer, seg } = await chainOf(20);
    const ls = await lines(seg);
    [ls[10], ls[11]] = [ls[11] as string, ls[10] as string];
    await writeFile(seg, `${ls.join('\n')}\n`);
    const r = await verify(dir, signer);
    expect(r.problem).toMatchObject({ kind: 'reordered', seq: 11 });
  });

  it('truncate: records cut off the end (HEAD.json names the lost end)', async () => {
    const { dir, signer, seg } = await chainOf(20);
    const ls = await lines(seg);
    await writeFile(seg, `${ls.slice(0, ls.length - 3).join('\n')}\n`);
    const r = await verify(dir, signer);
    expect(r.problem).toMatchObject({ kind: 'truncated', seq: ls.length - 2 });
  });

  it('truncate: HEAD.json removed too is still reported', async () => {
    const { dir, signer, seg } = await chainOf(5);
    await rm(join(dir, 'main', 'HEAD.json'));
    const r = await verify(dir, signer);
    expect(r.problem?.kind).toBe('truncated');
    expect(seg).toContain('seg-');
  });
});

describe('audit log: crash recovery, rotation, archive and retention', () => {
  it('cuts a torn last line at the next start and records the recovery', async () => {
    const dir = await tempDir();
    const signer = testSigner();
    const log = await openTestLog(dir, signer);
    for (let i = 1; i <= 5; i++) log.record(requestEvent(i));
    await log.flush();
    // A crash: no stop record, a half-written line, and the lock left behind by a dead process.
    const seg = join(dir, 'main', segmentName(1));
    await writeFile(seg, `${await readFile(seg, 'utf8')}{"seq":99,"prev":"ab`);
    await writeFile(join(dir, 'main', 'LOCK'), '999999999');
    const torn = await verify(dir, signer);
    expect(torn.ok).toBe(true);
    expect(torn.torn_bytes).toBeGreaterThan(0);
    (log as unknown as { close(): Promise<void> }).close = async () => {};
    const again = await openTestLog(dir, signer);
    again.record(requestEvent(6));
    await again.close();
    const recs = (await lines(seg)).map((l) => JSON.parse(l) as AuditRecord);
    const rec = recs.find((r) => r.event.type === 'audit.recovered');
    expect(rec?.event.detail?.torn_bytes).toBe(20);
    const r = await verify(dir, signer);
    expect(r).toMatchObject({ ok: true, torn_bytes: 0 });
  });

  it('rotates into encrypted archives that verify with the keyring, and across them without it', async () => {
    const dir = await tempDir();
    const keyring = await tempKeyring(dir);
    const signer = testSigner();
    const log = await openTestLog(dir, signer, { segment_max_bytes: 4096 }, keyring);
    for (let i = 1; i <= 60; i++) {
      log.record(requestEvent(i));
      if (i % 10 === 0) await log.flush();
    }
    await log.rotate();
    await log.close();
    const files = await readdir(join(dir, 'main'));
    expect(files.filter((f) => f.endsWith('.br.enc')).length).toBeGreaterThanOrEqual(2);
    const enc = files.find((f) => f.endsWith('.br.enc')) as string;
    expect(await readFile(join(dir, 'main', enc), 'utf8')).not.toContain('req-1');
    const [withKey] = await verifyAuditDir(dir, { publicKeys: [signer.publicKey], keyring });
    expect(withKey).toMatchObject({ ok: true, archived_unchecked: [] });
    const [without] = await verifyAuditDir(dir, { publicKeys: [signer.publicKey] });
    expect(without?.ok).toBe(true);
    expect(without?.archived_unchecked.length).toBeGreaterThanOrEqual(2);
    // export/search read archives through the keyring; without it they are skipped and named.
    const ids: string[] = [];
    for await (const { record } of readRecords(dir, keyring))
      if (record.event.request_id) ids.push(record.event.request_id);
    expect(ids).toEqual(Array.from({ length: 60 }, (_, i) => `req-${i + 1}`));
    const skipped: string[] = [];
    for await (const _ of readRecords(dir, null, skipped)) void _;
    expect(skipped.length).toBe(without?.archived_unchecked.length);
  });

  it('reads, verifies and deletes archives written with gzip (before Brotli)', async () => {
    const dir = await tempDir();
    const keyring = await tempKeyring(dir);
    const signer = testSigner();
    const log = await openTestLog(dir, signer, { retention: { request: '1d', system: '1d' } }, keyring);
    for (let i = 1; i <= 5; i++) log.record(requestEvent(i));
    await log.rotate();
    // The archive as an earlier version wrote it: the same plain text, gzip instead of Brotli, same sealing.
    const chainDir = join(dir, 'main');
    const br = (await readdir(chainDir)).find((f) => f.endsWith('.br.enc')) as string;
    const seg = { first: 1, name: br, archived: true };
    const text = (await readSegmentText(chainDir, 'main', seg, keyring)) as string;
    expect(text).toContain('req-5');
    const gz = br.replace('.br.enc', '.gz.enc');
    await writeFile(join(chainDir, gz), keyring.encrypt(AUDIT_PURPOSE, gzipSync(text), archiveAad('main', 1)));
    await rm(join(chainDir, br));
    const ids: string[] = [];
    for await (const { record } of readRecords(dir, keyring))
      if (record.event.request_id) ids.push(record.event.request_id);
    expect(ids).toEqual(['req-1', 'req-2', 'req-3', 'req-4', 'req-5']);
    const [r] = await verifyAuditDir(dir, { publicKeys: [signer.publicKey], keyring });
    expect(r).toMatchObject({ ok: true, archived_unchecked: [] });
    expect((await log.applyRetention(Date.now() + 2 * 86_400_000)).deleted).toEqual([gz]);
    expect(await readdir(chainDir)).not.toContain(gz);
    await log.close();
  });

  it('retention deletes expired segments with a signed record; the chain verifies across the gap', async () => {
    const dir = await tempDir();
    const keyring = await tempKeyring(dir);
    const signer = testSigner();
    const cfg = { segment_max_bytes: 4096, retention: { request: '1d', system: '1d' } };
    const log = await openTestLog(dir, signer, cfg, keyring);
    for (let i = 1; i <= 40; i++) {
      log.record(requestEvent(i));
      if (i % 10 === 0) await log.flush();
    }
    await log.rotate();
    const { deleted } = await log.applyRetention(Date.now() + 2 * 86_400_000);
    expect(deleted.length).toBeGreaterThanOrEqual(1);
    for (let i = 41; i <= 100; i++) {
      log.record(requestEvent(i));
      if (i % 10 === 0) await log.flush();
    }
    await log.rotate();
    await log.close();
    const [r] = await verifyAuditDir(dir, { publicKeys: [signer.publicKey], keyring });
    expect(r?.ok).toBe(true);
    expect(r?.first_seq).toBeGreaterThan(1);
    // Removing the oldest remaining segment without a retention record is caught.
    const segs = (await readdir(join(dir, 'main'))).filter((f) => f.endsWith('.br.enc')).sort();
    expect(segs.length).toBeGreaterThanOrEqual(2);
    await rm(join(dir, 'main', segs[0] as string));
    const [bad] = await verifyAuditDir(dir, { publicKeys: [signer.publicKey], keyring });
    expect(bad?.ok).toBe(false);
    expect(bad?.problem?.kind).toBe('removed');
  });

  it('retention is per event type: a segment holding a longer-kept event stays until that one expires', async () => {
    const dir = await tempDir();
    const signer = testSigner();
    const cfg = { retention: { request: '1d', system: '1d', change: '30d' } };
    const log = await openTestLog(dir, signer, cfg);
    log.record(requestEvent(1));
    log.record({ time: new Date().toISOString(), kind: 'change', type: 'consumer.delete', actor: { operator: 'ops' } });
    await log.rotate(); // segment 1: requests, system records and one change
    log.record(requestEvent(2));
    await log.rotate(); // segment 2: requests and system records only
    const day = 86_400_000;
    expect((await log.applyRetention(Date.now() + 2 * day)).deleted).toEqual([]); // oldest first: segment 1 holds on
    expect((await log.applyRetention(Date.now() + 31 * day)).deleted).toHaveLength(2);
    await log.close();
    const [r] = await verifyAuditDir(dir, { publicKeys: [signer.publicKey] });
    expect(r?.ok).toBe(true);
  });

  it('sync durability: recordDurable resolves after the write, each batch fsynced', async () => {
    const dir = await tempDir();
    const signer = testSigner();
    const log = await openTestLog(dir, signer, { durability: 'sync' });
    await Promise.all([1, 2, 3].map((i) => log.recordDurable(requestEvent(i))));
    const text = await readFile(join(dir, 'main', segmentName(1)), 'utf8');
    expect(text).toContain('"req-3"');
    expect(auditConfig().durability).toBe('async');
    const before = { ...log.stats };
    await log.recordDurable(requestEvent(4));
    expect(log.stats.syncs - before.syncs).toBe(log.stats.batches - before.batches);
    await log.close();
  });

  it('async durability: batches are written every flush_ms, fsynced every fsync_ms; HEAD.json only after an fsync', async () => {
    const dir = await tempDir();
    const signer = testSigner();
    const log = await openTestLog(dir, signer, { flush_ms: 5, fsync_ms: 1000, checkpoint_every: 5 });
    const head = async () => JSON.parse(await readFile(join(dir, 'main', 'HEAD.json'), 'utf8')) as { seq: number };
    // The first batch after a quiet spell is fsynced at once (its fsync_ms has passed); those right after it wait.
    await sleep(1050);
    log.record(requestEvent(0));
    await log.flush();
    const start = { ...log.stats, head: (await head()).seq };
    for (let i = 1; i <= 40; i++) {
      log.record(requestEvent(i));
      if (i % 5 === 0) await log.flush();
    }
    // Eight batches written (a process crash keeps them), each holding a signed checkpoint, and no fsync yet: HEAD.json
    // still names the state of the last fsync, never a record a machine crash could lose.
    expect(log.stats.batches - start.batches).toBe(8);
    expect(log.stats.syncs).toBe(start.syncs);
    expect(await readFile(join(dir, 'main', segmentName(1)), 'utf8')).toContain('"req-40"');
    expect((await head()).seq).toBe(start.head);
    // Within fsync_ms the timer fsyncs them, and HEAD.json moves to the newest checkpoint.
    await sleep(1100);
    expect(log.stats.syncs).toBe(start.syncs + 1);
    const recs = (await lines(join(dir, 'main', segmentName(1)))).map((l) => JSON.parse(l) as AuditRecord);
    const lastCheckpoint = recs.filter((r) => r.event.type === 'audit.checkpoint').pop();
    expect((await head()).seq).toBe(lastCheckpoint?.seq);
    await log.close();
    const [r] = await verifyAuditDir(dir, { publicKeys: [signer.publicKey] });
    expect(r?.ok).toBe(true);
  });

  it('fsync_ms 0: every async batch is fsynced', async () => {
    const dir = await tempDir();
    const log = await openTestLog(dir, testSigner(), { flush_ms: 5, fsync_ms: 0 });
    const before = { ...log.stats };
    for (let i = 1; i <= 20; i++) {
      log.record(requestEvent(i));
      if (i % 5 === 0) await log.flush();
    }
    expect(log.stats.batches - before.batches).toBe(4);
    expect(log.stats.syncs - before.syncs).toBe(4);
    await log.close();
  });
});
