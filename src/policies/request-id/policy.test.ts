import { describe, expect, it } from 'vitest';
import { instantiate, makeCtx, withResponse } from '../../../test/unit-helpers.js';
import def from './policy.js';
import { schema } from './schema.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request-id schema', () => {
  it('has safe defaults: own ids, echoed, in x-request-id', () => {
    expect(schema.parse({})).toEqual({ header: 'x-request-id', trust_incoming: false, echo: true });
  });
  it('lower-cases the header name and accepts "true"/"false" strings', () => {
    expect(schema.parse({ header: 'X-Correlation-ID', trust_incoming: 'true', echo: 'false' })).toEqual({
      header: 'x-correlation-id',
      trust_incoming: true,
      echo: false,
    });
  });
  it('refuses invalid header names and unknown keys', () => {
    expect(schema.safeParse({ header: 'x request id' }).success).toBe(false);
    expect(schema.safeParse({ header: 'x-id:' }).success).toBe(false);
    expect(schema.safeParse({ trust: true }).success).toBe(false);
  });
});

describe('request-id behaviour', () => {
  it('generates a fresh UUID per request and sends it upstream', async () => {
    const p = instantiate(def, {});
    const a = makeCtx();
    const b = makeCtx();
    await p.connect?.(a);
    await p.connect?.(b);
    expect(a.id).toMatch(UUID);
    expect(b.id).toMatch(UUID);
    expect(a.id).not.toBe(b.id);
    await p.request?.(a);
    expect(a.upstreamHeaders['x-request-id']).toBe(a.id);
  });

  it('ignores an incoming id unless trust_incoming is set', async () => {
    const p = instantiate(def, {});
    const ctx = makeCtx({ headers: { 'x-request-id': 'abc-123' } });
    await p.connect?.(ctx);
    expect(ctx.id).toMatch(UUID);
    await p.request?.(ctx);
    expect(ctx.upstreamHeaders['x-request-id']).toBe(ctx.id);
  });

  it('keeps a safe incoming id with trust_incoming', async () => {
    const p = instantiate(def, { trust_incoming: true });
    for (const id of ['abc-123', 'req_1.2:3', 'A'.repeat(128)]) {
      const ctx = makeCtx({ headers: { 'x-request-id': id } });
      await p.connect?.(ctx);
      expect(ctx.id).toBe(id);
    }
  });

  it('replaces an unsafe incoming id even with trust_incoming', async () => {
    const p = instantiate(def, { trust_incoming: true });
    const unsafe = ['', 'a b', 'x\r\nset-cookie: a=b', '<script>', 'é', 'A'.repeat(129), 'a, b'];
    for (const id of unsafe) {
      const ctx = makeCtx({ headers: { 'x-request-id': id } });
      await p.connect?.(ctx);
      expect(ctx.id).not.toBe(id);
      expect(ctx.id).toMatch(UUID);
    }
    const arr = makeCtx({ headers: { 'x-request-id': ['a', 'b'] as unknown as string } });
    await p.connect?.(arr);
    expect(arr.id).toMatch(UUID);
  });

  it('reads and writes the configured header', async () => {
    const p = instantiate(def, { header: 'X-Correlation-Id', trust_incoming: true });
    const ctx = makeCtx({ headers: { 'x-correlation-id': 'corr-7', 'x-request-id': 'other' } });
    await p.connect?.(ctx);
    expect(ctx.id).toBe('corr-7');
    await p.request?.(ctx);
    expect(ctx.upstreamHeaders).toEqual({ 'x-correlation-id': 'corr-7' });
    withResponse(ctx, 200, {});
    await p.response?.(ctx);
    expect(ctx.response?.headers).toEqual({ 'x-correlation-id': 'corr-7' });
  });

  it('echoes the id on the response (also on errors), overriding an upstream value', async () => {
    const p = instantiate(def, {});
    const ctx = makeCtx();
    await p.connect?.(ctx);
    withResponse(ctx, 502, { 'x-request-id': 'from-upstream', 'content-type': 'text/plain' });
    await p.response?.(ctx);
    expect(ctx.response?.headers['x-request-id']).toBe(ctx.id);
    expect(ctx.response?.headers['content-type']).toBe('text/plain');
  });

  it('does not echo with echo: false', async () => {
    const p = instantiate(def, { echo: false });
    expect(p.response).toBeUndefined();
    expect(p.connect).toBeTypeOf('function');
    expect(p.request).toBeTypeOf('function');
  });

  it('tolerates a response phase without a response', async () => {
    const p = instantiate(def, {});
    const ctx = makeCtx();
    await p.connect?.(ctx);
    expect(() => p.response?.(ctx)).not.toThrow();
    expect(ctx.response).toBeNull();
  });
});
