/**
 * Writes the labelled detection corpus (test/corpus/attacks/<class>.jsonl, test/corpus/benign/<family>.jsonl).
 * Deterministic: a fixed seed, so re-running gives byte-identical files and a diff shows what a change to the
 * payload lists did. Run with `npm run corpus:gen`. Importing this module writes nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ATTACK_CLASSES } from '../src/detect/types.js';
import { generateAttacks } from './corpus/attacks.js';
import { generateBenign } from './corpus/benign.js';
import { type CorpusLine, Rng, toJsonl } from './corpus/util.js';
import { repoRoot } from './eval-corpus.js';

export const CORPUS_SEED = 0x5eed_7a11;

function withIds(prefix: string, lines: readonly CorpusLine[]): CorpusLine[] {
  const seen = new Set<string>();
  const out: CorpusLine[] = [];
  for (const l of lines) {
    const key = JSON.stringify(l.request);
    if (seen.has(key)) continue;
    seen.add(key);
    const line: CorpusLine = {
      id: `${prefix}-${String(out.length + 1).padStart(4, '0')}`,
      label: l.label,
      request: l.request,
    };
    if (l.note) line.note = l.note;
    out.push(line);
  }
  return out;
}

/** File path (relative to test/corpus) -> lines. */
export function buildCorpus(seed = CORPUS_SEED): Record<string, CorpusLine[]> {
  const rng = new Rng(seed);
  const files: Record<string, CorpusLine[]> = {};
  const attacks = generateAttacks(rng);
  for (const cls of ATTACK_CLASSES) files[`attacks/${cls}.jsonl`] = withIds(cls, attacks[cls]);
  const benign = generateBenign(rng);
  for (const [family, lines] of Object.entries(benign))
    files[`benign/${family}.jsonl`] = withIds(`benign-${family}`, lines);
  return files;
}

function main(): void {
  const dir = join(repoRoot(), 'test', 'corpus');
  const files = buildCorpus();
  for (const [rel, lines] of Object.entries(files)) {
    const path = join(dir, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, toJsonl(lines));
    process.stdout.write(`${rel.padEnd(28)} ${lines.length}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
