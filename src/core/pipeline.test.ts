import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { makeCtx, policyEnv, silentLogger } from '../../test/unit-helpers.js';
import type { PoliciesConfig } from '../config/schema.js';
import { POLICIES, POLICY_BY_NAME } from '../policies/index.js';
import requestId from '../policies/request-id/policy.js';
import type { RequestContext } from './context.js';
import { GatewayError, PROBLEM_CONTENT_TYPE, type Problem } from './errors.js';
import { buildPipeline, Pipeline } from './pipeline.js';
import { definePolicy, type PolicyDefinition, type PolicyInstance } from './policy.js';

type Hooks = Partial<Record<'connect' | 'request' | 'upstream' | 'response' | 'log', (ctx: RequestContext) => void>>;

/** A test-only policy that records each phase it runs in `trace`, then runs the given hook. */
function tracer(name: string, order: number, trace: string[], hooks: Hooks = {}): PolicyDefinition {
  return definePolicy({
    name,
    order,
    description: 'test',
    config: z.object({}),
    create: () => {
      const inst: PolicyInstance = {};
      for (const phase of ['connect', 'request', 'upstream', 'response'] as const) {
        // Asynchronous on purpose: the pipeline must await each phase before the next.
        inst[phase] = async (ctx: RequestContext) => {
          trace.push(`${name}.${phase}`);
          await Promise.resolve();
          hooks[phase]?.(ctx);
        };
      }
      inst.log = (ctx) => {
        trace.push(`${name}.log`);
        hooks.log?.(ctx);
      };
      return inst;
    },
  });
}

/** Steps in `order`, as the registry (policies/index.ts) sorts them. */
function compose(...defs: PolicyDefinition[]): Pipeline {
  return new Pipeline(
    [...defs]
      .sort((a, b) => a.order - b.order)
      .map((d) => ({ name: d.name, order: d.order, scope: 'global', instance: d.create({}, policyEnv()) })),
  );
}

function terminalOk(trace: string[], status = 200) {
  return async (ctx: RequestContext) => {
    trace.push('terminal');
    ctx.response = { status, headers: { 'content-type': 'text/plain' }, body: Buffer.from('ok') };
  };
}

function problem(ctx: RequestContext): Problem {
  const b = ctx.response?.body;
  expect(Buffer.isBuffer(b)).toBe(true);
  return JSON.parse((b as Buffer).toString()) as Problem;
}

const phases = (trace: string[], phase: string) => trace.filter((t) => t.endsWith(`.${phase}`));

describe('definePolicy', () => {
  it('refuses names that are not kebab-case', () => {
    const base = { order: 1, description: '', config: z.object({}), create: () => ({}) };
    expect(() => definePolicy({ ...base, name: 'RateLimit' })).toThrow(/kebab-case/);
    expect(() => definePolicy({ ...base, name: 'rate_limit' })).toThrow(/kebab-case/);
    expect(() => definePolicy({ ...base, name: '1x' })).toThrow(/kebab-case/);
    expect(definePolicy({ ...base, name: 'rate-limit2' }).name).toBe('rate-limit2');
  });
});

