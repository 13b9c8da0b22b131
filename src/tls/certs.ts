// @peculiar/x509 decorates its ASN.1 classes with metadata: the polyfill must be loaded before it.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

/**
 * Certificates made in process with WebCrypto (no openssl binary): the local CA and localhost certificate of
 * `rampart certs dev`, and the CAs, server and client certificates and CRLs the TLS tests need.
 * ECDSA P-256 with SHA-256 throughout: small, fast, and accepted by every TLS 1.2+ client.
 */

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;
/** The library is typed against the DOM's Crypto; node's webcrypto is the same API. */
type LibCrypto = Parameters<typeof x509.cryptoProvider.set>[0];
const provider = webcrypto as unknown as LibCrypto;
x509.cryptoProvider.set(provider);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export interface Issued {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS #8, unencrypted). */
  key: string;
  /** Hexadecimal serial number, as a CRL names it. */
  serial: string;
}

/** A CA that can issue certificates and CRLs. */
export interface Authority extends Issued {
  readonly name: string;
  readonly keys: CryptoKeyPair;
  readonly x509: x509.X509Certificate;
}

export interface Validity {
  /** Days from notBefore (default: now). */
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
}

function period(v: Validity, defaultDays: number): { notBefore: Date; notAfter: Date } {
  // A minute of slack so a certificate made just now is valid on a peer whose clock is slightly behind.
  const notBefore = v.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = v.notAfter ?? new Date(notBefore.getTime() + (v.days ?? defaultDays) * DAY);
  return { notBefore, notAfter };
}

/** 16 random bytes with the top bit clear: serials must be positive (RFC 5280 4.1.2.2). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f || 0x01;
  return b.toString('hex');
}

function keyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function pemKey(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Distinguished name text with characters that would change its meaning escaped (RFC 4514). */
function cn(name: string): string {
  return `CN=${name.replace(/([,+"\\<>;=])/g, '\\$1')}`;
}

/** A self-signed CA (default 10 years). */
export async function createCa(o: Validity & { name?: string } = {}): Promise<Authority> {
  const name = o.name ?? 'Rampart Development CA';
  const keys = await keyPair();
  const s = serial();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: s,
    name: cn(name),
    ...period(o, 3650),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { name, keys, x509: cert, cert: cert.toString('pem'), key: await pemKey(keys.privateKey), serial: s };
}

export interface LeafOptions extends Validity {
  commonName: string;
  /** Subject alternative names, told apart by their form: IP addresses, URIs ("spiffe://…"), emails, DNS names. */
  altNames?: readonly string[];
  /** Extended key usage (default server). */
  usage?: 'server' | 'client' | 'both';
  /** Sign with this key pair's public half instead of a fresh one (a "mismatched key" is then easy to make). */
  keys?: CryptoKeyPair;
}

function altName(n: string): { type: 'ip' | 'url' | 'email' | 'dns'; value: string } {
  if (isIP(n)) return { type: 'ip', value: n };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(n)) return { type: 'url', value: n };
  return { type: n.includes('@') ? 'email' : 'dns', value: n };
}

/** A leaf certificate signed by `ca` (default 90 days). */
export async function issue(ca: Authority, o: LeafOptions): Promise<Issued> {
  const keys = o.keys ?? (await keyPair());
  const usage = o.usage ?? 'server';
  const eku = [
    ...(usage !== 'client' ? [x509.ExtendedKeyUsage.serverAuth] : []),
    ...(usage !== 'server' ? [x509.ExtendedKeyUsage.clientAuth] : []),
  ];
  const names = (o.altNames ?? []).map(altName);
  const s = serial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: s,
    subject: cn(o.commonName),
    issuer: ca.x509.subject,
    ...period(o, 90),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(eku, false),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(ca.x509, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await pemKey(keys.privateKey), serial: s };
}

/** A self-signed leaf (not a CA): what a private upstream often presents. */
export async function selfSigned(o: LeafOptions): Promise<Issued> {
  const keys = o.keys ?? (await keyPair());
  const names = (o.altNames ?? []).map(altName);
  const s = serial();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: s,
    name: cn(o.commonName),
    ...period(o, 90),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
    ],
  });
  return { cert: cert.toString('pem'), key: await pemKey(keys.privateKey), serial: s };
}

/** A CRL signed by `ca` revoking the given serials (default: valid for 7 days from now). */
export async function createCrl(ca: Authority, revoked: readonly string[], o: Validity = {}): Promise<string> {
  const { notBefore, notAfter } = period(o, 7);
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.x509.subject,
    thisUpdate: notBefore,
    nextUpdate: notAfter,
    signingAlgorithm: ALG,
    signingKey: ca.keys.privateKey,
    entries: revoked.map((s) => ({
      serialNumber: s,
      revocationDate: notBefore,
      reason: x509.X509CrlReason.keyCompromise,
    })),
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.x509, false)],
  });
  // OpenSSL reads only the "X509 CRL" PEM label (the library writes "CRL").
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL');
}

/** Loads a CA written earlier (PEM certificate and PKCS #8 key), e.g. to issue a new localhost certificate. */
export async function loadCa(certPem: string, keyPem: string): Promise<Authority> {
  const cert = new x509.X509Certificate(certPem);
  const der = x509.PemConverter.decodeFirst(keyPem);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
  const publicKey = (await cert.publicKey.export(ALG, ['verify'], provider)) as unknown as CryptoKey;
  const name = cert.subjectName.getField('CN')[0] ?? cert.subject;
  return { name, keys: { privateKey, publicKey }, x509: cert, cert: certPem, key: keyPem, serial: cert.serialNumber };
}
