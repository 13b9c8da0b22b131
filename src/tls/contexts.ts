import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { ListenerTlsConfig } from '../config/schema.js';
import { MODERN_CIPHERS } from './ciphers.js';
import { lookupHost } from './names.js';
import { type CertificatePair, readCaBundle, readCertificatePair, readCrl, readTlsFile, TlsFileError } from './read.js';

/** One certificate of a listener, ready to serve. */
export interface TlsEntry {
  readonly pair: CertificatePair;
  readonly options: SecureContextOptions;
  readonly context: SecureContext;
  /** The DER OCSP response to staple, when its file exists. */
  readonly staple: Buffer | null;
}

/**
 * The secure contexts of one listener, built from its files at one moment. A reload builds a new one and swaps
 * it in whole: handshakes from then on use it, established connections keep the context they were made with.
 */
export interface TlsState {
  /** The first is the default: clients without SNI, or naming a host no certificate claims. */
  readonly entries: readonly TlsEntry[];
  readonly byHost: ReadonlyMap<string, TlsEntry>;
  select(servername: string | undefined): TlsEntry;
  /** The OCSP response for the certificate a handshake is using (DER, as the 'OCSPRequest' event gives it). */
  stapleFor(certDer: Buffer): Buffer | null;
}

/** A build failure naming the field (e.g. certificates[1].key_file) whose file is wrong. */
export class TlsBuildError extends Error {
  constructor(
    readonly path: (string | number)[],
    /** The message without the field path. */
    readonly detail: string,
  ) {
    super(`${path.join('.').replace(/\.(\d+)/g, '[$1]')}: ${detail}`);
    this.name = 'TlsBuildError';
  }
}

/** Options every context of a listener shares: protocol floor, ciphers, client CA and CRL. */
function baseOptions(cfg: ListenerTlsConfig, sessionIdContext: string): SecureContextOptions {
  const o: SecureContextOptions = {
    minVersion: cfg.min_version,
    maxVersion: 'TLSv1.3',
    ciphers: cfg.ciphers ?? MODERN_CIPHERS,
    // The server's order, so that a client listing a weaker suite first still gets the stronger one (TLS 1.2).
    honorCipherOrder: true,
    // Session resumption with client certificates needs a session id context on every context SNI may pick,
    // or OpenSSL refuses the resumed handshake.
    sessionIdContext,
  };
  const ca = cfg.client_auth;
  if (ca) {
    try {
      o.ca = readCaBundle(ca.ca_file, 'ca_file').pem;
      if (ca.crl_file) o.crl = readCrl(ca.crl_file, 'crl_file').data;
    } catch (e) {
      if (e instanceof TlsFileError) throw new TlsBuildError(['client_auth', e.field], e.message);
      throw e;
    }
  }
  return o;
}

/** Reads and checks every file of a listener's tls block and builds its contexts; throws TlsBuildError. */
export function buildTlsState(cfg: ListenerTlsConfig, listenerName: string, now = Date.now()): TlsState {
  // A stable id per listener (not per process), so that workers of one listener can resume each other's sessions.
  const sessionIdContext = createHash('sha256').update(`rampart:${listenerName}`).digest('hex').slice(0, 32);
  const base = baseOptions(cfg, sessionIdContext);
  const entries = cfg.certificates.map((c, i): TlsEntry => {
    let pair: CertificatePair;
    try {
      pair = readCertificatePair(c, now);
    } catch (e) {
      if (e instanceof TlsFileError) throw new TlsBuildError(['certificates', i, e.field], e.message);
      throw e;
    }
    const options: SecureContextOptions = { ...base, cert: pair.cert, key: pair.key };
    let context: SecureContext;
    try {
      context = createSecureContext(options);
    } catch (e) {
      // The certificate and key passed their checks: what is left is the cipher list or protocol settings.
      const msg = (e as Error).message;
      throw /cipher/i.test(msg)
        ? new TlsBuildError(['ciphers'], `no usable cipher in "${cfg.ciphers ?? MODERN_CIPHERS}" (${msg})`)
        : new TlsBuildError(['certificates', i], msg);
    }
    let staple: Buffer | null = null;
    if (c.ocsp_staple_file && existsSync(c.ocsp_staple_file)) {
      try {
        staple = readTlsFile(c.ocsp_staple_file, 'ocsp_staple_file');
      } catch {
        // Stapling is best effort: an unreadable response means no staple, never a failed handshake.
        staple = null;
      }
    }
    return { pair, options, context, staple };
  });
  const byHost = new Map<string, TlsEntry>();
  // The first certificate claiming a name wins, as the list reads top to bottom.
  for (const e of entries) for (const n of e.pair.names) if (!byHost.has(n)) byHost.set(n, e);
  const fallback = entries[0];
  if (!fallback) throw new TlsBuildError(['certificates'], 'no certificate');
  return {
    entries,
    byHost,
    select: (servername) => (servername ? lookupHost(byHost, servername) : undefined) ?? fallback,
    stapleFor(der) {
      for (const e of entries) if (e.staple && e.pair.leaf.raw.equals(der)) return e.staple;
      return null;
    },
  };
}

/** The files a listener's TLS depends on (to watch, and to tell a real change from a touch). */
export function tlsFiles(cfg: ListenerTlsConfig): string[] {
  const out: string[] = [];
  for (const c of cfg.certificates) {
    out.push(c.cert_file, c.key_file);
    if (c.ocsp_staple_file) out.push(c.ocsp_staple_file);
  }
  if (cfg.client_auth) {
    out.push(cfg.client_auth.ca_file);
    if (cfg.client_auth.crl_file) out.push(cfg.client_auth.crl_file);
  }
  return out;
}

/** A digest of the files' bytes (a missing file counts as missing), to tell a real change from a touch. */
export function filesDigest(files: readonly string[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    try {
      h.update(readFileSync(f));
    } catch (e) {
      h.update(`missing:${(e as NodeJS.ErrnoException).code}`);
    }
    h.update('\0');
  }
  return h.digest('hex');
}
