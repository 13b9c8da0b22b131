/**
 * Demo identities for `npm start`: consumers with API keys and an OAuth client of the built-in authorization
 * server, in the gateway's own store. Credentials are new on every start and the previous ones are deleted, so no
 * usable secret outlives the run it was printed for (the store only ever holds keyed hashes).
 */
import { registerClient } from '../src/authserver/clients.js';
import { loadConfigFile } from '../src/config/load.js';
import type { Keyring } from '../src/crypto/keyring.js';
import { generateApiKey } from '../src/identity/api-key.js';
import { createLogger } from '../src/observability/logger.js';
import { CREDENTIAL_MAC_PURPOSE, openServices } from '../src/services.js';
import type { Store } from '../src/store/types.js';
import { createSeedData } from './demo-api/data.js';

export interface DemoCredentials {
  /** API keys by consumer name. */
  apiKeys: Record<string, string>;
  client: { id: string; secret: string };
}

/**
 * Who the demo knows: alice and bob own demo-api users u_1001 and u_1002 and their accounts (object-access binds
 * ids in requests to these attributes); ops may use the admin area and see every object.
 */
export const DEMO_CONSUMERS = [
  { name: 'alice', groups: ['customer'], attributes: { user_id: 'u_1001', accounts: ['acc_2001', 'acc_2002'] } },
  { name: 'bob', groups: ['customer'], attributes: { user_id: 'u_1002', accounts: ['acc_2003'] } },
  { name: 'ops', groups: ['admin'], attributes: {} },
] as const;
const CLIENT = { id: 'reports-service', consumer: 'reports', scopes: ['orders:read'] };

export async function seedDemo(configFile: string, env: NodeJS.ProcessEnv = process.env): Promise<DemoCredentials> {
  const { config, file } = loadConfigFile(configFile, env);
  const logger = createLogger('warn');
  const services = await openServices(config, file, logger);
  if (!services) throw new Error(`${configFile} has no store: the demo keeps its consumers there`);
  const { store, keyring } = services;
  try {
    const apiKeys = await seedConsumers(store, keyring);
    const owner = await ensureConsumer(store, CLIENT.consumer, ['service'], {});
    await store.clients.delete(CLIENT.id);
    const { secret } = await registerClient(store, keyring, {
      consumer_id: owner.id,
      scopes: CLIENT.scopes,
      client_id: CLIENT.id,
    });
    return { apiKeys, client: { id: CLIENT.id, secret: secret as string } };
  } finally {
    await services.close();
  }
}

/**
 * The demo consumers with one fresh API key each (their older keys deleted); returns the keys by consumer name.
 * Also records who owns the demo API's seeded orders: object-access learns the owner of an order created through
 * the gateway by itself, but these exist upstream from the start, so their ownership is imported, as an operator
 * would for objects that predate the gateway.
 */
export async function seedConsumers(store: Store, keyring: Keyring): Promise<Record<string, string>> {
  const apiKeys: Record<string, string> = {};
  const orders = createSeedData().orders;
  for (const c of DEMO_CONSUMERS) {
    const consumer = await ensureConsumer(store, c.name, [...c.groups], structuredClone(c.attributes));
    for (const old of await store.credentials.list({ consumer_id: consumer.id, kind: 'api-key' }))
      await store.credentials.delete(old.id);
    const { key, keyId } = generateApiKey();
    await store.credentials.create({
      consumer_id: consumer.id,
      kind: 'api-key',
      key_id: keyId,
      secret_hash: keyring.mac(CREDENTIAL_MAC_PURPOSE, key),
    });
    apiKeys[c.name] = key;
    const userId = (c.attributes as { user_id?: string }).user_id;
    for (const o of orders)
      if (o.user_id === userId)
        await store.ownership.upsert({ resource_type: 'order', resource_id: o.id, owner_id: consumer.id });
  }
  return apiKeys;
}

async function ensureConsumer(store: Store, name: string, groups: string[], attributes: Record<string, unknown>) {
  const found = await store.consumers.getByName(name);
  if (!found) return store.consumers.create({ name, groups, attributes });
  return (await store.consumers.update(found.id, { groups, attributes, status: 'active' })) ?? found;
}