describe('Pipeline.run', () => {
  it('runs connect then request phases in order, the terminal, then response phases in reverse', async () => {
    const trace: string[] = [];
    const pl = compose(tracer('c', 300, trace), tracer('a', 100, trace), tracer('b', 200, trace));
    const ctx = makeCtx();
    await pl.run(ctx, terminalOk(trace));
    expect(trace).toEqual([
      'a.connect',
      'b.connect',
      'c.connect',
      'a.request',
      'b.request',
      'c.request',
      'terminal',
      'c.response',
      'b.response',
      'a.response',
    ]);
    expect(ctx.response?.status).toBe(200);
    expect(ctx.error).toBeNull();
  });

  it('skips policies that lack a phase', async () => {
    const trace: string[] = [];
    const only = (name: string, inst: PolicyInstance) => ({ name, order: 100, scope: 'global', instance: inst });
    const pl = new Pipeline([
      only('a', {
        request: () => {
          trace.push('a.request');
        },
      }),
      only('b', {
        response: () => {
          trace.push('b.response');
        },
      }),
      only('c', {
        connect: () => {
          trace.push('c.connect');
        },
      }),
    ]);
    expect(pl.request.map(([i]) => i)).toEqual([0]);
    expect(pl.response.map(([i]) => i)).toEqual([1]);
    await pl.run(makeCtx(), terminalOk(trace));
    expect(trace).toEqual(['c.connect', 'a.request', 'terminal', 'b.response']);
  });

  it('a thrown GatewayError stops the chain; only earlier policies decorate the problem response', async () => {
    const trace: string[] = [];
    const pl = compose(
      tracer('a', 100, trace, {
        response: (ctx) => {
          ctx.response!.headers['x-a'] = '1';
        },
      }),
      tracer('b', 200, trace, {
        request: () => {
          throw new GatewayError('CORS_ORIGIN_DENIED', 'Origin https://evil.test is not allowed.');
        },
      }),
      tracer('c', 300, trace),
    );
    const ctx = makeCtx({ url: '/api/items?x=1' });
    ctx.id = 'req-1';
    await pl.run(ctx, terminalOk(trace));
    expect(phases(trace, 'request')).toEqual(['a.request', 'b.request']);
    expect(trace).not.toContain('terminal');
    expect(phases(trace, 'response')).toEqual(['a.response']);
    expect(ctx.error?.code).toBe('CORS_ORIGIN_DENIED');
    expect(ctx.response?.status).toBe(403);
    expect(ctx.response?.headers).toEqual({
      'content-type': PROBLEM_CONTENT_TYPE,
      'cache-control': 'no-store',
      'x-a': '1',
    });
    expect(problem(ctx)).toEqual({
      type: 'https://rampart.dev/errors/cors-origin-denied',
      title: 'Origin not allowed',
      status: 403,
      code: 'CORS_ORIGIN_DENIED',
      detail: 'Origin https://evil.test is not allowed.',
      instance: '/api/items',
      request_id: 'req-1',
    });
  });

  it("keeps the error's own headers (Allow, Retry-After) on the problem response", async () => {
    const pl = compose(
      tracer('a', 100, [], {
        request: () => {
          throw new GatewayError('METHOD_NOT_ALLOWED', undefined, { headers: { allow: 'GET, HEAD' } });
        },
      }),
    );
    const ctx = makeCtx({ method: 'DELETE' });
    await pl.run(ctx, terminalOk([]));
    expect(ctx.response?.status).toBe(405);
    expect(ctx.response?.headers.allow).toBe('GET, HEAD');
    const p = problem(ctx);
    expect(p.code).toBe('METHOD_NOT_ALLOWED');
    expect(p.detail).toBeUndefined();
    expect(p.request_id).toBeUndefined();
  });

  it('a throw in the connect phase skips every request phase', async () => {
    const trace: string[] = [];
    const pl = compose(
      tracer('a', 100, trace),
      tracer('b', 200, trace, {
        connect: () => {
          throw new GatewayError('URI_TOO_LONG');
        },
      }),
      tracer('c', 300, trace),
    );
    const ctx = makeCtx();
    await pl.run(ctx, terminalOk(trace));
    expect(trace).toEqual(['a.connect', 'b.connect', 'a.response']);
    expect(ctx.response?.status).toBe(414);
  });

  it('sends no detail on 5xx, and every response phase runs after a terminal failure', async () => {
    const trace: string[] = [];
    const pl = compose(tracer('a', 100, trace), tracer('b', 200, trace));
    const ctx = makeCtx();
    await pl.run(ctx, async () => {
      throw new GatewayError('UPSTREAM_TIMEOUT', 'target 10.0.0.5:8080 did not answer in 3000 ms');
    });
    expect(phases(trace, 'response')).toEqual(['b.response', 'a.response']);
    expect(ctx.response?.status).toBe(504);
    const p = problem(ctx);
    expect(p.code).toBe('UPSTREAM_TIMEOUT');
    expect(p.title).toBe('Gateway timeout');
    expect(p).not.toHaveProperty('detail');
    expect(JSON.stringify(p)).not.toContain('10.0.0.5');
  });

  it('turns a non-GatewayError into INTERNAL 500 without leaking its message', async () => {
    const pl = compose(
      tracer('a', 100, [], {
        request: () => {
          throw new TypeError('cannot read password of undefined at /srv/app/secret.js:12');
        },
      }),
    );
    const ctx = makeCtx();
    await expect(pl.run(ctx, terminalOk([]))).resolves.toBeUndefined();
    expect(ctx.response?.status).toBe(500);
    expect(ctx.error?.code).toBe('INTERNAL');
    expect(ctx.error?.cause).toBeInstanceOf(TypeError);
    const body = String(ctx.response?.body);
    expect(JSON.parse(body)).toEqual({
      type: 'https://rampart.dev/errors/internal',
      title: 'Internal server error',
      status: 500,
      code: 'INTERNAL',
      instance: '/',
    });
    expect(body).not.toMatch(/password|secret|TypeError/);
  });

  it('also handles a thrown non-Error value', async () => {
    const pl = compose(
      tracer('a', 100, [], {
        request: () => {
          throw 'plain string';
        },
      }),
    );
    const ctx = makeCtx();
    await pl.run(ctx, terminalOk([]));
    expect(ctx.response?.status).toBe(500);
    expect(String(ctx.response?.body)).not.toContain('plain string');
  });

  it('ctx.reply stops the chain after the replying policy and skips the terminal', async () => {
    const trace: string[] = [];
    const pl = compose(
      tracer('a', 100, trace, {
        response: (ctx) => {
          ctx.response!.headers['x-a'] = '1';
        },
      }),
      tracer('b', 200, trace, { request: (ctx) => ctx.reply(204, { 'x-b': 'replied' }) }),
      tracer('c', 300, trace),
    );
    const ctx = makeCtx({ method: 'OPTIONS' });
    await pl.run(ctx, terminalOk(trace));
    expect(trace).toEqual([
      'a.connect',
      'b.connect',
      'c.connect',
      'a.request',
      'b.request',
      // the replying policy decorates its own reply (CORS adds the origin to its preflight answer)
      'b.response',
      'a.response',
    ]);
    expect(ctx.response).toEqual({ status: 204, headers: { 'x-b': 'replied', 'x-a': '1' }, body: null });
    expect(ctx.error).toBeNull();
  });

  it('a throwing response phase replaces the answer once; earlier policies still decorate it', async () => {
    const trace: string[] = [];
    const body = Readable.from(['upstream body']);
    const pl = compose(
      tracer('a', 100, trace, {
        response: (ctx) => {
          ctx.response!.headers['x-a'] = '1';
        },
      }),
      tracer('b', 200, trace, {
        response: () => {
          throw new GatewayError('BAD_REQUEST', 'second failure, ignored');
        },
      }),
      tracer('c', 300, trace, {
        response: () => {
          throw new Error('filter crashed');
        },
      }),
      tracer('d', 400, trace, {
        response: (ctx) => {
          ctx.response!.headers['x-d'] = '1';
        },
      }),
    );
    const ctx = makeCtx();
    await pl.run(ctx, async (c) => {
      c.response = { status: 200, headers: { 'x-upstream': '1' }, body };
    });
    expect(phases(trace, 'response')).toEqual(['d.response', 'c.response', 'b.response', 'a.response']);
    expect(body.destroyed).toBe(true);
    expect(ctx.error?.code).toBe('INTERNAL');
    expect(ctx.response?.status).toBe(500);
    expect(ctx.response?.headers).toEqual({
      'content-type': PROBLEM_CONTENT_TYPE,
      'cache-control': 'no-store',
      'x-a': '1',
    });
    expect(problem(ctx).code).toBe('INTERNAL');
  });

  it('destroys a streamed body when the terminal fails after setting it', async () => {
    const body = Readable.from(['partial']);
    const pl = compose(tracer('a', 100, []));
    const ctx = makeCtx();
    await pl.run(ctx, async (c) => {
      c.response = { status: 200, headers: {}, body };
      throw new GatewayError('UPSTREAM_UNAVAILABLE');
    });
    expect(body.destroyed).toBe(true);
    expect(ctx.response?.status).toBe(502);
  });
});

