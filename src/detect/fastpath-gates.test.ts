import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeValue, htmlDecode, jsUnescape, MAX_VALUE_CHARS, percentDecodeOnce } from './decode.js';
import {
  COMMAND_POSITION,
  cmdi,
  quick as cmdiQuick,
  commandPosition,
  globPath,
  recon,
  strong,
} from './detectors/cmdi.js';
import {
  charFlags,
  type Detector,
  F,
  letterRuns,
  makeValue,
  ProseIndex,
  type Value,
  type ValueKind,
} from './detectors/common.js';
import { jndi } from './detectors/jndi.js';
import { ldap } from './detectors/ldap.js';
import { nosqli, quick as nosqliQuick } from './detectors/nosqli.js';
import { proto } from './detectors/proto.js';
import { breakChars, CATALOGUES, catalogueHint, nextShapeWord, SHAPE_WORDS, sqli } from './detectors/sqli.js';
import { ssrf, urlInText } from './detectors/ssrf.js';
import { ssti } from './detectors/ssti.js';
import { traversal, quick as traversalQuick, wrapperAt } from './detectors/traversal.js';
import { noisy, sinkMatch, xss, quick as xssQuick } from './detectors/xss.js';
import { xxe } from './detectors/xxe.js';
import { keyShape, plainToken } from './parse.js';
import { generatedValues, generator } from './testing.js';

/**
 * This round's shortcuts (flag gates standing in for regex scans, scans read from a literal instead of an alternation
 * tried at every position) against the code they replace, kept here as the reference: the same answers on the
 * labelled corpus's values, on splices of them and on generated values over the characters and words that matter.
 */

/** Every string of the corpus's requests (path, query values, headers, JSON strings and keys, raw bodies). */
function corpusStrings(): string[] {
  const root = join(dirname(fileURLToPath(import.meta.url)), '../../test/corpus');
  const out = new Set<string>();
  const add = (s: unknown) => {
    if (typeof s === 'string' && s) out.add(s);
  };
  const walk = (x: unknown): void => {
    if (typeof x === 'string') add(x);
    else if (Array.isArray(x)) for (const y of x) walk(y);
    else if (x && typeof x === 'object')
      for (const [k, y] of Object.entries(x)) {
        add(k);
        walk(y);
      }
  };
  for (const dir of ['attacks', 'benign'])
    for (const f of readdirSync(join(root, dir)))
      for (const line of readFileSync(join(root, dir, f), 'utf8').split('\n')) {
        if (!line.trim()) continue;
        const r = JSON.parse(line).request as { path: string; query: string; headers: object; body?: string };
        add(r.path);
        for (const p of r.query.split('&')) {
          try {
            add(decodeURIComponent(p.slice(p.indexOf('=') + 1).replaceAll('+', ' ')));
          } catch {
            add(p);
          }
        }
        walk(r.headers);
        if (r.body !== undefined) {
          add(r.body);
          try {
            walk(JSON.parse(r.body));
          } catch {
            // Not JSON: the raw body is in already.
          }
        }
      }
  return [...out];
}

const CORPUS = corpusStrings();
/** Corpus values, their decoded lower-case forms (what detectors read) and splices of two of them. */
const VALUES: string[] = (() => {
  const rnd = generator(3);
  const out = new Set<string>();
  for (const c of CORPUS) {
    out.add(c);
    out.add(decodeValue(c, false).toLowerCase());
  }
  for (let k = 0; k < 20_000; k++) {
    const a = CORPUS[Math.floor(rnd() * CORPUS.length)] as string;
    const b = CORPUS[Math.floor(rnd() * CORPUS.length)] as string;
    const i = Math.floor(rnd() * (a.length + 1));
    out.add((a.slice(0, i) + b.slice(Math.floor(rnd() * (b.length + 1)))).toLowerCase());
  }
  return [...out];
})();

function all(extra: readonly string[]): string[] {
  return [...VALUES, ...extra];
}

