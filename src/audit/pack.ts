import { Worker } from 'node:worker_threads';

/**
 * Brotli-packs a closed segment file in a worker thread. On the main thread the segment (64 MiB by default) would
 * count against the gateway's heap, and zlib's stream machinery, sharing functions with the sockets' streams, made
 * V8 deoptimise the request path's stream code at the first rotation (bench/RESULTS.md, session 8). The worker reads
 * the file itself and sends back only the packed bytes.
 */

// Plain CommonJS so that it runs as is, from the build and under the test runner alike.
const WORKER = `
const { parentPort } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const { brotliCompressSync, constants: z } = require('node:zlib');
parentPort.on('message', ({ id, path }) => {
  try {
    const text = readFileSync(path);
    // Brotli's fastest quality: on audit lines (a third of them hex hashes) it packs tighter than gzip's fastest
    // level for about a third of its CPU.
    const packed = brotliCompressSync(text, {
      params: { [z.BROTLI_PARAM_QUALITY]: 1, [z.BROTLI_PARAM_MODE]: z.BROTLI_MODE_TEXT, [z.BROTLI_PARAM_SIZE_HINT]: text.length },
    });
    parentPort.postMessage({ id, packed });
  } catch (e) {
    parentPort.postMessage({ id, error: String((e && e.message) || e) });
  }
});
`;

interface Reply {
  id: number;
  packed?: Uint8Array;
  error?: string;
}

let worker: Worker | null = null;
let seq = 0;
const pending = new Map<number, { resolve: (packed: Buffer) => void; reject: (e: Error) => void }>();

function fail(w: Worker, err: Error): void {
  // A worker's 'exit' can follow its 'error': its jobs were settled then, and those pending now are a newer worker's.
  if (worker !== w) return;
  worker = null;
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

function start(): Worker {
  const w = new Worker(WORKER, { eval: true, name: 'rampart-audit-pack' });
  w.on('message', (r: Reply) => {
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    // Idle, it must not keep the process alive.
    if (!pending.size) w.unref();
    if (r.error !== undefined || !r.packed) p.reject(new Error(r.error ?? 'audit pack worker sent nothing'));
    else p.resolve(Buffer.from(r.packed.buffer, r.packed.byteOffset, r.packed.byteLength));
  });
  w.on('error', (e) => fail(w, e));
  w.on('exit', (code) => fail(w, new Error(`audit pack worker exited with ${code}`)));
  return w;
}

/** The Brotli-packed contents of the file at `path`, packed off the main thread. */
export function packFile(path: string): Promise<Buffer> {
  worker ??= start();
  const w = worker;
  const id = ++seq;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.ref();
    w.postMessage({ id, path });
  });
}
