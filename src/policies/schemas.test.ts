import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { POLICIES } from './index.js';
import { POLICY_SCHEMAS } from './schemas.js';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Packages the config schema may load. Validating a config must not load policy implementations or the store:
 * no jose, undici, lru-cache, better-sqlite3, pg, kysely, oidc-provider. CEL compiles `authorize` conditions at
 * load, so a bad condition fails validation with its line.
 */
const SCHEMA_PACKAGES = ['zod', 'ipaddr.js', '@marcbachmann/cel-js'];

/** Packages and source files reached by run-time imports (not `import type`) from one source file. */
function importGraph(entry: string): { packages: Set<string>; files: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const src = readFileSync(file, 'utf8');
    // With verbatimModuleSyntax only `import type` / `export type` are erased; `import { type X }` stays.
    for (const m of src.matchAll(/^(?:import|export)\s+(?!type\s)(?:[^;'"]*?\s+from\s+)?'([^']+)'/gms)) {
      const spec = m[1] as string;
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string));
    }
  };
  visit(entry);
  return { packages, files };
}

describe('policy registries', () => {
  it('policies/schemas.ts and policies/index.ts list the same policies with the same name, order and schema', () => {
    const fromSchemas = POLICY_SCHEMAS.map((p) => [p.name, p.order, p.description, p.schema]);
    const fromPolicies = POLICIES.map((p) => [p.name, p.order, p.description, p.config]);
    expect(fromSchemas.map(([n, o]) => `${o} ${n}`)).toEqual(fromPolicies.map(([n, o]) => `${o} ${n}`));
    expect(fromSchemas).toEqual(fromPolicies);
    for (const [i, s] of POLICY_SCHEMAS.entries()) expect(s.schema, s.name).toBe(POLICIES[i]?.config);
  });

  it('is sorted by order with unique names and orders', () => {
    const orders = POLICY_SCHEMAS.map((p) => p.order);
    expect(orders).toEqual([...orders].sort((a, b) => a - b));
    expect(new Set(orders).size).toBe(orders.length);
    expect(new Set(POLICY_SCHEMAS.map((p) => p.name)).size).toBe(POLICY_SCHEMAS.length);
  });

  it('the config schema loads no policy implementation and no heavy package', () => {
    const { packages, files } = importGraph(resolve(SRC, 'config/schema.ts'));
    expect([...packages].filter((p) => !SCHEMA_PACKAGES.includes(p))).toEqual([]);
    const rel = [...files].map((f) => f.slice(SRC.length + 1));
    expect(
      rel.filter((f) => /^policies\/[^/]+\/policy\.ts$|^policies\/index\.ts$|^services\.ts$|^store\//.test(f)),
    ).toEqual([]);
    // Every policy's schema.ts is in the graph (so the check above covers them all).
    for (const p of POLICY_SCHEMAS) expect(rel).toContain(`policies/${p.name}/schema.ts`);
  });

  it('the import scan sees the heavy packages an implementation loads', () => {
    // Guards the scan itself: a regex that matched nothing would pass the test above vacuously.
    const { packages } = importGraph(resolve(SRC, 'policies/index.ts'));
    expect([...packages]).toEqual(expect.arrayContaining(['jose', 'undici', 'lru-cache', 'zod']));
  });
});
