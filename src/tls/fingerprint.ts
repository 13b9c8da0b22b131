import { X509Certificate } from 'node:crypto';

/**
 * The one form of a certificate's SHA-256 fingerprint that Rampart stores and compares: 64 lower-case hex digits,
 * no colons. Accepts node's "AB:CD:..." and plain hex in either case; null for anything else.
 */
export function normalizeFingerprint(fp: string): string | null {
  const hex = fp.trim().replaceAll(':', '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
}

/** The normalised SHA-256 fingerprint of the first certificate in a PEM text (a chain's leaf). */
export function fingerprintOfPem(pem: string | Buffer): { fingerprint: string; cert: X509Certificate } {
  const cert = new X509Certificate(pem);
  const fingerprint = normalizeFingerprint(cert.fingerprint256);
  if (!fingerprint) throw new Error('the certificate has no SHA-256 fingerprint');
  return { fingerprint, cert };
}
