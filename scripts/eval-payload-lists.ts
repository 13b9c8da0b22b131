/**
 * Recall of the detection engine on public payload lists, which are not part of this repository (PayloadsAllTheThings'
 * Intruder lists, SecLists' Fuzzing lists, FuzzDB): an independent check of the labelled corpus's numbers.
 *   npm run corpus:lists -- DIR               DIR/<class>/*.txt, one payload per line; <class> is an attack class
 *   npm run corpus:lists -- DIR --verbose     also every miss with its score and findings
 *   npm run corpus:lists -- DIR --json        machine-readable result
 *   npm run corpus:lists -- --csv FILE        a labelled CSV (HttpParamsDataset's columns: payload, attack_type with
 *                                             norm, sqli, xss, cmdi, path-traversal): recall and false positives
 *   npm run corpus:lists -- --benign FILE     strings that are no attack, one a line: each sent as a query value and
 *                                             name, a JSON value and key; what is flagged is a false positive
 * Each payload is sent as a client would send it, with the engine's default options: URL-encoded in a query parameter
 * and as a JSON string field; traversal payloads go into the query as they are (the lists encode them themselves),
 * XXE payloads as an XML body, NoSQL payloads that are JSON as the field's value and `[$ne]=1` forms after a parameter
 * name. `{FILE}` placeholders (deep-traversal lists) become etc/passwd. Lists hold probes that are no attack alone
 * ("'", "1", a lone event handler name) and lines of multi-line payloads: their recall is a floor, not a target.
 * Importing this module runs nothing; the pure parts are unit-tested in test/corpus/payload-lists.test.ts.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DetectionEngine } from '../src/detect/engine.js';
import { ATTACK_CLASSES, type AttackClass, type InspectReport, type InspectRequest } from '../src/detect/types.js';

const HEADERS = { host: 'api.example.com', 'user-agent': 'Mozilla/5.0', accept: 'application/json' };

/** What each payload becomes: the place it is sent in, and the request. */
export function listRequests(cls: AttackClass, payload: string): Array<[string, InspectRequest]> {
  if (cls === 'xxe') {
    const headers = { ...HEADERS, 'content-type': 'application/xml' };
    return [['xml', { method: 'POST', path: '/api/import', query: '', headers, body: payload }]];
  }
  // Spaces, "#" and "&" would end or split the parameter; everything else is sent as the list wrote it.
  const raw = payload.replace(/ /g, '%20').replace(/#/g, '%23').replace(/&/g, '%26');
  const query =
    cls === 'traversal'
      ? `file=${raw}`
      : cls === 'nosqli' && payload.startsWith('[')
        ? `username${raw}`
        : `q=${encodeURIComponent(payload)}`;
  let field: unknown = payload;
  if (cls === 'nosqli') {
    try {
      const v = JSON.parse(payload) as unknown;
      if (v !== null && typeof v === 'object') field = v;
    } catch {
      // Not JSON: sent as a string.
    }
  }
  const json = { ...HEADERS, 'content-type': 'application/json' };
  return [
    ['query', { method: 'GET', path: '/api/search', query, headers: HEADERS }],
    [
      'json',
      { method: 'POST', path: '/api/comments', query: '', headers: json, body: JSON.stringify({ comment: field }) },
    ],
  ];
}

/** A list's payloads: its lines trimmed, blank lines and repeats dropped, `{FILE}` filled in. */
export function payloadsOf(text: string): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim().replaceAll('{FILE}', 'etc/passwd'));
  return [...new Set(lines.filter((l) => l.length > 0))];
}

export interface ListResult {
  cls: AttackClass;
  list: string;
  payloads: number;
  /** Per place: [detected, sent]. */
  places: Record<string, [number, number]>;
  misses: string[];
}

