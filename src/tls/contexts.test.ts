import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { makePki, type Pki } from '../../test/tls-helpers.js';
import type { ListenerTlsConfig } from '../config/schema.js';
import { MODERN_CIPHERS } from './ciphers.js';
import { buildTlsState, filesDigest, TlsBuildError, tlsFiles } from './contexts.js';

let pki: Pki;
type Files = { certFile: string; keyFile: string };
let def: Files;
let api: Files;
let wild: Files;
let bare: Files;

const cfg = (certificates: ListenerTlsConfig['certificates'], extra: Partial<ListenerTlsConfig> = {}) =>
  ({ certificates, min_version: 'TLSv1.2', http2: true, ...extra }) as ListenerTlsConfig;
const entry = (f: Files, hosts?: string[]) => ({ cert_file: f.certFile, key_file: f.keyFile, hosts });
const cn = (e: { pair: { leaf: X509Certificate } }) => e.pair.leaf.subject;

beforeAll(async () => {
  pki = await makePki();
  def = await pki.leaf('default', { commonName: 'default', altNames: ['default.test', '127.0.0.1'] });
  api = await pki.leaf('api', { commonName: 'api', altNames: ['api.test'] });
  wild = await pki.leaf('wild', { commonName: 'wild', altNames: ['*.apps.test', 'apps.test'] });
  bare = await pki.leaf('bare', { commonName: 'bare' });
});

describe('buildTlsState: SNI selection', () => {
  it("selects by the certificates' DNS names, wildcards one label deep, else the first", () => {
    const s = buildTlsState(cfg([entry(def), entry(api), entry(wild)]), 'public');
    expect(cn(s.select('api.test'))).toBe('CN=api');
    expect(cn(s.select('API.TEST.'))).toBe('CN=api');
    expect(cn(s.select('x.apps.test'))).toBe('CN=wild');
    expect(cn(s.select('apps.test'))).toBe('CN=wild');
    expect(cn(s.select('a.b.apps.test'))).toBe('CN=default');
    expect(cn(s.select('unknown.test'))).toBe('CN=default');
    expect(cn(s.select(undefined))).toBe('CN=default');
    expect(cn(s.select('default.test'))).toBe('CN=default');
  });

  it('uses hosts instead of the DNS names when given; the first certificate claiming a name wins', () => {
    const s = buildTlsState(
      cfg([entry(def), entry(api, ['Other.Test']), entry(bare, ['api.test', 'other.test'])]),
      'l',
    );
    expect(cn(s.select('other.test'))).toBe('CN=api');
    // hosts replaced the certificate's own name, so the later certificate claiming it gets it.
    expect(cn(s.select('api.test'))).toBe('CN=bare');
    // IP addresses never come in SNI (RFC 6066 3): only DNS names are keys.
    expect([...s.byHost.keys()].sort()).toEqual(['api.test', 'default.test', 'other.test']);
  });

  it('shares protocol floor, ciphers, client CA and CRL across every context', async () => {
    const crl = await pki.crl([]);
    const s = buildTlsState(
      cfg([entry(def), entry(api)], {
        min_version: 'TLSv1.3',
        client_auth: { mode: 'require', ca_file: `${pki.dir}/ca.pem`, crl_file: crl },
      }),
      'l',
    );
    for (const e of s.entries) {
      expect(e.options.minVersion).toBe('TLSv1.3');
      expect(e.options.ciphers).toBe(MODERN_CIPHERS);
      expect(e.options.honorCipherOrder).toBe(true);
      expect(Buffer.isBuffer(e.options.ca)).toBe(true);
      expect(Buffer.isBuffer(e.options.crl)).toBe(true);
      expect(e.options.sessionIdContext).toMatch(/^[0-9a-f]{32}$/);
    }
  });
});

