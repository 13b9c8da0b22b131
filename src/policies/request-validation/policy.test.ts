import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { instantiate, makeCtx, policyEnv, runPhase } from '../../../test/unit-helpers.js';
import { ConfigError, parseConfig } from '../../config/load.js';
import { type GatewayError, problemOf } from '../../core/errors.js';
import { OpenApiCache, sharedOpenApi, sharedValidator } from '../../openapi/shared.js';
import { specDir } from '../../openapi/test-helpers.js';
import { parsedJsonBody } from '../json-limits/body.js';
import def from './policy.js';
import { schema } from './schema.js';

const SPEC = resolve('examples/openapi.yaml');

interface Call {
  method?: string;
  url: string;
  upstreamPath?: string;
  body?: string;
  headers?: Record<string, string>;
}

async function run(cfg: Partial<z.input<typeof schema>>, c: Call) {
  const headers: Record<string, string> = { ...(c.headers ?? {}) };
  if (c.body !== undefined) {
    headers['content-length'] = String(Buffer.byteLength(c.body));
    headers['content-type'] ??= 'application/json';
  }
  const ctx = makeCtx({ method: c.method ?? 'GET', url: c.url, headers });
  if (c.upstreamPath !== undefined) ctx.upstreamPath = c.upstreamPath;
  if (c.body !== undefined) ctx.requestBody = Buffer.from(c.body);
  const err = (await runPhase(instantiate(def, { spec: SPEC, ...cfg }), 'request', ctx)) as GatewayError | undefined;
  return { ctx, err, problem: err ? problemOf(err) : undefined };
}

describe('request-validation schema', () => {
  it('defaults: strict, every location, unknown query refused, match the upstream path', () => {
    expect(schema.parse({ spec: 'api.yaml' })).toEqual({
      spec: 'api.yaml',
      strict: true,
      validate: { path: true, query: true, headers: true, cookies: true, body: true },
      allow_unknown_query: false,
      match: 'upstream',
      compile: 'auto',
    });
    expect(schema.safeParse({}).success).toBe(false);
    expect(schema.safeParse({ spec: 'a', base_path: 'v1' }).success).toBe(false);
    expect(schema.safeParse({ spec: 'a', validate: { bodies: true } }).success).toBe(false);
  });

  it('the config loader resolves spec relative to the config file and reports a bad one at its field', () => {
    const dir = specDir({ 'bad.yaml': 'swagger: "2.0"\n' });
    const yaml = (spec: string) =>
      `listeners: [{ port: 0 }]\nroutes:\n  - name: r\n    public: true\n    paths: ["/a"]\n    policies:\n      request-validation: { spec: ${spec} }\n`;
    const ok = parseConfig(yaml('../../examples/openapi.yaml'), 'x.yaml', resolve('test/e2e'));
    const policies = ok.config.routes[0]?.policies as unknown as Record<string, { spec: string }> | undefined;
    const spec = policies?.['request-validation'];
    expect(spec?.spec).toBe(SPEC);
    for (const [file, msg] of [
      ['bad.yaml', /Swagger 2.0 is not supported/],
      ['nope.yaml', /nope.yaml: no such file/],
    ] as const) {
      try {
        parseConfig(yaml(file), 'x.yaml', dir);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        const issue = (e as ConfigError).issues[0];
        expect(issue).toMatchObject({ path: 'routes[0].policies.request-validation.spec', line: 7, severity: 'error' });
        expect(issue?.message).toMatch(msg);
      }
    }
  });

  it('a missing document fails at create, naming it', () => {
    expect(() => instantiate(def, { spec: '/no/such/openapi.yaml' })).toThrow(/no\/such\/openapi.yaml: no such file/);
  });
});