/** Evaluates every DIR/<class>/<list>; directories whose name is no attack class are skipped. */
export function evaluateLists(dir: string, inspect: (r: InspectRequest) => InspectReport): ListResult[] {
  const out: ListResult[] = [];
  for (const cls of readdirSync(dir).sort()) {
    if (!(ATTACK_CLASSES as readonly string[]).includes(cls) || !statSync(join(dir, cls)).isDirectory()) continue;
    for (const list of readdirSync(join(dir, cls)).sort()) {
      const payloads = payloadsOf(readFileSync(join(dir, cls, list), 'utf8'));
      const r: ListResult = { cls: cls as AttackClass, list, payloads: payloads.length, places: {}, misses: [] };
      for (const p of payloads) {
        for (const [place, req] of listRequests(cls as AttackClass, p)) {
          const rep = inspect(req);
          const c = r.places[place] ?? [0, 0];
          r.places[place] = c;
          c[1]++;
          if (rep.attack) c[0]++;
          else
            r.misses.push(
              `${place}: ${p.slice(0, 100)} [score ${rep.score}${rep.findings.map((f) => ` ${f.rule}`).join('')}]`,
            );
        }
      }
      out.push(r);
    }
  }
  return out;
}

/** d of n as a percentage with one decimal ("-" for none sent). */
export const pct = (d: number, n: number) => `${n ? ((100 * d) / n).toFixed(1) : '-'}%`;

export function formatLists(results: readonly ListResult[], verbose = false): string {
  const rows: string[] = [];
  const byClass = new Map<string, [number, number]>();
  for (const r of results) {
    const places = Object.entries(r.places).map(([p, [d, n]]) => `${p} ${pct(d, n)}`);
    rows.push(`${`${r.cls}/${r.list}`.padEnd(60)} ${String(r.payloads).padStart(5)}  ${places.join(', ')}`);
    if (verbose) for (const m of r.misses) rows.push(`    miss ${m}`);
    for (const [p, [d, n]] of Object.entries(r.places)) {
      const c = byClass.get(`${r.cls} (${p})`) ?? [0, 0];
      byClass.set(`${r.cls} (${p})`, [c[0] + d, c[1] + n]);
    }
  }
  rows.push('', 'per class and place:');
  for (const [k, [d, n]] of byClass) rows.push(`  ${k.padEnd(22)} ${`${d}/${n}`.padStart(11)}  ${pct(d, n)}`);
  return `${rows.join('\n')}\n`;
}

/** RFC 4180 records: fields separated by commas, quoted fields with "" for a quote and line breaks kept. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field || row.length) rows.push([...row, field]);
  return rows;
}

/** The labels of a labelled CSV (HttpParamsDataset's `attack_type`) as an attack class, or benign. */
const CSV_LABELS: Record<string, AttackClass | 'benign'> = {
  norm: 'benign',
  benign: 'benign',
  sqli: 'sqli',
  xss: 'xss',
  cmdi: 'cmdi',
  'path-traversal': 'traversal',
  traversal: 'traversal',
};

export interface CsvResult {
  /** Per label and place: [called an attack, sent]. */
  counts: Record<string, Record<string, [number, number]>>;
  /** Rows whose label is none of CSV_LABELS, or whose payload is empty. */
  skipped: number;
  /** Attacks missed and benign values flagged, with the place and findings. */
  errors: string[];
}

/**
 * A labelled CSV with a header row naming a `payload` column and an `attack_type` (or `label`) column, each row sent
 * as the lists' payloads are (a query parameter and a JSON field, `{file}` filled in): recall for attack rows, false
 * positives for benign ones.
 */
