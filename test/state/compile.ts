import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

/** Compiles src/state to JS under node_modules/.cache (so spawned scripts resolve ioredis); returns the folder. */
export function compileState(): string {
  const base = join(ROOT, 'node_modules/.cache');
  execFileSync('mkdir', ['-p', base]);
  const out = mkdtempSync(join(base, 'rampart-state-'));
  execFileSync(
    join(ROOT, 'node_modules/.bin/tsc'),
    [
      '--outDir',
      out,
      '--rootDir',
      join(ROOT, 'src/state'),
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2023',
      '--skipLibCheck',
      '--types',
      'node',
      '--strict',
      '--ignoreConfig',
      ...['memory.ts', 'cluster.ts', 'redis.ts', 'errors.ts', 'types.ts', 'fast-strings.ts']
        .map((f) => join(ROOT, 'src/state', f))
        .filter((f) => existsSync(f)),
    ],
    { cwd: ROOT, stdio: 'pipe' },
  );
  return out;
}
