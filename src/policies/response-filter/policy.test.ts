import { register } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { instantiate, makeCtx, runPhase, withResponse } from '../../../test/unit-helpers.js';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { applyPaths, compilePath } from './json-path.js';
import def from './policy.js';
import { schema } from './schema.js';
import { filterValue, REMOVED, SchemaCompiler } from './schema-filter.js';

const USER = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    email: { type: 'string' },
    address: { type: 'object', properties: { city: { type: 'string' } } },
    tags: { type: 'array', items: { type: 'string' } },
  },
};

function filter(value: unknown, s: unknown, root?: unknown): { value: unknown; removed: string[] } {
  const removed: string[] = [];
  const out = filterValue(value, new SchemaCompiler(root).compile(s), (p) => removed.push(p));
  return { value: out === REMOVED ? undefined : out, removed };
}

function identity(roles: string[]): Identity {
  return {
    kind: 'api-key',
    consumerId: 'c1',
    subject: 'alice',
    credentialId: 'k1',
    roles,
    scopes: [],
    attributes: {},
    claims: null,
    clientId: null,
    expiresAt: null,
  };
}

function jsonCtx(body: unknown, opts: { status?: number; roles?: string[]; type?: string } = {}): RequestContext {
  const ctx = withResponse(makeCtx({ url: '/users/1' }), opts.status ?? 200, {
    'content-type': opts.type ?? 'application/json; charset=utf-8',
    'content-length': '999',
    etag: '"abc"',
  });
  ctx.route = { name: 'users', upstream: 'app', public: false };
  if (opts.roles) ctx.identity = identity(opts.roles);
  (ctx.response as { body: unknown }).body = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return ctx;
}

const rawBody = (ctx: RequestContext) => String((ctx.response as { body: Buffer }).body);
const bodyOf = (ctx: RequestContext) => JSON.parse(rawBody(ctx)) as unknown;

