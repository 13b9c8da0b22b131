import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { instantiate, makeCtx, runPhase } from '../../../test/unit-helpers.js';
import { type GatewayError, problemOf } from '../../core/errors.js';
import { parsedJsonBody } from './body.js';
import def from './policy.js';
import { schema } from './schema.js';

async function run(cfg: z.input<typeof schema>, body: string, contentType: string | null = 'application/json') {
  const headers: Record<string, string> = { 'content-length': String(Buffer.byteLength(body)) };
  if (contentType) headers['content-type'] = contentType;
  const ctx = makeCtx({ method: 'POST', url: '/x', headers });
  ctx.requestBody = Buffer.from(body);
  const err = (await runPhase(instantiate(def, cfg), 'request', ctx)) as GatewayError | undefined;
  return { ctx, err };
}

describe('json-limits schema', () => {
  it('has defaults and refuses nonsense', () => {
    expect(schema.parse({})).toEqual({
      max_depth: 32,
      max_keys: 1000,
      max_array_length: 10_000,
      max_string_bytes: 1_048_576,
      sniff_untyped: true,
    });
    expect(schema.safeParse({ max_depth: 0 }).success).toBe(false);
    expect(schema.safeParse({ depth: 3 }).success).toBe(false);
    expect(schema.parse({ max_total_bytes: '4096' }).max_total_bytes).toBe(4096);
  });
});

describe('json-limits behaviour', () => {
  it('passes a good body and leaves it parsed for later policies', async () => {
    const { ctx, err } = await run({}, '{"a":[1,2]}');
    expect(err).toBeUndefined();
    expect(parsedJsonBody(ctx)).toEqual({ value: { a: [1, 2] } });
    // A policy that replaces the body makes the parsed value stale.
    ctx.requestBody = Buffer.from('{}');
    expect(parsedJsonBody(ctx)).toBeUndefined();
  });

  it('413 JSON_LIMIT_EXCEEDED with a pointer and a security event; the value is never echoed', async () => {
    const { ctx, err } = await run({ max_depth: 2 }, '{"a":{"b":{"c":"SECRET"}}}', 'application/vnd.api+json');
    expect(err?.code).toBe('JSON_LIMIT_EXCEEDED');
    expect(err?.status).toBe(413);
    const p = problemOf(err as GatewayError);
    expect(p.errors).toEqual([{ in: 'body', pointer: '/a/b', message: 'The JSON body is nested deeper than 2.' }]);
    expect(JSON.stringify(p)).not.toContain('SECRET');
    expect(ctx.securityEvents).toEqual([
      { type: 'validation.failed', policy: 'json-limits', rule: 'json.depth', location: 'body./a/b', action: 'block' },
    ]);
  });

  it('400 JSON_UNSAFE for duplicate and prototype keys; 400 JSON_MALFORMED for broken JSON', async () => {
    expect((await run({}, '{"role":"user","role":"admin"}')).err?.code).toBe('JSON_UNSAFE');
    expect((await run({}, '{"__proto__":{"isAdmin":true}}')).err).toMatchObject({ code: 'JSON_UNSAFE', status: 400 });
    expect((await run({}, '{"a":')).err).toMatchObject({ code: 'JSON_MALFORMED', status: 400 });
  });

  it('the total cap defaults to the body cap of request-limits', async () => {
    const ctx = makeCtx({
      method: 'POST',
      url: '/x',
      headers: { 'content-type': 'application/json', 'content-length': '12' },
    });
    ctx.maxBodyBytes = 10;
    ctx.requestBody = Buffer.from('[1,2,3,4,5]');
    const err = (await runPhase(instantiate(def, {}), 'request', ctx)) as GatewayError;
    expect(err.code).toBe('JSON_LIMIT_EXCEEDED');
  });

  it('untyped bodies that look like JSON are checked (sniff_untyped), other types are not', async () => {
    expect((await run({}, '{"a":1,"a":2}', null)).err?.code).toBe('JSON_UNSAFE');
    expect((await run({ sniff_untyped: false }, '{"a":1,"a":2}', null)).err).toBeUndefined();
    expect((await run({}, 'hello', null)).err).toBeUndefined();
    expect((await run({}, '{"a":1,"a":2}', 'text/plain')).err).toBeUndefined();
  });

  it('requests without a body are not read', async () => {
    const ctx = makeCtx({ method: 'GET', url: '/x', headers: { 'content-type': 'application/json' } });
    expect(await runPhase(instantiate(def, {}), 'request', ctx)).toBeUndefined();
    expect(ctx.requestBody).toBeNull();
  });
});
