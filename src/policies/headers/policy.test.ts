import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { instantiate, makeCtx, withResponse } from '../../../test/unit-helpers.js';
import type { HeaderMap } from '../../core/context.js';
import def from './policy.js';
import { RESERVED, schema } from './schema.js';

const EMPTY = { set: {}, add: {}, remove: [] };

async function onRequest(cfg: z.input<typeof schema>, upstream: HeaderMap): Promise<HeaderMap> {
  const ctx = makeCtx();
  ctx.upstreamHeaders = upstream;
  await instantiate(def, cfg).request?.(ctx);
  return ctx.upstreamHeaders;
}

async function onResponse(cfg: z.input<typeof schema>, headers: HeaderMap): Promise<HeaderMap> {
  const ctx = withResponse(makeCtx(), 200, headers);
  await instantiate(def, cfg).response?.(ctx);
  return ctx.response?.headers ?? {};
}

describe('headers schema', () => {
  it('defaults to no edits', () => {
    expect(schema.parse({})).toEqual({ request: EMPTY, response: EMPTY });
    expect(schema.parse({ request: { remove: ['x-a'] } })).toEqual({
      request: { set: {}, add: {}, remove: ['x-a'] },
      response: EMPTY,
    });
  });

  it('lower-cases header names in set, add and remove', () => {
    const c = schema.parse({ request: { set: { 'X-Tenant': 'a' }, add: { 'X-Tag': 'b' }, remove: ['X-Debug'] } });
    expect(c.request).toEqual({ set: { 'x-tenant': 'a' }, add: { 'x-tag': 'b' }, remove: ['x-debug'] });
  });

  it('refuses the headers the proxy manages, in any case and any list', () => {
    for (const h of RESERVED) {
      expect(schema.safeParse({ request: { set: { [h]: 'x' } } }).success, h).toBe(false);
      expect(schema.safeParse({ response: { add: { [h]: 'x' } } }).success, h).toBe(false);
      expect(schema.safeParse({ request: { remove: [h] } }).success, h).toBe(false);
    }
    const r = schema.safeParse({ request: { set: { 'Content-Length': '0' } } });
    expect(r.success).toBe(false);
    // zod nests a record key's reasons under invalid_key; config/load.ts reports the inner message.
    const issue = r.error?.issues[0];
    expect(issue?.path).toEqual(['request', 'set', 'Content-Length']);
    expect(issue?.code === 'invalid_key' && issue.issues[0]?.message).toBe('this header is managed by the proxy');
    const rm = schema.safeParse({ request: { remove: ['Connection'] } });
    expect(rm.error?.issues[0]?.message).toBe('this header is managed by the proxy');
    expect(schema.safeParse({ response: { remove: ['Transfer-Encoding'] } }).success).toBe(false);
    expect(schema.safeParse({ request: { set: { Host: 'evil' } } }).success).toBe(false);
  });

  it('refuses invalid names, non-string values and unknown keys', () => {
    expect(schema.safeParse({ request: { set: { 'x bad': 'v' } } }).success).toBe(false);
    expect(schema.safeParse({ request: { set: { 'x-n': 1 } } }).success).toBe(false);
    expect(schema.safeParse({ request: { append: {} } }).success).toBe(false);
    expect(schema.safeParse({ upstream: {} }).success).toBe(false);
  });
});

describe('headers behaviour', () => {
  it('has no phases when nothing is configured', () => {
    const p = instantiate(def, {});
    expect(p.request).toBeUndefined();
    expect(p.response).toBeUndefined();
  });

  it('sets, adds and removes request headers sent upstream', async () => {
    const h = await onRequest(
      {
        request: {
          set: { 'x-tenant': 'acme', 'x-env': 'prod' },
          add: { 'x-tag': 'gw', via: 'rampart' },
          remove: ['x-debug'],
        },
      },
      { 'x-tenant': 'spoofed', 'x-tag': 'client', 'x-debug': '1', accept: '*/*' },
    );
    expect(h).toEqual({
      'x-tenant': 'acme',
      'x-env': 'prod',
      'x-tag': ['client', 'gw'],
      via: 'rampart',
      accept: '*/*',
    });
  });

  it('appends to a header that already has several values', async () => {
    const h = await onRequest({ request: { add: { 'x-tag': 'c' } } }, { 'x-tag': ['a', 'b'] });
    expect(h['x-tag']).toEqual(['a', 'b', 'c']);
  });

  it('removes before it sets and adds, so remove + set replaces', async () => {
    const h = await onRequest(
      { request: { remove: ['x-a', 'x-b'], set: { 'x-a': '1' }, add: { 'x-b': '2' } } },
      {
        'x-a': 'old',
        'x-b': 'old',
      },
    );
    expect(h).toEqual({ 'x-a': '1', 'x-b': '2' });
  });

  it('leaves the response alone when only request edits are configured', async () => {
    const p = instantiate(def, { request: { set: { 'x-a': '1' } } });
    expect(p.response).toBeUndefined();
    const r = instantiate(def, { response: { set: { 'x-a': '1' } } });
    expect(r.request).toBeUndefined();
  });

  it('sets, adds and removes response headers sent to the client', async () => {
    const h = await onResponse(
      {
        response: {
          set: { 'cache-control': 'no-cache' },
          add: { 'set-cookie': 'gw=1; Secure; HttpOnly' },
          remove: ['x-internal-trace'],
        },
      },
      { 'cache-control': 'public', 'set-cookie': 'a=1', 'x-internal-trace': 'abc', 'content-type': 'text/plain' },
    );
    expect(h).toEqual({
      'cache-control': 'no-cache',
      'set-cookie': ['a=1', 'gw=1; Secure; HttpOnly'],
      'content-type': 'text/plain',
    });
  });

  it('does not touch the request side in the response phase and tolerates no response', async () => {
    const p = instantiate(def, { request: { set: { 'x-a': '1' } }, response: { set: { 'x-b': '2' } } });
    const ctx = makeCtx();
    await p.response?.(ctx);
    expect(ctx.response).toBeNull();
    expect(ctx.upstreamHeaders).toEqual({});
    await p.request?.(ctx);
    expect(ctx.upstreamHeaders).toEqual({ 'x-a': '1' });
  });
});
