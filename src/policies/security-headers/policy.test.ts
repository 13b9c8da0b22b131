import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { type FakeContext, instantiate, makeCtx, withResponse } from '../../../test/unit-helpers.js';
import type { HeaderMap } from '../../core/context.js';
import def from './policy.js';
import { schema } from './schema.js';

const DEFAULTS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

async function respond(cfg: z.input<typeof schema>, upstream: HeaderMap, req: FakeContext = {}): Promise<HeaderMap> {
  const p = instantiate(def, cfg);
  expect(p.request).toBeUndefined();
  const ctx = withResponse(makeCtx(req), 200, upstream);
  await p.response?.(ctx);
  return ctx.response?.headers ?? {};
}

describe('security-headers schema', () => {
  it('has safe defaults', () => {
    expect(schema.parse({})).toEqual({
      hsts: { enabled: true, max_age: 31_536_000, include_subdomains: true, preload: false },
      content_type_options: true,
      frame_options: 'DENY',
      content_security_policy: "default-src 'none'; frame-ancestors 'none'",
      referrer_policy: 'no-referrer',
      remove: ['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version'],
      no_store_when_authenticated: true,
    });
  });
  it('fills hsts defaults when only part is given', () => {
    expect(schema.parse({ hsts: { preload: true } }).hsts).toEqual({
      enabled: true,
      max_age: 31_536_000,
      include_subdomains: true,
      preload: true,
    });
  });
  it('refuses bad values and unknown keys', () => {
    expect(schema.safeParse({ frame_options: 'ALLOW-FROM x' }).success).toBe(false);
    expect(schema.safeParse({ hsts: { max_age: -1 } }).success).toBe(false);
    expect(schema.safeParse({ hsts: { enable: true } }).success).toBe(false);
    expect(schema.safeParse({ remove: ['bad header'] }).success).toBe(false);
    expect(schema.safeParse({ csp: 'x' }).success).toBe(false);
  });
  it('lower-cases names in the remove list', () => {
    expect(schema.parse({ remove: ['X-Powered-By', 'Server'] }).remove).toEqual(['x-powered-by', 'server']);
  });
});

describe('security-headers behaviour', () => {
  it('adds the default headers and strips stack banners on plain HTTP (no HSTS)', async () => {
    const h = await respond(
      {},
      { 'content-type': 'application/json', server: 'nginx/1.2', 'x-powered-by': 'Express', 'x-aspnet-version': '4' },
    );
    expect(h).toEqual({ 'content-type': 'application/json', ...DEFAULTS });
  });

  it('sends HSTS only when the connection is TLS', async () => {
    expect((await respond({}, {}, { secure: true }))['strict-transport-security']).toBe(
      'max-age=31536000; includeSubDomains',
    );
    expect((await respond({}, {}, { secure: false }))['strict-transport-security']).toBeUndefined();
  });

  it('builds HSTS from its options and overrides an upstream value', async () => {
    const cfg = { hsts: { max_age: 600, include_subdomains: false, preload: true } };
    const h = await respond(cfg, { 'strict-transport-security': 'max-age=0' }, { secure: true });
    expect(h['strict-transport-security']).toBe('max-age=600; preload');
    const off = await respond({ hsts: { enabled: false } }, {}, { secure: true });
    expect(off['strict-transport-security']).toBeUndefined();
  });

  it('keeps values the upstream set itself', async () => {
    const up = { 'content-security-policy': "default-src 'self'", 'x-frame-options': 'SAMEORIGIN' };
    const h = await respond({}, up);
    expect(h['content-security-policy']).toBe("default-src 'self'");
    expect(h['x-frame-options']).toBe('SAMEORIGIN');
    expect(h['x-content-type-options']).toBe('nosniff');
  });

  it('follows the configured values and switches', async () => {
    const h = await respond(
      {
        content_type_options: false,
        frame_options: 'off',
        content_security_policy: '',
        referrer_policy: 'strict-origin',
        remove: ['via'],
      },
      { server: 'kept', via: '1.1 upstream' },
    );
    expect(h).toEqual({ server: 'kept', 'referrer-policy': 'strict-origin' });
  });

  it('sets no-store on answers to requests with credentials', async () => {
    expect((await respond({}, {}, { headers: { authorization: 'Bearer t' } }))['cache-control']).toBe('no-store');
    expect((await respond({}, {}, { headers: { cookie: 'sid=1' } }))['cache-control']).toBe('no-store');
  });

  it('sets no-store when an identity policy recognised the caller (API key header, mTLS)', async () => {
    const p = instantiate(def, {});
    const ctx = withResponse(makeCtx({ headers: { 'x-api-key': 'rmpk_x' } }), 200, {});
    ctx.identity = {
      kind: 'api-key',
      consumerId: 'c1',
      subject: 'alice',
      credentialId: 'k1',
      roles: [],
      scopes: [],
      attributes: {},
      claims: null,
      clientId: null,
      expiresAt: null,
    };
    await p.response?.(ctx);
    expect(ctx.response?.headers['cache-control']).toBe('no-store');
  });

  it('does not set no-store on anonymous requests', async () => {
    expect((await respond({}, {}))['cache-control']).toBeUndefined();
  });

  it("keeps the upstream's cache-control on authenticated requests", async () => {
    const h = await respond({}, { 'cache-control': 'private, max-age=60' }, { headers: { authorization: 'Basic x' } });
    expect(h['cache-control']).toBe('private, max-age=60');
  });

  it('no_store_when_authenticated: false leaves caching alone', async () => {
    const h = await respond({ no_store_when_authenticated: false }, {}, { headers: { authorization: 'Bearer t' } });
    expect(h['cache-control']).toBeUndefined();
  });

  it('tolerates a response phase without a response', async () => {
    const p = instantiate(def, {});
    const ctx = makeCtx({ secure: true });
    await p.response?.(ctx);
    expect(ctx.response).toBeNull();
  });
});
