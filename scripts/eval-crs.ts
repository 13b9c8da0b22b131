/**
 * The detection engine on the OWASP Core Rule Set's regression tests (go-ftw YAML, `tests/regression/tests` in
 * coreruleset/coreruleset): a public corpus written for another engine, so an independent check. A test that
 * expects its rule to fire is an attack of the rule file's class; one that expects it not to fire is a negative
 * (text that looks like an attack to a regular expression, or an attack only other rules catch).
 *   npm run corpus:crs -- DIR [--pl N] [--verbose] [--json]
 * DIR holds the test files (any depth). With DIR/pl.json (rule id -> paranoia level) only rules at level N or lower
 * count (default 1, the level CRS runs by default: higher levels are tuned to flag more than attacks); without it,
 * or for a rule it does not list, every test counts. A negative flagged may still be an attack another CRS rule
 * catches, and an attack counts as detected whatever class the engine gives it: read the --verbose lists.
 * Importing this module runs nothing; the pure parts are unit-tested in test/corpus/crs.test.ts.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { DetectionEngine } from '../src/detect/engine.js';
import type { InspectReport, InspectRequest } from '../src/detect/types.js';
import { pct } from './eval-payload-lists.js';

/** CRS rule files by the first three digits of a rule id. */
const FILE_CLASS: Record<string, string> = {
  '930': 'traversal',
  '931': 'rfi',
  '932': 'cmdi',
  '933': 'php',
  '934': 'generic',
  '941': 'xss',
  '942': 'sqli',
  '944': 'java',
};

interface FtwInput {
  method?: string;
  uri?: string;
  headers?: Record<string, unknown>;
  data?: string | string[];
  encoded_request?: string;
  raw_request?: string;
}
interface FtwOutput {
  log?: { expect_ids?: number[]; no_expect_ids?: number[] };
  log_contains?: string;
  no_log_contains?: string;
}

