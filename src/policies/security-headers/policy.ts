import type { HeaderMap } from '../../core/context.js';
import { definePolicy } from '../../core/policy.js';
import { meta, schema } from './schema.js';

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg) {
    const fixed: HeaderMap = {};
    if (cfg.content_type_options) fixed['x-content-type-options'] = 'nosniff';
    if (cfg.frame_options !== 'off') fixed['x-frame-options'] = cfg.frame_options;
    if (cfg.content_security_policy) fixed['content-security-policy'] = cfg.content_security_policy;
    if (cfg.referrer_policy) fixed['referrer-policy'] = cfg.referrer_policy;
    const h = cfg.hsts;
    const hsts = h.enabled
      ? `max-age=${h.max_age}${h.include_subdomains ? '; includeSubDomains' : ''}${h.preload ? '; preload' : ''}`
      : '';
    const fixedEntries = Object.entries(fixed);
    return {
      response(ctx) {
        const res = ctx.response;
        if (!res) return;
        for (const name of cfg.remove) delete res.headers[name];
        for (const [k, v] of fixedEntries) if (res.headers[k] === undefined) res.headers[k] = v;
        if (hsts && ctx.secure) res.headers['strict-transport-security'] = hsts;
        if (
          cfg.no_store_when_authenticated &&
          res.headers['cache-control'] === undefined &&
          // Any credential counts: an identity policy recognised the caller (API key header, mTLS), or the request
          // carried the usual credential headers even on a public route.
          (ctx.identity !== null || ctx.req.headers.authorization !== undefined || ctx.req.headers.cookie !== undefined)
        ) {
          res.headers['cache-control'] = 'no-store';
        }
      },
    };
  },
});
