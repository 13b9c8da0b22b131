import { describe, expect, it } from 'vitest';
import { instantiate, makeCtx, runPhase, silentLogger, withResponse } from '../../../test/unit-helpers.js';
import { policies } from '../../config/schema.js';
import type { RequestContext } from '../../core/context.js';
import type { Identity } from '../../core/identity.js';
import { buildPipeline } from '../../core/pipeline.js';
import def, { encodeDecisions } from './policy.js';
import { schema } from './schema.js';

function identity(roles: string[]): Identity {
  return {
    kind: 'api-key',
    consumerId: 'c1',
    subject: 'alice',
    credentialId: null,
    roles,
    scopes: [],
    attributes: {},
    claims: null,
    clientId: null,
    expiresAt: null,
  };
}

function answered(o: { ip?: string; roles?: string[] | null; ask?: string | null; upstream?: string }): RequestContext {
  const ctx = makeCtx({
    clientIp: o.ip ?? '10.0.0.5',
    headers: o.ask === null ? {} : { 'x-rampart-debug': o.ask ?? 'decision' },
  });
  ctx.identity = o.roles === null ? null : identity(o.roles ?? ['ops']);
  ctx.decide({ effect: 'allow', policy: 'authorize', rule: 'admins' });
  ctx.decide({ effect: 'deny', policy: 'object-access', rule: 'default', reason: 'owner is someone else: bob' });
  withResponse(ctx, 200, o.upstream ? { 'x-rampart-decision': o.upstream } : {});
  return ctx;
}

async function header(cfg: Parameters<typeof instantiate<typeof schema>>[1], ctx: RequestContext) {
  await runPhase(instantiate(def, cfg), 'response', ctx);
  return ctx.response?.headers['x-rampart-decision'];
}

describe('decision-debug schema', () => {
  it('needs a trust criterion, and checks CIDRs', () => {
    expect(schema.safeParse({}).success).toBe(false);
    expect(schema.safeParse({ trusted: {} }).success).toBe(false);
    expect(schema.safeParse({ trusted: { cidrs: ['10.0.0.0/8'] } }).success).toBe(true);
    expect(schema.safeParse({ trusted: { roles: ['ops'] } }).success).toBe(true);
    const bad = schema.safeParse({ trusted: { cidrs: ['10.0.0.0/8', 'ten'] } });
    expect(bad.error?.issues[0]).toMatchObject({ path: ['trusted', 'cidrs', 1] });
  });
});

describe('decision-debug', () => {
  const both = { trusted: { cidrs: ['10.0.0.0/8'], roles: ['ops'] } };
  it('trusted callers who ask see effect policy:rule for every decision, never the reasons', async () => {
    const ctx = answered({});
    expect(await header(both, ctx)).toBe('allow authorize:admins, deny object-access:default');
    expect(ctx.response?.headers['cache-control']).toBe('no-store');
  });
  it('every configured criterion must hold: address AND role', async () => {
    expect(await header(both, answered({ ip: '192.0.2.1' }))).toBeUndefined();
    expect(await header(both, answered({ roles: ['dev'] }))).toBeUndefined();
    expect(await header(both, answered({ roles: null }))).toBeUndefined();
    expect(await header({ trusted: { cidrs: ['10.0.0.0/8'] } }, answered({ roles: null }))).toBeDefined();
    expect(await header({ trusted: { roles: ['ops'] } }, answered({ ip: '192.0.2.1' }))).toBeDefined();
    expect(await header({ trusted: { cidrs: ['::ffff:10.0.0.0/104'] } }, answered({ ip: '10.1.1.1' }))).toBeDefined();
  });
  it('only when asked for "decision", and an upstream copy is dropped either way', async () => {
    expect(await header(both, answered({ ask: null, upstream: 'allow forged:x' }))).toBeUndefined();
    expect(await header(both, answered({ ask: 'timing' }))).toBeUndefined();
    expect(await header(both, answered({ ask: 'timing, Decision' }))).toMatch(/^allow/);
    expect(await header(both, answered({ ip: '192.0.2.1', upstream: 'allow forged:x' }))).toBeUndefined();
  });
  it('does not send the debug request header upstream', async () => {
    const ctx = makeCtx({ headers: { 'x-rampart-debug': 'decision' } });
    ctx.upstreamHeaders = { 'x-rampart-debug': 'decision', accept: '*/*' };
    await runPhase(instantiate(def, both), 'request', ctx);
    expect(ctx.upstreamHeaders).toEqual({ accept: '*/*' });
  });
  it('encodes compactly and safely: "none", odd characters replaced, at most 16 decisions', () => {
    expect(encodeDecisions(null)).toBe('none');
    expect(encodeDecisions([{ effect: 'deny', policy: 'external-authz', rule: 'a, b\r\nx: y' }])).toBe(
      'deny external-authz:a__b__x:_y',
    );
    const many = Array.from({ length: 20 }, (_, i) => ({ effect: 'allow' as const, policy: 'p', rule: `rules[${i}]` }));
    const s = encodeDecisions(many);
    expect(s.split(', ')).toHaveLength(17);
    expect(s.endsWith(', +4')).toBe(true);
  });
  it('its response phase runs last, after every other policy has decorated the answer', () => {
    const p = buildPipeline(
      [
        {
          scope: 'global',
          policies: policies.parse({
            'request-id': {},
            'security-headers': {},
            'decision-debug': both,
            authorize: { roles: ['ops'] },
          }),
        },
      ],
      new Map(),
      silentLogger,
    );
    const last = p.response.at(-1);
    expect(last && p.steps[last[0]]?.name).toBe('decision-debug');
  });
});