/** The request a test sends, as the engine reads one; null when it cannot be read. */
export function ftwRequest(input: FtwInput): InspectRequest | null {
  let method = input.method ?? 'GET';
  let uri = input.uri ?? '/';
  const headers: Record<string, string> = {};
  let body: string | undefined;
  const raw =
    input.raw_request ?? (input.encoded_request ? Buffer.from(input.encoded_request, 'base64').toString() : undefined);
  if (raw !== undefined) {
    const split = raw.search(/\r?\n\r?\n/);
    const head = split === -1 ? raw : raw.slice(0, split);
    const [line, ...rest] = head.split(/\r?\n/);
    const m = /^(\S+)\s+(\S+)/.exec(line ?? '');
    if (!m) return null;
    method = m[1] as string;
    uri = m[2] as string;
    for (const h of rest) {
      const c = h.indexOf(':');
      if (c > 0) headers[h.slice(0, c).trim().toLowerCase()] = h.slice(c + 1).trim();
    }
    if (split !== -1) body = raw.slice(split).replace(/^\r?\n\r?\n/, '');
  } else {
    for (const [k, v] of Object.entries(input.headers ?? {})) headers[k.toLowerCase()] = String(v);
    if (input.data !== undefined) body = Array.isArray(input.data) ? input.data.join('\r\n') : String(input.data);
  }
  // The rules these tests exercise read form fields (ARGS): data without a Content-Type is a form to them.
  if (body && headers['content-type'] === undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  const q = uri.indexOf('?');
  return {
    method,
    path: q === -1 ? uri : uri.slice(0, q),
    query: q === -1 ? '' : uri.slice(q + 1),
    headers,
    ...(body ? { body } : {}),
  };
}

/** Whether a test expects its rule to fire (true), not to fire (false), or says neither (null). */
export function ftwExpects(output: FtwOutput | undefined, ruleId: string): boolean | null {
  if (!output) return null;
  const id = Number(ruleId);
  if (output.log?.expect_ids?.includes(id)) return true;
  if (output.log?.no_expect_ids?.includes(id)) return false;
  if (output.log_contains?.includes(ruleId)) return true;
  if (output.no_log_contains?.includes(ruleId)) return false;
  return null;
}

export interface CrsResult {
  /** Per class: attacks [detected, sent], negatives [flagged, sent]. */
  classes: Record<string, { attacks: [number, number]; negatives: [number, number] }>;
  /** Tests left out: another paranoia level, no expectation, a request that cannot be read. */
  skipped: number;
  /** Files that are not valid YAML, with the parser's message. */
  unreadable: string[];
  misses: string[];
  flagged: string[];
}

/** Evaluates every YAML test file under dir (rules above `maxLevel` left out when `levels` knows them). */
export function evaluateCrs(
  dir: string,
  inspect: (r: InspectRequest) => InspectReport,
  levels: Record<string, number> = {},
  maxLevel = 1,
): CrsResult {
  const out: CrsResult = { classes: {}, skipped: 0, unreadable: [], misses: [], flagged: [] };
  const files: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(f)) files.push(p);
    }
  };
  walk(dir);
  for (const file of files) {
    let doc: {
      rule_id?: number;
      tests?: Array<{
        test_id?: number;
        test_title?: string;
        stages?: Array<{ input?: FtwInput; output?: FtwOutput; stage?: unknown }>;
      }>;
    } | null;
    try {
      doc = parse(readFileSync(file, 'utf8'));
    } catch (e) {
      out.unreadable.push(`${file}: ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    const ruleId = String(doc?.rule_id ?? /(\d{6})/.exec(basename(file))?.[1] ?? '');
    const cls = FILE_CLASS[ruleId.slice(0, 3)];
    if (!cls || !doc?.tests) continue;
    const level = levels[ruleId];
    for (const t of doc.tests) {
      for (const st of t.stages ?? []) {
        // go-ftw's older files nest each stage under "stage".
        const stage = (st.stage ?? st) as { input?: FtwInput; output?: FtwOutput };
        const expects = ftwExpects(stage.output, ruleId);
        const req = stage.input ? ftwRequest(stage.input) : null;
        if (expects === null || !req || (level !== undefined && level > maxLevel)) {
          out.skipped++;
          continue;
        }
        const rep = inspect(req);
        const c = out.classes[cls] ?? { attacks: [0, 0], negatives: [0, 0] };
        out.classes[cls] = c;
        const what = `${t.test_title ?? `${ruleId}-${t.test_id}`}: ${shown(req).slice(0, 120)} [score ${rep.score}${rep.findings.map((f) => ` ${f.rule}`).join('')}]`;
        if (expects) {
          c.attacks[1]++;
          if (rep.attack) c.attacks[0]++;
          else out.misses.push(what);
        } else {
          c.negatives[1]++;
          if (rep.attack) {
            c.negatives[0]++;
            out.flagged.push(what);
          }
        }
      }
    }
  }
  return out;
}

/** Where a test puts its payload: the query, the body, a header other than the usual three, or the path. */
function shown(req: InspectRequest): string {
  if (req.query) return req.query;
  if (req.body) return String(req.body);
  for (const [k, v] of Object.entries(req.headers))
    if (!['host', 'user-agent', 'accept', 'content-type', 'content-length', 'connection'].includes(k))
      return `${k}: ${v}`;
  return req.path;
}

export function formatCrs(r: CrsResult, verbose = false): string {
  const rows = ['class      attacks detected      negatives flagged'];
  for (const [cls, { attacks: a, negatives: n }] of Object.entries(r.classes))
    rows.push(
      `${cls.padEnd(10)} ${`${a[0]}/${a[1]}`.padStart(9)} ${pct(a[0], a[1]).padStart(7)}   ${`${n[0]}/${n[1]}`.padStart(9)} ${pct(n[0], n[1]).padStart(7)}`,
    );
  rows.push(`(${r.skipped} test stages left out: another paranoia level, no expectation, or unreadable)`);
  for (const u of r.unreadable) rows.push(`not YAML, left out: ${u}`);
  if (verbose) {
    for (const m of r.misses) rows.push(`  miss ${m}`);
    for (const f of r.flagged) rows.push(`  flagged ${f}`);
  }
  return `${rows.join('\n')}\n`;
}

function main(argv: string[]): number {
  const dir = argv.find((a, i) => !a.startsWith('-') && argv[i - 1] !== '--pl');
  if (!dir || !existsSync(dir)) {
    process.stderr.write('usage: npm run corpus:crs -- DIR [--pl N] [--verbose] [--json]\n');
    return 2;
  }
  const plAt = argv.indexOf('--pl');
  const maxLevel = plAt === -1 ? 1 : Number(argv[plAt + 1]);
  if (!Number.isInteger(maxLevel) || maxLevel < 1 || maxLevel > 4) {
    process.stderr.write('--pl takes a paranoia level, 1 to 4\n');
    return 2;
  }
  const plFile = join(dir, 'pl.json');
  const levels = existsSync(plFile) ? (JSON.parse(readFileSync(plFile, 'utf8')) as Record<string, number>) : {};
  const engine = new DetectionEngine();
  const r = evaluateCrs(dir, (q) => engine.inspect(q), levels, maxLevel);
  if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else process.stdout.write(formatCrs(r, argv.includes('--verbose') || argv.includes('-v')));
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  process.exitCode = main(process.argv.slice(2));
