import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorsMarkdown, formatJson, markdownTable, renderDocs, repoRoot } from '../../scripts/gen-docs.js';
import { configJsonSchema } from '../../src/config/json-schema.js';
import { ERRORS } from '../../src/core/errors.js';
import { POLICIES } from '../../src/policies/index.js';
import { ROOT } from '../helpers.js';

const STALE = 'is out of date: run `npm run docs` and commit the result';

describe('generated docs', () => {
  const docs = renderDocs();

  it.each(Object.keys(docs))('%s matches what scripts/gen-docs.ts generates', (rel) => {
    let committed: string;
    try {
      committed = readFileSync(join(ROOT, rel), 'utf8');
    } catch {
      throw new Error(`${rel} is missing: run \`npm run docs\` and commit the result`);
    }
    expect(committed, `${rel} ${STALE}`).toBe(docs[rel]);
  });

  it('the schema file is the JSON Schema `rampart schema` prints', () => {
    expect(JSON.parse(docs['docs/rampart.schema.json'] ?? '')).toEqual(configJsonSchema());
  });

  it('errors.md has one row per error code with its status', () => {
    const md = errorsMarkdown();
    for (const [code, e] of Object.entries(ERRORS))
      expect(md).toMatch(new RegExp(`\\| \`${code}\` +\\| ${e.status} +\\|`));
  });

  it('configuration.md documents every policy and top-level section', () => {
    const md = docs['docs/configuration.md'] ?? '';
    for (const p of POLICIES) expect(md).toContain(`### ${p.name}\n`);
    for (const s of ['listeners[]', 'upstreams.<name>', 'routes[]', 'metrics', 'logging', 'policies'])
      expect(md).toContain(`## \`${s}\`\n`);
    expect(md).toMatch(/\| `port` +\| integer \(0–65535\) +\| +\| \*\*Required\.\*\*/);
    expect(md).toMatch(/\| `tls\.verify` +\| boolean +\| `true` +\|/);
  });

  it('finds the repository root from the script folder', () => {
    expect(repoRoot(join(ROOT, 'scripts'))).toBe(repoRoot(join(ROOT, 'dist', 'scripts')));
  });
});

describe('formatJson and markdownTable', () => {
  it('keeps objects expanded and short plain arrays on one line', () => {
    expect(formatJson({ a: [1, 2], b: {}, c: [], d: { e: 'x' }, f: [{ g: null }] })).toBe(
      '{\n  "a": [1, 2],\n  "b": {},\n  "c": [],\n  "d": {\n    "e": "x"\n  },\n  "f": [\n    {\n      "g": null\n    }\n  ]\n}\n',
    );
  });

  it('breaks an array that would pass 120 columns', () => {
    const long = Array.from({ length: 12 }, (_, i) => `value-${i}`);
    expect(formatJson({ k: long }).split('\n')).toHaveLength(long.length + 5);
  });

  it('pads columns and escapes pipes', () => {
    expect(markdownTable(['A', 'Bee'], [['x|y', '1']])).toEqual([
      '| A    | Bee |',
      '| ---- | --- |',
      '| x\\|y | 1   |',
    ]);
  });
});