describe('Pipeline log, handshake and upstream phases', () => {
  function fakeLogger() {
    const error = vi.fn();
    return { logger: { error } as unknown as Logger, error };
  }

  it('runs every log phase, also for a stopped request and for policies after the stop', async () => {
    const trace: string[] = [];
    const pl = compose(
      tracer('a', 100, trace),
      tracer('b', 200, trace, {
        request: () => {
          throw new GatewayError('PAYLOAD_TOO_LARGE');
        },
      }),
      tracer('c', 300, trace),
    );
    const ctx = makeCtx();
    await pl.run(ctx, terminalOk(trace));
    const { logger, error } = fakeLogger();
    pl.runLog(ctx, logger);
    expect(phases(trace, 'log')).toEqual(['a.log', 'b.log', 'c.log']);
    expect(error).not.toHaveBeenCalled();
  });

  it('a throwing log phase is logged and does not stop the others', async () => {
    const trace: string[] = [];
    const boom = new Error('sink down');
    const pl = compose(
      tracer('a', 100, trace, {
        log: () => {
          throw boom;
        },
      }),
      tracer('b', 200, trace),
    );
    const ctx = makeCtx();
    ctx.id = 'req-9';
    await pl.run(ctx, terminalOk(trace));
    const { logger, error } = fakeLogger();
    expect(() => pl.runLog(ctx, logger)).not.toThrow();
    expect(phases(trace, 'log')).toEqual(['a.log', 'b.log']);
    expect(error).toHaveBeenCalledTimes(1);
    expect(error).toHaveBeenCalledWith({ err: boom, request_id: 'req-9' }, 'log phase failed');
    expect(ctx.response?.status).toBe(200);
  });

  it('runHandshake runs connect and request phases; a stop leaves its answer after the earlier response phases', async () => {
    const trace: string[] = [];
    const replying = compose(tracer('a', 100, trace, { request: (ctx) => ctx.reply(401) }), tracer('b', 200, trace));
    const ctx = makeCtx();
    await replying.runHandshake(ctx);
    expect(trace).toEqual(['a.connect', 'b.connect', 'a.request', 'a.response']);
    expect(ctx.response?.status).toBe(401);

    const failTrace: string[] = [];
    const failing = compose(
      tracer('a', 100, failTrace),
      tracer('b', 200, failTrace, {
        request: () => {
          throw new GatewayError('CORS_ORIGIN_DENIED');
        },
      }),
      tracer('c', 300, failTrace),
    );
    const failed = makeCtx();
    await failing.runHandshake(failed);
    expect(failed.error?.code).toBe('CORS_ORIGIN_DENIED');
    expect(failed.response?.status).toBe(403);
    expect(failTrace).toEqual(['a.connect', 'b.connect', 'c.connect', 'a.request', 'b.request', 'a.response']);

    // A handshake that goes through runs no response phase and leaves no answer: the caller connects upstream.
    const okTrace: string[] = [];
    const ok = makeCtx();
    await compose(tracer('a', 100, okTrace)).runHandshake(ok);
    expect(ok.response).toBeNull();
    expect(okTrace).toEqual(['a.connect', 'a.request']);
  });

  it('runUpstream runs upstream phases in order', async () => {
    const trace: string[] = [];
    const pl = compose(tracer('b', 200, trace), tracer('a', 100, trace));
    await pl.runUpstream(makeCtx());
    expect(trace).toEqual(['a.upstream', 'b.upstream']);
  });
});

