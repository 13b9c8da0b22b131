import type { AuditEvent } from '../audit/types.js';
import type { Alert, Detector } from './detector.js';
import { isAuthFailure } from './events.js';
import type { AnomalyConfig } from './schema.js';
import type { SharedCounts } from './shared.js';
import { LruMap, RecentSet, SlidingCounter } from './window.js';

/**
 * Many failed authentications from one address in a short window (password guessing, key brute force). Counted on
 * the shared state when there is one (exact over workers and nodes), else in this process.
 */
export function authFailureBurst(
  c: AnomalyConfig['detectors']['auth_failure_burst'],
  maxKeys: number,
  shared: SharedCounts | null = null,
): Detector {
  const windowMs = c.window_s * 1000;
  const perIp = new LruMap<string, SlidingCounter>(maxKeys, windowMs);
  // A request's failure may come as its request event and as a separate security event: count it once.
  const seen = new RecentSet(windowMs, maxKeys);
  return {
    name: 'auth_failure_burst',
    observe(e: AuditEvent, t: number, emit: (a: Alert) => void) {
      const ip = e.actor?.client_ip;
      if (!ip || !isAuthFailure(e)) return;
      if (e.request_id && !seen.add(e.request_id, t)) return;
      const alert = (n: number) =>
        emit({
          detector: 'auth_failure_burst',
          key: `ip:${ip}`,
          client_ip: ip,
          detail: { failures: n, window_s: c.window_s, threshold: c.threshold },
        });
      const local = () => {
        const w = perIp.touch(ip, t, () => new SlidingCounter(windowMs));
        w.add(t);
        const n = w.total(t);
        if (n >= c.threshold) alert(n);
      };
      if (!shared || shared.busy) return local();
      shared.hit(`anomaly:afb:${ip}`, c.threshold, windowMs).then((reached) => reached && alert(c.threshold), local);
    },
  };
}
