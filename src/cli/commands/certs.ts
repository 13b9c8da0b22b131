import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';

/** Writes through a temporary file so that a reader never sees half a key, with the mode set from the start. */
function writeFile(path: string, content: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

function until(pem: string): string {
  return new Date(new X509Certificate(pem).validTo).toISOString().slice(0, 10);
}

export function register(program: Command): void {
  const certs = program.command('certs').description('certificates for trying TLS locally');
  certs
    .command('dev')
    .description(
      'create a local CA (ECDSA P-256, 10 years) and a localhost certificate signed by it (localhost, 127.0.0.1, ::1; 90 days)',
    )
    .option('-o, --out <dir>', 'folder to write to', 'certs')
    .option('--host <name...>', 'more host names or addresses for the certificate')
    .option('--new-ca', 'make a new CA even if the folder has one (a CA already trusted is reused by default)')
    .action(async (o: { out: string; host?: string[]; newCa?: boolean }) => {
      // Loaded here, not at CLI start: the ASN.1 library takes ~0.4 s to import and only this command needs it.
      const { createCa, issue, loadCa } = await import('../../tls/certs.js');
      const dir = resolve(o.out);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const f = {
        ca: join(dir, 'ca.pem'),
        caKey: join(dir, 'ca-key.pem'),
        cert: join(dir, 'localhost.pem'),
        key: join(dir, 'localhost-key.pem'),
      };
      const reuse = !o.newCa && existsSync(f.ca) && existsSync(f.caKey);
      const ca = reuse
        ? await loadCa(readFileSync(f.ca, 'utf8'), readFileSync(f.caKey, 'utf8'))
        : await createCa({ name: 'Rampart Development CA', days: 3650 });
      const leaf = await issue(ca, {
        commonName: 'localhost',
        altNames: [...new Set(['localhost', '127.0.0.1', '::1', ...(o.host ?? [])])],
        usage: 'server',
        days: 90,
      });
      if (!reuse) {
        writeFile(f.caKey, ca.key, 0o600);
        writeFile(f.ca, ca.cert, 0o644);
      }
      writeFile(f.key, leaf.key, 0o600);
      writeFile(f.cert, leaf.cert, 0o644);
      const rel = (p: string) => relative(process.cwd(), p) || p;
      process.stdout.write(
        [
          reuse
            ? `Reused the CA in ${rel(f.ca)} (valid until ${until(ca.cert)}).`
            : `Wrote a CA: ${rel(f.ca)} (valid until ${until(ca.cert)}), its key ${rel(f.caKey)} (mode 0600).`,
          `Wrote a certificate for ${['localhost', '127.0.0.1', '::1', ...(o.host ?? [])].join(', ')}: ${rel(f.cert)} (valid until ${until(leaf.cert)}), its key ${rel(f.key)} (mode 0600).`,
          '',
          'Serve HTTPS with them (paths are relative to the config file):',
          '  listeners:',
          '    - port: 8443',
          '      tls:',
          '        certificates:',
          `          - cert_file: ${rel(f.cert)}`,
          `            key_file: ${rel(f.key)}`,
          '',
          `Try it:  curl --cacert ${rel(f.ca)} https://localhost:8443/`,
          '',
          `For development only. Trust ${rel(f.ca)} on this machine if you must, and keep ${rel(f.caKey)} secret:`,
          'whoever holds it can make certificates your machine then trusts for any site.',
          '',
        ].join('\n'),
      );
    });
}
