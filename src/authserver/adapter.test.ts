import type Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../store/types.js';
import { storeAdapter } from './adapter.js';
import { registerClient } from './clients.js';
import { ensureSigningKey, SigningKeys } from './keys.js';
import { buildProvider } from './provider.js';
import type { AuthServerSettings } from './settings.js';
import { openTestStore, silentLogger, type TestStore } from './test-support.js';
import { tokenRecordActive } from './tokens.js';

const settings: AuthServerSettings = {
  issuer: 'http://127.0.0.1:1/oauth',
  audience: 'http://127.0.0.1:1',
  path: '/oauth',
  accessTokenTtlS: 300,
  signingAlg: 'ES256',
  overlapS: 3600,
};

/** A real provider on the store (one per worker or node in production). */
async function providerOn(t: TestStore, store: Store): Promise<Provider> {
  await ensureSigningKey(store, 'ES256', silentLogger);
  const keys = new SigningKeys(store, 'ES256', { activationDelayMs: 0, overlapMs: 3_600_000 }, silentLogger);
  await keys.refresh();
  return buildProvider({ settings, store, keyring: t.keyring, logger: silentLogger, keys: () => keys.state });
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`oidc-provider adapter on the ${kind} store`, () => {
    let t: TestStore;
    beforeAll(async () => {
      t = await openTestStore(kind);
    });
    afterAll(async () => {
      await t?.close();
    });
    const now = () => Math.floor(Date.now() / 1000);

    it('stores, finds, consumes and destroys a model; expired rows are not found', async () => {
      const at = storeAdapter(t.store)('AccessToken');
      const payload = { jti: 'at-1', kind: 'AccessToken', iat: now(), exp: now() + 60, grantId: 'g-1', uid: 'u-1' };
      await at.upsert('at-1', payload, 60);
      expect(await at.find('at-1')).toEqual(payload);
      expect(await at.findByUid('u-1')).toEqual(payload);
      // Models are separate namespaces.
      expect(await storeAdapter(t.store)('RefreshToken').find('at-1')).toBeUndefined();
      await at.consume('at-1');
      expect(await at.find('at-1')).toMatchObject({ jti: 'at-1', consumed: expect.any(Number) });
      await at.destroy('at-1');
      expect(await at.find('at-1')).toBeUndefined();

      await t.store.oauthPayloads.upsert({
        model: 'AccessToken',
        id: 'at-old',
        payload: { jti: 'at-old' },
        expires_at: new Date(Date.now() - 1000),
      });
      expect(await at.find('at-old')).toBeUndefined();
      expect(await t.store.oauthPayloads.deleteExpired()).toBeGreaterThanOrEqual(1);
    });

    it('finds by user code and revokes a whole grant across models', async () => {
      const dc = storeAdapter(t.store)('DeviceCode');
      await dc.upsert('dc-1', { jti: 'dc-1', userCode: 'ABCD-EFGH', grantId: 'g-2' }, 60);
      expect(await dc.findByUserCode('ABCD-EFGH')).toMatchObject({ jti: 'dc-1' });
      const rt = storeAdapter(t.store)('RefreshToken');
      await rt.upsert('rt-1', { jti: 'rt-1', grantId: 'g-2' }, 60);
      await rt.revokeByGrantId('g-2');
      expect(await dc.find('dc-1')).toBeUndefined();
      expect(await rt.find('rt-1')).toBeUndefined();
    });

    it('replay detection: the provider accepts a client assertion jti once, across providers at once', async () => {
      const p1 = await providerOn(t, t.store);
      const p2 = await providerOn(t, await t.reopen());
      const exp = now() + 60;
      expect(await p1.ReplayDetection.unique('client-a', 'jti-1', exp)).toBe(true);
      expect(await p1.ReplayDetection.unique('client-a', 'jti-1', exp)).toBe(false);
      expect(await p2.ReplayDetection.unique('client-a', 'jti-1', exp)).toBe(false);
      // Another issuer's jti of the same value is another assertion.
      expect(await p2.ReplayDetection.unique('client-b', 'jti-1', exp)).toBe(true);

      const race = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 ? p1 : p2).ReplayDetection.unique('client-a', 'jti-race', exp)),
      );
      expect(race.filter(Boolean)).toHaveLength(1);
    });

    it('maps oauth_clients to client metadata; a disabled consumer or a client without the grant has none', async () => {
      const consumer = await t.store.consumers.create({ name: `svc-${kind}` });
      const { client } = await registerClient(t.store, t.keyring, { consumer_id: consumer.id, scopes: ['read'] });
      const clients = storeAdapter(t.store)('Client');
      expect(await clients.find(client.client_id)).toMatchObject({
        client_id: client.client_id,
        client_secret: client.secret_hash,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        rampart_scopes: ['read'],
      });
      await t.store.clients.update(client.client_id, { grant_types: ['authorization_code'] });
      expect(await clients.find(client.client_id)).toBeUndefined();
      await t.store.clients.update(client.client_id, { grant_types: ['client_credentials'] });
      await t.store.consumers.update(consumer.id, { status: 'disabled' });
      expect(await clients.find(client.client_id)).toBeUndefined();
      expect(await clients.find('rmc_unknown')).toBeUndefined();
      await expect(clients.upsert('x', {})).rejects.toThrow(/rampart clients/);
    });

    it('a token stops being active when its client is deleted or its consumer disabled, not only when revoked', async () => {
      const consumer = await t.store.consumers.create({ name: `holder-${kind}` });
      const { client } = await registerClient(t.store, t.keyring, { consumer_id: consumer.id, scopes: ['read'] });
      const tokens = storeAdapter(t.store)('ClientCredentials');
      const record = (jti: string, clientId = client.client_id) =>
        tokens.upsert(jti, { jti, kind: 'ClientCredentials', clientId, iat: now(), exp: now() + 60 }, 60);
      await record('cc-1');
      expect(await tokenRecordActive(t.store, 'cc-1')).toBe(true);
      await t.store.consumers.update(consumer.id, { status: 'disabled' });
      expect(await tokenRecordActive(t.store, 'cc-1')).toBe(false);
      await t.store.consumers.update(consumer.id, { status: 'active' });
      expect(await tokenRecordActive(t.store, 'cc-1')).toBe(true);
      await t.store.clients.delete(client.client_id);
      expect(await tokenRecordActive(t.store, 'cc-1')).toBe(false);
      await record('cc-2', 'rmc_never_registered');
      expect(await tokenRecordActive(t.store, 'cc-2')).toBe(false);
      await tokens.destroy('cc-1');
      expect(await tokenRecordActive(t.store, 'cc-1')).toBe(false);
    });
  });
}