export function evaluateCsv(text: string, inspect: (r: InspectRequest) => InspectReport): CsvResult {
  // Rows are counted as the dataset has them, repeats included (its own class counts do the same).
  const [header, ...rows] = parseCsv(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  const col = (name: string) => header?.indexOf(name) ?? -1;
  const pi = col('payload');
  const li = col('attack_type') !== -1 ? col('attack_type') : col('label');
  if (pi === -1 || li === -1) throw new Error('the CSV needs a header with "payload" and "attack_type" or "label"');
  const out: CsvResult = { counts: {}, skipped: 0, errors: [] };
  for (const row of rows) {
    // HttpParamsDataset is lower-cased: its traversal payloads hold the lists' {FILE} placeholder as {file}.
    const payload = row[pi]?.replace(/\{file\}/gi, 'etc/passwd');
    const label = CSV_LABELS[(row[li] ?? '').trim()];
    if (!payload || !label) {
      out.skipped++;
      continue;
    }
    // Benign values go where SQL injection payloads go: a query parameter and a JSON field.
    for (const [place, req] of listRequests(label === 'benign' ? 'sqli' : label, payload)) {
      const rep = inspect(req);
      const byPlace = out.counts[label] ?? {};
      out.counts[label] = byPlace;
      const c = byPlace[place] ?? [0, 0];
      byPlace[place] = c;
      c[1]++;
      if (rep.attack) c[0]++;
      if (rep.attack === (label === 'benign'))
        out.errors.push(
          `${label} ${place}: ${payload.slice(0, 100)} [score ${rep.score}${rep.findings.map((f) => ` ${f.rule}`).join('')}]`,
        );
    }
  }
  return out;
}

export function formatCsv(r: CsvResult, verbose = false): string {
  const rows = ['label      place   called an attack'];
  for (const [label, places] of Object.entries(r.counts))
    for (const [place, [d, n]] of Object.entries(places))
      rows.push(`${label.padEnd(10)} ${place.padEnd(7)} ${`${d}/${n}`.padStart(11)}  ${pct(d, n)}`);
  if (r.skipped) rows.push(`(${r.skipped} rows with another label or an empty payload skipped)`);
  if (verbose) for (const e of r.errors) rows.push(`  ${e}`);
  return `${rows.join('\n')}\n`;
}

/** Where a benign list's string is sent: as a value and as a name, in a query and in a JSON body. */
export function benignRequests(text: string): Array<[string, InspectRequest]> {
  const json = { ...HEADERS, 'content-type': 'application/json' };
  return [
    ['query value', { method: 'GET', path: '/api/search', query: `q=${encodeURIComponent(text)}`, headers: HEADERS }],
    ['query name', { method: 'GET', path: '/api/search', query: `${encodeURIComponent(text)}=1`, headers: HEADERS }],
    ['JSON value', { method: 'POST', path: '/api/notes', query: '', headers: json, body: JSON.stringify({ text }) }],
    ['JSON key', { method: 'POST', path: '/api/notes', query: '', headers: json, body: JSON.stringify({ [text]: 1 }) }],
  ];
}

/**
 * A list of strings that are no attack (the Big List of Naughty Strings' non-attack sections, a product catalogue):
 * every line not starting with "#" is sent four ways; what the engine calls an attack is a false positive.
 */
export function evaluateBenign(
  text: string,
  inspect: (r: InspectRequest) => InspectReport,
): { sent: number; flagged: string[] } {
  const out = { sent: 0, flagged: [] as string[] };
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    for (const [place, req] of benignRequests(line)) {
      out.sent++;
      const rep = inspect(req);
      if (rep.attack)
        out.flagged.push(`${place}: ${line.slice(0, 100)} [${rep.findings.map((f) => f.rule).join(' ')}]`);
    }
  }
  return out;
}

/** The text of the file named after `flag`; null (usage printed) when the flag has no existing file after it. */
function fileAfter(argv: string[], flag: string, usage: string): string | null {
  const file = argv[argv.indexOf(flag) + 1];
  if (file && existsSync(file)) return readFileSync(file, 'utf8');
  process.stderr.write(`usage: npm run corpus:lists -- ${flag} FILE ${usage}\n`);
  return null;
}

function main(argv: string[]): number {
  const engine = new DetectionEngine();
  if (argv.includes('--benign')) {
    const text = fileAfter(argv, '--benign', '  (one string per line, # comments)');
    if (text === null) return 2;
    const r = evaluateBenign(text, (q) => engine.inspect(q));
    process.stdout.write(
      `${r.flagged.length} of ${r.sent} requests flagged\n${r.flagged.map((f) => `  ${f}\n`).join('')}`,
    );
    return 0;
  }
  if (argv.includes('--csv')) {
    const text = fileAfter(argv, '--csv', '[--verbose] [--json]');
    if (text === null) return 2;
    const r = evaluateCsv(text, (q) => engine.inspect(q));
    if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else process.stdout.write(formatCsv(r, argv.includes('--verbose') || argv.includes('-v')));
    return 0;
  }
  const dir = argv.find((a) => !a.startsWith('-'));
  if (!dir || !existsSync(dir)) {
    process.stderr.write(
      'usage: npm run corpus:lists -- DIR [--verbose] [--json]   (DIR/<class>/*.txt)\n' +
        '       npm run corpus:lists -- --csv FILE [--verbose] [--json]   (payload,attack_type columns)\n',
    );
    return 2;
  }
  const results = evaluateLists(dir, (r) => engine.inspect(r));
  if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else process.stdout.write(formatLists(results, argv.includes('--verbose') || argv.includes('-v')));
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  process.exitCode = main(process.argv.slice(2));
