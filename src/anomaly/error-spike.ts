import type { AuditEvent } from '../audit/types.js';
import type { Alert, Detector } from './detector.js';
import type { AnomalyConfig } from './schema.js';
import { LruMap, SlidingCounter } from './window.js';

interface State {
  total: SlidingCounter;
  errors: SlidingCounter;
  /** Whole windows, for the usual share. */
  window: number;
  wTotal: number;
  wErrors: number;
  usual: number;
  windows: number;
}

/**
 * A route's 5xx share jumping: over the sliding window, at least min_requests, a share of at least min_share and at
 * least factor × the route's usual share (an EWMA over past windows, so a route that always fails a little does not
 * alert on its normal rate).
 */
export function errorSpike(c: AnomalyConfig['detectors']['error_spike'], maxKeys: number): Detector {
  const windowMs = c.window_s * 1000;
  const state = new LruMap<string, State>(maxKeys, windowMs * 100);
  return {
    name: 'error_spike',
    observe(e: AuditEvent, t: number, emit: (a: Alert) => void) {
      if (e.kind !== 'request' || !e.route || e.status === undefined) return;
      const idx = Math.floor(t / windowMs);
      const s = state.touch(e.route, t, () => ({
        total: new SlidingCounter(windowMs),
        errors: new SlidingCounter(windowMs),
        window: idx,
        wTotal: 0,
        wErrors: 0,
        usual: 0,
        windows: 0,
      }));
      if (idx > s.window) {
        if (s.wTotal >= c.min_requests) {
          // A spike window folds in capped at min_share, so a long outage does not become "usual".
          const share = Math.min(s.wErrors / s.wTotal, c.min_share);
          s.usual = s.windows === 0 ? share : c.alpha * share + (1 - c.alpha) * s.usual;
          s.windows++;
        }
        s.window = idx;
        s.wTotal = 0;
        s.wErrors = 0;
      }
      const err = e.status >= 500;
      s.wTotal++;
      s.total.add(t);
      if (err) {
        s.wErrors++;
        s.errors.add(t);
      }
      if (!err) return;
      const total = s.total.total(t);
      if (total < c.min_requests) return;
      const share = s.errors.total(t) / total;
      if (share >= c.min_share && share >= c.factor * s.usual) {
        emit({
          detector: 'error_spike',
          key: `route:${e.route}`,
          route: e.route,
          detail: {
            requests: total,
            error_share: Math.round(share * 1000) / 1000,
            usual_share: Math.round(s.usual * 1000) / 1000,
            window_s: c.window_s,
          },
        });
      }
    },
  };
}
