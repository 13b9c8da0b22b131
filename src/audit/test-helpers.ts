import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvKeySource, FileKeyState, Keyring } from '../crypto/index.js';
import { AuditLog } from './log.js';
import { type AuditConfig, auditSchema } from './schema.js';
import { AUDIT_PURPOSE, AuditSigner } from './signer.js';
import type { AuditEvent } from './types.js';

/** A real keyring on a temporary key-state file (the audit log's tests need one for archives). */
export async function tempKeyring(dir: string): Promise<Keyring> {
  return Keyring.open({
    source: new EnvKeySource(randomBytes(32).toString('base64')),
    state: new FileKeyState(join(dir, 'keys.json')),
    purposes: [AUDIT_PURPOSE],
  });
}

export async function tempDir(prefix = 'rampart-audit-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export function auditConfig(over: Record<string, unknown> = {}): AuditConfig {
  return auditSchema.parse(over);
}

export async function openTestLog(
  dir: string,
  signer: AuditSigner,
  over: Record<string, unknown> = {},
  keyring: Keyring | null = null,
): Promise<AuditLog> {
  return AuditLog.open({ dir, chain: 'main', node: 'test', signer, keyring, config: auditConfig(over) });
}

export function testSigner(): AuditSigner {
  return AuditSigner.fromSeed(randomBytes(32));
}

export function requestEvent(i: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    time: new Date().toISOString(),
    kind: 'request',
    type: 'request',
    request_id: `req-${i}`,
    method: 'GET',
    path: `/items/${i}`,
    status: 200,
    ...over,
  };
}
