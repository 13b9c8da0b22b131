import { createHash, createPrivateKey, createPublicKey, hkdfSync, type KeyObject, sign, verify } from 'node:crypto';
import type { Keyring } from '../crypto/keyring.js';

export { AUDIT_PURPOSE } from '../crypto/purposes.js';

import { AUDIT_PURPOSE } from '../crypto/purposes.js';

/** PKCS#8 DER prefix of an Ed25519 private key: the 32-byte seed follows. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Signs checkpoints. The key is derived, never stored: HKDF-SHA256 over a keyed hash from the keyring's audit data key. */
export class AuditSigner {
  readonly publicKey: KeyObject;
  /** First 16 hex digits of SHA-256 over the raw public key: which key signed a record. */
  readonly keyId: string;

  constructor(private readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey);
    this.keyId = keyIdOf(this.publicKey);
  }

  static fromSeed(seed: Buffer): AuditSigner {
    if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
    return new AuditSigner(
      createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' }),
    );
  }

  /**
   * Deterministic from the keyring: every process of a node (workers, the CLI) derives the same key without a key file;
   * rotating the audit data key (`rampart keyring rotate-data-key audit`) changes it (export the new public key).
   */
  static fromKeyring(keyring: Keyring): AuditSigner {
    const ikm = keyring.mac(AUDIT_PURPOSE, 'rampart audit ed25519 signing seed v1');
    return AuditSigner.fromSeed(Buffer.from(hkdfSync('sha256', ikm, 'rampart-audit', 'ed25519-seed', 32)));
  }

  sign(message: Buffer): string {
    return sign(null, message, this.privateKey).toString('base64url');
  }

  publicKeyPem(): string {
    return this.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }
}

export function keyIdOf(pub: KeyObject): string {
  const raw = pub.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

export function verifySignature(pub: KeyObject, message: Buffer, sig: string): boolean {
  try {
    return verify(null, message, pub, Buffer.from(sig, 'base64url'));
  } catch {
    return false;
  }
}

export function publicKeyFromPem(pem: string): KeyObject {
  const k = createPublicKey(pem);
  if (k.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 public key');
  return k;
}
