import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCtx, runPhase, silentLogger, withResponse } from '../../../test/unit-helpers.js';
import type { RequestContext } from '../../core/context.js';
import type { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import type { PolicyInstance } from '../../core/policy.js';
import { ServiceRegistry } from '../../core/shared.js';
import { createKeyFile, FileKeySource, Keyring } from '../../crypto/index.js';
import { openStore, STORE_PURPOSE, type Store } from '../../store/index.js';
import def from './policy.js';
import { schema } from './schema.js';

// A real SQLite store and keyring in a tmp dir, as the gateway opens them.
let dir: string;
let store: Store;
let keyring: Keyring;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-tokenize-'));
  await createKeyFile(join(dir, 'master.keys'));
  let ring: Keyring | null = null;
  store = await openStore({ kind: 'sqlite', dataDir: join(dir, 'data') }, async (state) => {
    ring = await Keyring.open({
      source: await FileKeySource.open(join(dir, 'master.keys')),
      state,
      purposes: [STORE_PURPOSE],
    });
    return ring;
  });
  keyring = ring as unknown as Keyring;
});
afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function make(cfg: Record<string, unknown>, s: Store = store): PolicyInstance {
  return def.create(schema.parse(cfg), {
    logger: silentLogger,
    scope: 'route:pay',
    services: new ServiceRegistry(s, keyring),
  });
}

function post(body: unknown, type = 'application/json'): RequestContext {
  const raw = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const ctx = makeCtx({
    method: 'POST',
    url: '/payments',
    headers: { 'content-type': type, 'content-length': String(raw.length) },
  });
  ctx.route = { name: 'pay', upstream: 'app', public: false };
  ctx.requestBody = raw;
  return ctx;
}
const sent = (ctx: RequestContext) => JSON.parse(String(ctx.requestBody)) as Record<string, Record<string, unknown>>;

function who(roles: string[]): Identity {
  return {
    kind: 'api-key',
    consumerId: 'c1',
    subject: 's',
    credentialId: null,
    roles,
    scopes: [],
    attributes: {},
    claims: null,
    clientId: null,
    expiresAt: null,
  };
}

function answer(body: unknown, roles: string[]): RequestContext {
  const ctx = withResponse(makeCtx({ url: '/payments/1' }), 200, { 'content-type': 'application/json' });
  ctx.identity = who(roles);
  (ctx.response as { body: unknown }).body = Buffer.from(JSON.stringify(body));
  return ctx;
}
const got = (ctx: RequestContext) =>
  JSON.parse(String((ctx.response as { body: Buffer }).body)) as Record<string, unknown>;

describe('tokenize schema', () => {
  it('needs something to do and checks paths', () => {
    expect(schema.safeParse({}).success).toBe(false);
    expect(schema.safeParse({ fields: ['card'] }).success).toBe(false);
    expect(schema.safeParse({ detokenize: true }).success).toBe(true);
    expect(schema.safeParse({ fields: ['$.card.number'], kind: 'Bad Kind' }).success).toBe(false);
  });

  it('refuses to start without a store', () => {
    expect(() =>
      def.create(schema.parse({ fields: ['$.pan'] }), {
        logger: silentLogger,
        scope: 'global',
        services: new ServiceRegistry(),
      }),
    ).toThrow(/store/);
  });
});

