import { isAbsolute, resolve } from 'node:path';
import { MAX_BUFFERED_BODY, type RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { SpecError } from '../../openapi/index.js';
import { sharedValidator } from '../../openapi/shared.js';
import type { RequestValidator } from '../../openapi/validator.js';
import { parsedJsonBody, setParsedJsonBody } from '../json-limits/body.js';
import { jsonProblemError } from '../json-limits/policy.js';
import { DEFAULT_JSON_LIMITS, JsonProblem, parseJsonSafely } from '../json-limits/scan.js';
import { meta, schema } from './schema.js';

/** Operations up to which `compile: auto` compiles everything at load. */
const EAGER_MAX_OPERATIONS = 300;
/** Security events recorded per refused request (the problem body lists up to MAX_ISSUES). */
const MAX_EVENTS = 5;

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const file = isAbsolute(cfg.spec) ? cfg.spec : resolve(cfg.spec);
    const validator = sharedValidator(
      env.services,
      file,
      cfg.base_path === undefined ? {} : { basePath: cfg.base_path },
    );
    const ops = validator.doc.operations.length;
    if (cfg.compile === 'eager' || (cfg.compile === 'auto' && ops <= EAGER_MAX_OPERATIONS)) validator.compileAll();
    // Builds the schema registry now, so that the first request does not pay for it (large documents).
    else validator.prepare();
    const sw = {
      path: cfg.validate.path,
      query: cfg.validate.query,
      headers: cfg.validate.headers,
      cookies: cfg.validate.cookies,
      body: cfg.validate.body,
      allowUnknownQuery: cfg.allow_unknown_query,
    };
    const refuse = (ctx: RequestContext, rule: string, location: string) =>
      ctx.securityEvent({ type: 'validation.failed', policy: meta.name, rule, location, action: 'block' });

    return {
      async request(ctx) {
        const upstream = cfg.match === 'upstream' && ctx.upstreamPath !== '';
        const q = upstream ? ctx.upstreamPath.indexOf('?') : -1;
        const path = upstream ? (q === -1 ? ctx.upstreamPath : ctx.upstreamPath.slice(0, q)) : ctx.path;
        const found = validator.doc.lookup(ctx.method, path);
        if (found.kind !== 'found') {
          if (!cfg.strict) return;
          refuse(ctx, 'operation', 'path');
          if (found.kind === 'method') {
            throw new GatewayError('OPERATION_METHOD_NOT_ALLOWED', undefined, {
              headers: { allow: found.allow.join(', ') },
            });
          }
          throw new GatewayError('OPERATION_NOT_FOUND');
        }
        const query = upstream ? (q === -1 ? '' : ctx.upstreamPath.slice(q + 1)) : ctx.query.slice(1);
        let result: Awaited<ReturnType<RequestValidator['validate']>>;
        try {
          result = await validator.validate(
            found.op,
            {
              pathParams: found.params,
              query,
              headers: ctx.req.headers,
              hasBody: ctx.hasBody(),
              contentType: ctx.req.headers['content-type'],
              readBody: () => ctx.readBody(),
              parseJson: (buf) => {
                const done = parsedJsonBody(ctx);
                if (done) return done.value;
                const cap = Math.min(ctx.maxBodyBytes, MAX_BUFFERED_BODY);
                return parseJsonSafely(buf, { ...DEFAULT_JSON_LIMITS, maxTotalBytes: cap });
              },
            },
            sw,
          );
        } catch (e) {
          if (e instanceof JsonProblem) throw jsonProblemError(ctx, e, meta.name);
          if (e instanceof SpecError) {
            // A schema ajv cannot compile, met on first use (lazy): the document's fault, not the client's.
            env.logger.error({ err: e.message, operation: `${found.op.method} ${found.op.pathTemplate}` }, 'openapi');
            throw new GatewayError('INTERNAL', undefined, { cause: e });
          }
          throw e;
        }
        if (result.kind === 'media-type') {
          refuse(ctx, 'media-type', 'header.content-type');
          throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', 'The operation does not accept this Content-Type.');
        }
        if (result.kind === 'invalid') {
          for (const i of result.issues.slice(0, MAX_EVENTS)) {
            refuse(ctx, i.in, i.in === 'body' ? `body.${i.pointer || '/'}` : `${i.in}.${i.name ?? ''}${i.pointer}`);
          }
          throw new GatewayError('REQUEST_INVALID', 'The request does not match the API description.', {
            extensions: { errors: result.issues },
          });
        }
        if (result.json) setParsedJsonBody(ctx, result.json.buf, result.json.value);
      },
    };
  },
});