describe('POLICIES registry', () => {
  it('is sorted by order with unique names and orders', () => {
    const orders = POLICIES.map((p) => p.order);
    expect(orders).toEqual([...orders].sort((a, b) => a - b));
    expect(new Set(orders).size).toBe(orders.length);
    expect(new Set(POLICIES.map((p) => p.name)).size).toBe(POLICIES.length);
    expect(POLICY_BY_NAME.get('cors')?.name).toBe('cors');
  });
});

describe('buildPipeline', () => {
  /** A parsed policy block as config/schema.ts produces it (`enabled` added). */
  function block(name: string, cfg: Record<string, unknown> = {}): PoliciesConfig {
    const def = POLICY_BY_NAME.get(name);
    if (!def) throw new Error(name);
    return { [name]: { ...def.config.parse(cfg), enabled: true } };
  }
  const off = (name: string): PoliciesConfig => ({ [name]: { enabled: false } });
  const layers = (g: PoliciesConfig, u: PoliciesConfig | null, r: PoliciesConfig, route = 'r1') => [
    { scope: 'global', policies: g },
    ...(u ? [{ scope: 'upstream:api', policies: u }] : []),
    { scope: `route:${route}`, policies: r },
  ];

  async function idHeader(pl: Pipeline): Promise<string[]> {
    const ctx = makeCtx();
    await pl.run(ctx, async (c) => {
      c.response = { status: 200, headers: {}, body: null };
    });
    return Object.keys(ctx.upstreamHeaders);
  }

  it('orders steps by the registry, whatever order the config names them in', () => {
    const g = { ...block('headers', { request: { set: { 'x-a': '1' } } }), ...block('cors', { origins: ['*'] }) };
    const pl = buildPipeline(layers(g, null, block('request-id')), new Map(), silentLogger);
    expect(pl.steps.map((s) => s.name)).toEqual(['request-id', 'cors', 'headers']);
    expect(pl.steps.map((s) => s.scope)).toEqual(['route:r1', 'global', 'global']);
  });

  it('the most specific layer wins: route over upstream over global', async () => {
    const g = block('request-id', { header: 'x-global-id' });
    const u = block('request-id', { header: 'x-upstream-id' });
    const r = block('request-id', { header: 'x-route-id' });
    const cache = new Map<string, PolicyInstance>();
    const all = buildPipeline(layers(g, u, r), cache, silentLogger);
    expect(all.steps).toHaveLength(1);
    expect(all.steps[0]?.scope).toBe('route:r1');
    expect(await idHeader(all)).toEqual(['x-route-id']);

    const noRoute = buildPipeline(layers(g, u, {}, 'r2'), cache, silentLogger);
    expect(noRoute.steps[0]?.scope).toBe('upstream:api');
    expect(await idHeader(noRoute)).toEqual(['x-upstream-id']);

    const onlyGlobal = buildPipeline(layers(g, null, {}, 'r3'), cache, silentLogger);
    expect(onlyGlobal.steps[0]?.scope).toBe('global');
    expect(await idHeader(onlyGlobal)).toEqual(['x-global-id']);
  });

  it('enabled: false turns an inherited policy off for one layer, and a lower layer can turn it back on', async () => {
    const g = { ...block('request-id'), ...block('security-headers') };
    const cache = new Map<string, PolicyInstance>();
    const offRoute = buildPipeline(layers(g, null, off('request-id')), cache, silentLogger);
    expect(offRoute.steps.map((s) => s.name)).toEqual(['security-headers']);
    expect(await idHeader(offRoute)).toEqual([]);

    const offUpstream = buildPipeline(layers(g, off('request-id'), {}, 'r2'), cache, silentLogger);
    expect(offUpstream.steps.map((s) => s.name)).toEqual(['security-headers']);

    const backOn = buildPipeline(
      layers(g, off('request-id'), block('request-id', { header: 'x-again' }), 'r3'),
      cache,
      silentLogger,
    );
    expect(backOn.steps.map((s) => `${s.scope}/${s.name}`)).toEqual(['route:r3/request-id', 'global/security-headers']);
    expect(await idHeader(backOn)).toEqual(['x-again']);
  });

  it('shares a global (and upstream) instance across routes, but not a route-level one', () => {
    const cache = new Map<string, PolicyInstance>();
    const g = block('request-id');
    const u = block('security-headers');
    const r = block('cors', { origins: ['https://a.example.com'] });
    const p1 = buildPipeline(layers(g, u, r, 'r1'), cache, silentLogger);
    const p2 = buildPipeline(layers(g, u, r, 'r2'), cache, silentLogger);
    const by = (pl: Pipeline, name: string) => pl.steps.find((s) => s.name === name)?.instance;
    expect(by(p1, 'request-id')).toBeDefined();
    expect(by(p1, 'request-id')).toBe(by(p2, 'request-id'));
    expect(by(p1, 'security-headers')).toBe(by(p2, 'security-headers'));
    expect(by(p1, 'cors')).toBeDefined();
    expect(by(p1, 'cors')).not.toBe(by(p2, 'cors'));
    expect([...cache.keys()].sort()).toEqual([
      'global/request-id',
      'route:r1/cors',
      'route:r2/cors',
      'upstream:api/security-headers',
    ]);
    // A new config load (new cache) compiles fresh instances.
    const p3 = buildPipeline(layers(g, u, r, 'r1'), new Map(), silentLogger);
    expect(by(p3, 'request-id')).not.toBe(by(p1, 'request-id'));
  });

  it('calls create once per layer, without `enabled`, with the scope in env', () => {
    const spy = vi.spyOn(requestId, 'create');
    try {
      const cache = new Map<string, PolicyInstance>();
      const g = block('request-id', { header: 'x-id' });
      buildPipeline(layers(g, null, {}, 'r1'), cache, silentLogger);
      buildPipeline(layers(g, null, {}, 'r2'), cache, silentLogger);
      expect(spy).toHaveBeenCalledTimes(1);
      const [cfg, env] = spy.mock.calls[0] ?? [];
      expect(cfg).toEqual({ header: 'x-id', trust_incoming: false, echo: true });
      expect(env?.scope).toBe('global');
    } finally {
      spy.mockRestore();
    }
  });

  it('builds an empty pipeline when no layer sets a policy', async () => {
    const pl = buildPipeline(layers({}, {}, {}), new Map(), silentLogger);
    expect(pl.steps).toEqual([]);
    const ctx = makeCtx();
    await pl.run(ctx, terminalOk([]));
    expect(ctx.response?.status).toBe(200);
  });
});

