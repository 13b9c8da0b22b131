import { compactDecrypt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { instantiate, makeCtx, runPhase, withResponse } from '../../../test/unit-helpers.js';
import type { RequestContext } from '../../core/context.js';
import type { GatewayError } from '../../core/errors.js';
import def, { algorithmFor } from './policy.js';
import { schema } from './schema.js';

function answer(body: unknown, attributes: Record<string, unknown> | null): RequestContext {
  const ctx = withResponse(makeCtx({ url: '/me' }), 200, { 'content-type': 'application/json' });
  ctx.route = { name: 'me', upstream: 'app', public: false };
  if (attributes) {
    ctx.identity = {
      kind: 'api-key',
      consumerId: 'c1',
      subject: 'alice',
      credentialId: 'k1',
      roles: [],
      scopes: [],
      attributes,
      claims: null,
      clientId: null,
      expiresAt: null,
    };
  }
  (ctx.response as { body: unknown }).body = Buffer.from(JSON.stringify(body));
  return ctx;
}
const json = (ctx: RequestContext) =>
  // biome-ignore lint/suspicious/noExplicitAny: nested JSON read in assertions
  JSON.parse(String((ctx.response as { body: Buffer }).body)) as Record<string, any>;

const account = {
  id: 'a1',
  card: { number: '4111111111111111', brand: 'visa' },
  items: [{ ssn: '536-90-4399' }, { ssn: 7 }],
};

describe('field-encryption schema', () => {
  it('needs fields with valid paths', () => {
    expect(schema.safeParse({}).success).toBe(false);
    expect(schema.safeParse({ fields: ['card'] }).success).toBe(false);
    expect(schema.parse({ fields: ['$.card.number'] })).toEqual({
      fields: ['$.card.number'],
      key_attribute: 'encryption_jwk',
      on_missing_key: 'block',
    });
  });
});

describe('field-encryption', () => {
  it.each([
    ['EC P-256', 'ES256', 'ECDH-ES+A256KW'],
    ['X25519', 'X25519', 'ECDH-ES+A256KW'],
    ['RSA 2048', 'RS256', 'RSA-OAEP-256'],
  ])(
    'encrypts chosen fields for the caller (%s); the client decrypts them with its private key',
    async (_n, genAlg, alg) => {
      const { publicKey, privateKey } = await generateKeyPair(genAlg === 'RS256' ? 'RSA-OAEP-256' : 'ECDH-ES+A256KW', {
        extractable: true,
        ...(genAlg === 'X25519' && { crv: 'X25519' }),
      });
      if (genAlg === 'X25519') expect(await exportJWK(publicKey)).toMatchObject({ kty: 'OKP', crv: 'X25519' });
      const jwk = { ...(await exportJWK(publicKey)), kid: 'client-1' };
      // Registered as a consumer attribute, as `rampart consumers update --attr encryption_jwk=<json>` stores it.
      const ctx = answer(account, { encryption_jwk: JSON.stringify(jwk) });
      const p = instantiate(def, { fields: ['$.card.number', '$.items[*].ssn'] });
      expect(await runPhase(p, 'response', ctx)).toBeUndefined();
      const out = json(ctx);
      expect(out.id).toBe('a1');
      expect(out.card.brand).toBe('visa');
      expect(out.card.number).toMatch(/^[\w-]+\.[\w-]*\.[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(JSON.stringify(out)).not.toContain('4111111111111111');
      expect(decodeProtectedHeader(out.card.number)).toMatchObject({
        alg,
        enc: 'A256GCM',
        cty: 'json',
        kid: 'client-1',
      });
      const dec = async (jwe: string) =>
        JSON.parse(new TextDecoder().decode((await compactDecrypt(jwe, privateKey)).plaintext)) as unknown;
      expect(await dec(out.card.number)).toBe('4111111111111111');
      expect(await dec(out.items[0].ssn)).toBe('536-90-4399');
      expect(await dec(out.items[1].ssn)).toBe(7);
    },
  );

  it('accepts the JWK as an object attribute', async () => {
    const { publicKey } = await generateKeyPair('ECDH-ES+A256KW', { extractable: true });
    const ctx = answer(account, { encryption_jwk: await exportJWK(publicKey) });
    await runPhase(instantiate(def, { fields: ['$.card.number'] }), 'response', ctx);
    expect(json(ctx).card.number).toMatch(/^eyJ/);
  });

  it('never sends the field in clear to a caller without a usable key: block, or remove', async () => {
    const p = instantiate(def, { fields: ['$.card.number', '$.items[*].ssn'] });
    const none = answer(account, {});
    const err = (await runPhase(p, 'response', none)) as GatewayError;
    expect(err.code).toBe('FIELD_ENCRYPTION_UNAVAILABLE');
    expect(err.status).toBe(502);
    expect(none.securityEvents?.[0]).toMatchObject({ type: 'response.blocked', rule: 'no_key' });

    const { privateKey } = await generateKeyPair('ECDH-ES+A256KW', { extractable: true });
    const privateJwk = await answer(account, { encryption_jwk: await exportJWK(privateKey) });
    expect(((await runPhase(p, 'response', privateJwk)) as GatewayError).code).toBe('FIELD_ENCRYPTION_UNAVAILABLE');
    const anonymous = answer(account, null);
    expect(((await runPhase(p, 'response', anonymous)) as GatewayError).code).toBe('FIELD_ENCRYPTION_UNAVAILABLE');

    const removed = answer(account, { encryption_jwk: 'not json' });
    await runPhase(
      instantiate(def, { fields: ['$.card.number', '$.items[*].ssn'], on_missing_key: 'remove' }),
      'response',
      removed,
    );
    expect(json(removed)).toEqual({ id: 'a1', card: { brand: 'visa' }, items: [{}, {}] });
  });

  it('leaves answers without the fields untouched', async () => {
    const ctx = answer({ id: 'x' }, {});
    const before = ctx.response?.body;
    expect(await runPhase(instantiate(def, { fields: ['$.card.number'] }), 'response', ctx)).toBeUndefined();
    expect(ctx.response?.body).toBe(before);
  });

  it('asks the upstream for an unencoded body, and refuses an encoded one it cannot read', async () => {
    const p = instantiate(def, { fields: ['$.card.number'] });
    const req = makeCtx();
    req.upstreamHeaders = { 'accept-encoding': 'gzip' };
    await runPhase(p, 'request', req);
    expect(req.upstreamHeaders['accept-encoding']).toBeUndefined();
    const gz = answer(account, {});
    (gz.response as { headers: Record<string, string> }).headers['content-encoding'] = 'gzip';
    expect(((await runPhase(p, 'response', gz)) as GatewayError).code).toBe('FIELD_ENCRYPTION_UNAVAILABLE');
  });

  it('accepts only public encryption keys of sound types', () => {
    expect(algorithmFor({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' })).toBe('ECDH-ES+A256KW');
    expect(algorithmFor({ kty: 'OKP', crv: 'X25519', x: 'a' })).toBe('ECDH-ES+A256KW');
    expect(algorithmFor({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'c' })).toBeNull();
    expect(algorithmFor({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', use: 'sig' })).toBeNull();
    expect(algorithmFor({ kty: 'oct', k: 'abc' })).toBeNull();
    expect(algorithmFor({ kty: 'RSA', n: Buffer.alloc(128).toString('base64url'), e: 'AQAB' })).toBeNull();
  });
});
