import { type FileHandle, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Keyring } from '../crypto/keyring.js';
import {
  type AuditRecord,
  byteBuffer,
  GENESIS,
  keptBuffer,
  RecordWriter,
  signedMessage,
  type WrittenRecord,
  withRoom,
} from './chain.js';
import { eventJson } from './event-json.js';
import type { AuditMetrics } from './metrics.js';
import { packFile } from './pack.js';
import type { AuditConfig } from './schema.js';
import { parseAge, retentionOf } from './schema.js';
import {
  ARCHIVE_SUFFIX,
  archiveAad,
  type ChainHead,
  GZIP_ARCHIVE_SUFFIX,
  listSegments,
  metaName,
  readMeta,
  type SegmentMeta,
  segmentName,
} from './segments.js';
import { AUDIT_PURPOSE, type AuditSigner } from './signer.js';
import type { AuditEvent, AuditSubscriber } from './types.js';

/** Largest event line kept whole; bigger events lose their `events` and `detail` (bounded records). */
const MAX_EVENT_BYTES = 32 * 1024;

export interface AuditLogOptions {
  /** The audit folder; the chain lives in `<dir>/<chain>/`. */
  readonly dir: string;
  /** One chain per writing process: "main" (single process), "w<slot>" (a worker), "cli". */
  readonly chain: string;
  readonly node: string;
  readonly signer: AuditSigner;
  /** Seals archived segments; without it closed segments stay plain (tests, and `audit verify` fixtures). */
  readonly keyring: Keyring | null;
  readonly config: AuditConfig;
  readonly logger?: Logger;
  /** How long to wait for another process's lock on the chain (the CLI waits; the gateway does not). */
  readonly lockWaitMs?: number;
  /** Prometheus metrics (the gateway passes them; the CLI does not). */
  readonly metrics?: AuditMetrics;
}

type Done = (err?: Error) => void;

/**
 * The tamper-evident audit log of one process: a hash chain of JSON Lines records in segment files, group-committed
 * (one write per batch; fdatasync per batch in sync mode, every fsync_ms in async), with signed checkpoints,
 * rotation, archiving and retention.
 *
 * Crash semantics (see docs/architecture.md): a written batch survives a process crash (kill -9: it is in the page
 * cache), and a machine crash once it was fdatasync'ed. `record()` (async) returns at once: a process crash loses the
 * events still queued or being written, at most `flush_ms` worth and never more than the queue; a machine crash also
 * the written batches not yet fsynced, at most `fsync_ms` worth (fdatasync per batch was most of async audit's cost
 * at the default flush_ms). A torn last line is cut off at the next start and an `audit.recovered` record says how
 * many bytes. `recordDurable()` (sync) resolves only after the fsync: what it acknowledged is never lost. HEAD.json
 * is only written after an fsync, so it never names a record a machine crash could lose.
 */
