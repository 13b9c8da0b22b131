/**
 * The byte filter's walk in WebAssembly (byte-walk.as.ts): byte-filter.ts compiles a shape and a rule set into a
 * program (the names, the plans and the rules' automaton as tables) and runs it here on an answer's bytes. The
 * module returns what the JavaScript walk would: the counts, the first removals with their paths, the byte ranges to
 * cut. Where it has any doubt it says so, and the JavaScript walk decides.
 */
import { instantiate, WasmMemory, type WasmMemoryExport } from '../../core/wasm.js';
import { BYTE_WALK_WASM } from './byte-walk.wasm.js';

interface ByteWalkModule {
  readonly memory: WasmMemoryExport;
  walk(
    at: number,
    n: number,
    root: number,
    start: number,
    max: number,
    out: number,
    recBytes: number,
    cap: number,
  ): number;
}

const wasm = instantiate<ByteWalkModule>(BYTE_WALK_WASM);
const mem = new WasmMemory(wasm?.memory ?? null);

/** byte-walk.as.ts's layout: the program from PROG. */
export const PROG = 8192;
/** Answers up to this size are walked here (the module's memory then stays about five times as large). */
export const WALK_MAX = 2 << 20;
/** byte-walk.as.ts's nesting limit: a record holds the path's levels. */
const MAX_NESTING = 100;

/** A compiled program: its words (addresses in it are from address 0 of the module's memory). */
export interface WalkProgram {
  readonly words: Int32Array;
  /** The root plan's index, -1 for none; the rules' start state, -1 for none. */
  readonly root: number;
  readonly start: number;
}

export interface WalkResult {
  readonly schemaCount: number;
  readonly ruleCount: number;
  /** Byte ranges to cut, [from, to) pairs in increasing order. */
  readonly cuts: number[];
  /**
   * The first removals of each kind, in order, as words[recAt, recEnd) (valid until the next walk): kind (0 schema,
   * 1 rule), depth, the member (key start and end, or index before and after the schema's cut), isKey, name id, then
   * each level of its path the same way.
   */
  readonly words: Int32Array;
  readonly recAt: number;
  readonly recEnd: number;
}

/** Whether programs run here (WebAssembly SIMD). */
export const walkReady = wasm !== null;

let loaded: WalkProgram | null = null;

/** Walks `body` with `prog`; null when the JavaScript walk must decide. */
export function runWalk(prog: WalkProgram, body: Uint8Array, max: number): WalkResult | null {
  const module = wasm;
  if (!module || body.length > WALK_MAX) return null;
  const n = body.length;
  const at = PROG + prog.words.length * 4;
  const out = (at + n + 16 + 3) & ~3;
  const recBytes = 2 * max * (6 + 4 * MAX_NESTING) * 4;
  const cap = 32 + recBytes + 8 * ((n >> 1) + 16);
  mem.reserve(out + cap);
  if (loaded !== prog) {
    mem.words.set(prog.words, PROG >> 2);
    loaded = prog;
  }
  mem.bytes.set(body, at);
  // 16-byte loads may read past the text: zeros there end any string scan.
  mem.bytes.fill(0, at + n, at + n + 16);
  const ok = module.walk(at, n, prog.root, prog.start, max, out, recBytes, cap) === 0;
  // Answers carry personal data: none stays in the module's memory (the output holds positions and counts only).
  mem.bytes.fill(0, at, at + n);
  if (!ok) return null;
  const words = mem.words;
  const o = out >> 2;
  const cutPairs = words[o + 3] as number;
  const recWords = (words[o + 4] as number) >> 2;
  const recAt = o + 8;
  const cutAt = (out + 32 + recBytes) >> 2;
  // A plain array: read by body() later, when the module's memory may hold another answer's.
  const cuts: number[] = [];
  for (let i = cutAt; i < cutAt + cutPairs * 2; i++) cuts.push(words[i] as number);
  return {
    schemaCount: words[o + 1] as number,
    ruleCount: words[o + 2] as number,
    cuts,
    words,
    recAt,
    recEnd: recAt + recWords,
  };
}

/** The module's memory as it is now (a test checks that no answer stays in it). */
export function walkMemory(): Uint8Array {
  return mem.bytes;
}
