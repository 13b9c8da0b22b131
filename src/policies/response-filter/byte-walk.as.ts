// AssemblyScript, compiled to WebAssembly by scripts/build-wasm.ts (the module is byte-walk.wasm.ts); not part of the
// TypeScript build. The byte filter's walk (byte-filter.ts, class Scan) for the programs it can run here: the same
// decisions, in the same order, on the same bytes, with the plans and the rules' automaton compiled into tables
// (byte-filter.ts #compile). Anything the tables do not cover (an escaped key, too many keys to check for duplicates,
// any doubt about the grammar) returns FAIL, and JavaScript's walk decides as before.
//
// Memory: [0, 2048) the path stack (16 bytes a level: a, b, isKey, id); [2048, 4096) hashes of the unnamed keys of the
// objects being walked; [SPLATS, PROG) constant vectors; from PROG the program (header below), then the text, 16 zero
// bytes, the output: eight words (status, schema count, rule count, cut pairs, record bytes), the records, the cuts.
import { initSplats, isDigit, literalEnd, splat, eq, digitRun } from '../../core/json-lexer.as';

export const PROG: i32 = 8192;

const MAX_NESTING: i32 = 100;
const FAIL: i32 = -1;
const SEEN: i32 = 2048;
const SEEN_CAP: i32 = 512;
const LINEAR_DUP_CHECK: i32 = 64;

// The program's header, i32 words from PROG.
const H_MASK: i32 = 0;
const H_TABLE: i32 = 1;
const H_POOL: i32 = 2;
const H_START: i32 = 3;
const H_LEN: i32 = 4;
const H_PLAIN: i32 = 5;
const H_HASH: i32 = 6;
const H_PLANS: i32 = 8;
const H_TRANS: i32 = 9;
const H_STRIDE: i32 = 10;

// A plan: eight i32 words: flags (P_ANY, P_NONE), the additionalProperties plan (-1: undeclared keys go), the items
// plan (-1: elements kept whole), the prefixItems count and the address of their plans, the declared properties' count
// and the address of their (name id, plan) pairs in declared order.
const P_ANY: i32 = 1;
const P_NONE: i32 = 2;

const HASH_SEED: u32 = 0x9e3779b1;
const HASH_MUL: u32 = 0x85ebca6b;

let b0: i32 = 0;
let end: i32 = 0;
let maxPaths: i32 = 0;
let seenTop: i32 = 0;
let schemaCount: i32 = 0;
let ruleCount: i32 = 0;
let recAt: i32 = 0;
let recEnd: i32 = 0;
let cutAt: i32 = 0;
let cutEnd: i32 = 0;
let cutCap: i32 = 0;
/** Set by keyAt: the position after the key, its hash. */
let kEnd: i32 = 0;
let kHash: i32 = 0;

let mask: i32 = 0;
let table: i32 = 0;
let pool: i32 = 0;
let nStart: i32 = 0;
let nLen: i32 = 0;
let nPlain: i32 = 0;
let nHash: i32 = 0;
let plans: i32 = 0;
let trans: i32 = 0;
let stride: i32 = 0;

@inline
function hdr(k: i32): i32 {
  return load<i32>(PROG + (k << 2));
}

@inline
function byte(p: i32): i32 {
  return <i32>load<u8>(p);
}

@inline
function ws(p: i32): i32 {
  while (p < end) {
    const c = byte(p);
    if (c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) p++;
    else break;
  }
  return p;
}

/**
 * The bytes that end a string's plain text: quote, backslash, control characters. Unlike json-lexer's `stops`, bytes
 * >= 0x80 are plain text here (an unsigned compare): the filter checked the answer's UTF-8 before.
 */
@inline
function stops(v: v128): i32 {
  return i8x16.bitmask(v128.or(v128.or(eq(v, 0x22), eq(v, 0x5c)), i8x16.lt_u(v, splat(0x20))));
}