describe('gates and scans agree with the code they replace', () => {
  it("the engine's skip by a detector's needs: the detector finds nothing in a value without those flags", () => {
    // Every detector with needs (the others have 0): a new one with needs is held to them here too.
    const all11: Detector[] = [sqli, nosqli, xss, cmdi, traversal, ssrf, xxe, jndi, ssti, ldap, proto];
    const gated = all11.filter((d) => d.needs !== 0);
    expect(gated.map((d) => d.cls).sort()).toEqual(['ldap', 'nosqli', 'ssti', 'traversal', 'xss', 'xxe']);
    const kinds: ValueKind[] = ['path', 'query', 'header', 'cookie', 'body'];
    const pieces = [
      '<',
      '>',
      '(',
      ')',
      '$',
      ';',
      '|',
      '{',
      '}',
      '[',
      '/',
      '\\',
      '..',
      '%',
      ':',
      '=',
      '*',
      '`',
      '#',
      '@',
    ];
    const words = ['a', ' ', "'", 'script', 'x', 'etc', 'passwd', '00', 'entity', 'ne', 'where', 'cn', 'onerror', '-'];
    let skipped = 0;
    const found: string[] = [];
    for (const text of all(generatedValues([...pieces, ...words], 20_000, 61))) {
      const flags = charFlags(text);
      const lower = text.toLowerCase();
      for (const d of gated) {
        if (flags & d.needs) continue;
        skipped++;
        for (const kind of kinds)
          for (const isKey of [false, true]) {
            const v: Value = { text, lower, kind, name: 'q', isKey, flags: flags | F.ENCODED };
            if (d.detect(v) !== null) found.push(`${d.cls} ${kind} ${JSON.stringify(text)}`);
          }
      }
    }
    expect(found).toEqual([]);
    expect(skipped).toBeGreaterThan(50_000);
  });

  it('ProseIndex: no detector finds anything, anywhere, in prose without its words', () => {
    const detectors: Detector[] = [sqli, nosqli, xss, cmdi, traversal, ssrf, xxe, jndi, ssti, ldap, proto];
    const index = new ProseIndex(detectors);
    const words = letterRuns(detectors.flatMap((d) => d.proseWords));
    const kinds: ValueKind[] = ['path', 'query', 'header', 'cookie', 'body'];
    const names = ['q', 'url', 'callback', 'redirect', 'cmd', 'filter', 'user-agent', 'referer', 'id'];
    // Each word glued to a letter or a digit (a run of letters holding a word is another word: substring scans must
    // still find nothing), words of prose, and every character prose may have.
    const glued = [...words].flatMap((w) => [`x${w}`, `${w}s`, `${w}1`, `2${w}`, `_${w}`, `${w}_x`, `${w}.`]);
    // Every ASCII punctuation character (a flag let into PROSE_FLAGS by mistake shows here), the ones prose has more often.
    const ascii = [...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'];
    const punctuation = [
      ...ascii,
      ' ',
      ' ',
      ' ',
      "'",
      '(',
      ')',
      ' -',
      ',',
      '.',
      '?',
      '0',
      '1',
      '5',
      ' -- ',
      '\t',
      '\n',
    ];
    // And every word of the corpus as it stands: a word a detector reads that its list lacks makes prose of attacks.
    const corpusRuns = letterRuns(CORPUS);
    const corpusWords = [...corpusRuns];
    // And every word the detectors' source holds (code, regexes, comments): a vocabulary the lists are not made from.
    const dir = join(dirname(fileURLToPath(import.meta.url)), 'detectors');
    const sourceWords = [
      ...letterRuns(
        readdirSync(dir)
          .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
          .map((f) => readFileSync(join(dir, f), 'utf8')),
      ),
    ].filter((w) => !corpusRuns.has(w));
    const wordPieces = [...glued, ...corpusWords, 'the', "o'connor", "it's", 'a', 'x'];
    let prose = 0;
    let skipped = 0;
    let corpusProse = 0;
    const found: string[] = [];
    const check = (text: string) => {
      const lower = text.toLowerCase();
      const flags = charFlags(text);
      const readers = index.readers(lower, flags);
      if (readers === -1) return false;
      prose++;
      for (const [i, d] of detectors.entries()) {
        if (readers & (1 << i)) continue;
        skipped++;
        for (const kind of kinds) {
          const v = makeValue(text, lower, kind, names[prose % names.length] as string, false, flags, undefined);
          if (d.detect(v) !== null) found.push(`${d.cls} ${kind} ${JSON.stringify(text)}`);
        }
      }
      return true;
    };
    for (const text of VALUES) if (check(text)) corpusProse++;
    // Each word in the shapes attacks put words in ("alert(1)", "cat -n x", "x' or 'y", "whoami"): a word a detector
    // reads that the lists lack is found here.
    const shapes = [
      'W',
      'W qz',
      'qz W',
      'W(1)',
      'W (qz)',
      'qz W(1)',
      'W -n qz',
      'W -la',
      "qz' W 'y",
      "qz' W",
      "' W qz",
      'W.qz(1)',
    ];
    const more = [
      'qz.W(1)',
      'W qz(1)',
      '(W)',
      'W 1',
      '1 W',
      'qz - W',
      'W.W',
      "qz'W",
      'qz W qz W',
      "W's qz",
      '"W"',
      'W?',
    ];
    const paths = [
      '/W/qz',
      'qz/W',
      'W/qz.php',
      'W/qz.ini',
      '/W',
      'https://qz/W',
      'file:///W/qz',
      'c:/W/qz',
      'qz=W&y=1',
      '/W/W/W',
      'qz; W',
      'W://qz/y',
      'qz/W_qz',
      '/bin/W',
      '/usr/local/bin/W -qz',
      'W /qz/y',
      "/qz/W'qz",
      "W'qz /y",
      'W /qz?y',
    ];
    // "qz" fills the shapes: no list holds it.
    expect(words.has('qz')).toBe(false);
    for (const w of [...corpusWords, ...sourceWords, ...words])
      for (const shape of [...shapes, ...more, ...paths]) check(shape.replaceAll('W', w));
    // Words and punctuation in turn, each drawn from its own list.
    const rnd = generator(79);
    const pick = (list: readonly string[]) => list[Math.floor(rnd() * list.length)] as string;
    for (let k = 0; k < 100_000; k++) {
      let text = rnd() < 0.5 ? '' : pick(punctuation);
      for (let n = 1 + Math.floor(rnd() * 6); n > 0; n--) text += pick(wordPieces) + pick(punctuation);
      check(text);
    }
    const byCls = new Map<string, string[]>();
    for (const f of found) byCls.set(f.split(' ')[0] as string, [...(byCls.get(f.split(' ')[0] as string) ?? []), f]);
    expect([...byCls.values()].flatMap((l) => l.slice(0, 6))).toEqual([]);
    expect(corpusProse).toBeGreaterThan(300);
    expect(prose).toBeGreaterThan(80_000);
    expect(skipped).toBeGreaterThan(prose * 5);
  });

  it('the corpus and its splices are a real sample', () => {
    expect(CORPUS.length).toBeGreaterThan(3000);
  });

  it('sqli: nextShapeWord yields the words the unanchored regex and the boundary check found', () => {
    const re = new RegExp(
      `(?:${[...SHAPE_WORDS]
        .sort((a, b) => b.length - a.length)
        .map((w) => w.replaceAll('.', '\\.'))
        .join('|')})(?![a-z0-9_$\\u0080-\\uffff])`,
      'g',
    );
    const isIdent = (c: number) =>
      (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36 || c > 127 || (c >= 48 && c <= 57);
    const reference = (s: string) => {
      const out: string[] = [];
      re.lastIndex = 0;
      for (let m = re.exec(s); m; m = re.exec(s)) {
        const c = m.index === 0 ? 32 : s.charCodeAt(m.index - 1);
        if (!isIdent(c) || (c >= 48 && c <= 57) || c === 160) out.push(`${m.index}:${m[0]}`);
        re.lastIndex = m.index + 1;
      }
      return out;
    };
    const scan = (s: string) => {
      const out: string[] = [];
      for (let w = nextShapeWord(s, 0); w; w = nextShapeWord(s, w.at + 1)) out.push(`${w.at}:${w.word}`);
      return out;
    };
    const pieces = [' ', 'a', '1', '_', '$', '.', 'é', '\u00a0', 'A', '(', "'", 'or', 'and', 'xor', 'select', 'union'];
    const more = ['sleep', 'exec', 'execute', 'load', 'load_file', 'dbms_lock.sleep', 'utl_http.request', 'x.', 'ssh'];
    let found = 0;
    for (const v of all(generatedValues([...pieces, ...more], 20_000, 17))) {
      const want = reference(v);
      found += want.length;
      expect(scan(v), JSON.stringify(v)).toEqual(want);
    }
    expect(found).toBeGreaterThan(5000);
  });

  it('sqli: catalogueHint holds wherever a system catalogue is named', () => {
    const names = [
      'information_schema',
      'sysobjects',
      'syscolumns',
      'sys.tables',
      'sys.databases',
      'mysql.user',
      'pg_catalog',
      'pg_shadow',
      'pg_user',
      'sqlite_master',
      'sqlite_schema',
      'all_tables',
      'user_tables',
      'dba_users',
      'msysobjects',
      'master..sysdatabases',
    ];
    // Names cut at every place and glued to others, so that near misses (pg_ without a catalogue after it) come too.
    const pieces = [
      ...names,
      ...names.map((n) => n.slice(0, Math.ceil(n.length / 2))),
      ...names.map((n) => n.slice(3)),
    ];
    let named = 0;
    let hinted = 0;
    for (const v of all(generatedValues([...pieces, ' ', '.', '_', 'x', '(', "'"], 20_000, 71))) {
      const h = catalogueHint(v);
      if (h) hinted++;
      if (!CATALOGUES.test(v)) continue;
      named++;
      expect(h, JSON.stringify(v)).toBe(true);
    }
    expect(named).toBeGreaterThan(1500);
    // Not a gate that always opens.
    expect(hinted).toBeLessThan(VALUES.length + 20_000);
  });

  it('sqli: a value routed to the tokenizer by its flags matches the quick regex that followed', () => {
    const QUICK =
      /['"`;#()=|&]|@@|--|\/\*|\b(?:union|select|sleep|benchmark|waitfor|or|and|xor|having|order|exec|drop|insert|delete|update|shutdown)\b/;
    let routed = 0;
    for (const v of all(generatedValues(["'", '"', '`', ';', '#', '-', '*', '/', '@', 'a', ' '], 5000, 19))) {
      if (!breakChars(v, charFlags(v))) continue;
      routed++;
      expect(QUICK.test(v), JSON.stringify(v)).toBe(true);
    }
    expect(routed).toBeGreaterThan(1000);
  });

  it('ssrf: urlInText finds the matches the URL regex found, one after the other', () => {
    const re =
      /(?:https?|wss?|ftp|gopher|dict|ldaps?|tftp|jar|smb|redis|netdoc|file):\/\/|(?:^|[\s="'(])\/\/(?=[\w[])/g;
    const pieces = ['http', 'https', 's', 'ftp', 'tftp', 'gopher', 'x', ':', '/', '//', '://', ' ', '=', '"', "'"];
    const more = ['(', '[', 'a', '1', '_', '-', '\u00a0', '\u2003', 'é', 'ws', 'wss', 'ldaps', 'file', 'netdoc'];
    let found = 0;
    for (const v of all(generatedValues([...pieces, ...more], 20_000, 23))) {
      const want: string[] = [];
      re.lastIndex = 0;
      for (let k = 0; k < 16; k++) {
        const m = re.exec(v);
        if (!m) break;
        want.push(`${m.index}-${m.index + m[0].length}`);
      }
      const got: string[] = [];
      let from = 0;
      for (let k = 0; k < 16; k++) {
        const m = urlInText(v, from);
        if (!m) break;
        got.push(`${m.index}-${m.end}`);
        from = m.end;
      }
      found += want.length;
      expect(got, JSON.stringify(v)).toEqual(want);
    }
    expect(found).toBeGreaterThan(5000);
  });

  it('traversal: wrapperAt is the wrapper regex, and the quick test its flags', () => {
    const re =
      /\b(?:php|zip|phar|glob|expect|data|compress\.zlib|compress\.bzip2|ogg|rar|ssh2(?:\.[a-z]+)?|jar|netdoc):\/\/?/;
    const quickRe = /\.\.|[/\\]|:\/\/|%00/;
    const pieces = ['php', 'phar', 'zip', 'data', 'ssh2', 'ssh2.', 'compress.', 'zlib', 'ogg', 'rar', 'jar', 'glob'];
    const more = ['expect', 'netdoc', ':', '/', '://', ':/', 'a', '_', '1', '.', ' ', 'x', '%00', '%', '0', '\\', '..'];
    let found = 0;
    for (const v of all(generatedValues([...pieces, ...more], 20_000, 29))) {
      const m = re.exec(v);
      const w = wrapperAt(v);
      if (m) found++;
      expect(w?.index, JSON.stringify(v)).toBe(m?.index);
      if (m && w) {
        const name = m[0].replace(/:\/\/?$/, '');
        if (w.name === 'ssh2.') expect(name.startsWith('ssh2.'), JSON.stringify(v)).toBe(true);
        else expect(name, JSON.stringify(v)).toBe(w.name);
      }
      expect(traversalQuick(v, charFlags(v)), JSON.stringify(v)).toBe(quickRe.test(v));
    }
    expect(found).toBeGreaterThan(1000);
  });

  it('xss: the quick gate and the sink gate answer as before', () => {
    const QUICK = /[<:(`[]|&#|\\u|\bon[a-z]+\s*=/;
    const SINK_NAMES =
      /alert|prompt|confirm|eval|settimeout|setinterval|execscript|fetch|atob|import|string\.fromcharcode|constructor\.constructor|onerror=/;
    const SINK =
      /\b(?:alert|prompt|confirm|eval|settimeout|setinterval|execscript|fetch|atob|import)\s*(?:\(|`)|\b(?:document\.(?:cookie|domain|write|location)|window\.location|location\.(?:href|hash|replace)|string\.fromcharcode|\.innerhtml|constructor\.constructor|top\[|self\[|window\[|parent\[|globalthis\[|onerror=)/;
    const pieces = ['<', ':', '(', '`', '[', '&#', '\\u', 'on', 'onerror', '=', ' ', 'a', 'alert', 'eval', 'top['];
    const more = ['string.fromcharcode', 'constructor.constructor', 'document.', 'cookie', 'location', '.href', ')'];
    const noise = ['\t', '\n', '\r', '\u0000', '\u0001', '\u001f', '\u000b', '\\', '<!--', '<!-', '\u007f'];
    const NOISE = /[\u0000-\u001f\\]|<!--/;
    let sinks = 0;
    for (const v of all(generatedValues([...pieces, ...more, ...noise], 20_000, 31))) {
      const f = charFlags(v);
      expect(noisy(v, f), JSON.stringify(v)).toBe(NOISE.test(v));
      expect(xssQuick(v, f), JSON.stringify(v)).toBe(
        (f & (F.LT | F.LPAREN | F.BACKTICK | F.EQ | F.COLON | F.BRACKET)) !== 0 && QUICK.test(v),
      );
      const before =
        f & (F.BACKTICK | F.BRACKET) ||
        v.includes('document.') ||
        v.includes('location') ||
        v.includes('.innerhtml') ||
        (f & (F.LPAREN | F.EQ) && SINK_NAMES.test(v))
          ? SINK.exec(v)
          : null;
      if (before) sinks++;
      expect(sinkMatch(v, f)?.index, JSON.stringify(v)).toBe(before?.index);
    }
    expect(sinks).toBeGreaterThan(1000);
  });

  it('cmdi: the quick test, RECON and the STRONG prefilter answer as the regexes', () => {
    const QUICK = /[;|&`$\n{\\]|\/dev\/|\/bin\/|\bcmd\b|powershell|\b(?:nc|bash|sh|wget|curl)\b/;
    const RECON = /^\s*(?:whoami|ifconfig|ipconfig|netstat|uname|systeminfo|tasklist|sysinfo|id;?)\s*$/;
    const STRONG =
      /\/dev\/(?:tcp|udp)\/|\b(?:nc|ncat|netcat)(?:\.exe)?\s[^;|&\n]{0,64}?\s-[a-z]{0,4}e\b|\bbash\s+-i\b|\bsh\s+-i\b|\b(?:bash|sh|zsh)\s+-c\s|\bcmd(?:\.exe)?\s+\/[ck]\b|\bpowershell(?:\.exe)?\s[^;|&\n]{0,80}?(?:-e(?:nc|ncodedcommand)?|-c(?:ommand)?|iex|-nop|-w(?:indowstyle)?)\b|\biex\s*\(|\binvoke-expression\b|\bdownloadstring\s*\(|\bmkfifo\s+\/tmp|\bchmod\s+\+?[0-7]*x?\s+\/tmp|\b(?:python[23]?|perl|ruby|php)\s+-[cre]\s|\|\s*(?:ba)?sh\b|(?:^|[;&|\n`])\s*(?:system|exec|shell_exec|passthru|popen|proc_open)\s*\(\s*['"]|\breg(?:\.exe)?\s+(?:add|query|delete|save|export)\s|(?:^|[;&|\n`])\s*net\s+(?:user|localgroup|view|share|use|session|group|accounts)\b/;
    const pieces = ['nc ', 'bash', 'sh', ' -i', ' -c ', ' -e', ' - ', ' / ', '/tmp', 'cmd', ' /c', 'whoami', 'id', ';'];
    const more = [
      '\t',
      '\n',
      '\r',
      ' ',
      '\u00a0',
      '|',
      'reg ',
      'net ',
      'user',
      'python',
      '-',
      '/',
      'x',
      'chmod ',
      '+x',
    ];
    let strongs = 0;
    let recons = 0;
    for (const v of all(generatedValues([...pieces, ...more, 'mkfifo', 'powershell', 'iex(', '${ifs}'], 20_000, 37))) {
      const f = charFlags(v);
      expect(cmdiQuick(v, f), JSON.stringify(v)).toBe(QUICK.test(v));
      const r = RECON.test(v);
      if (r) recons++;
      expect(recon(v, f), JSON.stringify(v)).toBe(r);
      // The engine's ENCODED flag does not rule RECON out.
      expect(recon(v, f | F.ENCODED)).toBe(r);
      const m = STRONG.exec(v);
      if (m) strongs++;
      expect(strong(v)?.index, JSON.stringify(v)).toBe(m?.index);
    }
    expect(strongs).toBeGreaterThan(1000);
    expect(recons).toBeGreaterThan(20);
  });

  it('cmdi: commandPosition is COMMAND_POSITION.test, tried at the start and at separators only', () => {
    const pieces = [
      ';',
      '|',
      '&',
      '`',
      '(',
      '\n',
      '\r',
      ' ',
      '\t',
      "'",
      '"',
      'cat',
      'id',
      'nice',
      'python3.1',
      'ls.exe',
      '/bin/',
      'x',
      'the',
      '-',
      '?',
      '*',
      '\\',
      ':',
    ];
    let found = 0;
    const values = all(generatedValues(pieces, 20_000, 61));
    // More separators than it tries one by one: the whole-value scan.
    values.push(`${';x'.repeat(80)};id -a`, `${'&'.repeat(100)} whoami`, `${'; the'.repeat(70)}`);
    for (const v of values) {
      const want = COMMAND_POSITION.test(v);
      if (want) found++;
      expect(commandPosition(v), JSON.stringify(v)).toBe(want);
    }
    expect(found).toBeGreaterThan(1000);
  });

  it('cmdi: globPath is the glob regex', () => {
    const GLOB = /(?:^|[\s;|&`(])\/[a-z?*]{1,8}(?:\/[a-z?*]{1,12}){0,3}\/[a-z?*]*[?*][a-z?*]*(?=$|[\s;|&`)])/;
    const pieces = [
      '/',
      '/???',
      '/b??',
      '/bin',
      'c?t',
      'n*',
      ' ',
      ';',
      '|',
      '&',
      '`',
      '(',
      ')',
      '\t',
      '\u00a0',
      '\u2003',
    ];
    let found = 0;
    for (const v of all(generatedValues([...pieces, '\ufeff', '\u3000', 'x', '.', ':', '?'], 20_000, 53))) {
      const m = GLOB.exec(v);
      if (m) found++;
      expect(globPath(v)?.index, JSON.stringify(v)).toBe(m?.index);
    }
    expect(found).toBeGreaterThan(500);
  });

  it('nosqli and ldap: the flags are their quick regexes', () => {
    const QUICK = /\$|this\.|sleep|\|\||db\.|;/;
    for (const v of all(
      generatedValues(['$', ';', '|', '||', '(', ')', 'this.', 'db.', 'sleep', 'a', ' '], 5000, 41),
    )) {
      const f = charFlags(v);
      expect(nosqliQuick(v, f), JSON.stringify(v)).toBe(
        (f & (F.DOLLAR | F.SEMI | F.PIPE | F.LPAREN)) !== 0 && QUICK.test(v),
      );
      // ldap reads a value only with F.RPAREN, which /[()]/ (its old second test) always matched then.
      if (f & F.RPAREN) expect(/[()]/.test(v)).toBe(true);
    }
  });

  it('decodeValue: ASCII text without NUL skips NFKC and the strip, as both would leave it', () => {
    const NON_ASCII = /[^\u0000-\u007f]/;
    const CONTROL_STRIP = /[\u0000\u200b-\u200d\ufeff\u00ad\ufffd]/g;
    const LOOKALIKE = /[\u2215\u2044\u29f8\u2216\u29f9\ufe68\u3002]/;
    const reference = (raw: string, plus: boolean): string => {
      let s = raw.length > MAX_VALUE_CHARS ? raw.slice(0, MAX_VALUE_CHARS) : raw;
      if (!(plus ? /[%&\\+\u0000-\u001f\u007f-\uffff]/ : /[%&\\\u0000-\u001f\u007f-\uffff]/).test(s)) return s;
      for (let p = 0; p < 3; p++) {
        const d = percentDecodeOnce(s, plus && p === 0);
        if (d === s) break;
        s = d;
      }
      const beforeHtml = s;
      s = htmlDecode(s);
      const htmlIdle = s === beforeHtml;
      s = jsUnescape(s);
      if (s.indexOf('%') !== -1) s = percentDecodeOnce(s, false);
      if (s.indexOf('&') !== -1 && !(htmlIdle && s === beforeHtml)) s = htmlDecode(s);
      if (NON_ASCII.test(s)) {
        s = s.normalize('NFKC');
        if (LOOKALIKE.test(s))
          s = s
            .replace(/[\u2215\u2044\u29f8]/g, '/')
            .replace(/[\u2216\u29f9\ufe68]/g, '\\')
            .replaceAll('\u3002', '.');
      }
      s = s.replace(CONTROL_STRIP, '');
      return s.length > MAX_VALUE_CHARS ? s.slice(0, MAX_VALUE_CHARS) : s;
    };
    const pieces = ['%', '%25', '%00', '%2e', '&', '&lt;', '&#0;', '\\u0000', '\\x41', 'a', ' ', '+', '\u0000', 'é'];
    const more = ['\u200b', '\ufeff', '\u00ad', '％', '\u2215', '%e2%80%8b', '&amp;', '\u0001'];
    for (const v of all(generatedValues([...pieces, ...more], 10_000, 43)))
      for (const plus of [false, true]) expect(decodeValue(v, plus), JSON.stringify(v)).toBe(reference(v, plus));
  });

  it('parse: the table-driven keyShape and plainToken answer as the comparisons did', () => {
    const plainReference = (s: string) => /^[a-zA-Z0-9.,@-]{0,256}$/.test(s);
    const keyReference = (key: string) => {
      let shape = key.charCodeAt(0) === 36 || (key.length >= 8 && key.indexOf('rototype') !== -1) ? 1 : 0;
      let prev = 0;
      for (let i = 0; i < key.length; i++) {
        const c = key.charCodeAt(i);
        if (c >= 65 && c <= 90) shape |= 2;
        else if (c === 91 || (c === 95 && prev === 95) || c <= 32 || `<>'"();\`|{}\\&#`.includes(key[i] as string))
          shape |= 1;
        else if (c === 126 || c === 47) shape |= 4;
        else if (c > 127) shape |= 2;
        prev = c;
      }
      return shape;
    };
    const pieces = ['a', 'Z', '0', '.', ',', '@', '-', '_', '__', '[', '~', '/', '$', 'é', ' ', 'rototype', '\u007f'];
    pieces.push('<', '>', "'", '"', '(', ')', ';', '`', '|', '{', '}', '\\', '&', '#', '\u0001', '\n');
    for (const v of all(generatedValues(pieces, 10_000, 47))) {
      expect(plainToken(v), JSON.stringify(v)).toBe(plainReference(v));
      expect(keyShape(v), JSON.stringify(v)).toBe(keyReference(v));
    }
    expect(plainToken('a'.repeat(256))).toBe(true);
    expect(plainToken('a'.repeat(257))).toBe(false);
  });
});
