import type { AuditEvent } from '../audit/types.js';
import type { Alert, Detector } from './detector.js';
import { isUndeclared, pathShape, sourceKey } from './events.js';
import type { AnomalyConfig } from './schema.js';
import type { SharedCounts } from './shared.js';
import { LruMap, RecentSet, SlidingCounter } from './window.js';

interface State {
  hits: SlidingCounter;
  sources: RecentSet;
  /** The shared count has this process's hits (sent once they reached `gate`, each one after). */
  shared: boolean;
}

/**
 * Shadow APIs: steady traffic to a path shape no route or OpenAPI operation declares (an old version still called,
 * an undocumented endpoint clients found). Grouped by shape (ids folded), so /v1/users/7 and /v1/users/8 are one;
 * scattered one-off 404s (typos, scanners probing many paths) stay below the threshold of any one shape.
 *
 * With a shared state the requests to a shape are counted there, over all workers and nodes; the distinct sources
 * stay this process's count (a steady client's connections reach every worker). A shape goes to the shared state
 * only once this process has seen an eighth of the threshold (sent as one hit of that cost, then one by one): a
 * scanner's stream of one-off random paths must not fill the shared state with a key each.
 */
export function shadowApi(
  c: AnomalyConfig['detectors']['shadow_api'],
  maxKeys: number,
  shared: SharedCounts | null = null,
): Detector {
  const windowMs = c.window_s * 1000;
  const state = new LruMap<string, State>(maxKeys, windowMs);
  const seen = new RecentSet(windowMs, maxKeys);
  const gate = Math.max(1, Math.floor(c.threshold / 8));
  return {
    name: 'shadow_api',
    observe(e: AuditEvent, t: number, emit: (a: Alert) => void) {
      if (!e.path || !isUndeclared(e)) return;
      if (c.ignore.some((p) => e.path!.startsWith(p))) return;
      if (e.request_id && !seen.add(e.request_id, t)) return;
      const shape = pathShape(e.path);
      const key = `${e.method ?? ''} ${shape}`;
      const s = state.touch(key, t, () => ({
        hits: new SlidingCounter(windowMs),
        sources: new RecentSet(windowMs, c.min_sources * 2),
        shared: false,
      }));
      s.hits.add(t);
      const src = sourceKey(e);
      if (src) s.sources.add(src, t);
      const sources = s.sources.size(t);
      const fire = (hits: number) => {
        if (hits < c.threshold || sources < c.min_sources) return;
        emit({
          detector: 'shadow_api',
          key,
          path: shape,
          detail: { method: e.method ?? '', requests: hits, sources, window_s: c.window_s, threshold: c.threshold },
        });
      };
      const local = () => fire(s.hits.total(t));
      if (!shared || shared.busy) return local();
      let cost = 1;
      if (!s.shared) {
        cost = s.hits.total(t);
        if (cost < gate) return local();
        s.shared = true;
      }
      shared
        .hit(`anomaly:sh:${key}`, c.threshold, windowMs, cost)
        .then((reached) => reached && fire(c.threshold), local);
    },
  };
}
