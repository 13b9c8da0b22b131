import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { TlsCertificateConfig } from '../config/schema.js';
import { crlUpdateTimes } from './crl.js';
import { dnsNames, normalizeServername } from './names.js';

/**
 * Reading and checking the files of a TLS listener. The same checks run when the config loads (so a bad file
 * stops the start with file:line:col) and when a file changes on disk (so a bad rotation keeps the old one).
 */

/** A problem with one file, named by the config field that holds its path. */
export class TlsFileError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'TlsFileError';
  }
}

export function readTlsFile(path: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'a folder, not a file'
            : (code ?? (e as Error).message);
    throw new TlsFileError(field, `cannot read ${path}: ${why}`);
  }
}

/** A certificate and its key, read and checked. */
export interface CertificatePair {
  /** The certificate file as read (the leaf, then any intermediates). */
  cert: Buffer;
  key: Buffer;
  leaf: X509Certificate;
  /** Names SNI selects this certificate by: `hosts` when given, else its DNS names. */
  names: string[];
  notAfter: Date;
}

/** Subject common name, or the whole subject, for messages. */
export function describeCert(c: X509Certificate): string {
  const cn = /^CN=(.*)$/m.exec(c.subject)?.[1];
  return cn ? `CN=${cn}` : c.subject.replace(/\n/g, ', ');
}

function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Reads cert_file and key_file and refuses what would fail later or silently: an unparsable file, a certificate
 * that has expired or is not valid yet, a key that is encrypted or does not belong to the certificate.
 */
export function readCertificatePair(c: TlsCertificateConfig, now = Date.now()): CertificatePair {
  const cert = readTlsFile(c.cert_file, 'cert_file');
  const key = readTlsFile(c.key_file, 'key_file');
  let leaf: X509Certificate;
  try {
    // The first certificate of the file is the leaf; the others (intermediates) are sent along as they are.
    leaf = new X509Certificate(cert);
  } catch {
    throw new TlsFileError('cert_file', `${c.cert_file} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
  }
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now)
    throw new TlsFileError(
      'cert_file',
      `the certificate in ${c.cert_file} (${describeCert(leaf)}) expired on ${iso(notAfter)}: renew it`,
    );
  if (notBefore.getTime() > now)
    throw new TlsFileError(
      'cert_file',
      `the certificate in ${c.cert_file} (${describeCert(leaf)}) is not valid before ${iso(notBefore)} (check the clock)`,
    );
  let pk: KeyObject;
  try {
    pk = createPrivateKey(key);
  } catch (e) {
    const encrypted = /ENCRYPTED/.test(key.toString('latin1')) || /passphrase/i.test((e as Error).message);
    throw new TlsFileError(
      'key_file',
      encrypted
        ? `${c.key_file} is encrypted: rampart needs the key unencrypted (protect it with file permissions)`
        : `${c.key_file} holds no PEM private key`,
    );
  }
  if (!leaf.checkPrivateKey(pk))
    throw new TlsFileError(
      'key_file',
      `the key in ${c.key_file} does not match the certificate in ${c.cert_file} (${describeCert(leaf)})`,
    );
  return { cert, key, leaf, names: c.hosts?.map(normalizeServername) ?? dnsNames(leaf.subjectAltName), notAfter };
}

/** Every certificate of a PEM bundle; throws when there is none (node's TLS would accept an empty trust list). */
export function readCaBundle(path: string, field: string): { pem: Buffer; certs: X509Certificate[] } {
  const pem = readTlsFile(path, field);
  const certs: X509Certificate[] = [];
  for (const m of pem.toString('latin1').matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)) {
    try {
      certs.push(new X509Certificate(m[0]));
    } catch {
      throw new TlsFileError(field, `${path} holds a certificate that cannot be parsed`);
    }
  }
  if (!certs.length) throw new TlsFileError(field, `${path} holds no PEM certificate`);
  return { pem, certs };
}

export interface Crl {
  data: Buffer;
  nextUpdate: Date | null;
}

/** A CRL (PEM or DER) that OpenSSL accepts. */
export function readCrl(path: string, field: string): Crl {
  const data = readTlsFile(path, field);
  try {
    createSecureContext({ crl: data });
  } catch {
    throw new TlsFileError(field, `${path} is not a certificate revocation list (PEM "X509 CRL" or DER)`);
  }
  return { data, nextUpdate: crlUpdateTimes(data)?.nextUpdate ?? null };
}
