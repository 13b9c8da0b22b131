import { isAbsolute, resolve } from 'node:path';
import type { Config } from '../../config/schema.js';
import { loadOpenApiSync, SpecError } from '../../openapi/index.js';

export interface SpecIssue {
  /** Field path from the config root, e.g. ['routes', 2, 'policies', 'request-validation', 'spec']. */
  path: (string | number)[];
  message: string;
}

/** The policies that name an OpenAPI document in `spec`: request validation, and response filtering by schema. */
const NAMES = ['request-validation', 'response-filter'];

/**
 * Makes every `spec` of those policies absolute, relative to the config file's folder (as ${file:} and TLS paths
 * are), and reads each document once so that a missing or broken one fails the load at its field. Edits in place.
 */
export function resolveSpecPaths(config: Config, baseDir: string): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const visit = (policies: unknown, at: (string | number)[]) => {
    for (const name of NAMES) {
      const p = (policies as Record<string, unknown> | undefined)?.[name] as { spec?: unknown } | undefined;
      if (!p || typeof p.spec !== 'string') continue;
      const file = isAbsolute(p.spec) ? p.spec : resolve(baseDir, p.spec);
      p.spec = file;
      try {
        loadOpenApiSync(file);
      } catch (e) {
        if (!(e instanceof SpecError)) throw e;
        issues.push({ path: [...at, 'policies', name, 'spec'], message: e.message });
      }
    }
  };
  visit(config.policies, []);
  for (const [name, u] of Object.entries(config.upstreams ?? {})) visit(u.policies, ['upstreams', name]);
  (config.routes ?? []).forEach((r, i) => {
    visit(r.policies, ['routes', i]);
  });
  return issues;
}
