import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCtx, runPhase, silentLogger, withResponse } from '../../../test/unit-helpers.js';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { PolicyInstance } from '../../core/policy.js';
import { ServiceRegistry } from '../../core/shared.js';
import { createKeyFile, EnvKeySource, FileKeySource, FileKeyState, Keyring } from '../../crypto/index.js';
import def from './policy.js';
import { schema } from './schema.js';

let dir: string;
let keyring: Keyring;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-redact-'));
  await createKeyFile(join(dir, 'master.keys'));
  keyring = await Keyring.open({
    source: await FileKeySource.open(join(dir, 'master.keys')),
    state: new FileKeyState(join(dir, 'state.json')),
  });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function make(cfg: Record<string, unknown> = {}, withKeyring = false): PolicyInstance {
  const services = new ServiceRegistry(null, withKeyring ? keyring : null);
  return def.create(schema.parse(cfg), { logger: silentLogger, scope: 'global', services });
}

function answer(body: unknown, opts: { status?: number; type?: string } = {}): RequestContext {
  const ctx = withResponse(makeCtx({ url: '/x' }), opts.status ?? 200, {
    'content-type': opts.type ?? 'application/json',
    'content-length': '1',
  });
  ctx.route = { name: 'r', upstream: 'app', public: false };
  (ctx.response as { body: unknown }).body = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return ctx;
}
const text = (ctx: RequestContext) => String((ctx.response as { body: Buffer }).body);
const json = (ctx: RequestContext) => JSON.parse(text(ctx)) as Record<string, unknown>;

const record = {
  id: 42,
  name: 'Alice',
  contact: { email: 'alice@example.com', phone: '+44 20 7946 0958' },
  payment: { card: '4111 1111 1111 1111', not_a_card: '4111 1111 1111 1112', iban: 'GB82 WEST 1234 5698 7654 32' },
  ssn: '536-90-4399',
  order_no: '1234567890123456',
  created: '2024-01-15',
};

describe('redact schema', () => {
  it('defaults to every detector with mask, and refuses unknown detectors and actions', () => {
    const c = schema.parse({});
    expect(c.action).toBe('mask');
    expect(c.detectors).toContain('card');
    expect(c.upstream_errors).toBe('replace');
    expect(schema.safeParse({ detectors: ['dna'] }).success).toBe(false);
    expect(schema.safeParse({ actions: { email: 'shred' } }).success).toBe(false);
    expect(schema.safeParse({ actions: { nope: 'mask' } }).success).toBe(false);
  });

  it('refuses hash without a keyring at create', () => {
    expect(() => make({ action: 'hash' })).toThrow(/keyring/);
  });
});

