import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { instantiate, makeCtx, runPhase } from '../../../test/unit-helpers.js';
import { GatewayError } from '../../core/errors.js';
import def from './policy.js';
import { schema } from './schema.js';

async function connect(cfg: z.input<typeof schema>, req: Parameters<typeof makeCtx>[0]) {
  const ctx = makeCtx(req);
  const err = await runPhase(instantiate(def, cfg), 'connect', ctx);
  return { ctx, err: err as GatewayError | undefined };
}

describe('request-limits schema', () => {
  it('has defaults', () => {
    expect(schema.parse({})).toEqual({
      max_body_bytes: 1_048_576,
      max_url_length: 8192,
      max_headers: 100,
      max_header_bytes: 8192,
    });
  });
  it('accepts digit strings (env substitution) and refuses out-of-range or non-integers', () => {
    expect(schema.parse({ max_body_bytes: '0', max_url_length: '16' })).toMatchObject({
      max_body_bytes: 0,
      max_url_length: 16,
    });
    expect(schema.safeParse({ max_url_length: 15 }).success).toBe(false);
    expect(schema.safeParse({ max_headers: 0 }).success).toBe(false);
    expect(schema.safeParse({ max_header_bytes: 8 }).success).toBe(false);
    expect(schema.safeParse({ max_body_bytes: -1 }).success).toBe(false);
    expect(schema.safeParse({ max_body_bytes: 1.5 }).success).toBe(false);
    expect(schema.safeParse({ max_body_bytes: '1e6' }).success).toBe(false);
    expect(schema.safeParse({ max_body: 1 }).success).toBe(false);
  });
});

describe('request-limits behaviour', () => {
  it('passes a request within every limit and sets ctx.maxBodyBytes', async () => {
    const { ctx, err } = await connect(
      { max_body_bytes: 100 },
      { method: 'POST', url: '/x', headers: { 'content-length': '100' } },
    );
    expect(err).toBeUndefined();
    expect(ctx.maxBodyBytes).toBe(100);
  });

  it('sets the default body cap when no content-length is declared (chunked)', async () => {
    const { ctx, err } = await connect({}, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } });
    expect(err).toBeUndefined();
    expect(ctx.maxBodyBytes).toBe(1_048_576);
  });

  it('answers 414 URI_TOO_LONG above max_url_length, counting path and query', async () => {
    const at = `/${'a'.repeat(30)}?q=1`; // 35 characters
    expect((await connect({ max_url_length: 35 }, { url: at })).err).toBeUndefined();
    const { ctx, err } = await connect({ max_url_length: 34 }, { url: at });
    expect(err).toBeInstanceOf(GatewayError);
    expect(err?.code).toBe('URI_TOO_LONG');
    expect(err?.status).toBe(414);
    expect(ctx.maxBodyBytes).toBe(Number.POSITIVE_INFINITY);
  });

  it('answers 431 HEADERS_TOO_LARGE for too many header fields (repeated fields count)', async () => {
    const raw = ['a', '1', 'b', '2', 'a', '3'];
    expect((await connect({ max_headers: 3 }, { rawHeaders: raw })).err).toBeUndefined();
    const { err } = await connect({ max_headers: 2 }, { rawHeaders: raw });
    expect(err?.code).toBe('HEADERS_TOO_LARGE');
    expect(err?.status).toBe(431);
    expect(err?.detail).toBe('Too many header fields.');
  });

  it('answers 431 for one header value above max_header_bytes, naming the header', async () => {
    const ok = await connect({ max_header_bytes: 16 }, { headers: { 'x-big': 'v'.repeat(16) } });
    expect(ok.err).toBeUndefined();
    const { err } = await connect(
      { max_header_bytes: 16 },
      { rawHeaders: ['Host', 'h', 'X-Big', 'v'.repeat(17)], headers: { host: 'h', 'x-big': 'v'.repeat(17) } },
    );
    expect(err?.code).toBe('HEADERS_TOO_LARGE');
    expect(err?.status).toBe(431);
    expect(err?.detail).toBe('Header X-Big is too large.');
  });

  it('answers 413 PAYLOAD_TOO_LARGE for a declared length above max_body_bytes', async () => {
    const { ctx, err } = await connect(
      { max_body_bytes: 100 },
      { method: 'POST', headers: { 'content-length': '101' } },
    );
    expect(err?.code).toBe('PAYLOAD_TOO_LARGE');
    expect(err?.status).toBe(413);
    expect(ctx.maxBodyBytes).toBe(Number.POSITIVE_INFINITY);
  });

  it('max_body_bytes: 0 allows only empty bodies', async () => {
    expect((await connect({ max_body_bytes: 0 }, { headers: { 'content-length': '0' } })).ctx.maxBodyBytes).toBe(0);
    expect((await connect({ max_body_bytes: 0 }, { headers: { 'content-length': '1' } })).err).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
  });

  it('checks the URL before headers and headers before the body', async () => {
    const all = { url: `/${'a'.repeat(40)}`, rawHeaders: ['a', '1', 'b', '2'], headers: { 'content-length': '999' } };
    const cfg = { max_url_length: 16, max_headers: 1, max_body_bytes: 10 };
    expect((await connect(cfg, all)).err).toMatchObject({ code: 'URI_TOO_LONG' });
    expect((await connect(cfg, { ...all, url: '/' })).err).toMatchObject({ code: 'HEADERS_TOO_LARGE' });
    expect((await connect({ ...cfg, max_headers: 2 }, { ...all, url: '/' })).err).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
  });
});
