import { describe, expect, it } from 'vitest';
import { type FakeContext, instantiate, makeCtx, runPhase, withResponse } from '../../../test/unit-helpers.js';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { PolicyInstance } from '../../core/policy.js';
import def from './policy.js';
import { schema } from './schema.js';

const APP = 'https://app.example.com';

function preflight(origin: string, extra: FakeContext['headers'] = {}): RequestContext {
  return makeCtx({
    method: 'OPTIONS',
    url: '/api/items',
    headers: { origin, 'access-control-request-method': 'PUT', ...extra },
  });
}

/** A simple (non-preflight) request that reached the upstream, then the cors response phase on its answer. */
async function simple(p: PolicyInstance, headers: FakeContext['headers'], upstream: Record<string, string> = {}) {
  const ctx = makeCtx({ method: 'GET', url: '/api/items', headers });
  await p.request?.(ctx);
  expect(ctx.response).toBeNull();
  withResponse(ctx, 200, { 'content-type': 'application/json', ...upstream });
  await p.response?.(ctx);
  return ctx.response?.headers ?? {};
}

describe('cors schema', () => {
  it('fills defaults', () => {
    expect(schema.parse({ origins: [APP] })).toEqual({
      origins: [APP],
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      headers: ['content-type', 'authorization'],
      expose_headers: [],
      credentials: false,
      max_age: 600,
    });
  });
  it('normalises methods to upper case and header names to lower case', () => {
    const c = schema.parse({
      origins: [APP],
      methods: ['get', 'Post'],
      headers: ['X-Api-Key'],
      expose_headers: ['ETag'],
    });
    expect(c.methods).toEqual(['GET', 'POST']);
    expect(c.headers).toEqual(['x-api-key']);
    expect(c.expose_headers).toEqual(['etag']);
  });
  it('refuses "*" together with credentials', () => {
    const r = schema.safeParse({ origins: ['*'], credentials: true });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['origins']);
    expect(r.error?.issues[0]?.message).toMatch(/credentials/);
    expect(schema.safeParse({ origins: [APP, '*'], credentials: 'true' }).success).toBe(false);
    expect(schema.safeParse({ origins: ['*'], credentials: false }).success).toBe(true);
  });
  it('refuses origins that are not scheme://host[:port]', () => {
    for (const o of ['app.example.com', 'https://app.example.com/', 'https://a.com/path', 'null', 'ftp://a.com']) {
      const r = schema.safeParse({ origins: [APP, o] });
      expect(r.success, o).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(['origins', 1]);
    }
    expect(schema.safeParse({ origins: ['http://localhost:3000'] }).success).toBe(true);
  });
  it('refuses, with credentials, a regex broad enough to match origins nobody listed', () => {
    for (const broad of ['~.*', '~https?://.*', '~https://[^/]+', '~null|https://app\\.example\\.com']) {
      const r = schema.safeParse({ origins: [APP, broad], credentials: true });
      expect(r.success, broad).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(['origins', 1]);
      expect(r.error?.issues[0]?.message).toMatch(/too broad/);
      // Without credentials a broad pattern only exposes what anonymous callers may read anyway.
      expect(schema.safeParse({ origins: [broad], credentials: false }).success, broad).toBe(true);
    }
    expect(schema.safeParse({ origins: ['~https://[a-z0-9-]+\\.example\\.com'], credentials: true }).success).toBe(
      true,
    );
  });
  it('refuses an invalid regex and an empty list', () => {
    const r = schema.safeParse({ origins: ['~https://(.*\\.example\\.com'] });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toMatch(/^invalid regex/);
    expect(schema.safeParse({ origins: [] }).success).toBe(false);
    expect(schema.safeParse({}).success).toBe(false);
  });
  it('bounds max_age and refuses unknown methods and keys', () => {
    expect(schema.safeParse({ origins: [APP], max_age: 86_401 }).success).toBe(false);
    expect(schema.safeParse({ origins: [APP], methods: ['FETCH'] }).success).toBe(false);
    expect(schema.safeParse({ origins: [APP], allow_all: true }).success).toBe(false);
  });
});