describe('identity gate (deny by default)', () => {
  const step = (name: string, order: number, instance: PolicyInstance) => ({ name, order, scope: 'global', instance });
  const trace: string[] = [];
  const mark = (name: string): PolicyInstance => ({
    request: () => {
      trace.push(`${name}.request`);
    },
    response: () => {
      trace.push(`${name}.response`);
    },
  });
  const identify = (who: string | null): PolicyInstance => ({
    identity: { challenge: 'ApiKey header="x-api-key"' },
    request: (ctx) => {
      trace.push('id.request');
      if (who)
        ctx.identity = {
          kind: 'api-key',
          consumerId: who,
          subject: who,
          credentialId: null,
          roles: [],
          scopes: [],
          attributes: {},
          claims: null,
          clientId: null,
          expiresAt: null,
        };
    },
  });

  it('refuses a request no identity policy recognised, before any policy ordered after the gate', async () => {
    trace.length = 0;
    const pl = new Pipeline(
      [step('early', 100, mark('early')), step('id', 1200, identify(null)), step('late', 2100, mark('late'))],
      {
        requireIdentity: true,
      },
    );
    const ctx = makeCtx();
    await pl.run(ctx, terminalOk(trace));
    expect(ctx.response?.status).toBe(401);
    expect(ctx.error?.code).toBe('UNAUTHENTICATED');
    expect(ctx.response?.headers['www-authenticate']).toBe('ApiKey header="x-api-key"');
    // The policy after the gate never ran; those before it still decorate the 401.
    expect(trace).toEqual(['early.request', 'id.request', 'early.response']);
  });

  it('lets an identified request through, and a public route needs none', async () => {
    trace.length = 0;
    const steps = [step('id', 1200, identify('alice')), step('late', 2100, mark('late'))];
    const ctx = makeCtx();
    await new Pipeline(steps, { requireIdentity: true }).run(ctx, terminalOk(trace));
    expect(ctx.response?.status).toBe(200);
    expect(ctx.identity?.subject).toBe('alice');
    const open = makeCtx();
    await new Pipeline([step('late', 2100, mark('late'))]).run(open, terminalOk([]));
    expect(open.response?.status).toBe(200);
  });

  it('with no identity policy at all, refuses with a Bearer challenge; the handshake is gated too', async () => {
    const pl = new Pipeline([step('late', 2100, mark('late'))], { requireIdentity: true });
    const ctx = makeCtx();
    await pl.run(ctx, terminalOk([]));
    expect(ctx.response?.status).toBe(401);
    expect(ctx.response?.headers['www-authenticate']).toBe('Bearer realm="rampart"');
    const ws = makeCtx();
    await pl.runHandshake(ws);
    expect(ws.response?.status).toBe(401);
    expect(ws.error?.code).toBe('UNAUTHENTICATED');
  });

  it('a CORS-style reply before the gate is not refused (preflights carry no credentials)', async () => {
    const preflight: PolicyInstance = { request: (ctx) => ctx.reply(204) };
    const pl = new Pipeline([step('cors', 300, preflight), step('id', 1200, identify(null))], {
      requireIdentity: true,
    });
    const ctx = makeCtx();
    await pl.run(ctx, terminalOk([]));
    expect(ctx.response?.status).toBe(204);
  });
});

describe('Pipeline.readsSecurityEvents', () => {
  const step = (name: string, instance: PolicyInstance) => ({ name, order: 100, scope: 'global', instance });

  it('is true only when a step reads security events (the audit policy)', () => {
    expect(new Pipeline([step('a', { request: () => {} })]).readsSecurityEvents).toBe(false);
    expect(new Pipeline([]).readsSecurityEvents).toBe(false);
    const audited = new Pipeline([step('a', { request: () => {} }), step('audit', { readsSecurityEvents: true })]);
    expect(audited.readsSecurityEvents).toBe(true);
  });

  it('a context drops its events when nothing reads them, and keeps them by default', () => {
    const e = { type: 't', policy: 'p', action: 'monitor' as const };
    const kept = makeCtx();
    kept.securityEvent(e);
    expect(kept.securityEvents).toEqual([e]);
    const dropped = makeCtx();
    dropped.securityEventsRead = false;
    dropped.securityEvent(e);
    expect(dropped.securityEvents).toBeNull();
  });
});
