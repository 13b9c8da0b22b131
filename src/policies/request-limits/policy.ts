import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { meta, schema } from './schema.js';

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg) {
    return {
      connect(ctx) {
        const { req } = ctx;
        if ((req.url?.length ?? 0) > cfg.max_url_length) throw new GatewayError('URI_TOO_LONG');
        const raw = req.rawHeaders;
        if (raw.length / 2 > cfg.max_headers) throw new GatewayError('HEADERS_TOO_LARGE', 'Too many header fields.');
        for (let i = 1; i < raw.length; i += 2) {
          if ((raw[i]?.length ?? 0) > cfg.max_header_bytes) {
            throw new GatewayError('HEADERS_TOO_LARGE', `Header ${raw[i - 1]} is too large.`);
          }
        }
        // A declared length is refused up front; chunked bodies are counted by the proxy as they stream.
        const declared = Number(req.headers['content-length'] ?? 0);
        if (declared > cfg.max_body_bytes) throw new GatewayError('PAYLOAD_TOO_LARGE');
        ctx.maxBodyBytes = cfg.max_body_bytes;
      },
    };
  },
});
