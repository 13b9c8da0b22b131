import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { meta, schema } from './schema.js';

const OWNED = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers'];

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg) {
    const exact = new Set(cfg.origins.filter((o) => !o.startsWith('~') && o !== '*'));
    const anyOrigin = cfg.origins.includes('*');
    // Anchored so that "~https://.*\.example\.com" cannot match "https://x.example.com.evil.net".
    const patterns = cfg.origins.filter((o) => o.startsWith('~')).map((o) => new RegExp(`^(?:${o.slice(1)})$`));
    const allowed = (origin: string) => exact.has(origin) || patterns.some((re) => re.test(origin));
    const allowMethods = cfg.methods.join(', ');
    const allowHeaders = cfg.headers.join(', ');
    const expose = cfg.expose_headers.join(', ');

    return {
      request(ctx) {
        const origin = ctx.req.headers.origin;
        if (ctx.method !== 'OPTIONS' || !origin || !ctx.req.headers['access-control-request-method']) return;
        if (!anyOrigin && (origin === 'null' || !allowed(origin))) throw new GatewayError('CORS_ORIGIN_DENIED');
        ctx.reply(204, {
          'access-control-allow-methods': allowMethods,
          'access-control-allow-headers': allowHeaders,
          'access-control-max-age': String(cfg.max_age),
        });
      },
      response(ctx) {
        const origin = ctx.req.headers.origin;
        const res = ctx.response;
        if (!res) return;
        // The gateway owns CORS here: an upstream's own answer (often a reflected origin) never passes through.
        for (const h of OWNED) delete res.headers[h];
        const vary = res.headers.vary;
        const varies = Array.isArray(vary) ? vary.join(', ') : vary;
        if (!varies) res.headers.vary = 'Origin';
        else if (!/(^|,)\s*(origin|\*)\s*(,|$)/i.test(varies)) res.headers.vary = `${varies}, Origin`;
        if (!origin) return;
        // "null" (sandboxed frames, file: pages, redirects) is shared by every such page: never trusted by name.
        if (origin !== 'null' && allowed(origin)) {
          res.headers['access-control-allow-origin'] = origin;
          if (cfg.credentials) res.headers['access-control-allow-credentials'] = 'true';
        } else if (anyOrigin) {
          res.headers['access-control-allow-origin'] = '*';
        } else {
          return;
        }
        if (expose) res.headers['access-control-expose-headers'] = expose;
      },
    };
  },
});
