import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/**
 * The on-disk buffer of one sink: append-only segment files of newline-terminated records (event JSON has no raw
 * newline) and a cursor file with the position of the first record not yet acknowledged. Every event is written here
 * before it is sent, so a SIEM outage or a restart loses nothing up to `maxBytes`; what the sink acknowledged is
 * skipped by the cursor and whole segments are deleted once passed. Delivery is at least once: a crash between a
 * send and the cursor write sends that batch again.
 */
export interface SpoolBatch {
  readonly records: string[];
  /** Position after the last record, for ack(). */
  readonly end: { segment: number; offset: number };
}

export interface SpoolOptions {
  maxBytes: number;
  segmentBytes: number;
  /** fdatasync after each append, so what the audit log made durable is durable in the spool too. */
  fsync?: boolean;
}

const SEG = /^(\d{12})\.log$/;
const name = (n: number) => `${String(n).padStart(12, '0')}.log`;

export class Spool {
  /** Segment numbers on disk, oldest first; the last one is appended to. */
  private readonly segments: number[] = [];
  private readonly sizes = new Map<number, number>();
  private cursor = { segment: 0, offset: 0 };
  private fd: number | null = null;
  /** Bytes on disk not yet acknowledged (what the cap limits). */
  private pendingBytes = 0;
  private pendingCount = 0;

