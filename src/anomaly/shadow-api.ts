import type { AuditEvent } from '../audit/types.js';
import type { Alert, Detector } from './detector.js';
import { isUndeclared, pathShape, sourceKey } from './events.js';
import type { AnomalyConfig } from './schema.js';
import { LruMap, RecentSet, SlidingCounter } from './window.js';

interface State {
  hits: SlidingCounter;
  sources: RecentSet;
}

/**
 * Shadow APIs: steady traffic to a path shape no route or OpenAPI operation declares (an old version still called,
 * an undocumented endpoint clients found). Grouped by shape (ids folded), so /v1/users/7 and /v1/users/8 are one;
 * scattered one-off 404s (typos, scanners probing many paths) stay below the threshold of any one shape.
 */
export function shadowApi(c: AnomalyConfig['detectors']['shadow_api'], maxKeys: number): Detector {
  const windowMs = c.window_s * 1000;
  const state = new LruMap<string, State>(maxKeys, windowMs);
  const seen = new RecentSet(windowMs, maxKeys);
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
      }));
      s.hits.add(t);
      const src = sourceKey(e);
      if (src) s.sources.add(src, t);
      const hits = s.hits.total(t);
      const sources = s.sources.size(t);
      if (hits >= c.threshold && sources >= c.min_sources) {
        emit({
          detector: 'shadow_api',
          key,
          path: shape,
          detail: { method: e.method ?? '', requests: hits, sources, window_s: c.window_s, threshold: c.threshold },
        });
      }
    },
  };
}
