// AssemblyScript, shared by the project's WebAssembly JSON readers (src/policies/redact/json-scan.as.ts,
// src/detect/json-values.as.ts); compiled into each by scripts/build-wasm.ts, not part of the TypeScript build.
// Both modules lay their memory out alike: their own state below SPLATS, the constant vectors at SPLATS, the text
// from BODY, followed by 16 zero bytes (a 16-byte load may read past the text; a zero is a control character, which
// ends a string scan).

export const BODY: i32 = 8192;
/** 256 vectors, each of one byte value 16 times (filled once): a load is cheaper than V8's materialising a constant. */
export const SPLATS: i32 = 4096;
let splatsReady = false;

export function initSplats(): void {
  if (splatsReady) return;
  for (let c = 0; c < 256; c++) v128.store(SPLATS + (c << 4), i8x16.splat(<i8>c));
  splatsReady = true;
}

@inline
export function splat(c: i32): v128 {
  return v128.load(SPLATS + (c << 4));
}

/**
 * Bytes in [lo, hi]: one subtraction moves the range to the bottom of the signed bytes, where one signed compare
 * tells it (x86 has no unsigned byte compare: ge_u and le_u cost two instructions and more each).
 */
@inline
export function between(v: v128, lo: i32, hi: i32): v128 {
  return i8x16.lt_s(i8x16.sub(v, splat((lo + 128) & 0xff)), splat((hi - lo + 1 - 128) & 0xff));
}

@inline
export function eq(v: v128, c: i32): v128 {
  return i8x16.eq(v, splat(c));
}

/**
 * The bytes of a block that end a string's plain text: quote, backslash, control characters (a signed compare: bytes
 * >= 0x80 are negative, so they count too).
 */
@inline
export function stops(v: v128): i32 {
  return i8x16.bitmask(v128.or(v128.or(eq(v, 0x22), eq(v, 0x5c)), i8x16.lt_s(v, splat(0x20))));
}

@inline
export function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

/** How many digits from i (the zeros after the text end a run). */
@inline
export function digitRun(i: i32): i32 {
  let j = i;
  while (isDigit(<i32>load<u8>(j))) j++;
  return j - i;
}

/** From the escape or non-ASCII byte at i: where the string ends (its closing quote), -1 if it does not. */
export function decodeEnd(i: i32, end: i32): i32 {
  while (i < end) {
    const c = <i32>load<u8>(i);
    if (c == 0x22) return i;
    if (c == 0x5c) i += 2;
    else if (c < 0x20) return -1;
    else i++;
  }
  return -1;
}

/** A JSON number from i: its end * 2, + 1 with an exponent; -1 when there is none. */
export function numberEnd(i: i32, end: i32): i32 {
  if (load<u8>(i) == 0x2d) i++;
  if (i >= end) return -1;
  const c = <i32>load<u8>(i);
  if (c == 0x30) i++;
  else if (c >= 0x31 && c <= 0x39) i += 1 + digitRun(i + 1);
  else return -1;
  if (i < end && load<u8>(i) == 0x2e) {
    const d = i + 1;
    i = d + digitRun(d);
    if (i == d) return -1;
  }
  if (i < end && (load<u8>(i) == 0x65 || load<u8>(i) == 0x45)) {
    let d = i + 1;
    if (d < end && (load<u8>(d) == 0x2b || load<u8>(d) == 0x2d)) d++;
    i = d + digitRun(d);
    if (i == d) return -1;
    return i * 2 + 1;
  }
  return i * 2;
}

/** true, false or null from i: its end, -1 when there is none. */
export function literalEnd(i: i32, end: i32): i32 {
  const c = <i32>load<u8>(i);
  if (c == 0x74) {
    return i + 3 < end && load<u8>(i + 1) == 0x72 && load<u8>(i + 2) == 0x75 && load<u8>(i + 3) == 0x65 ? i + 4 : -1;
  }
  if (c == 0x6e) {
    return i + 3 < end && load<u8>(i + 1) == 0x75 && load<u8>(i + 2) == 0x6c && load<u8>(i + 3) == 0x6c ? i + 4 : -1;
  }
  if (c == 0x66) {
    return i + 4 < end &&
      load<u8>(i + 1) == 0x61 &&
      load<u8>(i + 2) == 0x6c &&
      load<u8>(i + 3) == 0x73 &&
      load<u8>(i + 4) == 0x65
      ? i + 5
      : -1;
  }
  return -1;
}
