import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Authority, createCa, createCrl, type Issued, issue, type LeafOptions } from '../src/tls/certs.js';

/** Certificates for TLS tests, made in process (no openssl) and written to a fresh folder. */
export interface Pki {
  dir: string;
  ca: Authority;
  /** Writes a file into the folder (atomically: a rotation never shows a half-written file) and returns its path. */
  write(name: string, content: string | Buffer): string;
  /** Issues a certificate and writes NAME.pem and NAME-key.pem. */
  leaf(name: string, o: LeafOptions, ca?: Authority): Promise<Issued & { certFile: string; keyFile: string }>;
  crl(revoked: string[], ca?: Authority): Promise<string>;
}

export async function makePki(prefix = 'rampart-tls-'): Promise<Pki> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const ca = await createCa({ name: 'Rampart Test CA' });
  const write = (name: string, content: string | Buffer) => {
    const f = join(dir, name);
    writeFileSync(`${f}.tmp`, content, { mode: 0o600 });
    renameSync(`${f}.tmp`, f);
    return f;
  };
  write('ca.pem', ca.cert);
  return {
    dir,
    ca,
    write,
    async leaf(name, o, by = ca) {
      const c = await issue(by, o);
      return { ...c, certFile: write(`${name}.pem`, c.cert), keyFile: write(`${name}-key.pem`, c.key) };
    },
    async crl(revoked, by = ca) {
      return write('crl.pem', await createCrl(by, revoked));
    },
  };
}
