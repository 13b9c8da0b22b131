/**
 * Loading the project's WebAssembly modules (scripts/build-wasm.ts writes each as base64 in a TypeScript module) and
 * views of their memory.
 */

/** The part of the WebAssembly API used here (the project's lib settings have no WebAssembly types). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
};

export interface WasmMemoryExport {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/**
 * The module's exports, instantiated now (one instance per process: its calls are synchronous, one at a time), or
 * null where the runtime cannot compile it (no WebAssembly SIMD): callers then take their JavaScript path.
 */
export function instantiate<T extends { readonly memory: WasmMemoryExport }>(base64: string): T | null {
  try {
    return new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(base64, 'base64')), {}).exports as T;
  } catch {
    return null;
  }
}

const NO_MEMORY = new ArrayBuffer(8);

/** Views of a module's memory; reserve() makes them again when it grows (views made before a growth are stale). */
export class WasmMemory {
  bytes: Uint8Array;
  words: Int32Array;
  buffer: Buffer;

  constructor(private readonly memory: WasmMemoryExport | null) {
    const b = memory?.buffer ?? NO_MEMORY;
    this.bytes = new Uint8Array(b);
    this.words = new Int32Array(b);
    this.buffer = Buffer.from(b);
  }

  /** Makes the memory at least `size` bytes. */
  reserve(size: number): void {
    const mem = this.memory;
    if (!mem) return;
    if (size > mem.buffer.byteLength) mem.grow(Math.ceil((size - mem.buffer.byteLength) / 65536));
    if (this.bytes.buffer !== mem.buffer) {
      this.bytes = new Uint8Array(mem.buffer);
      this.words = new Int32Array(mem.buffer);
      this.buffer = Buffer.from(mem.buffer);
    }
  }
}
