import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Config, ListenerTlsConfig } from '../config/schema.js';
import { buildTlsState, TlsBuildError } from './contexts.js';
import { describeCert, readCaBundle, readCrl, TlsFileError } from './read.js';

export interface TlsIssue {
  /** Field path from the config root, e.g. ['listeners', 0, 'tls', 'certificates', 1, 'key_file']. */
  path: (string | number)[];
  message: string;
  severity: 'error' | 'warning';
}

/** A certificate this close to its end is reported when the config loads (and so by `rampart validate`). */
const EXPIRY_WARNING_DAYS = 14;
const DAY = 86_400_000;

/**
 * Makes the listeners' TLS file paths absolute, relative to the config file's folder as ${file:} paths are, so
 * the server reads (and watches) the same files whatever its working directory. Edits the config in place.
 */
export function resolveTlsPaths(config: Config, baseDir: string): void {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  for (const l of config.listeners) {
    const t = l.tls;
    if (!t) continue;
    for (const c of t.certificates) {
      c.cert_file = abs(c.cert_file);
      c.key_file = abs(c.key_file);
      if (c.ocsp_staple_file) c.ocsp_staple_file = abs(c.ocsp_staple_file);
    }
    if (t.client_auth) {
      t.client_auth.ca_file = abs(t.client_auth.ca_file);
      if (t.client_auth.crl_file) t.client_auth.crl_file = abs(t.client_auth.crl_file);
    }
  }
}

/**
 * Checks every TLS listener's files as the server will use them, so that a start fails with the field's
 * file:line:col rather than at the first handshake: unreadable files, a certificate expired or not yet valid, a
 * key that does not match, a cipher list OpenSSL cannot use, a CA bundle without certificates, a CRL that is
 * not one. Soon-to-expire certificates and out-of-date CRLs are warnings.
 */
export function checkTls(config: Config, now = Date.now()): TlsIssue[] {
  const issues: TlsIssue[] = [];
  config.listeners.forEach((l, i) => {
    if (l.tls) issues.push(...checkListener(l.tls, l.name, ['listeners', i, 'tls'], now));
  });
  return issues;
}

function checkListener(t: ListenerTlsConfig, name: string, at: (string | number)[], now: number): TlsIssue[] {
  const issues: TlsIssue[] = [];
  const error = (path: (string | number)[], message: string) =>
    issues.push({ path: [...at, ...path], message, severity: 'error' });
  const warn = (path: (string | number)[], message: string) =>
    issues.push({ path: [...at, ...path], message, severity: 'warning' });

  // Each file on its own first, so that every bad one is reported, not only the first the build meets.
  let filesOk = true;
  const ca = t.client_auth;
  if (ca) {
    try {
      const { certs } = readCaBundle(ca.ca_file, 'ca_file');
      for (const c of certs)
        if (new Date(c.validTo).getTime() <= now)
          warn(['client_auth', 'ca_file'], `the CA ${describeCert(c)} in ${ca.ca_file} has expired`);
    } catch (e) {
      filesOk = false;
      if (!(e instanceof TlsFileError)) throw e;
      error(['client_auth', e.field], e.message);
    }
    if (ca.crl_file) {
      try {
        const crl = readCrl(ca.crl_file, 'crl_file');
        if (crl.nextUpdate && crl.nextUpdate.getTime() <= now)
          warn(
            ['client_auth', 'crl_file'],
            `the CRL in ${ca.crl_file} is out of date (next update was ${crl.nextUpdate.toISOString()}): every client certificate will be refused until it is renewed`,
          );
      } catch (e) {
        filesOk = false;
        if (!(e instanceof TlsFileError)) throw e;
        error(['client_auth', e.field], e.message);
      }
    }
  }
  if (t.ciphers !== undefined && !/(^|:)TLS_/.test(t.ciphers))
    warn(['ciphers'], 'no TLS 1.3 suite (TLS_AES_128_GCM_SHA256 ...) in the list: TLS 1.3 is off');

  const seen = new Map<string, number>();
  t.certificates.forEach((c, j) => {
    try {
      // The per-certificate checks of the build, on this certificate alone.
      const entry = buildTlsState({ ...t, certificates: [c], client_auth: undefined }, name, now).entries[0];
      if (!entry) return;
      const { pair } = entry;
      const days = Math.floor((pair.notAfter.getTime() - now) / DAY);
      if (days < EXPIRY_WARNING_DAYS)
        warn(
          ['certificates', j, 'cert_file'],
          `the certificate in ${c.cert_file} (${describeCert(pair.leaf)}) expires in ${days} day(s), on ${pair.notAfter.toISOString()}`,
        );
      if (!pair.names.length && j > 0)
        warn(
          ['certificates', j],
          'no hosts given and the certificate names no DNS host: SNI never selects it (only the first is the default)',
        );
      for (const n of pair.names) {
        const first = seen.get(n);
        if (first === undefined) seen.set(n, j);
        else if (c.hosts?.includes(n))
          warn(['certificates', j, 'hosts'], `${n} is already served by certificates[${first}], which wins`);
      }
      if (c.ocsp_staple_file && !existsSync(c.ocsp_staple_file))
        warn(
          ['certificates', j, 'ocsp_staple_file'],
          `${c.ocsp_staple_file} does not exist (yet): no OCSP staple until it appears`,
        );
    } catch (e) {
      filesOk = false;
      if (!(e instanceof TlsBuildError)) throw e;
      // The build names its field relative to the listener's tls block, with this certificate as [0].
      const path = e.path[0] === 'certificates' ? ['certificates', j, ...e.path.slice(2)] : e.path;
      error(path, e.detail);
    }
  });
  if (filesOk) {
    // Everything together (the client CA with each certificate) as the server builds it.
    try {
      buildTlsState(t, name, now);
    } catch (e) {
      if (!(e instanceof TlsBuildError)) throw e;
      error(e.path, e.detail);
    }
  }
  // A cipher list OpenSSL refuses fails every certificate's build the same way: say it once.
  const unique = new Map(issues.map((x) => [`${x.path.join('.')} ${x.message}`, x]));
  return [...unique.values()];
}