describe('schema filter (pure)', () => {
  it('drops undeclared properties recursively and reports their paths', () => {
    const r = filter(
      { id: '1', name: 'A', password_hash: 'x', address: { city: 'Oslo', internal_id: 7 }, tags: ['a'] },
      USER,
    );
    expect(r.value).toEqual({ id: '1', name: 'A', address: { city: 'Oslo' }, tags: ['a'] });
    expect(r.removed).toEqual(['/password_hash', '/address/internal_id']);
  });

  it('returns the same object when nothing is removed and never mutates the input', () => {
    const v = { id: '1', address: { city: 'x' } };
    expect(filter(v, USER).value).toBe(v);
    const w = { id: '1', ssn: '1' };
    filter(w, USER);
    expect(w).toEqual({ id: '1', ssn: '1' });
  });

  it('filters array items and tuples; items:false drops extra elements', () => {
    const list = { type: 'array', items: USER };
    expect(filter([{ id: '1', ssn: 'x' }, { id: '2' }], list).value).toEqual([{ id: '1' }, { id: '2' }]);
    const tuple = { type: 'array', prefixItems: [{ type: 'string' }, USER], items: false };
    expect(filter(['a', { id: '1', x: 1 }, 'extra'], tuple)).toEqual({
      value: ['a', { id: '1' }],
      removed: ['/1/x', '/2'],
    });
  });

  it('keeps maps only when additionalProperties declares them', () => {
    const map = { type: 'object', additionalProperties: { type: 'object', properties: { n: { type: 'integer' } } } };
    expect(filter({ a: { n: 1, secret: 2 }, b: { n: 3 } }, map).value).toEqual({ a: { n: 1 }, b: { n: 3 } });
    expect(filter({ a: 1 }, { type: 'object', additionalProperties: true }).value).toEqual({ a: 1 });
    // type: object without properties declares no keys (fail closed); {} declares anything.
    expect(filter({ a: 1 }, { type: 'object' }).value).toEqual({});
    expect(filter({ a: 1 }, {}).value).toEqual({ a: 1 });
    expect(filter({ a: 1 }, true).value).toEqual({ a: 1 });
    expect(filter({ a: 1, b: 2 }, { properties: { a: false } }).value).toEqual({});
  });

  it('honours patternProperties', () => {
    const s = { type: 'object', patternProperties: { '^x-': { type: 'string' } }, properties: { id: {} } };
    expect(filter({ id: 1, 'x-a': 'k', y: 2 }, s).value).toEqual({ id: 1, 'x-a': 'k' });
  });

  it('allOf keeps the union of what the branches declare', () => {
    const s = { allOf: [{ properties: { a: {} } }, { properties: { b: {} } }] };
    expect(filter({ a: 1, b: 2, c: 3 }, s).value).toEqual({ a: 1, b: 2 });
  });

  it('oneOf without a discriminator keeps only what every branch declares', () => {
    const s = {
      oneOf: [
        { type: 'object', properties: { id: {}, card_last4: {} } },
        { type: 'object', properties: { id: {}, iban_last4: {} } },
      ],
    };
    expect(filter({ id: 1, card_last4: '4242', other: 1 }, s).value).toEqual({ id: 1 });
  });

  it('oneOf with a discriminator (mapping or const) picks the branch', () => {
    const root = {
      components: {
        schemas: {
          Card: { type: 'object', properties: { kind: {}, last4: {} } },
          Bank: { type: 'object', properties: { kind: {}, iban_last4: {} } },
        },
      },
    };
    const s = {
      oneOf: [{ $ref: '#/components/schemas/Card' }, { $ref: '#/components/schemas/Bank' }],
      discriminator: {
        propertyName: 'kind',
        mapping: { card: '#/components/schemas/Card', bank: '#/components/schemas/Bank' },
      },
    };
    expect(filter({ kind: 'card', last4: '4242', iban_last4: 'x', pan: '4111' }, s, root).value).toEqual({
      kind: 'card',
      last4: '4242',
    });
    // An unknown tag falls back to the intersection.
    expect(filter({ kind: 'crypto', last4: '1' }, s, root).value).toEqual({ kind: 'crypto' });
    const byConst = {
      anyOf: [{ properties: { t: { const: 'a' }, x: {} } }, { properties: { t: { enum: ['b'] }, y: {} } }],
    };
    expect(filter({ t: 'b', x: 1, y: 2 }, byConst).value).toEqual({ t: 'b', y: 2 });
  });

  it('resolves local $ref, recursive schemas included; an unresolvable $ref keeps no keys', () => {
    const root = {
      components: {
        schemas: { Node: { type: 'object', properties: { name: {}, child: { $ref: '#/components/schemas/Node' } } } },
      },
    };
    const v = { name: 'a', x: 1, child: { name: 'b', y: 2, child: { name: 'c', z: 3 } } };
    expect(filter(v, { $ref: '#/components/schemas/Node' }, root).value).toEqual({
      name: 'a',
      child: { name: 'b', child: { name: 'c' } },
    });
    // A dereferenced (cyclic object) schema works the same.
    const node: Record<string, unknown> = { type: 'object', properties: { name: {} } };
    (node.properties as Record<string, unknown>).child = node;
    expect(filter(v, node).value).toEqual({ name: 'a', child: { name: 'b', child: { name: 'c' } } });
    expect(filter({ a: 1 }, { $ref: '#/nowhere' }, root).value).toEqual({});
  });

  it('keeps scalars whatever their declared type (validation is not exposure)', () => {
    expect(filter('x', USER).value).toBe('x');
    expect(filter({ id: 5 }, USER).value).toEqual({ id: 5 });
  });
});

