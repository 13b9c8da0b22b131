import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Keyring } from '../crypto/keyring.js';
import { dataDirOf } from '../services.js';
import { AuditLog } from './log.js';
import { auditMetrics } from './metrics.js';
import { type AuditConfig, auditSchema } from './schema.js';
import { AuditSigner } from './signer.js';
import type { AuditEvent } from './types.js';

/** The audit folder of a config: `audit.dir` relative to data_dir. */
export function auditDirOf(config: Config, configFile: string): string {
  const dir = config.audit?.dir ?? 'audit';
  return isAbsolute(dir) ? dir : resolve(dataDirOf(config, configFile), dir);
}

export function auditConfigOf(config: Config): AuditConfig {
  return config.audit ?? auditSchema.parse({});
}

/** The public key file written next to the chains, for `audit verify` on this machine (export it for third parties). */
export const PUBKEY_FILE = 'audit-public-key.pem';

/**
 * Opens the process's chain when `audit.enabled`: null when the config has no `audit:` block. The signing key comes
 * from the keyring, so audit needs `store:`.
 */
export async function openAudit(
  config: Config,
  configFile: string,
  keyring: Keyring | null,
  chain: string,
  logger: Logger,
  lockWaitMs = 0,
): Promise<AuditLog | null> {
  if (!config.audit?.enabled) return null;
  if (!keyring)
    throw new Error('audit: needs the keyring (add `store: {}`): its checkpoints are signed with a keyring key');
  const dir = auditDirOf(config, configFile);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const signer = AuditSigner.fromKeyring(keyring);
  await writeFile(join(dir, PUBKEY_FILE), signer.publicKeyPem(), { mode: 0o644 });
  const log = await AuditLog.open({
    dir,
    chain,
    node: config.audit.node_id ?? hostname(),
    signer,
    keyring,
    config: config.audit,
    logger: logger.child({ component: 'audit', chain }),
    lockWaitMs,
    ...(config.metrics.enabled && chain !== 'cli' && { metrics: auditMetrics() }),
  });
  logger.info({ dir, chain, durability: config.audit.durability, key_id: signer.keyId }, 'audit log open');
  return log;
}

/** SHA-256 of a file's bytes (a config's before/after digest), or "" when unreadable. */
export function fileDigest(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return '';
  }
}

/** The change event of a config load (trigger "start") or reload: digests of the file before and after, never its content. */
export function configReloadEvent(
  node: string | undefined,
  before: string,
  after: string,
  trigger: string,
  ok: boolean,
): AuditEvent {
  return {
    time: new Date().toISOString(),
    kind: 'change',
    type: trigger === 'start' ? 'config.load' : ok ? 'config.reload' : 'config.reload_rejected',
    ...(node && { node }),
    actor: { operator: trigger },
    change: {
      target: 'config',
      action: trigger === 'start' ? 'load' : 'reload',
      ...(before && { before_digest: before }),
      ...(after && { after_digest: after }),
    },
    severity: ok ? 'info' : 'medium',
  };
}