describe('cors preflight', () => {
  it('answers an allowed preflight with 204 via ctx.reply', async () => {
    const p = instantiate(def, { origins: [APP], headers: ['content-type', 'x-api-key'], max_age: 120 });
    const ctx = preflight(APP);
    await p.request?.(ctx);
    expect(ctx.response).toEqual({
      status: 204,
      headers: {
        'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
        'access-control-allow-headers': 'content-type, x-api-key',
        'access-control-max-age': '120',
      },
      body: null,
    });
    // The pipeline then runs cors' own response phase on its reply, which adds the origin.
    await p.response?.(ctx);
    expect(ctx.response?.headers['access-control-allow-origin']).toBe(APP);
    expect(ctx.response?.headers.vary).toBe('Origin');
  });

  it('denies a preflight from an unlisted origin with CORS_ORIGIN_DENIED (403)', async () => {
    const p = instantiate(def, { origins: [APP] });
    const ctx = preflight('https://evil.example.net');
    const err = (await runPhase(p, 'request', ctx)) as GatewayError;
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.code).toBe('CORS_ORIGIN_DENIED');
    expect(err.status).toBe(403);
    expect(ctx.response).toBeNull();
  });

  it('lets OPTIONS without Origin or without Access-Control-Request-Method through to the upstream', async () => {
    const p = instantiate(def, { origins: [APP] });
    const noOrigin = makeCtx({ method: 'OPTIONS', headers: { 'access-control-request-method': 'PUT' } });
    const noAcrm = makeCtx({ method: 'OPTIONS', headers: { origin: 'https://evil.example.net' } });
    const get = makeCtx({ method: 'GET', headers: { origin: APP, 'access-control-request-method': 'PUT' } });
    for (const ctx of [noOrigin, noAcrm, get]) {
      expect(await runPhase(p, 'request', ctx)).toBeUndefined();
      expect(ctx.response).toBeNull();
    }
  });

  it('answers any origin\'s preflight with "*"', async () => {
    const p = instantiate(def, { origins: ['*'] });
    const ctx = preflight('https://anyone.example.org');
    await p.request?.(ctx);
    expect(ctx.response?.status).toBe(204);
    await p.response?.(ctx);
    expect(ctx.response?.headers['access-control-allow-origin']).toBe('*');
    expect(ctx.response?.headers['access-control-allow-credentials']).toBeUndefined();
  });
});

