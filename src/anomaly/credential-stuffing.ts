import type { AuditEvent } from '../audit/types.js';
import type { Alert, Detector } from './detector.js';
import { credentialOf, isAuthFailure } from './events.js';
import type { AnomalyConfig } from './schema.js';
import type { SharedCounts } from './shared.js';
import { LruMap, RecentSet } from './window.js';

/**
 * Many different credentials failing from one address: a list of stolen user names or keys being tried. Counting
 * distinct credentials, not failures, tells it from one user mistyping a password many times.
 */
export function credentialStuffing(
  c: AnomalyConfig['detectors']['credential_stuffing'],
  maxKeys: number,
  shared: SharedCounts | null = null,
): Detector {
  const windowMs = c.window_s * 1000;
  // Each set needs to hold only enough distinct credentials to reach the threshold.
  const perIp = new LruMap<string, RecentSet>(maxKeys, windowMs);
  return {
    name: 'credential_stuffing',
    observe(e: AuditEvent, t: number, emit: (a: Alert) => void) {
      const ip = e.actor?.client_ip;
      if (!ip || !isAuthFailure(e)) return;
      const cred = credentialOf(e);
      if (!cred) return;
      const alert = (n: number) =>
        emit({
          detector: 'credential_stuffing',
          key: `ip:${ip}`,
          client_ip: ip,
          detail: { distinct_credentials: n, window_s: c.window_s, threshold: c.distinct_credentials },
        });
      const local = () => {
        const set = perIp.touch(ip, t, () => new RecentSet(windowMs, c.distinct_credentials * 2));
        set.add(cred, t);
        const n = set.size(t);
        if (n >= c.distinct_credentials) alert(n);
      };
      if (!shared || shared.busy) return local();
      // Shared: a credential counts once per window per address, over all workers and nodes.
      shared
        .firstSeen(`anomaly:csc:${ip}`, cred, windowMs)
        .then((first) => first && shared.hit(`anomaly:cs:${ip}`, c.distinct_credentials, windowMs))
        .then((reached) => reached && alert(c.distinct_credentials), local);
    },
  };
}
