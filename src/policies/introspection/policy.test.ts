import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { makeCtx, runPhase } from '../../../test/unit-helpers.js';
import { ConfigError, parseConfig } from '../../config/load.js';
import type { ClientCertificate, RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { PolicyInstance } from '../../core/policy.js';
import { ServiceRegistry } from '../../core/shared.js';
import { generateApiKey } from '../../identity/api-key.js';
import def from './policy.js';
import { schema } from './schema.js';

/** What the test endpoint answers; `hang` never answers. */
interface Answer {
  status?: number;
  body?: unknown;
  raw?: string;
  hang?: boolean;
}

interface Call {
  authorization: string | undefined;
  contentType: string | undefined;
  params: URLSearchParams;
}

let server: Server;
let endpoint = '';
let answer: (params: URLSearchParams) => Answer = () => ({ body: { active: false } });
const calls: Call[] = [];
const hanging: IncomingMessage[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const params = new URLSearchParams(Buffer.concat(chunks).toString());
      calls.push({ authorization: req.headers.authorization, contentType: req.headers['content-type'], params });
      const a = answer(params);
      if (a.hang) {
        hanging.push(req);
        return;
      }
      res.writeHead(a.status ?? 200, { 'content-type': 'application/json' });
      res.end(a.raw ?? JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/introspect`;
});

const registries: ServiceRegistry[] = [];
afterEach(() => {
  calls.length = 0;
  for (const r of hanging.splice(0)) r.socket.destroy();
});
afterAll(async () => {
  for (const r of registries) await r.close();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

class Lines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    for (const l of chunk.toString().split('\n')) if (l.trim()) this.lines.push(JSON.parse(l));
    cb();
  }
}

type Input = z.input<typeof schema>;

/** An instance on a fresh (or the given) process-wide registry, logging into `logs`. */
function make(cfg: Partial<Input> = {}, services = new ServiceRegistry()) {
  registries.push(services);
  const logs = new Lines();
  const logger = pino({ level: 'debug' }, logs);
  const p = def.create(def.config.parse({ endpoint, client_id: 'gw', client_secret: 's3cret', ...cfg }), {
    logger,
    scope: 'route:test',
    services,
  });
  return { p, logs, services };
}

const token = () => randomBytes(24).toString('base64url');
const bearer = (t: string) => makeCtx({ headers: { authorization: `Bearer ${t}` } });
const now = () => Math.floor(Date.now() / 1000);

async function run(p: PolicyInstance, ctx: RequestContext) {
  return (await runPhase(p, 'request', ctx)) as GatewayError | undefined;
}

function activeFor(t: string, extra: Record<string, unknown> = {}) {
  return (params: URLSearchParams): Answer =>
    params.get('token') === t
      ? { body: { active: true, sub: 'alice', scope: 'read write', client_id: 'app', exp: now() + 300, ...extra } }
      : { body: { active: false } };
}

describe('introspection schema', () => {
  it('fills defaults', () => {
    expect(schema.parse({ endpoint: 'https://idp.example/introspect', client_id: 'gw', client_secret: 'x' })).toEqual({
      endpoint: 'https://idp.example/introspect',
      client_id: 'gw',
      client_secret: 'x',
      auth_method: 'client_secret_basic',
      timeout_ms: 2000,
      token_type_hint: 'access_token',
      skip_jwt: true,
      required_scopes: [],
      claims: { subject: ['sub', 'username'], scopes: 'scope' },
      cache: { max_entries: 10_000, max_ttl_s: 60, negative_ttl_s: 5 },
      max_response_bytes: 65_536,
      max_token_bytes: 4096,
      retry_after_s: 5,
    });
  });

  it('refuses a non-http endpoint, a missing secret, unknown keys and bad claim paths', () => {
    const base = { endpoint: 'https://idp.example/i', client_id: 'gw', client_secret: 'x' };
    expect(schema.safeParse({ ...base, endpoint: 'ftp://idp.example/i' }).success).toBe(false);
    expect(schema.safeParse({ ...base, endpoint: 'idp.example/i' }).success).toBe(false);
    expect(schema.safeParse({ ...base, client_secret: '' }).success).toBe(false);
    expect(schema.safeParse({ endpoint: base.endpoint, client_id: 'gw' }).success).toBe(false);
    expect(schema.safeParse({ ...base, auth_method: 'private_key_jwt' }).success).toBe(false);
    expect(schema.safeParse({ ...base, claims: { roles: 'a..b' } }).success).toBe(false);
    expect(schema.safeParse({ ...base, cache: { max_ttl_s: 3601 } }).success).toBe(false);
    expect(schema.safeParse({ ...base, required_scopes: ['a b'] }).success).toBe(false);
    expect(schema.safeParse({ ...base, audience: 'x' }).success).toBe(false);
  });

  it('refuses an inline client_secret in production and takes it from ${env:...}', () => {
    const yaml = (secret: string) => `
listeners: [{ port: 0 }]
routes:
  - name: api
    paths: ["/api"]
    policies:
      introspection: { endpoint: "https://idp.example/i", client_id: gw, client_secret: "${secret}" }
`;
    let err: unknown;
    try {
      parseConfig(yaml('inline-secret'), 'gw.yaml', '/tmp', {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/client_secret: a secret written inline/);
    const ok = parseConfig(yaml('${env:IDP_SECRET}'), 'gw.yaml', '/tmp', { IDP_SECRET: 'from-env' });
    expect(ok.config.routes[0]?.policies.introspection?.client_secret).toBe('from-env');
  });
});

describe('introspection: which requests it handles', () => {
  it('ignores requests without a Bearer token, and leaves JWT-shaped tokens to the jwt policy', async () => {
    const { p } = make();
    for (const headers of [{}, { authorization: 'Basic YTpi' }, { authorization: 'Bearerabc' }]) {
      const ctx = makeCtx({ headers });
      expect(await run(p, ctx)).toBeUndefined();
      expect(ctx.identity).toBeNull();
    }
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';
    expect(await run(p, bearer(jwt))).toBeUndefined();
    expect(await run(p, bearer('eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.'))).toBeUndefined();
    expect(calls).toHaveLength(0);
    // skip_jwt: false introspects them too.
    answer = activeFor(jwt);
    const ctx = bearer(jwt);
    expect(await run(make({ skip_jwt: false }).p, ctx)).toBeUndefined();
    expect(ctx.identity?.subject).toBe('alice');
    expect(calls).toHaveLength(1);
  });

  it('leaves a request another identity policy already recognised', async () => {
    const { p } = make();
    const ctx = bearer(token());
    const before = { kind: 'mtls', subject: 'svc' } as RequestContext['identity'];
    ctx.identity = before;
    expect(await run(p, ctx)).toBeUndefined();
    expect(ctx.identity).toBe(before);
    expect(calls).toHaveLength(0);
  });

  it('refuses a malformed or oversized bearer token with 401 invalid_token, without a call', async () => {
    const { p } = make({ max_token_bytes: 64 });
    for (const auth of ['Bearer ', 'Bearer a b', 'Bearer ab"c', `Bearer ${'a'.repeat(65)}`]) {
      const err = await run(p, makeCtx({ headers: { authorization: auth } }));
      expect(err?.code, auth).toBe('UNAUTHENTICATED');
      expect(err?.headers?.['www-authenticate']).toBe('Bearer realm="rampart", error="invalid_token"');
    }
    expect(calls).toHaveLength(0);
  });

  it("never sends Rampart's own secrets (API keys, client secrets) to the endpoint", async () => {
    const { p } = make();
    for (const t of [generateApiKey().key, `rmcs_${'A'.repeat(43)}`]) {
      const err = await run(p, bearer(t));
      expect(err?.code, t).toBe('UNAUTHENTICATED');
    }
    expect(calls).toHaveLength(0);
  });
});

describe('introspection: active and inactive tokens', () => {
  it('sets the identity from an active answer; Basic client auth with form-encoded credentials and the hint', async () => {
    const t = token();
    answer = activeFor(t, { jti: 'tok-1', realm_access: { roles: ['admin', 'ops'] }, aud: 'api' });
    const { p } = make({ client_id: 'gw client', client_secret: 's:3/cret', claims: { roles: 'realm_access.roles' } });
    const ctx = bearer(t);
    expect(await run(p, ctx)).toBeUndefined();
    expect(ctx.identity).toMatchObject({
      kind: 'introspection',
      consumerId: null,
      subject: 'alice',
      credentialId: 'tok-1',
      roles: ['admin', 'ops'],
      scopes: ['read', 'write'],
      clientId: 'app',
    });
    expect(ctx.identity?.expiresAt).toBeGreaterThan(now());
    expect(ctx.identity?.claims?.aud).toBe('api');
    const [call] = calls;
    expect(call?.contentType).toBe('application/x-www-form-urlencoded');
    expect(call?.params.get('token')).toBe(t);
    expect(call?.params.get('token_type_hint')).toBe('access_token');
    expect(call?.params.has('client_secret')).toBe(false);
    const basic = Buffer.from(call?.authorization?.replace(/^Basic /, '') ?? '', 'base64').toString();
    expect(basic).toBe('gw+client:s%3A3%2Fcret');
  });

  it('client_secret_post sends the credentials in the body; an empty hint sends none', async () => {
    const t = token();
    answer = activeFor(t);
    const { p } = make({ auth_method: 'client_secret_post', token_type_hint: '' });
    expect(await run(p, bearer(t))).toBeUndefined();
    const [call] = calls;
    expect(call?.authorization).toBeUndefined();
    expect(call?.params.get('client_id')).toBe('gw');
    expect(call?.params.get('client_secret')).toBe('s3cret');
    expect(call?.params.has('token_type_hint')).toBe(false);
  });

  it('refuses an inactive token with 401 invalid_token and caches that for negative_ttl_s', async () => {
    answer = () => ({ body: { active: false } });
    const { p } = make();
    const t = token();
    for (let i = 0; i < 3; i++) {
      const err = await run(p, bearer(t));
      expect(err).toBeInstanceOf(GatewayError);
      expect(err?.status).toBe(401);
      expect(err?.headers).toEqual({ 'www-authenticate': 'Bearer realm="rampart", error="invalid_token"' });
    }
    expect(calls).toHaveLength(1);
    // negative_ttl_s: 0 asks each time.
    const { p: q } = make({ cache: { negative_ttl_s: 0 } });
    await run(q, bearer(t));
    await run(q, bearer(t));
    expect(calls).toHaveLength(3);
    // Each kind of answer has its own bound: max_ttl_s: 0 still reuses an inactive answer.
    const { p: r } = make({ cache: { max_ttl_s: 0 } });
    await run(r, bearer(t));
    await run(r, bearer(t));
    expect(calls).toHaveLength(4);
  });

  it('picks the subject from sub, then username, then client_id; refuses a token naming nobody', async () => {
    const t = token();
    const { p } = make({ cache: { max_entries: 0 } });
    const subjectFor = async (body: Record<string, unknown>) => {
      answer = () => ({ body: { active: true, ...body } });
      const ctx = bearer(t);
      const err = await run(p, ctx);
      return err ? err.code : ctx.identity?.subject;
    };
    expect(await subjectFor({ sub: 's', username: 'u', client_id: 'c' })).toBe('s');
    expect(await subjectFor({ username: 'u', client_id: 'c' })).toBe('u');
    expect(await subjectFor({ client_id: 'c' })).toBe('c');
    expect(await subjectFor({ sub: 42 })).toBe('UNAUTHENTICATED');
    expect(calls).toHaveLength(4);
  });

  it('checks issuer, audiences, token_type, expiry and sender constraints', async () => {
    const t = token();
    const cert = { raw: randomBytes(300) } as unknown as ClientCertificate;
    const x5t = createHash('sha256').update(cert.raw).digest('base64url');
    const { p } = make({ issuer: 'https://idp', audiences: ['api', 'other'], cache: { max_entries: 0 } });
    const outcome = async (body: Record<string, unknown>, withCert = false) => {
      answer = () => ({ body: { active: true, sub: 'a', iss: 'https://idp', aud: ['x', 'api'], ...body } });
      const ctx = bearer(t);
      if (withCert) ctx.clientCert = cert;
      return (await run(p, ctx))?.code ?? 'ok';
    };
    expect(await outcome({})).toBe('ok');
    expect(await outcome({ aud: 'other' })).toBe('ok');
    expect(await outcome({ iss: 'https://evil' })).toBe('UNAUTHENTICATED');
    expect(await outcome({ iss: undefined })).toBe('UNAUTHENTICATED');
    expect(await outcome({ aud: ['x'] })).toBe('UNAUTHENTICATED');
    expect(await outcome({ aud: undefined })).toBe('UNAUTHENTICATED');
    expect(await outcome({ token_type: 'Bearer' })).toBe('ok');
    expect(await outcome({ token_type: 'refresh_token' })).toBe('UNAUTHENTICATED');
    expect(await outcome({ exp: now() - 1 })).toBe('UNAUTHENTICATED');
    expect(await outcome({ exp: 'soon' })).toBe('UNAUTHENTICATED');
    expect(await outcome({ cnf: { jkt: 'abc' } })).toBe('UNAUTHENTICATED');
    expect(await outcome({ cnf: { 'x5t#S256': x5t } })).toBe('UNAUTHENTICATED');
    expect(await outcome({ cnf: { 'x5t#S256': x5t } }, true)).toBe('ok');
    expect(await outcome({ cnf: { 'x5t#S256': x5t.replace(/^./, x5t[0] === 'A' ? 'B' : 'A') } }, true)).toBe(
      'UNAUTHENTICATED',
    );
  });

  it('answers 403 insufficient_scope when a required scope is missing', async () => {
    const t = token();
    answer = activeFor(t, { scope: 'read' });
    const ctx = bearer(t);
    const err = await run(make({ required_scopes: ['read', 'write'] }).p, ctx);
    expect(err?.code).toBe('INSUFFICIENT_SCOPE');
    expect(err?.status).toBe(403);
    expect(err?.headers?.['www-authenticate']).toBe(
      'Bearer realm="rampart", error="insufficient_scope", scope="read write"',
    );
    expect(await run(make({ required_scopes: ['read'] }).p, bearer(t))).toBeUndefined();
  });

  it('reports a stable token key to the brute-force hook before asking, and asks nothing when it throws', async () => {
    const t = token();
    answer = activeFor(t);
    const { p } = make();
    const seen: string[] = [];
    const ctx = bearer(t);
    ctx.onAuthAttempt = (k) => {
      seen.push(k);
      expect(calls).toHaveLength(0);
    };
    await run(p, ctx);
    const again = bearer(t);
    again.onAuthAttempt = (k) => seen.push(k);
    await run(p, again);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe(seen[1]);
    expect(seen[0]).not.toContain(t);
    expect(ctx.authAttempt).toBe(seen[0]);
    const locked = bearer(token());
    locked.onAuthAttempt = () => {
      throw new GatewayError('AUTH_LOCKED');
    };
    expect((await run(p, locked))?.code).toBe('AUTH_LOCKED');
    expect(calls).toHaveLength(1);
  });
});

describe('introspection: cache', () => {
  it('reuses an answer, and coalesces concurrent calls for one token into one', async () => {
    const t = token();
    answer = activeFor(t);
    const { p } = make();
    const ctxs = Array.from({ length: 8 }, () => bearer(t));
    const errs = await Promise.all(ctxs.map((c) => run(p, c)));
    expect(errs.every((e) => e === undefined)).toBe(true);
    expect(ctxs.every((c) => c.identity?.subject === 'alice')).toBe(true);
    expect(calls).toHaveLength(1);
    expect(await run(p, bearer(t))).toBeUndefined();
    expect(calls).toHaveLength(1);
  });

  it('is shared across instances on the same registry (a reload) and keyed by endpoint, client and secret', async () => {
    const t = token();
    answer = activeFor(t);
    const services = new ServiceRegistry();
    await run(make({}, services).p, bearer(t));
    await run(make({ required_scopes: ['read'] }, services).p, bearer(t));
    expect(calls).toHaveLength(1);
    await run(make({ client_secret: 'other' }, services).p, bearer(t));
    expect(calls).toHaveLength(2);
  });

  it("never keeps an active answer past the token's exp nor past max_ttl_s", async () => {
    const t = token();
    // exp is in whole seconds: 0.3 to 1.3 s ahead.
    const exp = Math.ceil((Date.now() + 300) / 1000);
    answer = (params) =>
      params.get('token') === t && Date.now() < exp * 1000
        ? { body: { active: true, sub: 'a', exp } }
        : { body: { active: false } };
    const { p } = make({ cache: { max_ttl_s: 60 } });
    expect(await run(p, bearer(t))).toBeUndefined();
    expect(await run(p, bearer(t))).toBeUndefined();
    expect(calls).toHaveLength(1);
    await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 20));
    expect((await run(p, bearer(t)))?.code).toBe('UNAUTHENTICATED');
    expect(calls).toHaveLength(2);

    // max_ttl_s: 0 never reuses an active answer.
    const u = token();
    answer = activeFor(u);
    const { p: q } = make({ cache: { max_ttl_s: 0 } });
    await run(q, bearer(u));
    await run(q, bearer(u));
    expect(calls).toHaveLength(4);
  });

  it('does not cache failures', async () => {
    const t = token();
    answer = () => ({ status: 500, raw: 'oops' });
    const { p } = make();
    expect((await run(p, bearer(t)))?.code).toBe('AUTH_UNAVAILABLE');
    answer = activeFor(t);
    expect(await run(p, bearer(t))).toBeUndefined();
    expect(calls).toHaveLength(2);
  });
});

describe('introspection: fails closed', () => {
  const failing: [string, Answer][] = [
    ['a 500', { status: 500, body: { error: 'server_error' } }],
    ['a 401 (wrong client secret)', { status: 401, body: { error: 'invalid_client' } }],
    ['a 302', { status: 302, raw: '' }],
    ['text, not JSON', { raw: '<html>hi</html>' }],
    ['a JSON array', { body: [{ active: true }] }],
    ['no boolean active', { body: { active: 'true', sub: 'a' } }],
    ['an oversized answer', { body: { active: true, sub: 'a', pad: 'x'.repeat(2000) } }],
  ];
  for (const [name, a] of failing) {
    it(`answers 503 AUTH_UNAVAILABLE with Retry-After on ${name}`, async () => {
      answer = () => a;
      const { p, logs } = make({ max_response_bytes: 1024, retry_after_s: 7 });
      const ctx = bearer(token());
      const err = await run(p, ctx);
      expect(err?.code).toBe('AUTH_UNAVAILABLE');
      expect(err?.status).toBe(503);
      expect(err?.headers).toEqual({ 'retry-after': '7' });
      expect(ctx.identity).toBeNull();
      const line = logs.lines.find((l) => l.msg === 'token introspection failed: refusing with 503');
      expect(line).toBeDefined();
      expect(JSON.stringify(logs.lines)).not.toContain('s3cret');
    });
  }

  it('answers 503 when the endpoint does not answer within timeout_ms', async () => {
    answer = () => ({ hang: true });
    const { p, logs } = make({ timeout_ms: 200 });
    const t0 = Date.now();
    const err = await run(p, bearer(token()));
    expect(err?.code).toBe('AUTH_UNAVAILABLE');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(logs.lines.find((l) => String(l.msg).startsWith('token introspection failed'))?.reason).toBe('timeout');
  });

  it('answers 503 when the endpoint refuses connections, logging at most one line per second', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const { p, logs } = make({ endpoint: `http://127.0.0.1:${port}/introspect` });
    for (let i = 0; i < 5; i++) expect((await run(p, bearer(token())))?.code).toBe('AUTH_UNAVAILABLE');
    const lines = logs.lines.filter((l) => l.msg === 'token introspection failed: refusing with 503');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ reason: 'unreachable', endpoint: `http://127.0.0.1:${port}` });
  });
});