@inline
function isHex(c: i32): bool {
  return isDigit(c) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

/** A string at its opening quote: the position after it, or FAIL (a control character, an escape JSON lacks). */
function str(p: i32): i32 {
  let i = p + 1;
  for (;;) {
    const stop = stops(v128.load(i));
    if (stop == 0) {
      i += 16;
      continue;
    }
    i += ctz<i32>(stop);
    if (i >= end) return FAIL;
    const c = byte(i);
    if (c == 0x22) return i + 1;
    if (c < 0x20) return FAIL;
    const e = byte(i + 1);
    if (e == 0x75) {
      if (!(isHex(byte(i + 2)) && isHex(byte(i + 3)) && isHex(byte(i + 4)) && isHex(byte(i + 5)))) return FAIL;
      i += 6;
    } else if (
      e == 0x22 ||
      e == 0x5c ||
      e == 0x2f ||
      e == 0x62 ||
      e == 0x66 ||
      e == 0x6e ||
      e == 0x72 ||
      e == 0x74
    ) {
      i += 2;
    } else return FAIL;
  }
  return FAIL;
}

/** A number JSON.stringify writes back as read (not -0, not too long, an exponent of at most two digits), or FAIL. */
function num(start: i32): i32 {
  let p = start;
  const neg = byte(p) == 0x2d;
  if (neg) p++;
  if (p >= end) return FAIL;
  const first = byte(p);
  if (!isDigit(first)) return FAIL;
  let nonZero = first != 0x30;
  p = first == 0x30 ? p + 1 : p + 1 + digitRun(p + 1);
  if (p < end && byte(p) == 0x2e) {
    const f = p + 1;
    p = f + digitRun(f);
    if (p == f) return FAIL;
    for (let i = f; i < p && !nonZero; i++) nonZero = byte(i) != 0x30;
  }
  if (p < end && (byte(p) | 0x20) == 0x65) {
    p++;
    if (p < end && (byte(p) == 0x2b || byte(p) == 0x2d)) p++;
    const e = p;
    p = e + digitRun(e);
    if (p == e || p - e > 2) return FAIL;
  }
  if (p > end || p - start > 64 || (neg && !nonZero)) return FAIL;
  return p;
}

/** Any value, validated and passed (depth: the containers around it). */
function skip(p: i32, depth: i32): i32 {
  const c = byte(p);
  if (c == 0x22) return str(p);
  if (c == 0x7b || c == 0x5b) {
    if (depth >= MAX_NESTING) return FAIL;
    const close = c + 2;
    p = ws(p + 1);
    if (byte(p) == close) return p + 1;
    for (;;) {
      if (c == 0x7b) {
        if (byte(p) != 0x22) return FAIL;
        p = str(p);
        if (p < 0) return FAIL;
        p = ws(p);
        if (byte(p) != 0x3a) return FAIL;
        p = ws(p + 1);
      }
      p = skip(p, depth + 1);
      if (p < 0) return FAIL;
      p = ws(p);
      const d = byte(p++);
      if (d == 0x2c) p = ws(p);
      else if (d == close) return p;
      else return FAIL;
    }
  }
  if (c == 0x74 || c == 0x66 || c == 0x6e) return literalEnd(p, end);
  return num(p);
}

/** The bytes [s, e) as little-endian 4-byte words (the last one masked), mixed: byte-filter.ts keyHash is the same. */
function keyHash(s: i32, e: i32): i32 {
  let h: u32 = <u32>(e - s) * HASH_SEED;
  let p = s;
  for (; p + 4 <= e; p += 4) h = (h ^ load<u32>(p)) * HASH_MUL;
  if (p < e) h = (h ^ (load<u32>(p) & ((<u32>1 << (<u32>(e - p) << 3)) - 1))) * HASH_MUL;
  return <i32>(h ^ (h >>> 16));
}

/** Whether [a, a + n) and [b, b + n) hold the same bytes. */
function sameBytes(a: i32, b: i32, n: i32): bool {
  let k = 0;
  for (; k + 8 <= n; k += 8) if (load<u64>(a + k) != load<u64>(b + k)) return false;
  if (k == n) return true;
  return ((load<u64>(a + k) ^ load<u64>(b + k)) & ((<u64>1 << (<u64>(n - k) << 3)) - 1)) == 0;
}

/** The name id of the text [s, e) (hash h), or -1. */
function lookup(s: i32, e: i32, h: i32): i32 {
  const n = e - s;
  let slot = (h ^ (h >>> 15)) & mask;
  for (;;) {
    const v = load<i32>(table + (slot << 3));
    if (v == 0) return -1;
    if (load<i32>(table + (slot << 3), 4) == h) {
      const id = v - 1;
      if (load<i32>(nLen + (id << 2)) == n && sameBytes(s, pool + load<i32>(nStart + (id << 2)), n)) return id;
    }
    slot = (slot + 1) & mask;
  }
  return -1;
}

/** `^(0|[1-9]\d{0,9})$` on [s, e). */
function indexKey(s: i32, e: i32): bool {
  const n = e - s;
  if (n == 0 || n > 10 || digitRun(s) < n) return false;
  return n == 1 || byte(s) != 0x30;
}

/** A key at its opening quote, not matched on its bytes: its id (kEnd, kHash set); FAIL for an escape or a bad byte. */
function keyAt(at: i32): i32 {
  const s = at + 1;
  let p = s;
  for (;;) {
    const stop = stops(v128.load(p));
    if (stop != 0) {
      p += ctz<i32>(stop);
      break;
    }
    p += 16;
  }
  if (p >= end || byte(p) != 0x22) return FAIL - 1;
  kEnd = p + 1;
  const h = keyHash(s, p);
  kHash = h;
  if (isDigit(byte(s)) && indexKey(s, p)) return FAIL - 1;
  const id = lookup(s, p, h);
  // __proto__ (id 0): a copied object would lose it.
  if (id == 0) return FAIL - 1;
  return id;
}

/** Whether kHash is new among the unnamed keys of the object whose list starts at base (and records it). */
function unique(base: i32): bool {
  const top = seenTop;
  if (top - base >= LINEAR_DUP_CHECK || top >= SEEN_CAP) return false;
  for (let q = base; q < top; q++) if (load<i32>(SEEN + (q << 2)) == kHash) return false;
  store<i32>(SEEN + (top << 2), kHash);
  seenTop = top + 1;
  return true;
}

@inline
function planWord(plan: i32, k: i32): i32 {
  return load<i32>(plans + (plan << 5) + (k << 2));
}

/** The plan a key's value is cut by (a property's, else additionalProperties'), or -1 to drop it. */
function propPlan(plan: i32, li: i32): i32 {
  if (li >= 0) return load<i32>(planWord(plan, 6) + (li << 3), 4);
  return planWord(plan, 1);
}

/** The position of id in the plan's declared order, or -1. */
function localOf(plan: i32, id: i32): i32 {
  if (id < 0) return -1;
  const n = planWord(plan, 5);
  const at = planWord(plan, 6);
  for (let i = 0; i < n; i++) if (load<i32>(at + (i << 3)) == id) return i;
  return -1;
}

@inline
function transition(rs: i32, id: i32): i32 {
  return load<i32>(trans + ((rs * stride + id + 1) << 2));
}

function push(depth: i32, a: i32, b: i32, isKey: i32, id: i32): void {
  const s = depth << 4;
  store<i32>(s, a);
  store<i32>(s, b, 4);
  store<i32>(s, isKey, 8);
  store<i32>(s, id, 12);
}

/** A removal: counted, and for the first maxPaths of its kind, recorded with its path (positions from the text). */
function removed(bySchema: bool, depth: i32, a: i32, b: i32, isKey: i32, id: i32): bool {
  if (bySchema) {
    if (schemaCount++ >= maxPaths) return true;
  } else if (ruleCount++ >= maxPaths) return true;
  const size = (6 + depth * 4) << 2;
  if (recEnd + size > cutAt) return false;
  const r = recEnd;
  store<i32>(r, bySchema ? 0 : 1);
  store<i32>(r, depth, 4);
  store<i32>(r, isKey ? a - b0 : a, 8);
  store<i32>(r, isKey ? b - b0 : b, 12);
  store<i32>(r, isKey, 16);
  store<i32>(r, id, 20);
  for (let d = 0; d < depth; d++) {
    const s = d << 4;
    const k = load<i32>(s, 8);
    const o = r + 24 + s;
    store<i32>(o, k ? load<i32>(s) - b0 : load<i32>(s));
    store<i32>(o, k ? load<i32>(s, 4) - b0 : load<i32>(s, 4), 4);
    store<i32>(o, k, 8);
    store<i32>(o, load<i32>(s, 12), 12);
  }
  recEnd = r + size;
  return true;
}

function cut(from: i32, to: i32): bool {
  if (cutEnd == cutCap) return false;
  store<i32>(cutAt + (cutEnd << 3), from - b0);
  store<i32>(cutAt + (cutEnd << 3), to - b0, 4);
  cutEnd++;
  return true;
}

function schemaOnly(child: i32, depth: i32, p: i32): i32 {
  const c = byte(p);
  if (c != 0x7b && c != 0x5b) return skip(p, depth + 1);
  const mark = cutEnd;
  p = c == 0x7b ? object(child, -1, depth + 1, p) : array(child, -1, depth + 1, p);
  cutEnd = mark;
  return p;
}

/** The plan a child is cut by, as `child` in byte-filter.ts: -1 for none (no constraint). */
@inline
function constraining(s: i32): i32 {
  return s >= 0 && (planWord(s, 0) & P_ANY) == 0 ? s : -1;
}

function object(plan: i32, rs: i32, depth: i32, p: i32): i32 {
  if (depth >= MAX_NESTING) return FAIL;
  const orderN = plan >= 0 ? planWord(plan, 5) : 0;
  const order = plan >= 0 ? planWord(plan, 6) : 0;
  let seenMask = 0;
  let cursor = 0;
  const seenBase = seenTop;
  let lastKeptEnd = -1;
  let cutFrom = -1;
  let cutTo = -1;
  p = ws(p + 1);
  if (byte(p) == 0x7d) return p + 1;
  for (;;) {
    const ks = p;
    if (byte(ks) != 0x22) return FAIL;
    let id = -1;
    let ke = -1;
    let h = 0;
    let li = -1;
    if (cursor < orderN) {
      // Answers usually list keys in the schema's order: the next declared name, compared on the raw bytes.
      const expect = load<i32>(order + (cursor << 3));
      const e = ks + 1 + load<i32>(nLen + (expect << 2));
      if (load<i32>(nPlain + (expect << 2)) == 1 && e < end && byte(e) == 0x22) {
        if (sameBytes(ks + 1, pool + load<i32>(nStart + (expect << 2)), e - ks - 1)) {
          id = expect;
          ke = e + 1;
          h = load<i32>(nHash + (expect << 2));
          li = cursor;
        }
      }
    }
    if (ke == -1) {
      id = keyAt(ks);
      if (id < -1) return FAIL;
      ke = kEnd;
      h = kHash;
      if (plan >= 0) li = localOf(plan, id);
    }
    if (li >= 0 && li < 31) {
      const bit = 1 << li;
      if (seenMask & bit) return FAIL;
      seenMask |= bit;
      cursor = li + 1;
    } else {
      if (li >= 0) cursor = li + 1;
      kHash = h;
      if (!unique(seenBase)) return FAIL;
    }
    p = ws(ke);
    if (byte(p) != 0x3a) return FAIL;
    p = ws(p + 1);
    const c = byte(p);
    let bySchema = false;
    let drop = false;
    let child = -1;
    if (plan >= 0) {
      const s = propPlan(plan, li);
      if (s < 0 || (planWord(s, 0) & P_NONE) != 0) bySchema = drop = true;
      else child = constraining(s);
    }
    let childRules = -1;
    if (!bySchema && rs >= 0) {
      const t = transition(rs, id);
      if (t & 1) drop = true;
      else {
        childRules = (t >> 2) - 1;
        if (t & 2 && c != 0x7b && c != 0x5b) drop = true;
      }
    }
    if (drop) {
      if (!removed(bySchema, depth, ks, ke, 1, id)) return FAIL;
      if (child >= 0 && !bySchema) {
        push(depth, ks, ke, 1, id);
        p = schemaOnly(child, depth, p);
      } else p = skip(p, depth + 1);
      if (p < 0) return FAIL;
      if (cutFrom == -1) cutFrom = lastKeptEnd >= 0 ? lastKeptEnd : ks;
      cutTo = p;
    } else {
      if (cutFrom != -1) {
        if (!cut(cutFrom, lastKeptEnd >= 0 ? cutTo : ks)) return FAIL;
        cutFrom = -1;
      }
      if ((child >= 0 || childRules >= 0) && (c == 0x7b || c == 0x5b)) {
        push(depth, ks, ke, 1, id);
        p = c == 0x7b ? object(child, childRules, depth + 1, p) : array(child, childRules, depth + 1, p);
      } else if (c == 0x22) p = str(p);
      else p = skip(p, depth + 1);
      if (p < 0) return FAIL;
      lastKeptEnd = p;
    }
    p = ws(p);
    const d = byte(p++);
    if (d == 0x2c) p = ws(p);
    else if (d == 0x7d) break;
    else return FAIL;
  }
  if (cutFrom != -1 && !cut(cutFrom, cutTo)) return FAIL;
  seenTop = seenBase;
  return p;
}

function array(plan: i32, rs: i32, depth: i32, p: i32): i32 {
  if (depth >= MAX_NESTING) return FAIL;
  let lastKeptEnd = -1;
  let cutFrom = -1;
  let cutTo = -1;
  p = ws(p + 1);
  if (byte(p) == 0x5d) return p + 1;
  const prefix = plan >= 0 ? planWord(plan, 3) : 0;
  let i = 0;
  let j = 0;
  for (;;) {
    const vs = p;
    const c = byte(vs);
    let bySchema = false;
    let drop = false;
    let child = -1;
    if (plan >= 0) {
      const s = i < prefix ? load<i32>(planWord(plan, 4) + (i << 2)) : planWord(plan, 2);
      if (s >= 0) {
        if ((planWord(s, 0) & P_NONE) != 0) bySchema = drop = true;
        else child = constraining(s);
      }
    }
    let childRules = -1;
    if (!bySchema && rs >= 0) {
      // Programs whose rules name an element index run in JavaScript: every index steps as an unnamed key.
      const t = transition(rs, -1);
      if (t & 1) drop = true;
      else {
        childRules = (t >> 2) - 1;
        if (t & 2 && c != 0x7b && c != 0x5b) drop = true;
      }
    }
    if (drop) {
      if (!removed(bySchema, depth, i, j, 0, -1)) return FAIL;
      if (child >= 0 && !bySchema) {
        push(depth, i, j, 0, -1);
        p = schemaOnly(child, depth, p);
      } else p = skip(p, depth + 1);
      if (p < 0) return FAIL;
      if (cutFrom == -1) cutFrom = lastKeptEnd >= 0 ? lastKeptEnd : vs;
      cutTo = p;
    } else {
      if (cutFrom != -1) {
        if (!cut(cutFrom, lastKeptEnd >= 0 ? cutTo : vs)) return FAIL;
        cutFrom = -1;
      }
      if ((child >= 0 || childRules >= 0) && (c == 0x7b || c == 0x5b)) {
        push(depth, i, j, 0, -1);
        p = c == 0x7b ? object(child, childRules, depth + 1, p) : array(child, childRules, depth + 1, p);
      } else p = skip(p, depth + 1);
      if (p < 0) return FAIL;
      lastKeptEnd = p;
    }
    if (!bySchema) j++;
    i++;
    p = ws(p);
    const d = byte(p++);
    if (d == 0x2c) p = ws(p);
    else if (d == 0x5d) break;
    else return FAIL;
  }
  if (cutFrom != -1 && !cut(cutFrom, cutTo)) return FAIL;
  return p;
}

/**
 * Walks the n bytes of text at `at` with the program at PROG (root plan, start state: -1 for none), writing the
 * output at `out` (room for `cap` bytes). Returns 0, or FAIL when JavaScript's walk must decide.
 */
export function walk(at: i32, n: i32, root: i32, start: i32, max: i32, out: i32, recBytes: i32, cap: i32): i32 {
  initSplats();
  mask = hdr(H_MASK);
  table = PROG + hdr(H_TABLE);
  pool = PROG + hdr(H_POOL);
  nStart = PROG + hdr(H_START);
  nLen = PROG + hdr(H_LEN);
  nPlain = PROG + hdr(H_PLAIN);
  nHash = PROG + hdr(H_HASH);
  plans = PROG + hdr(H_PLANS);
  trans = PROG + hdr(H_TRANS);
  stride = hdr(H_STRIDE);
  b0 = at;
  end = at + n;
  maxPaths = max;
  seenTop = 0;
  schemaCount = 0;
  ruleCount = 0;
  recAt = out + 32;
  recEnd = recAt;
  cutAt = recAt + recBytes;
  cutEnd = 0;
  cutCap = (out + cap - cutAt) >> 3;
  let p = ws(at);
  const s = constraining(root);
  const c = byte(p);
  if ((s >= 0 || start >= 0) && c == 0x7b) p = object(s, start, 0, p);
  else if ((s >= 0 || start >= 0) && c == 0x5b) p = array(s, start, 0, p);
  else p = skip(p, 0);
  if (p < 0 || ws(p) != end) return FAIL;
  store<i32>(out, 0);
  store<i32>(out, schemaCount, 4);
  store<i32>(out, ruleCount, 8);
  store<i32>(out, cutEnd, 12);
  store<i32>(out, recEnd - recAt, 16);
  return 0;
}
