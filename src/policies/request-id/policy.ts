import { randomUUID } from 'node:crypto';
import { definePolicy } from '../../core/policy.js';
import { meta, schema } from './schema.js';

/** Incoming ids are kept only if short and plain, so they cannot inject into logs or headers. */
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg) {
    const { header, trust_incoming: trust, echo } = cfg;
    return {
      connect(ctx) {
        const incoming = trust ? ctx.req.headers[header] : undefined;
        ctx.id = typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUUID();
      },
      request(ctx) {
        ctx.upstreamHeaders[header] = ctx.id;
      },
      response: echo
        ? (ctx) => {
            if (ctx.response) ctx.response.headers[header] = ctx.id;
          }
        : undefined,
    };
  },
});