  constructor(
    readonly dir: string,
    private readonly o: SpoolOptions,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(dir)) {
      const m = SEG.exec(f);
      if (m) {
        const n = Number(m[1]);
        this.segments.push(n);
        this.sizes.set(n, statSync(join(dir, f)).size);
      }
    }
    this.segments.sort((a, b) => a - b);
    try {
      const c = JSON.parse(readFileSync(join(dir, 'cursor'), 'utf8')) as { segment: number; offset: number };
      if (Number.isSafeInteger(c.segment) && Number.isSafeInteger(c.offset)) this.cursor = c;
    } catch {
      // No cursor yet: start at the oldest segment.
    }
    // Segments wholly before the cursor were sent; a cursor pointing at a deleted segment moves to the next one.
    while (this.segments.length > 0 && this.segments[0]! < this.cursor.segment) this.unlinkSegment(this.segments[0]!);
    if (this.segments.length > 0 && this.segments[0]! !== this.cursor.segment)
      this.cursor = { segment: this.segments[0]!, offset: 0 };
    if (this.segments.length === 0) {
      const n = Math.max(1, this.cursor.segment);
      this.segments.push(n);
      this.sizes.set(n, 0);
      this.cursor = { segment: n, offset: 0 };
    }
    // A torn last record (a crash mid-write) is cut off so that appends start on a line boundary.
    const last = this.segments[this.segments.length - 1]!;
    this.truncateTorn(last);
    for (const s of this.segments)
      this.pendingBytes += this.sizes.get(s)! - (s === this.cursor.segment ? this.cursor.offset : 0);
    this.pendingCount = this.countPending();
  }

  /** Unacknowledged bytes and records. */
  get bytes(): number {
    return this.pendingBytes;
  }
  get count(): number {
    return this.pendingCount;
  }

  /**
   * Appends records; returns how many did not fit under the cap (dropped, newest first kept out: the cap protects
   * the disk, and what is already spooled is older and as valuable).
   */
  append(records: readonly string[]): number {
    let buf = '';
    let n = 0;
    let dropped = 0;
    let bytes = 0;
    for (const r of records) {
      const line = `${r}\n`;
      const len = Buffer.byteLength(line);
      if (this.pendingBytes + bytes + len > this.o.maxBytes) {
        dropped++;
        continue;
      }
      buf += line;
      bytes += len;
      n++;
    }
    if (n === 0) return dropped;
    let seg = this.segments[this.segments.length - 1]!;
    if (this.sizes.get(seg)! > 0 && this.sizes.get(seg)! + bytes > this.o.segmentBytes) {
      seg = this.rotate();
    }
    if (this.fd === null) this.fd = openSync(join(this.dir, name(seg)), 'a', 0o600);
    const b = Buffer.from(buf);
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off);
    if (this.o.fsync) fdatasyncSync(this.fd);
    this.sizes.set(seg, this.sizes.get(seg)! + b.length);
    this.pendingBytes += b.length;
    this.pendingCount += n;
    return dropped;
  }

  /** Up to maxRecords / maxBytes records from the cursor on (at least one record if any is pending). */
  peek(maxRecords: number, maxBytes: number): SpoolBatch | null {
    const records: string[] = [];
    let { segment, offset } = this.cursor;
    let budget = maxBytes;
    let i = this.segments.indexOf(segment);
    while (i >= 0 && i < this.segments.length && records.length < maxRecords && budget > 0) {
      segment = this.segments[i]!;
      const size = this.sizes.get(segment)!;
      if (offset >= size) {
        if (i === this.segments.length - 1) break;
        i++;
        offset = 0;
        continue;
      }
      let want = Math.min(size - offset, Math.max(budget, 64 * 1024));
      let buf = this.read(segment, offset, want);
      // One record longer than the read: read up to the end of the segment to find its end.
      if (buf.indexOf(10) === -1 && want < size - offset) {
        want = size - offset;
        buf = this.read(segment, offset, want);
      }
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(10, start);
        if (nl === -1) break;
        const len = nl + 1 - start;
        if (records.length > 0 && len > budget) break;
        records.push(buf.toString('utf8', start, nl));
        budget -= len;
        start = nl + 1;
        if (records.length >= maxRecords || budget <= 0) break;
      }
      if (start === 0) break;
      offset += start;
    }
    if (records.length === 0) return null;
    return { records, end: { segment, offset } };
  }

  private read(segment: number, offset: number, want: number): Buffer {
    const buf = Buffer.allocUnsafe(want);
    const fd = openSync(join(this.dir, name(segment)), 'r');
    let got = 0;
    try {
      while (got < want) {
        const r = readSync(fd, buf, got, want - got, offset + got);
        if (r === 0) break;
        got += r;
      }
    } finally {
      closeSync(fd);
    }
    return buf.subarray(0, got);
  }

  /** Marks everything up to `end` as sent: moves and persists the cursor, deletes passed segments. */
  ack(batch: SpoolBatch): void {
    const { segment, offset } = batch.end;
    let freed = 0;
    for (const s of this.segments) {
      if (s > segment) break;
      const from = s === this.cursor.segment ? this.cursor.offset : 0;
      const to = s === segment ? offset : this.sizes.get(s)!;
      freed += to - from;
    }
    this.cursor = { segment, offset };
    this.pendingBytes -= freed;
    this.pendingCount -= batch.records.length;
    while (this.segments.length > 1 && this.segments[0]! < segment) this.unlinkSegment(this.segments[0]!);
    // The cursor sits at the end of a finished segment: step to the next one.
    if (this.segments.length > 1 && this.segments[0] === segment && offset >= this.sizes.get(segment)!) {
      this.unlinkSegment(segment);
      this.cursor = { segment: this.segments[0]!, offset: 0 };
    }
    // Everything sent and the only segment grew past its size: start afresh rather than keep a large read-past file.
    if (this.segments.length === 1 && this.pendingBytes === 0 && this.sizes.get(segment)! >= this.o.segmentBytes) {
      const next = this.rotate();
      this.unlinkSegment(segment);
      this.cursor = { segment: next, offset: 0 };
    }
    const tmp = join(this.dir, 'cursor.tmp');
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(this.cursor));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, 'cursor'));
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private rotate(): number {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    const n = this.segments[this.segments.length - 1]! + 1;
    this.segments.push(n);
    this.sizes.set(n, 0);
    return n;
  }

  private unlinkSegment(n: number): void {
    try {
      unlinkSync(join(this.dir, name(n)));
    } catch {
      // Already gone.
    }
    this.segments.splice(this.segments.indexOf(n), 1);
    this.sizes.delete(n);
  }

  private truncateTorn(seg: number): void {
    const size = this.sizes.get(seg)!;
    if (size === 0) return;
    const text = readFileSync(join(this.dir, name(seg)));
    const lastNl = text.lastIndexOf(10);
    const keep = lastNl + 1;
    if (keep < size) {
      const fd = openSync(join(this.dir, name(seg)), 'r+');
      try {
        // ftruncate through the fd: the file is ours and small enough to have been read.
        ftruncateSync(fd, keep);
      } finally {
        closeSync(fd);
      }
      this.sizes.set(seg, keep);
    }
  }

  private countPending(): number {
    let n = 0;
    for (const s of this.segments) {
      const size = this.sizes.get(s)!;
      const from = s === this.cursor.segment ? this.cursor.offset : 0;
      if (size <= from) continue;
      const b = readFileSync(join(this.dir, name(s)));
      for (let i = from; i < size; i++) if (b[i] === 10) n++;
    }
    return n;
  }
}