describe('tokenize', () => {
  it('replaces the value by a random token the store keeps encrypted; the upstream gets only the token', async () => {
    const ctx = post({ amount: 10, card: { number: '4111111111111111', exp: '12/30' } });
    expect(await runPhase(make({ fields: ['$.card.number'] }), 'request', ctx)).toBeUndefined();
    const body = sent(ctx);
    expect(String(ctx.requestBody)).not.toContain('4111111111111111');
    expect(body.card?.exp).toBe('12/30');
    const token = body.card?.number as string;
    expect(token).toMatch(/^tok_[A-Za-z0-9_-]{32}$/);
    expect((await store.tokens.reveal(token))?.toString()).toBe('4111111111111111');
    expect(await store.tokens.get(token)).toMatchObject({ kind: 'card', expires_at: null });
    expect(ctx.securityEvents?.[0]).toMatchObject({ type: 'request.tokenized', detail: { count: 1 } });

    const again = post({ card: { number: '4111111111111111' } });
    await runPhase(make({ fields: ['$.card.number'] }), 'request', again);
    expect(sent(again).card?.number).not.toBe(token);
  });

  it('deterministic tokens are one per value (joinable), bound to the kind; ttl sets an expiry', async () => {
    const p = make({ fields: ['$.pan'], deterministic: true, ttl_seconds: 60 });
    const a = post({ pan: '5555555555554444' });
    const b = post({ pan: '5555555555554444' });
    await runPhase(p, 'request', a);
    await runPhase(p, 'request', b);
    expect(sent(a).pan).toBe(sent(b).pan);
    expect(sent(a).pan).toMatch(/^tok_v\d+_/);
    const other = post({ pan: '5555555555554444' });
    await runPhase(make({ fields: ['$.pan'], deterministic: true, kind: 'account' }), 'request', other);
    expect(sent(other).pan).not.toBe(sent(a).pan);
    const t = await store.tokens.get(sent(a).pan as unknown as string);
    expect(t?.expires_at).not.toBeNull();
  });

  it('refuses bodies it cannot read as JSON, so no value slips through in clear', async () => {
    const p = make({ fields: ['$.pan'] });
    expect(
      (
        (await runPhase(
          p,
          'request',
          post('pan=4111111111111111', 'application/x-www-form-urlencoded'),
        )) as GatewayError
      ).code,
    ).toBe('BAD_REQUEST');
    expect(((await runPhase(p, 'request', post('{"pan": "41'))) as GatewayError).code).toBe('BAD_REQUEST');
    const noBody = makeCtx({ method: 'GET', url: '/x' });
    expect(await runPhase(p, 'request', noBody)).toBeUndefined();
  });

  it('answers 503 TOKENIZATION_FAILED when the vault is unreachable', async () => {
    let ring: Keyring | null = null;
    const closed = await openStore({ kind: 'sqlite', dataDir: join(dir, 'closed') }, async (state) => {
      ring = await Keyring.open({
        source: await FileKeySource.open(join(dir, 'master.keys')),
        state,
        purposes: [STORE_PURPOSE],
      });
      return ring;
    });
    await closed.close();
    const err = (await runPhase(
      make({ fields: ['$.pan'] }, closed),
      'request',
      post({ pan: '4111111111111111' }),
    )) as GatewayError;
    expect(err.code).toBe('TOKENIZATION_FAILED');
    expect(err.status).toBe(503);
  });
});

describe('detokenize', () => {
  it('restores tokens only for allowed roles on a detokenize route', async () => {
    const req = post({ card: { number: '4111111111111111' } });
    await runPhase(make({ fields: ['$.card.number'] }), 'request', req);
    const token = sent(req).card?.number as string;
    const upstream = { id: 'p1', card: { number: token }, note: 'tok_unknown_aaaaaaaaaaaaaaaaaaaaaaaa' };

    const restore = make({ detokenize: true, roles: ['billing'] });
    const allowed = answer(upstream, ['billing']);
    await runPhase(restore, 'response', allowed);
    expect(got(allowed)).toEqual({ id: 'p1', card: { number: '4111111111111111' }, note: upstream.note });
    expect(allowed.securityEvents?.[0]).toMatchObject({ type: 'response.detokenized', detail: { count: 1 } });

    const other = answer(upstream, ['support']);
    await runPhase(restore, 'response', other);
    expect(got(other)).toEqual(upstream);

    // A route that only tokenizes never restores.
    const tokenizeOnly = answer(upstream, ['billing']);
    await runPhase(make({ fields: ['$.card.number'] }), 'response', tokenizeOnly);
    expect(got(tokenizeOnly)).toEqual(upstream);

    // A route restores only tokens of its own kind.
    const otherKind = answer(upstream, ['billing']);
    await runPhase(make({ detokenize: true, kind: 'ssn' }), 'response', otherKind);
    expect(got(otherKind)).toEqual(upstream);

    // detokenize_fields limits where.
    const limited = answer({ a: token, b: token }, ['billing']);
    await runPhase(make({ detokenize: true, detokenize_fields: ['$.b'] }), 'response', limited);
    expect(got(limited)).toEqual({ a: token, b: '4111111111111111' });
  });
});
