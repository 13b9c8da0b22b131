import type { IncomingHttpHeaders } from 'node:http';
import type { Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { BodySource } from '../core/context.js';

type Controller = Dispatcher.DispatchController;

/**
 * One request/response with an upstream on undici's dispatch API. The response body goes straight from
 * undici's parser to its sink (the client response, or a bounded buffer for a policy) with backpressure
 * through pause/resume: no intermediate Readable, no pipe() listeners, no stream.pipeline AbortController,
 * which together were a large share of a small proxied request's CPU.
 */
export class Exchange implements Dispatcher.DispatchHandler, BodySource {
  status = 0;
  headers: IncomingHttpHeaders = {};
  private controller: Controller | null = null;
  private pendingAbort: Error | null = null;
  private headersSettled = false;
  private resolveHeaders!: () => void;
  private rejectHeaders!: (e: Error) => void;
  readonly response: Promise<void>;
  /** Chunks that arrived before a sink was attached (the response phase runs in between); reading is paused. */
  private backlog: Buffer[] | null = null;
  private sink: Writable | null = null;
  private onBytes: ((n: number) => void) | null = null;
  private collector: {
    chunks: Buffer[];
    size: number;
    cap: number;
    resolve: (b: Buffer) => void;
    reject: (e: Error) => void;
    tooLarge: () => Error;
  } | null = null;
  private ended = false;
  private failed: Error | null = null;
  /** Called once when the body is over: fully read, failed or dropped (frees the target's in-flight slot). */
  onDone: (() => void) | null = null;

  constructor() {
    this.response = new Promise<void>((resolve, reject) => {
      this.resolveHeaders = resolve;
      this.rejectHeaders = reject;
    });
  }

  get done(): boolean {
    return this.ended || this.failed !== null;
  }

  abort(reason: Error): void {
    if (this.done) return;
    if (this.controller) this.controller.abort(reason);
    else this.pendingAbort = reason;
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.pendingAbort) controller.abort(this.pendingAbort);
  }

  onResponseStart(_c: Controller, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx informational: the final answer follows
    this.status = statusCode;
    this.headers = headers;
    this.headersSettled = true;
    this.resolveHeaders();
  }

  onResponseData(c: Controller, chunk: Buffer): void {
    if (this.sink) {
      this.onBytes?.(chunk.length);
      if (!this.sink.write(chunk)) {
        c.pause();
        this.sink.once('drain', () => c.resume());
      }
      return;
    }
    const col = this.collector;
    if (col) {
      col.size += chunk.length;
      if (col.size > col.cap) {
        this.collector = null;
        c.abort(col.tooLarge());
        col.reject(col.tooLarge());
        return;
      }
      col.chunks.push(chunk);
      return;
    }
    if (this.backlog) this.backlog.push(chunk);
    else this.backlog = [chunk];
    c.pause();
  }

  onResponseEnd(): void {
    this.ended = true;
    if (this.sink) this.sink.end();
    const col = this.collector;
    if (col) {
      this.collector = null;
      col.resolve(joined(col.chunks, col.size));
    }
    this.finish();
  }

  onResponseError(_c: Controller, err: Error): void {
    this.failed = err;
    if (!this.headersSettled) {
      this.headersSettled = true;
      this.rejectHeaders(err);
    } else if (this.sink) this.sink.destroy(err);
    else if (this.collector) {
      this.collector.reject(err);
      this.collector = null;
    }
    this.finish();
  }

  /** Streams the body into the client response, with backpressure both ways. */
  pipeTo(sink: Writable, onBytes: (n: number) => void): void {
    this.sink = sink;
    this.onBytes = onBytes;
    const backlog = this.backlog;
    this.backlog = null;
    if (backlog) {
      for (const b of backlog) {
        onBytes(b.length);
        sink.write(b);
      }
    }
    if (this.ended) sink.end();
    else if (this.failed) sink.destroy(this.failed);
    else this.controller?.resume();
  }

  /** Reads the whole body, up to cap (a response-phase policy that must see it). */
  collect(cap: number, tooLarge: () => Error): Promise<Buffer> {
    const backlog = this.backlog ?? [];
    this.backlog = null;
    const size = backlog.reduce((n, b) => n + b.length, 0);
    if (size > cap) {
      this.abort(tooLarge());
      return Promise.reject(tooLarge());
    }
    if (this.ended) return Promise.resolve(joined(backlog, size));
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<Buffer>((resolve, reject) => {
      this.collector = { chunks: backlog, size, cap, resolve, reject, tooLarge };
      this.controller?.resume();
    });
  }

  /** Drops the body (the client left, or a policy replaced the answer): frees the upstream connection. */
  destroy(): void {
    if (this.done) return;
    this.abort(new Error('response body dropped'));
  }

  private finish(): void {
    const f = this.onDone;
    this.onDone = null;
    f?.();
  }
}

/**
 * The chunks as one buffer. An answer that arrived in one chunk (most small and mid-sized ones on keep-alive) is
 * that chunk: undici hands each chunk over for good, so no copy is needed, and a 10 KB copy costs an allocation
 * outside V8's heap on every filtered or redacted answer.
 */
function joined(chunks: Buffer[], size: number): Buffer {
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
}