describe('cors simple requests', () => {
  it('answers an allowed origin with its exact origin, Vary: Origin and credentials', async () => {
    const p = instantiate(def, { origins: [APP, 'https://other.example.com'], credentials: true });
    const h = await simple(p, { origin: APP });
    expect(h['access-control-allow-origin']).toBe(APP);
    expect(h['access-control-allow-credentials']).toBe('true');
    expect(h.vary).toBe('Origin');
    expect(h['access-control-expose-headers']).toBeUndefined();
    expect(h['content-type']).toBe('application/json');
  });

  it('omits credentials unless configured and sends expose_headers', async () => {
    const p = instantiate(def, { origins: [APP], expose_headers: ['ETag', 'x-total'] });
    const h = await simple(p, { origin: APP });
    expect(h['access-control-allow-origin']).toBe(APP);
    expect(h['access-control-allow-credentials']).toBeUndefined();
    expect(h['access-control-expose-headers']).toBe('etag, x-total');
  });

  it('appends Origin to an upstream Vary', async () => {
    const p = instantiate(def, { origins: [APP] });
    expect((await simple(p, { origin: APP }, { vary: 'Accept-Encoding' })).vary).toBe('Accept-Encoding, Origin');
  });

  it('never reflects a disallowed origin', async () => {
    const p = instantiate(def, { origins: [APP], credentials: true, expose_headers: ['etag'] });
    const h = await simple(p, { origin: 'https://evil.example.net' });
    expect(h['access-control-allow-origin']).toBeUndefined();
    expect(h['access-control-allow-credentials']).toBeUndefined();
    expect(h['access-control-expose-headers']).toBeUndefined();
    expect(h.vary).toBe('Origin');
  });

  it("replaces the upstream's own CORS headers, so an upstream that reflects origins cannot leak", async () => {
    const p = instantiate(def, { origins: [APP] });
    const reflecting = {
      'access-control-allow-origin': 'https://evil.example.net',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-secret',
      'x-up': '1',
    };
    const evil = await simple(p, { origin: 'https://evil.example.net' }, reflecting);
    expect(evil).toEqual({ 'content-type': 'application/json', 'x-up': '1', vary: 'Origin' });
    const ok = await simple(p, { origin: APP }, { ...reflecting, 'access-control-allow-origin': '*' });
    expect(ok['access-control-allow-origin']).toBe(APP);
    expect(ok['access-control-allow-credentials']).toBeUndefined();
    expect(ok['access-control-expose-headers']).toBeUndefined();
  });

  it('never trusts the "null" origin, even when a pattern matches it', async () => {
    const p = instantiate(def, { origins: ['~null|https://app\\.example\\.com'] });
    const h = await simple(p, { origin: 'null' });
    expect(h['access-control-allow-origin']).toBeUndefined();
    const err = await runPhase(p, 'request', preflight('null'));
    expect((err as GatewayError).code).toBe('CORS_ORIGIN_DENIED');
  });

  it('adds only Vary when there is no Origin header', async () => {
    const p = instantiate(def, { origins: [APP] });
    const h = await simple(p, {});
    expect(h).toEqual({ 'content-type': 'application/json', vary: 'Origin' });
  });

  it('anchors regex origins', async () => {
    const p = instantiate(def, { origins: ['~https://[a-z0-9-]+\\.example\\.com'], credentials: true });
    expect((await simple(p, { origin: 'https://x.example.com' }))['access-control-allow-origin']).toBe(
      'https://x.example.com',
    );
    for (const evil of [
      'https://x.example.com.evil.net',
      'https://evil.net?https://x.example.com',
      'http://x.example.com',
      'xhttps://x.example.com',
      'https://x.example.com:8443',
    ]) {
      expect((await simple(p, { origin: evil }))['access-control-allow-origin'], evil).toBeUndefined();
    }
    const denied = await runPhase(p, 'request', preflight('https://x.example.com.evil.net'));
    expect((denied as GatewayError).code).toBe('CORS_ORIGIN_DENIED');
  });

  it('anchors every alternative of a regex with "|"', async () => {
    const p = instantiate(def, { origins: ['~https://a\\.example\\.com|https://b\\.example\\.com'] });
    expect((await simple(p, { origin: 'https://b.example.com' }))['access-control-allow-origin']).toBe(
      'https://b.example.com',
    );
    expect((await simple(p, { origin: 'https://a.example.com.evil.net' }))['access-control-allow-origin']).toBe(
      undefined,
    );
    expect((await simple(p, { origin: 'https://evil.net/https://b.example.com' }))['access-control-allow-origin']).toBe(
      undefined,
    );
  });

  it('answers "*" without credentials for any origin', async () => {
    const p = instantiate(def, { origins: ['*'], expose_headers: ['etag'] });
    const h = await simple(p, { origin: 'https://anyone.example.org' });
    expect(h['access-control-allow-origin']).toBe('*');
    expect(h['access-control-allow-credentials']).toBeUndefined();
    expect(h['access-control-expose-headers']).toBe('etag');
  });

  it('prefers the exact origin over "*" when both are listed', async () => {
    const p = instantiate(def, { origins: [APP, '*'] });
    expect((await simple(p, { origin: APP }))['access-control-allow-origin']).toBe(APP);
    expect((await simple(p, { origin: 'https://b.example.org' }))['access-control-allow-origin']).toBe('*');
  });

  it('tolerates a response phase without a response', async () => {
    const p = instantiate(def, { origins: [APP] });
    const ctx = makeCtx({ headers: { origin: APP } });
    await p.response?.(ctx);
    expect(ctx.response).toBeNull();
  });
});
