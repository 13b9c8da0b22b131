/**
 * Lets at most one log line through per interval, so an outage does not turn every request into a line. Returns
 * null to hold a line back, or how many were held back since the last one (to log with it).
 */
export function logThrottle(intervalMs: number): () => number | null {
  let last = 0;
  let suppressed = 0;
  return () => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return null;
    }
    last = now;
    const held = suppressed;
    suppressed = 0;
    return held;
  };
}
