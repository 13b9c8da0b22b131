/** The keyring's public API: callers use FieldCipher; the rest is for wiring it up and for the CLI. */
export type { DemoMasterKey } from './demo-key.js';
export { ensureDemoMasterKey } from './demo-key.js';
export { EnvKeySource } from './env-key-source.js';
export { KeyringError, type KeyringErrorCode } from './errors.js';
export { createKeyFile, FileKeySource, type KeyFile } from './file-key-source.js';
export { FileKeyState } from './key-state-file.js';
export {
  type DataKeyRotation,
  Keyring,
  type KeyringOptions,
  type KeyringStatus,
  type MasterRewrap,
} from './keyring.js';
export {
  aadFor,
  type FieldCipher,
  type KeySource,
  type KeyStateStore,
  type MasterKey,
  type WrappedDataKey,
} from './types.js';