describe('request-validation behaviour (demo spec)', () => {
  it('passes a valid request and leaves the parsed JSON for later policies', async () => {
    const { ctx, err } = await run(
      {},
      { method: 'POST', url: '/transfers', body: '{"from_account":"acc_2001","to_account":"acc_2002","amount":5}' },
    );
    expect(err).toBeUndefined();
    expect(parsedJsonBody(ctx)?.value).toEqual({ from_account: 'acc_2001', to_account: 'acc_2002', amount: 5 });
  });

  it('matches on the upstream path (after strip_prefix) by default, or on the request path', async () => {
    expect((await run({}, { url: '/api/users/u_1', upstreamPath: '/users/u_1' })).err).toBeUndefined();
    expect((await run({ match: 'request' }, { url: '/api/users/u_1', upstreamPath: '/users/u_1' })).err?.code).toBe(
      'OPERATION_NOT_FOUND',
    );
    expect((await run({ match: 'request', base_path: '/api' }, { url: '/api/users/u_1' })).err).toBeUndefined();
  });

  it('400 REQUEST_INVALID with problem+json errors, no value echoed, a security event per issue', async () => {
    const { ctx, err, problem } = await run(
      {},
      {
        method: 'POST',
        url: '/orders',
        body: '{"user_id":"DROP TABLE","card_number":"4111111111111111","items":[{"sku":"A-1","qty":1,"price":2}]}',
      },
    );
    expect(err?.status).toBe(400);
    expect(problem).toMatchObject({
      code: 'REQUEST_INVALID',
      status: 400,
      detail: 'The request does not match the API description.',
    });
    expect(problem?.errors).toEqual([
      { in: 'body', pointer: '/user_id', message: 'does not match the required pattern' },
    ]);
    expect(JSON.stringify(problem)).not.toMatch(/DROP TABLE|4111/);
    expect(ctx.securityEvents).toEqual([
      {
        type: 'validation.failed',
        policy: 'request-validation',
        rule: 'body',
        location: 'body./user_id',
        action: 'block',
      },
    ]);
  });

  it('mass assignment: role is read-only, unknown fields are refused', async () => {
    const patch = (body: object) => run({}, { method: 'PATCH', url: '/users/u_1001', body: JSON.stringify(body) });
    expect((await patch({ phone: '+1-202-555-0199' })).err).toBeUndefined();
    expect((await patch({ role: 'admin' })).problem?.errors).toEqual([
      { in: 'body', pointer: '/role', message: 'is read-only' },
    ]);
    expect((await patch({ tenant_id: 't_globex' })).problem?.errors).toEqual([
      { in: 'body', pointer: '/tenant_id', message: 'is not an allowed property' },
    ]);
  });

  it('strict: 404 OPERATION_NOT_FOUND, 405 with Allow; not strict: let through', async () => {
    expect((await run({}, { url: '/nope' })).err).toMatchObject({ code: 'OPERATION_NOT_FOUND', status: 404 });
    const m = await run({}, { method: 'PUT', url: '/users/u_1' });
    expect(m.err).toMatchObject({ code: 'OPERATION_METHOD_NOT_ALLOWED', status: 405 });
    expect(m.err?.headers).toEqual({ allow: 'GET, HEAD, DELETE, PATCH' });
    expect((await run({ strict: false }, { url: '/nope' })).err).toBeUndefined();
  });

  it('415 for a media type the operation does not take', async () => {
    const { err } = await run(
      {},
      {
        method: 'POST',
        url: '/transfers',
        body: 'amount=5',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
    );
    expect(err).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 });
  });

  it('query: unknown names refused unless allowed; path patterns checked', async () => {
    expect((await run({}, { url: '/orders?user_id=u_1002' })).err).toBeUndefined();
    expect((await run({}, { url: '/orders?user_id[]=u_1' })).problem?.errors).toEqual([
      { in: 'query', name: 'user_id[]', pointer: '', message: 'is not a parameter of this operation' },
    ]);
    expect((await run({ allow_unknown_query: true }, { url: '/orders?debug=1' })).err).toBeUndefined();
    expect((await run({}, { url: '/accounts/x' })).problem?.errors).toEqual([
      { in: 'path', name: 'id', pointer: '', message: 'does not match the required pattern' },
    ]);
    expect((await run({ validate: { path: false } }, { url: '/accounts/x' })).err).toBeUndefined();
  });

  it('JSON structure is checked even without json-limits (defaults), as JSON_UNSAFE', async () => {
    const { err, ctx } = await run({}, { method: 'POST', url: '/transfers', body: '{"amount":1,"amount":100000}' });
    expect(err).toMatchObject({ code: 'JSON_UNSAFE' });
    expect(ctx.securityEvents?.[0]).toMatchObject({ policy: 'request-validation', rule: 'json.duplicate-key' });
  });
});

describe('validators are shared across config loads', () => {
  it('one document per file while unchanged; a changed file is read again', () => {
    const dir = specDir({
      'a.yaml':
        "openapi: 3.1.0\ninfo: { title: t, version: '1' }\npaths:\n  /a: { get: { responses: { '200': { description: ok } } } }\n",
    });
    const file = join(dir, 'a.yaml');
    const cache = new OpenApiCache();
    const first = cache.get(file);
    expect(cache.get(file)).toBe(first);
    writeFileSync(
      file,
      "openapi: 3.1.0\ninfo: { title: t, version: '2' }\npaths:\n  /b: { get: { responses: { '200': { description: ok } } } }\n",
    );
    const next = cache.get(file);
    expect(next).not.toBe(first);
    expect(next.doc.match('GET', '/b')).not.toBeNull();
    // Through the services registry, two policy instances (two config loads) and response policies share it.
    const env = policyEnv();
    const v = sharedValidator(env.services, SPEC);
    expect(sharedValidator(env.services, SPEC)).toBe(v);
    expect(sharedOpenApi(env.services, SPEC)).toBe(v.doc);
    expect(sharedValidator(env.services, SPEC, { basePath: '/api' })).not.toBe(v);
  });
});