describe('JSON path rules (pure)', () => {
  const run = (v: unknown, deny: string[], allow: string[] | null = null) => {
    const removed: string[] = [];
    const out = applyPaths(v, deny.map(compilePath), allow ? allow.map(compilePath) : null, (p) => removed.push(p));
    return { value: out, removed };
  };

  it('parses the subset and refuses the rest', () => {
    expect(compilePath("$.a['b c'][*]..d[0]")).toEqual([
      { kind: 'child', name: 'a' },
      { kind: 'child', name: 'b c' },
      { kind: 'child', name: null },
      { kind: 'desc', name: 'd' },
      { kind: 'child', name: '0' },
    ]);
    for (const bad of ['a.b', '$', '$.a[?(@.x)]', '$.a[', '$.a b']) expect(() => compilePath(bad)).toThrow();
  });

  it('denies by exact path, wildcard and recursive descent', () => {
    const v = { user: { email: 'a@b', ssn: '1', friends: [{ ssn: '2', name: 'x' }] }, ssn: '0' };
    expect(run(v, ['$.user.email']).value).toEqual({
      user: { ssn: '1', friends: [{ ssn: '2', name: 'x' }] },
      ssn: '0',
    });
    expect(run(v, ['$..ssn'])).toEqual({
      value: { user: { email: 'a@b', friends: [{ name: 'x' }] } },
      removed: ['/user/ssn', '/user/friends/0/ssn', '/ssn'],
    });
    expect(run({ items: [{ a: 1, b: 2 }] }, ['$.items[*].b']).value).toEqual({ items: [{ a: 1 }] });
  });

  it('allow keeps only matched paths and their containers; deny wins', () => {
    const v = { id: 1, name: 'n', secret: 's', nested: { a: 1, b: 2 }, list: [{ id: 1, x: 2 }] };
    expect(run(v, [], ['$.id', '$.nested.a', '$.list[*].id']).value).toEqual({
      id: 1,
      nested: { a: 1 },
      list: [{ id: 1 }],
    });
    expect(run(v, ['$.nested.a'], ['$.nested']).value).toEqual({ nested: { b: 2 } });
  });
});

describe('response-filter schema', () => {
  it('has defaults and refuses bad paths, statuses and keys with the field named', () => {
    expect(schema.parse({})).toEqual({ mode: 'strip', match: 'upstream', undeclared: 'pass', fields: [] });
    const bad = schema.safeParse({ fields: [{ paths: ['user.email'], action: 'deny' }] });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['fields', 0, 'paths', 0]);
    expect(schema.safeParse({ responses: { '2xx': {} } }).success).toBe(false);
    expect(schema.safeParse({ responses: { '200': true, '4XX': {}, default: {} } }).success).toBe(true);
    expect(schema.safeParse({ mode: 'drop' }).success).toBe(false);
    expect(schema.safeParse({ nope: 1 }).success).toBe(false);
  });
});

