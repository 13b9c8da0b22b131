import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../test/helpers.js';

/**
 * Whether String.prototype is in V8's fast mode after importing `modules` (built files, `npm run build` first), read
 * with V8's own %HasFastProperties in a fresh process: dictionary mode is what makes every string method call in
 * optimized code go through the generic load IC (fast-strings.ts).
 */
function stringPrototypeFast(modules: string[]): boolean {
  const imports = modules.map((m) => `await import(${JSON.stringify(m)});`).join('\n');
  const r = spawnSync(
    process.execPath,
    [
      '--allow-natives-syntax',
      '--input-type=module',
      '-e',
      `${imports}\nconsole.log(%HasFastProperties(String.prototype));`,
    ],
    { cwd: ROOT, encoding: 'utf8', timeout: 30_000 },
  );
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as boolean;
}

describe('String.prototype stays fast', () => {
  it('is dictionary mode after a String subclass is declared, and fast again after keepStringPrototypeFast', () => {
    const helper = pathToFileURL(join(ROOT, 'dist/src/state/fast-strings.js')).href;
    const subclass = 'data:text/javascript,globalThis.V = class extends String {};';
    expect(stringPrototypeFast([subclass])).toBe(false);
    const heal = `data:text/javascript,import { keepStringPrototypeFast } from ${JSON.stringify(helper)}; keepStringPrototypeFast();`;
    expect(stringPrototypeFast([subclass, heal])).toBe(true);
  });

  it('is fast once the whole gateway is loaded (ioredis, which subclasses String, among its modules)', () => {
    expect(stringPrototypeFast([pathToFileURL(join(ROOT, 'dist/src/runtime.js')).href])).toBe(true);
  });
});
