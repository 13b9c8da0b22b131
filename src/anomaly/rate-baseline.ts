import type { AuditEvent } from '../audit/types.js';
import type { Alert, Detector } from './detector.js';
import { sourceKey } from './events.js';
import type { AnomalyConfig } from './schema.js';
import { LruMap } from './window.js';

interface State {
  interval: number;
  count: number;
  /** EWMA of requests per interval. */
  baseline: number;
  intervals: number;
}

/**
 * A consumer (or an anonymous address) sending far above its own usual rate: the baseline is an EWMA of its requests
 * per interval; the current interval alerts as soon as it passes factor × baseline and the floor (in real time, not
 * at the interval's end). An interval folds into the baseline clipped to factor × baseline, so an attack does not
 * teach the baseline that it is normal.
 */
export function rateBaseline(c: AnomalyConfig['detectors']['rate_baseline'], maxKeys: number): Detector {
  const intervalMs = c.interval_s * 1000;
  const state = new LruMap<string, State>(maxKeys, intervalMs * 200);
  return {
    name: 'rate_baseline',
    observe(e: AuditEvent, t: number, emit: (a: Alert) => void) {
      if (e.kind !== 'request') return;
      const src = sourceKey(e);
      if (!src) return;
      const idx = Math.floor(t / intervalMs);
      const s = state.touch(src, t, () => ({ interval: idx, count: 0, baseline: 0, intervals: 0 }));
      if (idx > s.interval) {
        const fold = (n: number) => {
          const capped = s.intervals >= c.warmup_intervals ? Math.min(n, c.factor * Math.max(s.baseline, 1)) : n;
          s.baseline = s.intervals === 0 ? capped : c.alpha * capped + (1 - c.alpha) * s.baseline;
          s.intervals++;
        };
        fold(s.count);
        // Idle intervals count as zero (bounded: after ~60 of them the baseline is near zero anyway).
        for (let i = Math.min(idx - s.interval - 1, 60); i > 0; i--) fold(0);
        s.interval = idx;
        s.count = 0;
      } else if (idx < s.interval) {
        return; // late event from a closed interval
      }
      s.count++;
      if (s.intervals < c.warmup_intervals || s.count < c.floor) return;
      const limit = c.factor * Math.max(s.baseline, 1);
      if (s.count > limit) {
        emit({
          detector: 'rate_baseline',
          key: src,
          client_ip: e.actor?.client_ip,
          consumer: e.actor?.consumer,
          detail: {
            requests: s.count,
            interval_s: c.interval_s,
            baseline: Math.round(s.baseline * 100) / 100,
            factor: c.factor,
          },
        });
      }
    },
  };
}
