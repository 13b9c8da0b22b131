import type { HeaderMap } from '../../core/context.js';
import { definePolicy } from '../../core/policy.js';
import { meta, schema } from './schema.js';

type Edits = { set: Record<string, string>; add: Record<string, string>; remove: string[] };

function compile(e: Edits): ((h: HeaderMap) => void) | undefined {
  const set = Object.entries(e.set);
  const add = Object.entries(e.add);
  if (set.length + add.length + e.remove.length === 0) return undefined;
  return (h) => {
    for (const k of e.remove) delete h[k];
    for (const [k, v] of set) h[k] = v;
    for (const [k, v] of add) {
      const cur = h[k];
      h[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
    }
  };
}

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg) {
    const req = compile(cfg.request);
    const res = compile(cfg.response);
    return {
      request: req && ((ctx) => req(ctx.upstreamHeaders)),
      response:
        res &&
        ((ctx) => {
          if (ctx.response) res(ctx.response.headers);
        }),
    };
  },
});