export class AuditLog {
  readonly chain: string;
  readonly chainDir: string;
  readonly durability: 'async' | 'sync';
  readonly #o: AuditLogOptions;
  readonly #cfg: AuditConfig;
  readonly #subs: AuditSubscriber[] = [];
  /**
   * Events waiting for the next batch, in order; those a caller waits on (sync) have their callback in #waiting. A
   * number is a request event recorded as JSON (recordRequestJson): its bytes end there in #stage.
   */
  #queue: (AuditEvent | number)[] = [];
  /** The bytes of the JSON entries of #queue, in order, the first at 0: off the JS heap until their batch. */
  #stage = byteBuffer();
  #stageLen = 0;
  readonly #waiting = new Map<AuditEvent, Done>();
  /** Encodes each batch's lines into one reused buffer. */
  readonly #writer = new RecordWriter();
  #fh: FileHandle | null = null;
  #segFirst = 0;
  #segBytes = 0;
  #segStart = 0;
  #segMeta: { first_prev: string; first_time: string; last_by_type: Record<string, { kind: string; time: string }> } = {
    first_prev: GENESIS,
    first_time: '',
    last_by_type: {},
  };
  #seq = 0;
  #prev = GENESIS;
  #sinceCheckpoint = 0;
  #lastCheckpoint = Date.now();
  #flushing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #immediate = false;
  #interval: NodeJS.Timeout | null = null;
  #system: { type: string; detail: Record<string, string | number | boolean>; done?: (e?: Error) => void }[] = [];
  #archiving: Promise<void> = Promise.resolve();
  #dropped = 0;
  #failed: Error | null = null;
  /** async: when the segment was last fdatasync'ed; the newest signed record written since (HEAD.json waits for it). */
  #lastSync = Date.now();
  #unsynced = false;
  #pendingHead: AuditRecord | null = null;
  #syncTimer: NodeJS.Timeout | null = null;
  #syncDue = false;
  #closed = false;
  #lockPath: string;
  #segmentMaxAge: number;
  /** Names this node in events (audit.node_id or the hostname). */
  get node(): string {
    return this.#o.node;
  }

  /**
   * Whether recordRequestJson may be used: async durability with no subscriber (a subscriber gets event objects; the
   * JSON form skips building one).
   */
  get takesJson(): boolean {
    return this.durability === 'async' && this.#subs.length === 0 && !this.#closed;
  }

  /** audit.include.requests: write an event for every request (else only security, change and system events). */
  get includeRequests(): boolean {
    return this.#cfg.include.requests;
  }

  /** False while the last write failed (a full disk, an I/O error); the next batch tries again. */
  get healthy(): boolean {
    return this.#failed === null;
  }

  /** Counters for tests and metrics. */
  readonly stats = { recorded: 0, written: 0, dropped: 0, batches: 0, checkpoints: 0, syncs: 0 };

  private constructor(o: AuditLogOptions) {
    this.#o = o;
    this.#cfg = o.config;
    this.chain = o.chain;
    this.chainDir = join(o.dir, o.chain);
    this.durability = o.config.durability;
    this.#lockPath = join(this.chainDir, 'LOCK');
    this.#segmentMaxAge = parseAge(o.config.segment_max_age) ?? 86_400_000;
  }

  /** Takes the chain's lock, repairs a torn tail, continues the chain with a signed start (or recovery) record. */
  static async open(o: AuditLogOptions): Promise<AuditLog> {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(o.chain)) throw new Error(`bad audit chain name "${o.chain}"`);
    const log = new AuditLog(o);
    await mkdir(log.chainDir, { recursive: true, mode: 0o700 });
    await log.#lock(o.lockWaitMs ?? 0);
    try {
      await log.#recover();
    } catch (e) {
      await rm(log.#lockPath, { force: true });
      throw e;
    }
    log.#interval = setInterval(() => log.#tick(), Math.min(o.config.checkpoint_ms, 60_000));
    log.#interval.unref();
    return log;
  }

  /** Adds a subscriber: it gets every event (request, security, change, system) once durable, in order, in batches. */
  subscribe(sub: AuditSubscriber): void {
    this.#subs.push(sub);
  }

  /**
   * Appends an event without waiting (async durability): the batch is written within flush_ms. Never throws;
   * past queue_max events are dropped and counted (an audit.dropped event records how many).
   */
  record(event: AuditEvent): void {
    if (this.#closed) return;
    if (this.#queueFull()) return;
    this.stats.recorded++;
    this.#queue.push(bounded(event));
    this.#schedule(false);
  }

  /**
   * record() for a request event already serialised as eventJson writes it (requestJson in the audit policy): its
   * UTF-8 bytes are staged off the JS heap, and its record is written byte for byte as record() would write the
   * event. Only while takesJson holds.
   */
  recordRequestJson(json: string): void {
    if (this.#closed) return;
    if (this.#queueFull()) return;
    this.stats.recorded++;
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    this.#stage = withRoom(this.#stage, this.#stageLen, json.length * 3);
    this.#stageLen += this.#stage.write(json, this.#stageLen, 'utf8');
    this.#queue.push(this.#stageLen);
    this.#schedule(false);
  }

  /** Past queue_max: counts a dropped event (an audit.dropped record will say how many) and returns true. */
  #queueFull(): boolean {
    if (this.#queue.length < this.#cfg.queue_max) return false;
    this.#dropped++;
    this.stats.dropped++;
    this.#o.metrics?.dropped.inc();
    return true;
  }

  /** Appends an event and resolves once its batch is fsynced (sync durability); rejects if it could not be written. */
  recordDurable(event: AuditEvent): Promise<void> {
    // No early refusal after a failed write: every batch tries the disk again, so the log recovers by itself.
    if (this.#closed) return Promise.reject(new Error('audit log closed'));
    this.stats.recorded++;
    return new Promise<void>((resolve, reject) => {
      const e = bounded(event);
      const done: Done = (err) => (err ? reject(err) : resolve());
      const before = this.#waiting.get(e);
      // The same object recorded twice waits once for both.
      this.#waiting.set(
        e,
        before
          ? (err) => {
              before(err);
              done(err);
            }
          : done,
      );
      this.#queue.push(e);
      this.#schedule(true);
    });
  }

  /** Writes everything queued now. */
  async flush(): Promise<void> {
    while (this.#queue.length || this.#system.length || this.#flushing) {
      await (this.#flushing ?? this.#startFlush());
    }
  }

  /** Forces a signed checkpoint now (tests, `audit rotate`). */
  async checkpoint(): Promise<void> {
    await this.#systemRecord('audit.checkpoint', { records: this.#sinceCheckpoint });
  }

  /** Closes the active segment now (signed close record) and archives it. */
  async rotate(): Promise<void> {
    await this.flush();
    await this.#rotate('requested');
    await this.#archiving;
  }

  /**
   * Deletes archived segments whose every event is past its type's retention, oldest first (so the remaining chain
   * stays one piece), after a signed `audit.retention.delete` record naming the range and its last hash is durable.
   */
  async applyRetention(now = Date.now()): Promise<{ deleted: string[] }> {
    await this.#archiving;
    const deleted: string[] = [];
    for (const seg of await listSegments(this.chainDir)) {
      if (seg.first === this.#segFirst) break;
      const meta = await readMeta(this.chainDir, seg.first);
      if (!meta) break;
      let expires = 0;
      for (const [type, v] of Object.entries(meta.last_by_type))
        expires = Math.max(expires, Date.parse(v.time) + retentionOf(this.#cfg, v.kind, type));
      if (expires > now) break;
      await this.#systemRecord('audit.retention.delete', {
        segment: seg.name,
        deleted_first_seq: meta.first_seq,
        deleted_last_seq: meta.close.seq,
        deleted_last_hash: meta.close.hash,
        deleted_first_time: meta.first_time,
        deleted_last_time: meta.last_time,
      });
      // Both copies (an archive interrupted by a crash leaves the plain one too), then the meta.
      await rm(join(this.chainDir, segmentName(seg.first)), { force: true });
      for (const suffix of [ARCHIVE_SUFFIX, GZIP_ARCHIVE_SUFFIX])
        await rm(join(this.chainDir, `${segmentName(seg.first)}${suffix}`), { force: true });
      await rm(join(this.chainDir, metaName(seg.first)), { force: true });
      deleted.push(seg.name);
    }
    return { deleted };
  }

  /** Writes what is queued, a signed stop record, and releases the lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#interval) clearInterval(this.#interval);
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#syncTimer) clearTimeout(this.#syncTimer);
    // From here new events are refused; what is queued is written before the signed stop record.
    this.#closed = true;
    await this.#systemRecord('audit.stop', {}).catch(() => {});
    await this.#archiving;
    await this.#fh?.close();
    this.#fh = null;
    await rm(this.#lockPath, { force: true });
    await Promise.allSettled(this.#subs.map((s) => s.close?.()));
  }

  // --- internals ---

  #schedule(now: boolean): void {
    if (this.#flushing) return; // the running flush picks the queue up
    if (now || this.#queue.length >= this.#cfg.batch_max) {
      if (this.#immediate) return;
      this.#immediate = true;
      // One tick of coalescing: the events of this turn of the event loop share a write and an fsync.
      setImmediate(() => {
        this.#immediate = false;
        void this.#startFlush();
      });
      return;
    }
    if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        void this.#startFlush();
      }, this.#cfg.flush_ms);
    }
  }

  #tick(): void {
    const due =
      this.#sinceCheckpoint > 0 && Date.now() - this.#lastCheckpoint >= this.#cfg.checkpoint_ms && !this.#closed;
    if (due) void this.#systemRecord('audit.checkpoint', { records: this.#sinceCheckpoint }).catch(() => {});
    else if (Date.now() - this.#segStart >= this.#segmentMaxAge && this.#segBytes > 0 && !this.#closed)
      void this.flush()
        .then(() => this.#rotate('age'))
        .catch(() => {});
    // Retention runs about hourly, from the same timer.
    if (Date.now() - this.#retentionAt >= 3_600_000 && !this.#closed) {
      this.#retentionAt = Date.now();
      void this.applyRetention().catch((e: unknown) => this.#o.logger?.error({ err: e }, 'audit retention failed'));
    }
  }
  /** 0: the first tick after start applies retention, then about hourly. */
  #retentionAt = 0;

  #systemRecord(type: string, detail: Record<string, string | number | boolean>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#system.push({ type, detail, done: (e) => (e ? reject(e) : resolve()) });
      this.#schedule(true);
    });
  }

  #startFlush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#flushing = this.#flushLoop().finally(() => {
      this.#flushing = null;
      if (this.#queue.length || this.#system.length)
        this.#schedule(this.durability === 'sync' || this.#system.length > 0);
    });
    return this.#flushing;
  }

  async #flushLoop(): Promise<void> {
    for (;;) {
      const batch = this.#queue.length <= this.#cfg.batch_max ? this.#queue : this.#queue.slice(0, this.#cfg.batch_max);
      this.#queue = batch === this.#queue ? [] : this.#queue.slice(batch.length);
      // A segment close goes last in its batch: whatever follows it belongs to the next segment.
      const system = this.#system.filter((x) => x.type !== 'audit.segment.close');
      const closes = this.#system.filter((x) => x.type === 'audit.segment.close');
      this.#system = [];
      const rotateNow = closes.length > 0 || this.#segBytes >= this.#cfg.segment_max_bytes;
      if (!batch.length && !system.length && !closes.length) {
        // Only the deferred fsync of written batches is due.
        if (this.#syncDue && this.#unsynced) await this.#syncNow().catch((e: unknown) => this.#syncFailed(e));
        this.#syncDue = false;
        return;
      }
      const before = {
        seq: this.#seq,
        prev: this.#prev,
        since: this.#sinceCheckpoint,
        at: this.#lastCheckpoint,
        dropped: this.#dropped,
      };
      this.#writer.reset();
      // The events for the subscribers (none: not collected); how many records; the newest signed one.
      const events: AuditEvent[] | null = this.#subs.length ? [] : null;
      let written = 0;
      let lastSigned: WrittenRecord | null = null;
      const push = (e: AuditEvent) => {
        this.#next(e);
        written++;
        events?.push(e);
      };
      const pushSigned = (r: WrittenRecord) => {
        lastSigned = r;
        written++;
        events?.push(r.event);
      };
      if (this.#dropped) {
        push({ ...this.#sys('audit.dropped'), severity: 'high', detail: { count: this.#dropped } });
        this.#dropped = 0;
      }
      // JSON entries: their bytes run on from the previous one's end in #stage; the newest one's time goes to the
      // segment's meta before a later event of the same type (or at the end of the batch).
      let from = 0;
      let lastJson = -1;
      for (const e of batch) {
        if (typeof e === 'number') {
          if (!this.#segMeta.first_time) this.#segMeta.first_time = this.#stagedTime(from);
          this.#prev = this.#writer.appendJson(++this.#seq, this.#prev, this.#stage, from, e);
          this.#sinceCheckpoint++;
          written++;
          events?.push(JSON.parse(this.#stage.toString('utf8', from, e)) as AuditEvent);
          lastJson = from;
          from = e;
          continue;
        }
        if (lastJson >= 0 && e.type === 'request') {
          this.#noteStaged(lastJson);
          lastJson = -1;
        }
        push(e);
      }
      if (lastJson >= 0) this.#noteStaged(lastJson);
      if (from > 0) this.#unstage(from);
      for (const s of system) pushSigned(this.#signed(s.type, s.detail));
      let close: WrittenRecord | null = null;
      if (rotateNow) {
        close = this.#signed('audit.segment.close', {
          reason: String(closes[0]?.detail.reason ?? 'size'),
          segment: segmentName(this.#segFirst),
        });
        pushSigned(close);
        system.push(...closes);
      }
      let head: AuditRecord | null = close ?? (system.length ? lastSigned : null);
      if (
        !head &&
        (this.#sinceCheckpoint >= this.#cfg.checkpoint_every ||
          (this.#sinceCheckpoint > 0 && Date.now() - this.#lastCheckpoint >= this.#cfg.checkpoint_ms))
      ) {
        const checkpoint = this.#signed('audit.checkpoint', { records: this.#sinceCheckpoint });
        pushSigned(checkpoint);
        head = checkpoint;
      }
      const t0 = performance.now();
      const segBefore = this.#segBytes;
      const headBefore = this.#pendingHead;
      try {
        const buf = this.#writer.bytes;
        const fh = this.#fh;
        if (!fh) throw new Error('audit log closed');
        await fh.write(buf);
        this.#segBytes += buf.length;
        this.#unsynced = true;
        if (head) this.#pendingHead = head;
        // sync, system records (someone waits for them), a segment close, or async's fsync interval: fdatasync now
        // (and HEAD.json after it); otherwise within fsync_ms.
        if (
          this.durability === 'sync' ||
          system.length > 0 ||
          close !== null ||
          this.#cfg.fsync_ms === 0 ||
          Date.now() - this.#lastSync >= this.#cfg.fsync_ms
        )
          await this.#syncNow();
        else this.#scheduleSync();
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        this.#failed = err;
        // Nothing of a failed batch stays: the chain continues from the last written record, and the lost events
        // are counted in the next audit.dropped record.
        this.#seq = before.seq;
        this.#prev = before.prev;
        this.#sinceCheckpoint = before.since;
        this.#lastCheckpoint = before.at;
        this.#segBytes = segBefore;
        this.#pendingHead = headBefore;
        await this.#fh?.truncate(segBefore).catch(() => {});
        // Events someone waits on (sync) are refused to them, not counted as dropped.
        const lost = batch.length - this.#settle(batch, err);
        this.#dropped += before.dropped + lost;
        this.#o.metrics?.failures.inc();
        this.#o.metrics?.dropped.inc(lost);
        this.#o.logger?.error({ err: { message: err.message } }, 'audit log write failed');
        for (const s of system) s.done?.(err);
        return;
      }
      this.#failed = null;
      // The next segment exists before anyone waiting on the close record goes on.
      if (close) await this.#switchSegment(close);
      this.stats.written += written;
      this.stats.batches++;
      const m = this.#o.metrics;
      if (m) {
        m.records.inc(written);
        m.commit.observe((performance.now() - t0) / 1000);
        m.queued.set(this.#queue.length);
      }
      this.#settle(batch);
      for (const s of system) s.done?.();
      if (events) {
        for (const s of this.#subs) {
          try {
            s.handle(events);
          } catch (e) {
            this.#o.logger?.error({ err: e, subscriber: s.name }, 'audit subscriber failed');
          }
        }
      }
      // async: keep writing only while full batches wait; a partial one waits for its timer (fewer fsyncs).
      if (this.durability === 'async' && this.#queue.length < this.#cfg.batch_max && !this.#system.length) return;
    }
  }

  #sys(type: string): AuditEvent {
    return { time: new Date().toISOString(), kind: 'system', type, node: this.#o.node };
  }

  /** The time of the staged JSON event starting at `from`: its first field (`{"time":"...`). */
  #stagedTime(from: number): string {
    const start = from + 9;
    return this.#stage.toString('latin1', start, this.#stage.indexOf(0x22, start));
  }

  /** Records the staged request event at `from` as its segment's latest request. */
  #noteStaged(from: number): void {
    const time = this.#stagedTime(from);
    const t = this.#segMeta.last_by_type.request;
    if (t) t.time = time;
    else this.#segMeta.last_by_type.request = { kind: 'request', time };
  }

  /** Drops the staged bytes `[0, upto)` (their events are encoded): the rest move to 0, their entries with them. */
  #unstage(upto: number): void {
    const rest = this.#stageLen - upto;
    if (rest === 0) this.#stage = keptBuffer(this.#stage);
    else {
      this.#stage.copy(this.#stage, 0, upto, this.#stageLen);
      const q = this.#queue;
      for (let i = 0; i < q.length; i++) {
        const e = q[i];
        if (typeof e === 'number') q[i] = e - upto;
      }
    }
    this.#stageLen = rest;
  }

  /** Calls back whoever waits on the batch's events (sync); returns how many did. */
  #settle(batch: readonly (AuditEvent | number)[], err?: Error): number {
    if (this.#waiting.size === 0) return 0;
    let n = 0;
    for (const e of batch) {
      if (typeof e === 'number') continue;
      const done = this.#waiting.get(e);
      if (!done) continue;
      this.#waiting.delete(e);
      done(err);
      n++;
    }
    return n;
  }

  /** Appends the event to the batch as the chain's next record. */
  #next(event: AuditEvent): void {
    this.#prev = this.#writer.append(++this.#seq, this.#prev, event);
    this.#sinceCheckpoint++;
    const t = this.#segMeta.last_by_type[event.type];
    if (t) t.time = event.time;
    else this.#segMeta.last_by_type[event.type] = { kind: event.kind, time: event.time };
    if (!this.#segMeta.first_time) this.#segMeta.first_time = event.time;
  }

  /** A record signed over the chain state before it (upto_seq, upto_hash). */
  #signed(type: string, detail: Record<string, string | number | boolean>): WrittenRecord {
    const s = this.#o.signer;
    const sig = s.sign(signedMessage(this.chain, this.#seq, this.#prev));
    const prev = this.#prev;
    const event: AuditEvent = {
      ...this.#sys(type),
      detail: { ...detail, chain: this.chain, upto_seq: this.#seq, upto_hash: prev, key_id: s.keyId, sig },
    };
    this.#next(event);
    const r: WrittenRecord = { seq: this.#seq, prev, hash: this.#prev, event, line: this.#writer.lastLine() };
    this.#sinceCheckpoint = 0;
    this.#lastCheckpoint = Date.now();
    this.stats.checkpoints++;
    return r;
  }

  /** fdatasync of the segment, then HEAD.json for the newest signed record it made durable. */
  async #syncNow(): Promise<void> {
    const fh = this.#fh;
    if (!fh) throw new Error('audit log closed');
    await fh.datasync();
    this.stats.syncs++;
    this.#lastSync = Date.now();
    this.#unsynced = false;
    this.#syncDue = false;
    const head = this.#pendingHead;
    this.#pendingHead = null;
    if (head) await this.#writeHead(head);
  }

  /** async: the written batches get their fdatasync within fsync_ms even if no event follows them. */
  #scheduleSync(): void {
    if (this.#syncTimer) return;
    const wait = Math.max(1, this.#cfg.fsync_ms - (Date.now() - this.#lastSync));
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = null;
      if (this.#closed || !this.#unsynced) return;
      this.#syncDue = true;
      // After a flush in progress (which may fsync by itself), else now.
      void (this.#flushing ?? Promise.resolve()).then(() => this.#startFlush());
    }, wait);
    this.#syncTimer.unref();
  }

  #syncFailed(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.#failed = err;
    this.#o.metrics?.failures.inc();
    this.#o.logger?.error({ err: { message: err.message } }, 'audit log fsync failed');
  }

  /** HEAD.json names the newest signed record itself (signed again), so cutting that record off is detected too. */
  async #writeHead(r: AuditRecord): Promise<void> {
    const s = this.#o.signer;
    const head: ChainHead = {
      chain: this.chain,
      seq: r.seq,
      hash: r.hash,
      key_id: s.keyId,
      sig: s.sign(signedMessage(this.chain, r.seq, r.hash)),
    };
    const tmp = join(this.chainDir, `.HEAD.${process.pid}.tmp`);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(head));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.chainDir, 'HEAD.json'));
  }

  async #lock(waitMs: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        await writeFile(this.#lockPath, String(process.pid), { flag: 'wx', mode: 0o600 });
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number(await readFile(this.#lockPath, 'utf8').catch(() => '0'));
      if (!pid || !alive(pid)) {
        // A lock left by a killed process: take it over.
        await rm(this.#lockPath, { force: true });
        continue;
      }
      if (Date.now() >= deadline)
        throw new Error(`audit chain ${this.chainDir} is locked by process ${pid} (one writer per chain)`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Finds the chain's end, cuts a torn last line off (a crash during a write), then continues the chain. */
  async #recover(): Promise<void> {
    const segs = await listSegments(this.chainDir);
    let last: AuditRecord | null = null;
    let torn = 0;
    let active: number | null = null;
    for (let i = segs.length - 1; i >= 0 && !last; i--) {
      const seg = segs[i];
      if (!seg) break;
      if (seg.archived) {
        const meta = await readMeta(this.chainDir, seg.first);
        if (!meta) throw new Error(`${seg.name} has no meta file; cannot continue the chain`);
        last = meta.close;
        break;
      }
      const path = join(this.chainDir, seg.name);
      const tail = await readTail(path);
      torn += tail.torn;
      if (tail.torn) {
        const fh = await open(path, 'r+');
        await fh.truncate(tail.size - tail.torn);
        await fh.datasync();
        await fh.close();
      }
      if (tail.last) {
        last = tail.last;
        if (i === segs.length - 1) active = seg.first;
      } else if (i === segs.length - 1) {
        await rm(path); // nothing whole in it
      }
    }
    if (last) {
      this.#seq = last.seq;
      this.#prev = last.hash;
    }
    const first = active ?? this.#seq + 1;
    await this.#openSegment(first, active !== null);
    if (active !== null) {
      // Continuing a segment: its retention meta must cover what is already in it (read it once).
      const text = await readFile(join(this.chainDir, segmentName(first)), 'utf8');
      let firstPrev = GENESIS;
      for (const line of text.split('\n')) {
        if (!line) continue;
        const r = JSON.parse(line) as AuditRecord;
        if (!this.#segMeta.first_time) {
          this.#segMeta.first_time = r.event.time;
          firstPrev = r.prev;
        }
        this.#segMeta.last_by_type[r.event.type] = { kind: r.event.kind, time: r.event.time };
      }
      this.#segMeta.first_prev = firstPrev;
    }
    const clean = !last || last.event.type === 'audit.stop';
    await this.#systemRecord(clean ? 'audit.start' : 'audit.recovered', clean ? {} : { torn_bytes: torn });
    if (!clean) this.#o.logger?.warn({ chain: this.chain, torn_bytes: torn }, 'audit chain recovered after a crash');
  }

  async #openSegment(first: number, existing: boolean): Promise<void> {
    const path = join(this.chainDir, segmentName(first));
    this.#fh = await open(path, 'a', 0o600);
    this.#segFirst = first;
    this.#segBytes = existing ? (await this.#fh.stat()).size : 0;
    this.#segStart = existing ? (await stat(path)).birthtimeMs || Date.now() : Date.now();
    this.#segMeta = { first_prev: this.#prev, first_time: '', last_by_type: {} };
  }

  /** Ends the active segment with a signed close record (the flush then starts the next segment). */
  async #rotate(reason: string): Promise<void> {
    if (this.#closed || !this.#fh || this.#segBytes === 0) return;
    await this.#systemRecord('audit.segment.close', { reason, segment: segmentName(this.#segFirst) });
  }

  /** After a batch ending in a close record: writes the segment's meta, starts the next, archives the closed one. */
  async #switchSegment(close: WrittenRecord): Promise<void> {
    const meta: SegmentMeta = {
      chain: this.chain,
      first_seq: this.#segFirst,
      first_prev: this.#segMeta.first_prev,
      first_time: this.#segMeta.first_time,
      last_time: close.event.time,
      last_by_type: this.#segMeta.last_by_type,
      close: { seq: close.seq, prev: close.prev, hash: close.hash, event: close.event },
      close_line: close.line,
    };
    const closedFirst = this.#segFirst;
    await writeFile(join(this.chainDir, metaName(closedFirst)), JSON.stringify(meta), { mode: 0o600 });
    await this.#fh?.close();
    await this.#openSegment(this.#seq + 1, false);
    if (this.#o.keyring) {
      const keyring = this.#o.keyring;
      this.#archiving = this.#archiving.then(() =>
        archiveSegment(this.chainDir, this.chain, closedFirst, keyring).catch((e: unknown) =>
          this.#o.logger?.error({ err: e }, 'audit segment archive failed; the segment stays plain'),
        ),
      );
    }
  }
}

/** Brotli, then AES-256-GCM under the keyring's audit data key (aad: chain and segment), fsync, drop the plain file. */
export async function archiveSegment(chainDir: string, chain: string, first: number, keyring: Keyring): Promise<void> {
  const plain = join(chainDir, segmentName(first));
  const packed = await packFile(plain);
  const sealed = keyring.encrypt(AUDIT_PURPOSE, packed, archiveAad(chain, first));
  const out = `${plain}${ARCHIVE_SUFFIX}`;
  const fh = await open(`${out}.tmp`, 'w', 0o600);
  try {
    await fh.writeFile(sealed);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(`${out}.tmp`, out);
  await rm(plain);
}

/** The last whole record of a segment and the bytes after it (a torn write). Reads at most the last 1 MiB. */
async function readTail(path: string): Promise<{ last: AuditRecord | null; torn: number; size: number }> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const len = Math.min(size, 1024 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const end = buf.lastIndexOf(0x0a);
    const torn = len - (end + 1);
    if (end < 0) return { last: null, torn: size === len ? torn : 0, size };
    const start = buf.lastIndexOf(0x0a, end - 1) + 1;
    let last: AuditRecord | null = null;
    try {
      last = JSON.parse(buf.subarray(start, end).toString('utf8')) as AuditRecord;
    } catch {
      throw new Error(`${path}: the last whole line is not a record; run \`rampart audit verify\``);
    }
    return { last, torn, size };
  } finally {
    await fh.close();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Caps an event's size: an oversized one keeps its identifying fields and says it was cut. */
function bounded(e: AuditEvent): AuditEvent {
  if (!e.events && !e.detail) return e;
  const n = eventJson(e).length;
  if (n <= MAX_EVENT_BYTES) return e;
  const { events, detail, ...rest } = e;
  return { ...rest, detail: { truncated: true, security_events: events?.length ?? 0 } };
}
