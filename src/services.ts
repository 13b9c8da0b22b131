import { dirname, isAbsolute, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { EnvKeySource, ensureDemoMasterKey, FileKeySource, Keyring, type KeySource } from './crypto/index.js';
import { AUDIT_PURPOSE, CREDENTIAL_MAC_PURPOSE } from './crypto/purposes.js';
import { openStore, STORE_PURPOSE, type Store, type StoreConfig } from './store/index.js';

/** Durable services the gateway opens at start when the config asks for a store: the keyring and the store. */
export interface Services {
  store: Store;
  keyring: Keyring;
  /** Where the master key came from (rotation by `rampart keyring rotate --config`). */
  source: KeySource;
  close(): Promise<void>;
}

// Defined in a leaf module so policies can name it without loading the store drivers; re-exported for callers here.
export { CREDENTIAL_MAC_PURPOSE } from './crypto/purposes.js';

export class StartupError extends Error {
  override readonly name = 'StartupError';
}

export function dataDirOf(config: Config, configFile: string): string {
  return isAbsolute(config.data_dir) ? config.data_dir : resolve(dirname(resolve(configFile)), config.data_dir);
}

export function storeConfigOf(config: Config, configFile: string): StoreConfig | null {
  const s = config.store;
  if (!s) return null;
  if (s.kind === 'postgres') return { kind: 'postgres', url: s.url ?? '', ...(s.schema && { schema: s.schema }) };
  return { kind: 'sqlite', dataDir: dataDirOf(config, configFile) };
}

/**
 * Where the master key comes from. Production refuses to start without one; development generates one into a
 * 0600 file in the data directory and says so loudly, so the demo runs with no setup.
 */
async function keySource(config: Config, configFile: string, logger: Logger): Promise<KeySource> {
  const k = config.keyring;
  if (k?.master_key) return new EnvKeySource(k.master_key, 'keyring.master_key');
  if (k?.master_keys_file) {
    const f = k.master_keys_file;
    return FileKeySource.open(isAbsolute(f) ? f : resolve(dirname(resolve(configFile)), f));
  }
  if (config.environment === 'production') {
    throw new StartupError(
      'no master key: set keyring.master_key (${env:RAMPART_MASTER_KEY}) or keyring.master_keys_file (rampart keyring init); refusing to store secrets unencrypted',
    );
  }
  const demo = await ensureDemoMasterKey(dataDirOf(config, configFile));
  logger.warn(
    { path: demo.path, created: demo.created },
    demo.created
      ? 'DEVELOPMENT: generated a master key into a 0600 file; production refuses to start without a configured one'
      : 'DEVELOPMENT: using the generated master key file; production refuses to start without a configured one',
  );
  return FileKeySource.open(demo.path);
}

/** Opens (and migrates, unless store.migrate is false) the store, with the keyring on the store's key state. */
export async function openServices(config: Config, configFile: string, logger: Logger): Promise<Services | null> {
  const storeCfg = storeConfigOf(config, configFile);
  if (!storeCfg) return null;
  const source = await keySource(config, configFile, logger);
  let keyring: Keyring | null = null;
  const store = await openStore(
    storeCfg,
    async (state) => {
      keyring = await Keyring.open({ source, state, purposes: [STORE_PURPOSE, CREDENTIAL_MAC_PURPOSE, AUDIT_PURPOSE] });
      return keyring;
    },
    { migrate: config.store?.migrate ?? true },
  );
  const ring = keyring as Keyring | null;
  if (!ring) throw new StartupError('the store opened without its keyring');
  logger.info({ store: store.kind, schema_version: await store.schemaVersion() }, 'store open');
  return { store, keyring: ring, source, close: () => store.close() };
}

/**
 * Moves values still under an older data key to the newest one, in the background after start: a data-key
 * rotation then completes by itself (`rampart reencrypt` does the same on demand).
 */
export function reencryptInBackground(services: Services, logger: Logger): void {
  services.store.reencryptStale().then(
    (n) => {
      if (n) logger.info({ values: n }, 're-encrypted stale secrets under the newest data keys');
    },
    (e: unknown) => logger.error({ err: { message: (e as Error).message } }, 'background re-encryption failed'),
  );
}
