import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '../crypto/index.js';
import { CREDENTIAL_MAC_PURPOSE } from '../services.js';
import { STORE_PURPOSE } from '../store/index.js';
import type { SqlStore } from '../store/sql-store.js';
import {
  CLIENT_SECRET_PREFIX,
  checkClientSecret,
  clientMetadata,
  newClientSecret,
  parseClientJwks,
  registerClient,
} from './clients.js';
import { ensureSigningKey, SigningKeys } from './keys.js';
import { buildProvider } from './provider.js';
import { openTestStore, silentLogger, type TestStore } from './test-support.js';

describe('client secrets are stored hashed and checked in constant time', () => {
  let t: TestStore;
  let consumerId: string;
  beforeAll(async () => {
    t = await openTestStore('sqlite');
    consumerId = (await t.store.consumers.create({ name: 'svc' })).id;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a secret is 256 random bits behind a scanner-friendly prefix', () => {
    const s = newClientSecret();
    expect(s).toMatch(/^rmcs_[0-9A-Za-z]{43}$/);
    expect(s.startsWith(CLIENT_SECRET_PREFIX)).toBe(true);
    expect(new Set(Array.from({ length: 50 }, newClientSecret)).size).toBe(50);
  });

  it('the store keeps a keyed hash only: no plaintext, no readable secret', async () => {
    const { client, secret } = await registerClient(t.store, t.keyring, { consumer_id: consumerId, scopes: ['read'] });
    expect(secret).toMatch(/^rmcs_/);
    expect(client).toMatchObject({ has_secret: false, grant_types: ['client_credentials'], scopes: ['read'] });
    expect(client.secret_hash).toMatch(/^v1\.[A-Za-z0-9_-]{43}$/);
    expect(await t.store.clients.getSecret(client.client_id)).toBeNull();
    const rows = await (t.store as SqlStore).db.selectFrom('oauth_clients').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(secret);
    expect(checkClientSecret(t.keyring, secret as string, client.secret_hash as string)).toBe(true);
    expect(checkClientSecret(t.keyring, `${secret}x`, client.secret_hash as string)).toBe(false);
    expect(checkClientSecret(t.keyring, '', client.secret_hash as string)).toBe(false);
    expect(checkClientSecret(t.keyring, secret as string, 'v9.unknown-version')).toBe(false);
  });

  it('the provider compares a presented secret against the hash, never the hash itself', async () => {
    const { client, secret } = await registerClient(t.store, t.keyring, { consumer_id: consumerId, scopes: [] });
    await ensureSigningKey(t.store, 'ES256', silentLogger);
    const keys = new SigningKeys(t.store, 'ES256', { activationDelayMs: 0, overlapMs: 60_000 }, silentLogger);
    await keys.refresh();
    const provider = buildProvider({
      settings: {
        issuer: 'http://127.0.0.1:1/oauth',
        audience: 'http://127.0.0.1:1',
        path: '/oauth',
        accessTokenTtlS: 300,
        signingAlg: 'ES256',
        overlapS: 3600,
      },
      store: t.store,
      keyring: t.keyring,
      logger: silentLogger,
      keys: () => keys.state,
    });
    const c = await provider.Client.find(client.client_id);
    expect(c).toBeDefined();
    expect(await c?.compareClientSecret(secret as string)).toBe(true);
    expect(await c?.compareClientSecret(client.secret_hash as string)).toBe(false);
    expect(
      await c?.compareClientSecret(`${(secret as string).slice(0, -1)}${(secret as string).endsWith('0') ? '1' : '0'}`),
    ).toBe(false);
  });

  it('the provider accepts a secret registered after another process rotated the credential-mac data key', async () => {
    // The CLI's own keyring on the same store: it rotates, then registers a client (its hash names version 2).
    const cli = await Keyring.open({
      source: t.master,
      state: t.store.keyState(),
      purposes: [STORE_PURPOSE, CREDENTIAL_MAC_PURPOSE],
    });
    await cli.rotateDataKey(CREDENTIAL_MAC_PURPOSE);
    const { client, secret } = await registerClient(t.store, cli, { consumer_id: consumerId, scopes: [] });
    expect(client.secret_hash).toMatch(/^v2\./);
    await ensureSigningKey(t.store, 'ES256', silentLogger);
    const keys = new SigningKeys(t.store, 'ES256', { activationDelayMs: 0, overlapMs: 60_000 }, silentLogger);
    await keys.refresh();
    const provider = buildProvider({
      settings: {
        issuer: 'http://127.0.0.1:1/oauth',
        audience: 'http://127.0.0.1:1',
        path: '/oauth',
        accessTokenTtlS: 300,
        signingAlg: 'ES256',
        overlapS: 3600,
      },
      store: t.store,
      keyring: t.keyring,
      logger: silentLogger,
      keys: () => keys.state,
    });
    const c = await provider.Client.find(client.client_id);
    expect(await c?.compareClientSecret(secret as string)).toBe(true);
    expect(
      await c?.compareClientSecret(`${(secret as string).slice(0, -1)}${(secret as string).endsWith('0') ? '1' : '0'}`),
    ).toBe(false);
  });

  it('a private_key_jwt client registers a public JWKS and gets no secret; private keys are refused', async () => {
    const pair = await generateKeyPair('EdDSA', { extractable: true });
    const pub = await exportJWK(pair.publicKey);
    const { client, secret } = await registerClient(t.store, t.keyring, {
      consumer_id: consumerId,
      scopes: ['read', 'write'],
      jwks: { keys: [pub] },
    });
    expect(secret).toBeNull();
    expect(client).toMatchObject({ secret_hash: null, jwks: { keys: [pub] } });
    expect(clientMetadata(client)).toMatchObject({
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [pub] },
    });
    expect(clientMetadata(client)).not.toHaveProperty('client_secret');

    await expect(parseClientJwks({ keys: [await exportJWK(pair.privateKey)] })).rejects.toThrow(/private key material/);
    await expect(parseClientJwks({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })).rejects.toThrow(/asymmetric/);
    await expect(parseClientJwks({ keys: [] })).rejects.toThrow(/1 to 10/);
    await expect(parseClientJwks({ keys: [{ kty: 'EC', crv: 'P-256', x: 'bad', y: 'bad' }] })).rejects.toThrow(
      /not a usable public key/,
    );
    await expect(
      registerClient(t.store, t.keyring, { consumer_id: consumerId, scopes: ['has space'] }),
    ).rejects.toThrow(/not a scope/);
  });
});
