import { describe, expect, it } from 'vitest';
import { createCa, createCrl } from './certs.js';
import { crlUpdateTimes } from './crl.js';

describe('crlUpdateTimes', () => {
  it('reads thisUpdate and nextUpdate from a PEM or DER CRL', async () => {
    const ca = await createCa();
    const notBefore = new Date('2030-01-02T03:04:05Z');
    const pem = await createCrl(ca, ['01', '02'], { notBefore, days: 7 });
    expect(crlUpdateTimes(Buffer.from(pem))).toEqual({
      thisUpdate: notBefore,
      nextUpdate: new Date('2030-01-09T03:04:05Z'),
    });
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    expect(crlUpdateTimes(der)?.thisUpdate).toEqual(notBefore);
  });

  it('returns null for what is not a CRL', () => {
    expect(crlUpdateTimes(Buffer.from('hello'))).toBeNull();
    expect(crlUpdateTimes(Buffer.from([0x30, 0x82, 0xff]))).toBeNull();
    expect(crlUpdateTimes(Buffer.alloc(0))).toBeNull();
  });
});
