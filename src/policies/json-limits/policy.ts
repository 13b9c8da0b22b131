import type { RequestContext } from '../../core/context.js';
import { MAX_BUFFERED_BODY } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { isJsonMediaType, parsedJsonBody, setParsedJsonBody } from './body.js';
import { type JsonLimits, JsonProblem, parseJsonSafely } from './scan.js';
import { meta, schema } from './schema.js';

/** A JsonProblem as the client sees it (problem+json with an `errors` entry) and as the audit log records it. */
export function jsonProblemError(ctx: RequestContext, e: JsonProblem, policy: string): GatewayError {
  ctx.securityEvent({
    type: 'validation.failed',
    policy,
    rule: `json.${e.kind}`,
    location: `body.${e.pointer || '/'}`,
    action: 'block',
  });
  const code = e.isLimit ? 'JSON_LIMIT_EXCEEDED' : e.kind === 'malformed' ? 'JSON_MALFORMED' : 'JSON_UNSAFE';
  return new GatewayError(code, e.message, {
    extensions: { errors: [{ in: 'body', pointer: e.pointer, message: e.message }] },
  });
}

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg) {
    const limitsFor = (ctx: RequestContext): JsonLimits => ({
      maxDepth: cfg.max_depth,
      maxKeys: cfg.max_keys,
      maxArrayLength: cfg.max_array_length,
      maxStringBytes: cfg.max_string_bytes,
      maxTotalBytes: cfg.max_total_bytes ?? Math.min(ctx.maxBodyBytes, MAX_BUFFERED_BODY),
    });
    return {
      async request(ctx) {
        if (!ctx.hasBody() || parsedJsonBody(ctx)) return;
        const ct = ctx.req.headers['content-type'];
        const json = isJsonMediaType(ct);
        if (!json && !(ct === undefined && cfg.sniff_untyped)) return;
        const buf = await ctx.readBody();
        if (!json) {
          // Untyped: only what starts like a JSON object or array is checked.
          let i = 0;
          while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
          if (buf[i] !== 0x7b && buf[i] !== 0x5b) return;
        }
        if (buf.length === 0) return;
        try {
          setParsedJsonBody(ctx, buf, parseJsonSafely(buf, limitsFor(ctx)));
        } catch (e) {
          if (e instanceof JsonProblem) throw jsonProblemError(ctx, e, meta.name);
          throw e;
        }
      },
    };
  },
});