describe('redact responses', () => {
  it('masks what it finds in nested JSON and leaves look-alikes alone', async () => {
    const ctx = answer(record);
    expect(await runPhase(make(), 'response', ctx)).toBeUndefined();
    expect(json(ctx)).toEqual({
      id: 42,
      name: 'Alice',
      contact: { email: 'a***@example.com', phone: '**********58' },
      payment: { card: '************1111', not_a_card: '4111 1111 1111 1112', iban: 'GB****************5432' },
      ssn: '***-**-4399',
      order_no: '1234567890123456',
      created: '2024-01-15',
    });
    expect(ctx.response?.headers['content-length']).toBeUndefined();
    expect(ctx.securityEvents).toEqual([
      {
        type: 'response.redacted',
        policy: 'redact',
        rule: 'email,phone,card,iban,us_ssn',
        location: 'body',
        action: 'modify',
        detail: { email: 1, phone: 1, card: 1, iban: 1, us_ssn: 1 },
      },
    ]);
  });

  it('masks the same where nothing reads security events (no audit), and records no event', async () => {
    const ctx = answer(record);
    ctx.securityEventsRead = false;
    expect(await runPhase(make(), 'response', ctx)).toBeUndefined();
    expect(json(ctx)).toMatchObject({ contact: { email: 'a***@example.com' }, ssn: '***-**-4399' });
    expect(ctx.securityEvents).toBeNull();
  });

  it('sees through JSON \\u escapes', async () => {
    const ctx = answer('{"e": "alice\\u0040example.com"}');
    await runPhase(make(), 'response', ctx);
    expect(json(ctx)).toEqual({ e: 'a***@example.com' });
  });

  it('keeps concurrent answers apart (one instance, each event counts its own findings)', async () => {
    const p = make();
    const a = answer({ e: 'alice@example.com', f: 'bob@example.com' });
    const b = answer({ c: '4111111111111111' });
    await Promise.all([runPhase(p, 'response', a), runPhase(p, 'response', b)]);
    expect(a.securityEvents?.[0]?.detail).toEqual({ email: 2 });
    expect(b.securityEvents?.[0]?.detail).toEqual({ card: 1 });
  });

  it('leaves JWE values (field-encryption output) whole', async () => {
    const jwe = `eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00ifQ.a2V5.aXY.${'415-555-2671'}.dGFn`;
    const ctx = answer({ jwe, phone: '415-555-2671' });
    await runPhase(make(), 'response', ctx);
    expect(json(ctx)).toEqual({ jwe, phone: '********71' });
  });

  it('finds card numbers sent as JSON numbers', async () => {
    const ctx = answer({ pan: 4111111111111111, amount: 1234567890123 });
    await runPhase(make(), 'response', ctx);
    expect(json(ctx)).toEqual({ pan: '************1111', amount: 1234567890123 });
  });

  it('hash puts a keyed, stable, non-reversible token in place', async () => {
    const p = make({ actions: { email: 'hash' } }, true);
    const a = answer({ e: 'alice@example.com', f: 'alice@example.com', g: 'bob@example.com' });
    await runPhase(p, 'response', a);
    const out = json(a);
    expect(out.e).toMatch(/^\[email:v\d+\.[A-Za-z0-9_-]{22}\]$/);
    expect(out.f).toBe(out.e);
    expect(out.g).not.toBe(out.e);
    // Keyed: another keyring (another master key) gives another hash for the same value.
    const otherDir = await mkdtemp(join(tmpdir(), 'rampart-redact2-'));
    const other = await Keyring.open({
      source: new EnvKeySource(Buffer.alloc(32, 7).toString('base64'), 'test'),
      state: new FileKeyState(join(otherDir, 'state.json')),
    });
    const q = def.create(schema.parse({ actions: { email: 'hash' } }), {
      logger: silentLogger,
      scope: 'global',
      services: new ServiceRegistry(null, other),
    });
    const b = answer({ e: 'alice@example.com' });
    await runPhase(q, 'response', b);
    expect(json(b).e).not.toBe(out.e);
    await rm(otherDir, { recursive: true, force: true });
  });

  it('remove drops the member holding a finding; field_names redact by name', async () => {
    const ctx = answer({ a: 'x', email: 'alice@example.com', list: ['ok', 'bob@example.com'], Password: 'hunter2' });
    await runPhase(make({ action: 'remove', detectors: ['email'], field_names: ['password'] }), 'response', ctx);
    expect(json(ctx)).toEqual({ a: 'x', list: ['ok'] });
    const masked = answer({ password: 'hunter2', token: null });
    await runPhase(make({ field_names: ['password', 'token'] }), 'response', masked);
    expect(json(masked)).toEqual({ password: '[REDACTED:field]', token: null });
  });

  it('block withholds the answer (RESPONSE_BLOCKED) when a blocked detector fires', async () => {
    const ctx = answer({ key: `-----BEGIN ${'PRIVATE'} KEY-----\nMIIB\n-----END ${'PRIVATE'} KEY-----` });
    const err = await runPhase(make({ actions: { private_key: 'block' } }), 'response', ctx);
    expect((err as GatewayError).code).toBe('RESPONSE_BLOCKED');
    expect(ctx.securityEvents?.[0]).toMatchObject({ type: 'response.blocked', action: 'block', rule: 'private_key' });
  });

  it('scans text bodies only when asked; leaves a clean JSON body as it was', async () => {
    const plain = answer('mail alice@example.com', { type: 'text/plain' });
    await runPhase(make(), 'response', plain);
    expect(text(plain)).toBe('mail alice@example.com');
    const scanned = answer('mail alice@example.com', { type: 'text/plain; charset=utf-8' });
    await runPhase(make({ text: true }), 'response', scanned);
    expect(text(scanned)).toBe('mail a***@example.com');
    const clean = answer({ id: 1 });
    const before = clean.response?.body;
    await runPhase(make(), 'response', clean);
    expect(clean.response?.body).toBe(before);
    expect(clean.securityEvents).toBeNull();
  });

  it('scans a JSON-typed body that does not parse as text', async () => {
    const ctx = answer('{"email": "alice@example.com", ');
    await runPhase(make(), 'response', ctx);
    expect(text(ctx)).toBe('{"email": "a***@example.com", ');
  });
});