describe('buildTlsState: refusals', () => {
  const fails = (c: ListenerTlsConfig, now?: number) => {
    try {
      buildTlsState(c, 'l', now);
    } catch (e) {
      if (e instanceof TlsBuildError) return e.message;
      throw e;
    }
    return 'built';
  };

  it('names the field whose file is wrong', () => {
    expect(fails(cfg([entry(def), { cert_file: api.certFile, key_file: def.keyFile }]))).toMatch(
      /^certificates\[1\]\.key_file: the key in .*default-key\.pem does not match the certificate in .*api\.pem \(CN=api\)$/,
    );
    expect(fails(cfg([{ cert_file: `${pki.dir}/none.pem`, key_file: def.keyFile }]))).toMatch(
      /^certificates\[0\]\.cert_file: cannot read .*none\.pem: no such file$/,
    );
    expect(fails(cfg([{ cert_file: def.keyFile, key_file: def.keyFile }]))).toMatch(
      /^certificates\[0\]\.cert_file: .* holds no PEM certificate/,
    );
    expect(fails(cfg([{ cert_file: def.certFile, key_file: def.certFile }]))).toMatch(
      /^certificates\[0\]\.key_file: .* holds no PEM private key$/,
    );
  });

  it('refuses an expired or not yet valid certificate', () => {
    const after = Date.now() + 200 * 86_400_000;
    expect(fails(cfg([entry(def)]), after)).toMatch(/^certificates\[0\]\.cert_file: .* \(CN=default\) expired on /);
    const before = Date.now() - 2 * 86_400_000;
    expect(fails(cfg([entry(def)]), before)).toMatch(/is not valid before/);
  });

  it('refuses an encrypted key with a hint', () => {
    const enc = pki.write(
      'enc-key.pem',
      '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAiWM0sPdU0yZgICCAAw\n-----END ENCRYPTED PRIVATE KEY-----\n',
    );
    expect(fails(cfg([{ cert_file: def.certFile, key_file: enc }]))).toMatch(/is encrypted: rampart needs the key/);
  });

  it('refuses a cipher list OpenSSL cannot use, a CA file without certificates and a file that is no CRL', () => {
    expect(fails(cfg([entry(def)], { ciphers: 'RC4-MD5:NOPE' }))).toMatch(/^ciphers: no usable cipher/);
    expect(fails(cfg([entry(def)], { client_auth: { mode: 'require', ca_file: def.keyFile } }))).toMatch(
      /^client_auth\.ca_file: .* holds no PEM certificate$/,
    );
    expect(
      fails(
        cfg([entry(def)], { client_auth: { mode: 'require', ca_file: `${pki.dir}/ca.pem`, crl_file: def.certFile } }),
      ),
    ).toMatch(/^client_auth\.crl_file: .* is not a certificate revocation list/);
  });
});

describe('OCSP staples and watched files', () => {
  it('maps each certificate to its staple file, and none when the file is missing', () => {
    const staple = pki.write('api.ocsp', Buffer.from([0x30, 0x00]));
    const s = buildTlsState(
      cfg([
        { ...entry(def), ocsp_staple_file: `${pki.dir}/missing.ocsp` },
        { ...entry(api), ocsp_staple_file: staple },
      ]),
      'l',
    );
    const der = (f: Files) => new X509Certificate(readFileSync(f.certFile)).raw;
    expect(s.stapleFor(der(api))).toEqual(Buffer.from([0x30, 0x00]));
    expect(s.stapleFor(der(def))).toBeNull();
  });

  it('lists every file and digests their bytes', () => {
    const c = cfg([{ ...entry(def), ocsp_staple_file: '/x/o.der' }], {
      client_auth: { mode: 'request', ca_file: '/x/ca.pem', crl_file: '/x/crl.pem' },
    });
    expect(tlsFiles(c)).toEqual([def.certFile, def.keyFile, '/x/o.der', '/x/ca.pem', '/x/crl.pem']);
    const d1 = filesDigest([def.certFile, '/x/none']);
    expect(filesDigest([def.certFile, '/x/none'])).toBe(d1);
    expect(filesDigest([api.certFile, '/x/none'])).not.toBe(d1);
  });
});
