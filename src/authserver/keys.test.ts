import { createLocalJWKSet, importJWK, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SigningKey } from '../store/types.js';
import { ensureSigningKey, generateSigningKey, planKeys, SigningKeys } from './keys.js';
import type { SigningAlg } from './schema.js';
import { openTestStore, silentLogger, type TestStore } from './test-support.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const key = (kid: string, createdMs: number, status: SigningKey['status'] = 'active'): SigningKey => ({
  kid,
  alg: 'ES256',
  public_jwk: {},
  status,
  created_at: new Date(createdMs).toISOString(),
});
const timing = { activationDelayMs: 10_000, overlapMs: 600_000 };
const kids = (ks: readonly SigningKey[]) => ks.map((k) => k.kid);

describe('planKeys: rotation with overlap', () => {
  it('the first key signs at once; no active key, no plan', () => {
    const p = planKeys([key('a', T0)], T0, timing);
    expect(p?.signing.kid).toBe('a');
    expect(kids(p?.published ?? [])).toEqual(['a']);
    expect(planKeys([key('a', T0, 'retired')], T0, timing)).toBeNull();
    expect(planKeys([], T0, timing)).toBeNull();
  });

  it('a new key is published at once but signs only after the activation delay', () => {
    const keys = [key('a', T0), key('b', T0 + 1000_000)];
    const early = planKeys(keys, T0 + 1000_000 + 9_999, timing);
    expect(early?.signing.kid).toBe('a');
    expect(kids(early?.published ?? [])).toEqual(['a', 'b']);
    expect(early?.signsFrom.get('b')).toBe(T0 + 1000_000 + 10_000);
    const on = planKeys(keys, T0 + 1000_000 + 10_000, timing);
    expect(on?.signing.kid).toBe('b');
    expect(kids(on?.published ?? [])).toEqual(['a', 'b']);
    expect(on?.retire).toEqual([]);
  });

  it('the previous key stays published for the overlap after its successor signs, then retires', () => {
    const keys = [key('a', T0), key('b', T0 + 1000_000)];
    const signs = T0 + 1000_000 + 10_000;
    expect(kids(planKeys(keys, signs + 599_999, timing)?.published ?? [])).toEqual(['a', 'b']);
    const past = planKeys(keys, signs + 600_000, timing);
    expect(kids(past?.published ?? [])).toEqual(['b']);
    expect(kids(past?.retire ?? [])).toEqual(['a']);
  });

  it('two quick rotations: the middle key may never sign; all retire behind the one that signs', () => {
    const keys = [key('c', T0 + 2000), key('a', T0), key('b', T0 + 1000)];
    const p = planKeys(keys, T0 + 2000 + 10_000 + 600_000, timing);
    expect(p?.signing.kid).toBe('c');
    expect(kids(p?.retire ?? [])).toEqual(['a', 'b']);
    expect(kids(planKeys(keys, T0 + 2000 + 10_000, timing)?.published ?? [])).toEqual(['a', 'b', 'c']);
  });
});

describe('generateSigningKey', () => {
  it.each(['ES256', 'EdDSA', 'RS256'] as SigningAlg[])(
    '%s: a pair that signs and verifies, kid = thumbprint',
    async (alg) => {
      const k = await generateSigningKey(alg);
      expect(k.public_jwk).toMatchObject({ kid: k.kid, alg, use: 'sig' });
      for (const f of ['d', 'p', 'q']) expect(k.public_jwk).not.toHaveProperty(f);
      expect(k.private_jwk).toHaveProperty('d');
      const jwt = await new SignJWT({ sub: 'x' })
        .setProtectedHeader({ alg, kid: k.kid })
        .sign(await importJWK(k.private_jwk, alg));
      const jwks = createLocalJWKSet({ keys: [k.public_jwk] });
      expect((await jwtVerify(jwt, jwks)).payload.sub).toBe('x');
      if (alg !== 'RS256') expect((await generateSigningKey(alg)).kid).not.toBe(k.kid);
    },
  );
});

describe('signing keys in the store', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore('sqlite');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('creates the first key once, rotates when signing_alg changes, and shares one view across processes', async () => {
    const first = await ensureSigningKey(t.store, 'ES256', silentLogger);
    expect(first?.alg).toBe('ES256');
    expect(await ensureSigningKey(t.store, 'ES256', silentLogger)).toBeNull();

    const short = { activationDelayMs: 200, overlapMs: 400 };
    const one = new SigningKeys(t.store, 'ES256', short, silentLogger);
    const two = new SigningKeys(await t.reopen(), 'ES256', short, silentLogger);
    expect(await one.refresh()).toBe(true);
    await two.refresh();
    expect(one.state.signingKid).toBe(first?.kid);
    expect(one.state.privateJwks[0]).toHaveProperty('d');
    expect(one.state.jwks.keys[0]).not.toHaveProperty('d');

    const next = await ensureSigningKey(t.store, 'EdDSA', silentLogger);
    expect(next?.alg).toBe('EdDSA');
    const now = Date.now();
    expect(await two.refresh(now)).toBe(true);
    expect(two.state.signingKid).toBe(first?.kid);
    expect(two.state.publishedKids.split(' ')).toEqual([first?.kid, next?.kid]);
    expect(await two.refresh(now + 200)).toBe(true);
    expect(two.state).toMatchObject({ signingKid: next?.kid, signingAlg: 'EdDSA' });
    expect(two.state.jwks.keys.map((k) => k.kid)).toEqual([first?.kid, next?.kid]);
    // Past the overlap the first key retires, for every process.
    await two.refresh(now + 200 + 400);
    expect(two.state.jwks.keys.map((k) => k.kid)).toEqual([next?.kid]);
    expect((await t.store.signingKeys.get(first?.kid as string))?.status).toBe('retired');
    await one.refresh(now + 200 + 400);
    expect(one.state.publishedKids).toBe(next?.kid);
  });

  it('rotate(): published now, signing later; a hand-retired set heals with a fresh key', async () => {
    const keys = new SigningKeys(t.store, 'ES256', { activationDelayMs: 60_000, overlapMs: 60_000 }, silentLogger);
    await keys.refresh();
    const before = keys.state.signingKid;
    const { key: k, signsFrom } = await keys.rotate();
    expect(keys.state.signingKid).toBe(before);
    expect(keys.state.publishedKids.split(' ')).toContain(k.kid);
    expect(signsFrom.getTime()).toBe(Date.parse(k.created_at) + 60_000);

    for (const s of await t.store.signingKeys.list({ status: 'active' }))
      await t.store.signingKeys.setStatus(s.kid, 'retired');
    expect(await keys.refresh()).toBe(true);
    expect(keys.state.publishedKids.split(' ')).toHaveLength(1);
    expect(keys.state.signingKid).not.toBe(before);
    expect(keys.state.signingKid).not.toBe(k.kid);
  });
});
