import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Store } from '../store/types.js';
import { AuthServer, type AuthServerTuning } from './auth-server.js';
import { authServerSettings } from './settings.js';

export { AuthServer, type AuthServerTuning, DEFAULT_TUNING } from './auth-server.js';
export { checkClientSecret, hashClientSecret, parseClientJwks, registerClient } from './clients.js';
export { createSigningKey, ensureSigningKey } from './keys.js';
export { type AuthServerSettings, authServerSettings } from './settings.js';

/**
 * Starts the built-in authorization server when the config enables it (the runtime, once per process, with the
 * store and keyring it opened); null otherwise.
 */
export async function startAuthServer(
  config: Config,
  services: { store: Store; keyring: Keyring } | null,
  logger: Logger,
  tuning?: Partial<AuthServerTuning>,
): Promise<AuthServer | null> {
  const settings = authServerSettings(config);
  if (!settings) return null;
  // The config schema already refuses auth_server without store; this guards programmatic use.
  if (!services) throw new Error('auth_server needs the store (add `store:`)');
  return AuthServer.start({ settings, store: services.store, keyring: services.keyring, logger, tuning });
}
