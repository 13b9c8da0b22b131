import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/** `${env:NAME}` and `${file:PATH}`; `$${` escapes a literal `${`. Other `${word:` forms are typos, reported. */
const REF = /\$?\$\{([A-Za-z]+):([^}]*)\}/g;
/** A `${env:` or `${file:` with no closing brace. */
const UNCLOSED = /(?<!\$)\$\{(env|file):[^}]*$/;

export interface RefResult {
  value: string;
  /** True when at least one reference was substituted (so the value did not sit inline in the file). */
  fromRef: boolean;
  /** Problems, e.g. an unset variable or unreadable file. */
  errors: string[];
}

/** Resolves references in one scalar. File paths are relative to the config file's folder. */
export function resolveRefs(text: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): RefResult {
  const errors: string[] = [];
  let fromRef = false;
  const value = text.replace(REF, (whole, kind: string, arg: string) => {
    if (whole.startsWith('$$')) return whole.slice(1);
    if (kind !== 'env' && kind !== 'file') {
      errors.push(`unknown reference "${whole}": use \${env:NAME} or \${file:PATH} (write $\${ for a literal \${)`);
      return whole;
    }
    fromRef = true;
    if (kind === 'env') {
      // ${env:NAME:-fallback} as in the shell (an empty variable takes the fallback too); a fallback is for ports
      // and hosts, never for secrets.
      const sep = arg.indexOf(':-');
      const name = sep === -1 ? arg : arg.slice(0, sep);
      if (!name) {
        errors.push(`empty env reference "${whole}": name a variable, e.g. \${env:PORT}`);
        return '';
      }
      const set = env[name];
      const v = sep !== -1 && !set ? arg.slice(sep + 2) : set;
      if (v === undefined) errors.push(`environment variable ${name} is not set`);
      return v ?? '';
    }
    if (!arg) {
      errors.push(`empty file reference "${whole}": name a file, e.g. \${file:secrets/key.pem}`);
      return '';
    }
    const path = isAbsolute(arg) ? arg : resolve(baseDir, arg);
    try {
      // One trailing newline is dropped: secret files usually end with one, PEM parsers do not care.
      return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
      errors.push(`cannot read ${path}: ${why ?? (e as Error).message}`);
      return '';
    }
  });
  if (UNCLOSED.test(text)) errors.push('a reference is missing its closing "}"');
  return { value, fromRef, errors };
}

/** Files a config refers to, so that hot reload can watch them too. */
export function referencedFiles(text: string, baseDir: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(REF)) {
    if (m[0].startsWith('$$') || m[1] !== 'file' || !m[2]) continue;
    out.push(isAbsolute(m[2]) ? m[2] : resolve(baseDir, m[2]));
  }
  return out;
}