describe('redact upstream error pages', () => {
  const traces: [string, string, string][] = [
    [
      'java',
      'application/json',
      JSON.stringify({ error: 'x', trace: 'java.lang.NullPointerException\n\tat com.acme.Svc.get(Svc.java:42)' }),
    ],
    [
      'python',
      'text/plain',
      'Traceback (most recent call last):\n  File "/app/main.py", line 10, in handler\nKeyError',
    ],
    ['node', 'application/json', JSON.stringify({ stack: 'TypeError: x\n    at handler (/srv/app/index.js:10:5)' })],
    ['dotnet', 'text/plain', 'System.NullReferenceException: x\n   at Acme.Api.Get() in C:\\src\\Api.cs:line 12'],
    ['php', 'text/plain', 'PHP Fatal error:  Uncaught Error: x in /var/www/index.php on line 3'],
  ];

  it.each(traces)('replaces a 5xx with a %s stack trace by UPSTREAM_ERROR', async (kind, type, body) => {
    const ctx = answer(body, { status: 500, type });
    const err = await runPhase(make(), 'response', ctx);
    expect((err as GatewayError).code).toBe('UPSTREAM_ERROR');
    expect((err as GatewayError).status).toBe(502);
    expect(ctx.securityEvents?.[0]).toMatchObject({ type: 'response.error_page_replaced', rule: kind });
  });

  it('replaces an HTML 5xx page, keeps a plain JSON 5xx and 4xx with traces untouched when configured to pass', async () => {
    const html = answer('<html><body><h1>Whitelabel Error Page</h1></body></html>', { status: 503, type: 'text/html' });
    expect(((await runPhase(make(), 'response', html)) as GatewayError).code).toBe('UPSTREAM_ERROR');
    const plain = answer({ error: 'database unavailable' }, { status: 503 });
    expect(await runPhase(make(), 'response', plain)).toBeUndefined();
    expect(json(plain)).toEqual({ error: 'database unavailable' });
    const passed = answer('<html>x</html>', { status: 500, type: 'text/html' });
    expect(await runPhase(make({ upstream_errors: 'pass' }), 'response', passed)).toBeUndefined();
  });
});

describe('redact requests', () => {
  function request(body: unknown): RequestContext {
    const ctx = makeCtx({ method: 'POST', url: '/pay', headers: { 'content-type': 'application/json' } });
    ctx.requestBody = Buffer.from(JSON.stringify(body));
    ctx.upstreamHeaders = { 'accept-encoding': 'gzip' };
    return ctx;
  }

  it('leaves requests alone unless `requests: true`, but always asks for an unencoded answer', async () => {
    const ctx = request({ email: 'alice@example.com' });
    await runPhase(make(), 'request', ctx);
    expect(JSON.parse(String(ctx.requestBody))).toEqual({ email: 'alice@example.com' });
    expect(ctx.upstreamHeaders['accept-encoding']).toBeUndefined();
  });

  it('redacts a forwarded JSON body, or refuses it with 422 on block', async () => {
    const ctx = request({ email: 'alice@example.com', note: 'hi' });
    await runPhase(make({ requests: true }), 'request', ctx);
    expect(JSON.parse(String(ctx.requestBody))).toEqual({ email: 'a***@example.com', note: 'hi' });
    expect(ctx.securityEvents?.[0]).toMatchObject({ type: 'request.redacted', detail: { email: 1 } });
    const blocked = request({ card: '4111111111111111' });
    const err = await runPhase(make({ requests: true, actions: { card: 'block' } }), 'request', blocked);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('SENSITIVE_DATA_REFUSED');
    expect((err as GatewayError).detail).not.toContain('4111');
  });
});
