import { beforeAll, describe, expect, it } from 'vitest';
import { makePki, type Pki } from '../../test/tls-helpers.js';
import { ConfigError, formatIssue, parseConfig } from '../config/load.js';
import { createCrl } from './certs.js';
import { MODERN_CIPHERS } from './ciphers.js';

let pki: Pki;

beforeAll(async () => {
  pki = await makePki();
  await pki.leaf('site', { commonName: 'site', altNames: ['site.test'] });
});

/** Every issue of a config, formatted as `rampart validate` prints them; paths relative to the PKI folder. */
function issues(yaml: string): string[] {
  try {
    return parseConfig(yaml, 'c.yaml', pki.dir, {}).warnings.map(formatIssue);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map(formatIssue);
    throw e;
  }
}

const listener = (tls: string) => `listeners:\n  - port: 8443\n    tls:\n${tls}`;

describe('listener tls at load', () => {
  it('resolves paths from the config folder and fills the defaults', () => {
    const loaded = parseConfig(
      listener('      certificates:\n        - { cert_file: site.pem, key_file: site-key.pem }\n'),
      'c.yaml',
      pki.dir,
      {},
    );
    const tls = loaded.config.listeners[0]?.tls;
    expect(tls?.certificates[0]?.cert_file).toBe(`${pki.dir}/site.pem`);
    expect(tls?.certificates[0]?.key_file).toBe(`${pki.dir}/site-key.pem`);
    expect(tls?.min_version).toBe('TLSv1.2');
    expect(tls?.http2).toBe(true);
    expect(tls?.ciphers).toBeUndefined();
    expect(MODERN_CIPHERS).toMatch(/^TLS_AES_128_GCM_SHA256:.*ECDHE-ECDSA-AES128-GCM-SHA256/);
    // AEAD only: no CBC (its suites end in SHA or SHA256/384 without GCM/POLY1305), RC4, 3DES.
    for (const c of MODERN_CIPHERS.split(':')) expect(c).toMatch(/GCM|CHACHA20_POLY1305|CHACHA20-POLY1305/);
    expect(loaded.warnings).toEqual([]);
  });

  it('points at the field of each bad file, all in one run', async () => {
    const other = await pki.leaf('other', { commonName: 'other', altNames: ['other.test'] });
    const text = listener(
      [
        '      certificates:',
        '        - cert_file: missing.pem', // 5
        '          key_file: site-key.pem',
        '        - cert_file: other.pem', // 7
        '          key_file: site-key.pem', // 8
        '      client_auth:',
        '        mode: require',
        '        ca_file: site-key.pem', // 11
        '',
      ].join('\n'),
    );
    expect(issues(text)).toEqual([
      `c.yaml:5:22 error listeners[0].tls.certificates[0].cert_file: cannot read ${pki.dir}/missing.pem: no such file`,
      `c.yaml:8:21 error listeners[0].tls.certificates[1].key_file: the key in ${pki.dir}/site-key.pem does not match the certificate in ${other.certFile} (CN=other)`,
      `c.yaml:11:18 error listeners[0].tls.client_auth.ca_file: ${pki.dir}/site-key.pem holds no PEM certificate`,
    ]);
  });

  it('reports a cipher list OpenSSL refuses once, at the field', () => {
    const text = listener(
      `      ciphers: "RC4-MD5"\n      certificates:\n        - { cert_file: site.pem, key_file: site-key.pem }\n        - { cert_file: site.pem, key_file: site-key.pem, hosts: [b.test] }\n`,
    );
    expect(issues(text)).toEqual([
      'c.yaml:4:16 warning listeners[0].tls.ciphers: no TLS 1.3 suite (TLS_AES_128_GCM_SHA256 ...) in the list: TLS 1.3 is off',
      expect.stringMatching(/^c\.yaml:4:16 error listeners\[0\]\.tls\.ciphers: no usable cipher in "RC4-MD5"/),
    ]);
  });

  it('warns about a certificate close to expiry, an unreachable one, a missing staple and an out-of-date CRL', async () => {
    const soon = await pki.leaf('soon', { commonName: 'soon', altNames: ['soon.test'], days: 5 });
    await pki.leaf('bare', { commonName: 'bare' });
    pki.write('old-crl.pem', await createCrl(pki.ca, [], { notBefore: new Date('2020-01-01T00:00:00Z'), days: 1 }));
    const text = listener(
      [
        '      certificates:',
        `        - { cert_file: ${soon.certFile}, key_file: soon-key.pem }`, // 5
        '        - { cert_file: bare.pem, key_file: bare-key.pem }', // 6
        '        - { cert_file: site.pem, key_file: site-key.pem, ocsp_staple_file: site.ocsp }', // 7
        '      client_auth: { mode: request, ca_file: ca.pem, crl_file: old-crl.pem }', // 8
        '',
      ].join('\n'),
    );
    const out = issues(text);
    expect(out).toEqual([
      expect.stringMatching(
        /^c\.yaml:5:24 warning listeners\[0\]\.tls\.certificates\[0\]\.cert_file: the certificate in .*soon\.pem \(CN=soon\) expires in 4 day\(s\)/,
      ),
      'c.yaml:6:11 warning listeners[0].tls.certificates[1]: no hosts given and the certificate names no DNS host: SNI never selects it (only the first is the default)',
      `c.yaml:7:76 warning listeners[0].tls.certificates[2].ocsp_staple_file: ${pki.dir}/site.ocsp does not exist (yet): no OCSP staple until it appears`,
      `c.yaml:8:64 warning listeners[0].tls.client_auth.crl_file: the CRL in ${pki.dir}/old-crl.pem is out of date (next update was 2020-01-02T00:00:00.000Z): every client certificate will be refused until it is renewed`,
    ]);
  });

  it('refuses unknown fields, a bad min_version and redirect_to_https next to tls', () => {
    const text = listener(
      '      min_version: TLSv1.1\n      certificate: []\n      certificates:\n        - { cert_file: site.pem, key_file: site-key.pem }\n    redirect_to_https: { port: 443 }\n',
    );
    expect(issues(text)).toEqual([
      'c.yaml:4:20 error listeners[0].tls.min_version: "TLSv1.1" is not one of: TLSv1.2, TLSv1.3 (did you mean "TLSv1.2"?)',
      'c.yaml:5:7 error listeners[0].tls.certificate: unknown field "certificate" (did you mean "certificates"?)',
      'c.yaml:8:24 error listeners[0].redirect_to_https: a redirect listener is plain HTTP: use tls or redirect_to_https, not both',
    ]);
  });
});
