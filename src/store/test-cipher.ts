import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { FieldCipher } from '../crypto/types.js';

/**
 * A small but real AES-256-GCM FieldCipher for the store tests, so they do not depend on the keyring; the keyring
 * replaces it in integration. Random keys per instance; `rotate()` adds a key so re-encryption can be tested.
 * Format: `t1.<key version>.<nonce b64>.<ciphertext b64>.<tag b64>`; purpose and aad are both bound in.
 */
export class TestCipher implements FieldCipher {
  private readonly keys: Buffer[] = [randomBytes(32)];

  rotate(): void {
    this.keys.push(randomBytes(32));
  }

  encrypt(purpose: string, plaintext: Buffer | string, aad: string): string {
    const version = this.keys.length;
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.keys[version - 1]!, nonce);
    c.setAAD(Buffer.from(`${purpose}\u0000${aad}`));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    return ['t1', version, nonce.toString('base64'), ct.toString('base64'), c.getAuthTag().toString('base64')].join(
      '.',
    );
  }

  decrypt(purpose: string, ciphertext: string, aad: string): Buffer {
    const [format, version, nonce, ct, tag] = ciphertext.split('.');
    const key = this.keys[Number(version) - 1];
    if (format !== 't1' || !key || nonce === undefined || ct === undefined || tag === undefined) {
      throw new Error('test cipher: unknown ciphertext format or key version');
    }
    // authTagLength: without it Node accepts truncated tags, which weakens the forgery bound.
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(nonce, 'base64'), { authTagLength: 16 });
    d.setAAD(Buffer.from(`${purpose}\u0000${aad}`));
    d.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(ct, 'base64')), d.final()]);
  }

  isStale(_purpose: string, ciphertext: string): boolean {
    return Number(ciphertext.split('.')[1]) !== this.keys.length;
  }
}
