import type { AuditEvent } from '../audit/types.js';
import type { Alert, Detector } from './detector.js';
import { isDenied, objectId, sourceKey } from './events.js';
import type { AnomalyConfig } from './schema.js';
import type { SharedCounts } from './shared.js';
import { LruMap, RecentSet, SlidingCounter } from './window.js';

interface State {
  ids: RecentSet;
  total: SlidingCounter;
  denied: SlidingCounter;
}

/**
 * Enumeration / BOLA scanning: one consumer (or address) walking through many object ids on one route, mostly
 * answered 403 or 404. A client reading its own objects touches few ids and is mostly answered 200.
 *
 * With a shared state the distinct ids are counted there, over all workers and nodes (each id once per window),
 * since a scan spread over N workers shows each only 1/N of its ids. The denied share stays this process's own: a
 * ratio, the same whatever part of the traffic a worker sees.
 */
export function enumeration(
  c: AnomalyConfig['detectors']['enumeration'],
  maxKeys: number,
  shared: SharedCounts | null = null,
): Detector {
  const windowMs = c.window_s * 1000;
  // Each tracked pair holds up to distinct_ids ids: the pairs are capped so that all of them hold at most ~400 000.
  const pairs = Math.max(100, Math.min(maxKeys, Math.floor(400_000 / c.distinct_ids)));
  const state = new LruMap<string, State>(pairs, windowMs);
  return {
    name: 'enumeration',
    observe(e: AuditEvent, t: number, emit: (a: Alert) => void) {
      if (e.kind !== 'request' || !e.path || e.status === undefined) return;
      const src = sourceKey(e);
      const id = objectId(e.path);
      if (!src || !id) return;
      const route = e.route ?? '-';
      const key = `${src}\u0000${route}`;
      const denied = isDenied(e);
      // State starts at a (source, route)'s first 403/404: clients that are only ever answered 2xx cost nothing.
      if (!denied && state.get(key) === undefined) return;
      const s = state.touch(key, t, () => ({
        ids: new RecentSet(windowMs, c.distinct_ids),
        total: new SlidingCounter(windowMs),
        denied: new SlidingCounter(windowMs),
      }));
      s.ids.add(id, t);
      s.total.add(t);
      if (denied) s.denied.add(t);
      const fire = (distinct: number) => {
        if (distinct < c.distinct_ids) return;
        const total = s.total.total(t);
        const share = total > 0 ? s.denied.total(t) / total : 0;
        if (share < c.min_denied_share) return;
        emit({
          detector: 'enumeration',
          key: `${src}|${route}`,
          client_ip: e.actor?.client_ip,
          consumer: e.actor?.consumer,
          route,
          detail: {
            distinct_ids: distinct,
            requests: total,
            denied_share: Math.round(share * 1000) / 1000,
            window_s: c.window_s,
            threshold: c.distinct_ids,
          },
        });
      };
      const local = () => fire(s.ids.size(t));
      if (!shared || shared.busy) return local();
      // Mostly answered 2xx (a client that met one 404): no alert can fire, and its requests stay off the shared
      // state. Its ids then go uncounted there, which can only delay an alert.
      const total = s.total.total(t);
      if (total > 0 && s.denied.total(t) / total < c.min_denied_share) return;
      const sharedKey = `${src}|${route}`;
      shared
        .firstSeen(`anomaly:enc:${sharedKey}`, id, windowMs)
        .then((first) => first && shared.hit(`anomaly:en:${sharedKey}`, c.distinct_ids, windowMs))
        .then((reached) => reached && fire(c.distinct_ids), local);
    },
  };
}
