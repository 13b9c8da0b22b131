import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compile, MODULES, moduleText } from '../scripts/build-wasm.js';

describe('WebAssembly modules', () => {
  it.each(MODULES.map((m) => [m.module, m] as const))(
    '%s is what its source compiles to now',
    async (_, m) => {
      // A change to the AssemblyScript source without `npm run build:wasm` would ship the old code.
      expect(readFileSync(m.module, 'utf8')).toBe(moduleText(m, await compile(m)));
    },
    60_000,
  );
});