describe('response-filter policy', () => {
  const cfg = {
    responses: { '200': USER },
    fields: [{ name: 'email-admin-only', paths: ['$.email'], action: 'deny' as const, except_roles: ['admin'] }],
  };
  const leaky = {
    id: 'u1',
    name: 'Alice',
    email: 'alice@example.com',
    password_hash: '$argon2id$v=19$...',
    ssn: '123-45-6789',
    internal_id: 991,
  };

  it('strips undeclared fields and role-denied fields, records an event and counts it', async () => {
    const p = instantiate(def, cfg);
    const ctx = jsonCtx(leaky, { roles: ['user'] });
    const before = (await register.getSingleMetricAsString('rampart_response_protection_total')).match(
      /action="strip"[^\n]* (\d+)/,
    );
    expect(await runPhase(p, 'response', ctx)).toBeUndefined();
    expect(bodyOf(ctx)).toEqual({ id: 'u1', name: 'Alice' });
    expect(ctx.response?.headers['content-length']).toBeUndefined();
    expect(ctx.response?.headers.etag).toBeUndefined();
    expect(ctx.securityEvents).toEqual([
      {
        type: 'response.field_removed',
        policy: 'response-filter',
        rule: 'schema',
        location: 'body/password_hash',
        action: 'modify',
        detail: { removed: 4, by_schema: 3, by_rules: 1, paths: '/password_hash /ssn /internal_id /email' },
      },
    ]);
    const after = (await register.getSingleMetricAsString('rampart_response_protection_total')).match(
      /policy="response-filter",route="users",action="strip"} (\d+)/,
    );
    expect(Number(after?.[1])).toBe(Number(before?.[1] ?? 0) + 1);
  });

  it('filters the same where nothing reads security events (no audit), without building the event', async () => {
    const p = instantiate(def, cfg);
    const metric = async () =>
      Number(
        (await register.getSingleMetricAsString('rampart_response_protection_total')).match(
          /policy="response-filter",route="users",action="strip"} (\d+)/,
        )?.[1] ?? 0,
      );
    const before = await metric();
    const ctx = jsonCtx(leaky, { roles: ['user'] });
    ctx.securityEventsRead = false;
    expect(await runPhase(p, 'response', ctx)).toBeUndefined();
    expect(bodyOf(ctx)).toEqual({ id: 'u1', name: 'Alice' });
    expect(ctx.securityEvents).toBeNull();
    // The metric still counts the answer it changed.
    expect(await metric()).toBe(before + 1);
    // Block mode still blocks.
    const blocked = jsonCtx(leaky, { roles: ['user'] });
    blocked.securityEventsRead = false;
    const err = await runPhase(instantiate(def, { ...cfg, mode: 'block' }), 'response', blocked);
    expect((err as GatewayError).code).toBe('RESPONSE_BLOCKED');
  });

  it('lets an admin see email (per-role rule) but never the undeclared fields', async () => {
    const ctx = jsonCtx(leaky, { roles: ['admin'] });
    await runPhase(instantiate(def, cfg), 'response', ctx);
    expect(bodyOf(ctx)).toEqual({ id: 'u1', name: 'Alice', email: 'alice@example.com' });
  });

  it('leaves a clean answer untouched (same buffer, no event)', async () => {
    const ctx = jsonCtx({ id: 'u1', name: 'A' }, { roles: ['admin'] });
    const body = ctx.response?.body;
    await runPhase(instantiate(def, cfg), 'response', ctx);
    expect(ctx.response?.body).toBe(body);
    expect(ctx.securityEvents).toBeNull();
  });

  it('block mode withholds a leaking answer with RESPONSE_BLOCKED (502) and an event', async () => {
    const ctx = jsonCtx(leaky, { roles: ['admin'] });
    const err = await runPhase(instantiate(def, { ...cfg, mode: 'block' }), 'response', ctx);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('RESPONSE_BLOCKED');
    expect((err as GatewayError).status).toBe(502);
    expect(ctx.securityEvents?.[0]).toMatchObject({ type: 'response.blocked', action: 'block', rule: 'schema' });
  });

  it('uses the status class and default schemas; undeclared statuses pass or block', async () => {
    const p = instantiate(def, { responses: { '2XX': USER, default: { type: 'object', properties: { code: {} } } } });
    const created = jsonCtx({ id: '1', ssn: 'x' }, { status: 201 });
    await runPhase(p, 'response', created);
    expect(bodyOf(created)).toEqual({ id: '1' });
    const err = jsonCtx({ code: 'E', trace: 'at x' }, { status: 500 });
    await runPhase(p, 'response', err);
    expect(bodyOf(err)).toEqual({ code: 'E' });

    const only200 = { responses: { '200': USER } };
    const passed = jsonCtx({ anything: 1 }, { status: 404 });
    await runPhase(instantiate(def, only200), 'response', passed);
    expect(bodyOf(passed)).toEqual({ anything: 1 });
    const blocked = jsonCtx({ anything: 1 }, { status: 404 });
    const e = await runPhase(instantiate(def, { ...only200, undeclared: 'block' }), 'response', blocked);
    expect((e as GatewayError).code).toBe('RESPONSE_BLOCKED');
  });

  it('refuses a JSON-typed body that does not parse, and an encoded one it cannot read', async () => {
    const p = instantiate(def, cfg);
    const e1 = await runPhase(p, 'response', jsonCtx('{"id": "u1", "ssn": '));
    expect((e1 as GatewayError).code).toBe('RESPONSE_BLOCKED');
    const gz = jsonCtx(leaky);
    gz.response!.headers['content-encoding'] = 'gzip';
    expect(((await runPhase(p, 'response', gz)) as GatewayError).code).toBe('RESPONSE_BLOCKED');
  });

  it('lets an empty JSON-typed body through', async () => {
    const ctx = jsonCtx('');
    expect(await runPhase(instantiate(def, { ...cfg, mode: 'block' }), 'response', ctx)).toBeUndefined();
  });

  it('asks the upstream for an unencoded body', async () => {
    const ctx = makeCtx();
    ctx.upstreamHeaders = { 'accept-encoding': 'gzip, br', accept: 'application/json' };
    await runPhase(instantiate(def, cfg), 'request', ctx);
    expect(ctx.upstreamHeaders).toEqual({ accept: 'application/json' });
  });

  it("passes non-JSON answers and the gateway's own errors through", async () => {
    const p = instantiate(def, cfg);
    const text = jsonCtx('ssn=1', { type: 'text/plain' });
    await runPhase(p, 'response', text);
    expect(rawBody(text)).toBe('ssn=1');
    const own = jsonCtx({ type: 'x', ssn: 1 }, { type: 'application/problem+json', status: 401 });
    own.error = new GatewayError('UNAUTHENTICATED');
    await runPhase(p, 'response', own);
    expect(bodyOf(own)).toEqual({ type: 'x', ssn: 1 });
  });
});

describe('response-filter on the bytes (no parse / stringify when the scan can decide)', () => {
  const user = {
    type: 'object',
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      email: { type: 'string' },
      address: { type: 'object', properties: { city: {}, country: {} } },
      tags: { type: 'array', items: { type: 'string' } },
    },
  };
  const cfg = {
    components: { schemas: { User: user } },
    responses: {
      '200': {
        type: 'object',
        properties: { page: {}, items: { type: 'array', items: { $ref: '#/components/schemas/User' } } },
      },
    },
    fields: [{ paths: ['$.items[*].email'], action: 'deny' as const, except_roles: ['admin'] }],
  };
  const page = {
    page: 1,
    items: Array.from({ length: 12 }, (_, i) => ({
      id: `u_${i}`,
      name: `User "${i}"`,
      email: `u${i}@example.com`,
      address: { city: 'Oslo', country: 'NO', geo: [1, 2] },
      tags: ['a', 'b'],
      ssn: '536-90-4399',
      internal_id: 880000 + i,
    })),
  };
  /** The object path's answer and event detail, computed with the pure functions. */
  const expected = (doc: unknown, admin: boolean) => {
    const removed: string[] = [];
    const compiler = new SchemaCompiler({ components: cfg.components });
    let v = filterValue(doc, compiler.compile(cfg.responses['200']), (p) => removed.push(p));
    const bySchema = removed.length;
    if (!admin) v = applyPaths(v, [compilePath('$.items[*].email')], null, (p) => removed.push(p));
    return {
      value: v,
      detail: {
        removed: removed.length,
        by_schema: bySchema,
        by_rules: removed.length - bySchema,
        paths: removed.slice(0, 10).join(' ').slice(0, 400),
      },
      location: `body${removed[0]}`,
    };
  };

  for (const [label, text] of [
    ['compact', JSON.stringify(page)],
    ['pretty-printed', JSON.stringify(page, null, 2)],
    // A duplicate key: the scan gives up and the object path decides, with the same outcome.
    ['with a duplicate key', JSON.stringify(page).replace('"page":1', '"page":0,"page":1')],
  ] as const) {
    it(`cuts a ${label} answer exactly as the object path: body, event, paths`, async () => {
      for (const admin of [false, true]) {
        const ctx = jsonCtx(text, { roles: [admin ? 'admin' : 'user'] });
        expect(await runPhase(instantiate(def, cfg), 'response', ctx)).toBeUndefined();
        const want = expected(JSON.parse(text), admin);
        expect(bodyOf(ctx)).toEqual(want.value);
        // The byte path keeps the answer's own layout; the object path writes compact JSON.
        if (label === 'pretty-printed') expect(rawBody(ctx)).toContain('\n      "name"');
        if (label === 'with a duplicate key') expect(rawBody(ctx)).toBe(JSON.stringify(want.value));
        expect(ctx.securityEvents).toEqual([
          {
            type: 'response.field_removed',
            policy: 'response-filter',
            rule: 'schema',
            location: want.location,
            action: 'modify',
            detail: want.detail,
          },
        ]);
      }
    });
  }

  it('refuses what JSON.parse refuses, whichever path looks at it', async () => {
    const p = instantiate(def, cfg);
    for (const bad of ['{"page":1,}', '{"page":"a\u0001b"}', '{"page":1}x', '{"page":"\\x"}']) {
      const e = await runPhase(p, 'response', jsonCtx(bad, { roles: ['user'] }));
      expect((e as GatewayError).code, bad).toBe('RESPONSE_BLOCKED');
    }
  });
});
