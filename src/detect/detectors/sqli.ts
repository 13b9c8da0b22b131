import {
  CRITICAL,
  type Detector,
  ERROR,
  F,
  type Hit,
  isRegexSpace,
  isRegexWord,
  PROSE_FLAGS,
  type Value,
  WARNING,
} from './common.js';

/**
 * SQL injection by tokenising, as libinjection does: the value is read as SQL three times (as it is, and as if it
 * continued a single- or double-quoted string the application opened), comments and whitespace are folded away, and
 * the token sequence is checked against the shapes injections take: a string closed then followed by logic, a
 * comment, UNION, a stacked statement or a clause; tautologies; UNION SELECT; stacked statements with their grammar;
 * the functions blind and error-based injection relies on. Prose with apostrophes, "or" and "select" does not fit
 * these shapes. The tokenizer is one left-to-right pass with bounded lookahead and stops after MAX_TOKENS.
 */

const MAX_TOKENS = 64;

type T =
  | 's' // string literal
  | 'n' // number, true/false/null
  | 'k' // clause keyword (from, where, order, by, into, table ...)
  | 'U' // union, intersect, except
  | 'E' // statement start (select, insert, drop ...)
  | '&' // and, or, xor, &&, ||
  | 'o' // operator (= < > like in is not ...)
  | 'f' // function call (name followed by "(")
  | 'v' // @variable, @@system
  | 'b' // bareword (identifier)
  | 'c' // comment
  | '(' // open paren
  | ')'
  | ','
  | ';'
  | '.'; // dot (qualified names)

interface Tok {
  t: T;
  v: string;
  /** Position in the value. */
  at: number;
}

const STATEMENTS = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'drop',
  'create',
  'alter',
  'truncate',
  'exec',
  'execute',
  'declare',
  'shutdown',
  'grant',
  'revoke',
  'merge',
  'replace',
  'waitfor',
  'call',
  'load',
  'handler',
  'rename',
]);
const CLAUSES = new Set([
  'from',
  'where',
  'order',
  'group',
  'by',
  'having',
  'limit',
  'offset',
  'into',
  'outfile',
  'dumpfile',
  'values',
  'set',
  'table',
  'database',
  'schema',
  'procedure',
  'delay',
  'time',
  'top',
  'distinct',
  'all',
  'as',
  'case',
  'when',
  'then',
  'else',
  'end',
  'join',
  'on',
  'asc',
  'desc',
  'if',
  'exists',
  'view',
  'user',
  'index',
  'column',
  'cast',
  'convert',
  'declare',
  'char',
  'nchar',
  'varchar',
  'nvarchar',
  'collate',
  'escape',
  'for',
  'xml',
  'path',
  'fetch',
  'next',
  'rows',
  'only',
]);
const UNIONS = new Set(['union', 'intersect', 'except', 'minus']);
const LOGIC = new Set(['and', 'or', 'xor']);
const WORD_OPS = new Set([
  'like',
  'rlike',
  'regexp',
  'is',
  'not',
  'in',
  'between',
  'div',
  'mod',
  'sounds',
  'glob',
  'match',
]);
const LITERALS = new Set(['true', 'false', 'null', 'unknown']);

/** Every reserved word's token type, in one lookup (the order settles words in two lists: logic first). */
const WORD_TYPE = new Map<string, T>();
for (const [set, t] of [
  [CLAUSES, 'k'],
  [LITERALS, 'n'],
  [WORD_OPS, 'o'],
  [STATEMENTS, 'E'],
  [UNIONS, 'U'],
  [LOGIC, '&'],
] as const)
  for (const w of set) WORD_TYPE.set(w, t);

/** Functions blind, time-based, error-based and out-of-band injection rely on; rare outside SQL. */
const ATTACK_FUNCS = new Set([
  'sleep',
  'benchmark',
  'pg_sleep',
  'extractvalue',
  'updatexml',
  'load_file',
  'xp_cmdshell',
  'xp_dirtree',
  'xp_regread',
  'sp_executesql',
  'sp_oacreate',
  'sp_configure',
  'utl_inaddr.get_host_address',
  'utl_http.request',
  'utl_inaddr.get_host_name',
  'get_host_name',
  'dbms_pipe.receive_message',
  'receive_message',
  'get_host_address',
  'dbms_lock.sleep',
  'user_lock.sleep',
  'name_const',
  'randomblob',
  'sys_eval',
  'sys_exec',
  'lo_import',
  'lo_export',
  'pg_read_file',
  'pg_ls_dir',
  'group_concat',
  'string_agg',
  'make_set',
  'elt',
  'gtid_subset',
  'json_keys',
  'exp',
  'floor',
  'rand',
  'ascii',
  'ord',
  'substring',
  'substr',
  'mid',
  'char',
  'chr',
  'concat',
  'concat_ws',
  'version',
  'database',
  'user',
  'current_user',
  'system_user',
  'session_user',
  'schema',
  'db_name',
  'user_name',
  'hex',
  'unhex',
  'length',
  'count',
  'if',
  'iif',
  'case',
  'ifnull',
  'isnull',
  'nullif',
  'coalesce',
  'convert',
  'cast',
  'openrowset',
  'opendatasource',
  'dbms_xmlgen.getxml',
  'ctxsys.drithsx.sn',
  'xmltype',
  'unistr',
  'sqlite_version',
  'load_extension',
  'row_count',
  'found_rows',
  'instr',
  'left',
  'right',
  'md5',
  'sha1',
  'bin',
  'conv',
  'lower',
  'upper',
  'reverse',
  'password',
  'encode',
  'decode',
]);
/** The subset that is dangerous alone: a value that calls one of these is an attack wherever it appears. */
const STRONG_FUNCS = new Set([
  'sleep',
  'benchmark',
  'pg_sleep',
  'extractvalue',
  'updatexml',
  'load_file',
  'xp_cmdshell',
  'xp_dirtree',
  'xp_regread',
  'sp_executesql',
  'sp_oacreate',
  'utl_inaddr.get_host_address',
  'utl_http.request',
  'utl_inaddr.get_host_name',
  'dbms_pipe.receive_message',
  'dbms_lock.sleep',
  'user_lock.sleep',
  'name_const',
  'sys_eval',
  'sys_exec',
  'lo_import',
  'pg_read_file',
  'pg_ls_dir',
  'gtid_subset',
  'openrowset',
  'dbms_xmlgen.getxml',
  'ctxsys.drithsx.sn',
  'load_extension',
]);
/** System catalogues: reading them is enumeration. */
export const CATALOGUES =
  /\b(?:information_schema|sysobjects|syscolumns|sys\.(?:tables|objects|columns|databases)|mysql\.user|pg_catalog|pg_shadow|pg_user|sqlite_master|sqlite_schema|all_tables|user_tables|dba_users|msysobjects|master\.\.sysdatabases)\b/;

function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36 || c > 127;
}
function isIdent(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 160;
}

/**
 * Tokenises `s` (lower case) as SQL. `quote` is the quote the application is assumed to have opened before the value
 * (0 for none): the text up to the first such quote becomes a string token. Returns null when that quote is never
 * closed (the whole value stays inside the string: no injection in that context).
 */
export function tokenize(s: string, quote: number, max = MAX_TOKENS): Tok[] | null {
  const toks: Tok[] = [];
  const n = s.length;
  let i = 0;
  if (quote) {
    const end = s.indexOf(String.fromCharCode(quote));
    if (end === -1) return null;
    toks.push({ t: 's', v: s.slice(0, end), at: 0 });
    i = end + 1;
  }
  while (i < n && toks.length < max) {
    const c = s.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    const at = i;
    // Comments. MySQL's /*! ... */ runs its content as SQL: skip only the markers.
    if (c === 47 && s.charCodeAt(i + 1) === 42) {
      if (s.charCodeAt(i + 2) === 33) {
        i += 3;
        while (i < n && isDigit(s.charCodeAt(i))) i++;
        continue;
      }
      const end = s.indexOf('*/', i + 2);
      i = end === -1 ? n : end + 2;
      // An inline comment between words is whitespace (UN/**/ION is not a word, UNION/**/SELECT is two).
      if (end !== -1) continue;
      toks.push({ t: 'c', v: '/*', at });
      continue;
    }
    if (c === 42 && s.charCodeAt(i + 1) === 47) {
      // The end of a /*! block.
      i += 2;
      continue;
    }
    if ((c === 45 && s.charCodeAt(i + 1) === 45) || c === 35) {
      // "-- " comment (MySQL wants a space after it; others do not) or "#": to the end of the line. SQL goes on
      // after a newline, which payloads use to hide code behind a comment ("-1#\nunion select ...").
      toks.push({ t: 'c', v: c === 35 ? '#' : '--', at });
      let nl = s.indexOf('\n', i);
      const cr = s.indexOf('\r', i);
      if (cr !== -1 && (nl === -1 || cr < nl)) nl = cr;
      if (nl === -1) break;
      i = nl + 1;
      continue;
    }
    if (c === 39 || c === 34 || c === 96) {
      // Strings, with doubled quotes and backslash escapes. Unterminated: to the end.
      let j = i + 1;
      while (j < n) {
        const d = s.charCodeAt(j);
        if (d === 92) {
          j += 2;
          continue;
        }
        if (d === c) {
          if (s.charCodeAt(j + 1) === c) {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      toks.push({ t: c === 96 ? 'b' : 's', v: s.slice(i + 1, Math.min(j, n)), at });
      i = j + 1;
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(s.charCodeAt(i + 1)))) {
      let j = i + 1;
      if (c === 48 && (s.charCodeAt(j) | 32) === 120) {
        j++;
        while (j < n && isIdent(s.charCodeAt(j))) j++;
      } else {
        while (j < n) {
          const d = s.charCodeAt(j);
          if (isDigit(d) || d === 46) j++;
          else if ((d | 32) === 101 && (isDigit(s.charCodeAt(j + 1)) || s.charCodeAt(j + 1) === 45)) j += 2;
          else break;
        }
      }
      // "1union", "1and": a number glued to a word is still a number followed by a word in MySQL.
      toks.push({ t: 'n', v: s.slice(i, j), at });
      i = j;
      continue;
    }
    if (c === 64) {
      let j = i + 1;
      if (s.charCodeAt(j) === 64) j++;
      while (j < n && (isIdent(s.charCodeAt(j)) || s.charCodeAt(j) === 46)) j++;
      toks.push({ t: 'v', v: s.slice(i, j), at });
      i = j;
      continue;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdent(s.charCodeAt(j))) j++;
      // Qualified function names (utl_inaddr.get_host_address) stay one word when a "(" follows.
      let word = s.slice(i, j);
      let k = j;
      while (s.charCodeAt(k) === 46 && isIdentStart(s.charCodeAt(k + 1))) {
        let m = k + 1;
        while (m < n && isIdent(s.charCodeAt(m))) m++;
        word = s.slice(i, m);
        k = m;
      }
      let p = k;
      while (p < n && isSpace(s.charCodeAt(p))) p++;
      const kind = WORD_TYPE.get(word);
      if (s.charCodeAt(p) === 40 && (kind === undefined || kind === 'n' || ATTACK_FUNCS.has(word))) {
        toks.push({ t: 'f', v: word, at });
        i = k;
        continue;
      }
      i = j;
      toks.push({ t: kind ?? 'b', v: word, at });
      continue;
    }
    i++;
    switch (c) {
      case 40:
        toks.push({ t: '(', v: '(', at });
        break;
      case 41:
        toks.push({ t: ')', v: ')', at });
        break;
      case 44:
        toks.push({ t: ',', v: ',', at });
        break;
      case 59:
        toks.push({ t: ';', v: ';', at });
        break;
      case 46:
        toks.push({ t: '.', v: '.', at });
        break;
      case 38:
      case 124:
        if (s.charCodeAt(i) === c) {
          i++;
          toks.push({ t: '&', v: c === 38 ? '&&' : '||', at });
        } else toks.push({ t: 'o', v: s[at] as string, at });
        break;
      case 63:
        // "?" is a prepared-statement placeholder: a value.
        toks.push({ t: 'n', v: '?', at });
        break;
      default: {
        // Operators: = < > ! + - * / % ^ ~ and their two/three-character forms.
        let j = i;
        while (j < n && j - at < 3 && '=<>!'.includes(s[j] as string)) j++;
        i = j;
        toks.push({ t: 'o', v: s.slice(at, j), at });
      }
    }
  }
  return toks;
}

/** Operators a subquery can follow: "1 = (select ...)", "x in (select ...)", "1 + (select ...)". */
const SUBQUERY_OPS = /^(?:=|==|<|>|<=|>=|<>|!=|<=>|\+|-|\*|\/|%|\||like|rlike|regexp|in|not|is|between)$/;
const OPERAND = new Set<T>(['n', 's', 'v', 'f', 'b', '(']);
const COMPARE = /^(?:=|==|<|>|<=|>=|!=|<>|<=>|like|rlike|regexp|is|in|between|not|sounds|glob|match)$/;

/** Index of the next token after skipping open parens. */
function skipOpen(toks: Tok[], i: number): number {
  while (toks[i]?.t === '(') i++;
  return i;
}

/** A statement start with enough of its grammar to be SQL and not prose ("select the option"). */
function statementAt(toks: Tok[], i: number): boolean {
  const e = toks[i];
  if (e?.t !== 'E') return false;
  const a = toks[i + 1];
  const b = toks[i + 2];
  switch (e.v) {
    case 'select': {
      if (!a) return false;
      // select 1,2,3 / select * from / select user() / select @@version / select(sleep(5)) / select null
      if (a.t === 'f' || a.t === 'v' || a.t === '(' || a.t === 'n' || a.t === 's') return true;
      if (a.t === 'o' && a.v === '*') return true;
      if (a.t === 'k' && a.v === 'case') return true;
      if (a.t === 'k' && (a.v === 'top' || a.v === 'distinct' || a.v === 'all')) {
        // select distinct name, ... / select top 1 ...: "select all that apply" is prose.
        const c = toks[i + 3];
        return (
          !!b &&
          (b.t === 'n' ||
            b.t === 'f' ||
            (b.t === 'o' && b.v === '*') ||
            (b.t === 'b' && (c?.t === ',' || c?.v === 'from')))
        );
      }
      if (
        a.t === 'b' &&
        (b?.t === ',' || (b?.t === 'k' && b.v === 'from') || b?.t === '.' || b?.t === ';' || b?.t === 'c')
      )
        return true;
      if (a.t === 'b' && b?.t === 'o' && /^[:=+|*/-]/.test(b.v) && a.v.startsWith('$')) return true;
      // select login/2 from ..., select a.b, c from ...: an expression list (never two words in a row) then FROM.
      if (a.t === 'b') {
        let prevWord = true;
        for (let k = i + 2; k < i + 10; k++) {
          const t = toks[k];
          if (!t) return false;
          if (t.t === 'k' && t.v === 'from') return true;
          if (t.t === 'b' || t.t === 'n') {
            if (prevWord) return false;
            prevWord = true;
          } else if (t.t === 'o' || t.t === ',' || t.t === '.') prevWord = false;
          else if (t.t !== 'f' && t.t !== '(' && t.t !== ')') return false;
        }
      }
      return false;
    }
    case 'insert':
    case 'replace':
      return a?.t === 'k' && a.v === 'into';
    case 'update':
      return a?.t === 'b' && b?.t === 'k' && b.v === 'set';
    case 'delete':
      return a?.t === 'k' && a.v === 'from';
    case 'drop':
    case 'create':
    case 'alter':
    case 'truncate':
      return a?.t === 'k' && /^(?:table|database|schema|view|user|index|procedure|function)$/.test(a.v);
    case 'exec':
    case 'execute':
      // "exec xp_cmdshell", "exec('...')", "execute immediate"; not "Execute the plan".
      return (
        a?.t === 'f' ||
        a?.t === '(' ||
        a?.t === 'v' ||
        a?.t === 's' ||
        (a?.t === 'b' && /^(?:xp_|sp_|master$|master\.|immediate$|dbo\.)/.test(a.v))
      );
    case 'declare':
      return a?.t === 'v';
    case 'shutdown':
      return !a || a.t === 'c' || a.t === ';' || a.t === 'b';
    case 'waitfor':
      return a?.t === 'k' && (a.v === 'delay' || a.v === 'time');
    case 'grant':
    case 'revoke':
      return a?.t === 'b' || a?.t === 'k' || a?.t === 'E';
    default:
      return false;
  }
}

/** `x OR y = z`, `OR 1`, `AND true`, `OR sleep(5)`, `AND (SELECT ...)`: logic followed by an expression. */
function logicExpr(toks: Tok[], i: number, strong: boolean): boolean {
  const j = skipOpen(toks, i + 1);
  const a = toks[j];
  if (!a) return false;
  // '||' after a string break is concatenation (Oracle, PostgreSQL): admin'||'
  if (strong && toks[i]?.v === '||') return true;
  if (a.t === 'f' && (ATTACK_FUNCS.has(a.v) || strong)) return true;
  if (a.t === 'E') return statementAt(toks, j) || strong;
  // OR EXISTS(SELECT ...), AND NOT EXISTS (...)
  if (a.t === 'k' && a.v === 'exists') return toks[j + 1]?.t === '(' && (toks[j + 2]?.t === 'E' || strong);
  if (a.t === 'o' && (a.v === 'not' || a.v === '!' || a.v === '-' || a.v === '~')) return true;
  // After a string break a column named like a keyword is still an operand: "' or user like '%".
  const keywordOperand = strong && a.t === 'k' && toks[j + 1]?.t === 'o' && COMPARE.test((toks[j + 1] as Tok).v);
  if (!OPERAND.has(a.t) && !keywordOperand) return false;
  // A qualified column (members.email) is one operand.
  const opAt = a.t === 'b' ? qualifiedEnd(toks, j) + 1 : j + 1;
  const op = toks[opAt];
  if (!op || op.t === 'c' || op.t === ';') {
    // "' or 1 --", "' or true#", "1 or true": a lone literal only counts after a string break or as true/number.
    // "' or 1--", "' or true#", "1 or true"; a lone string ("the 'or' operator") is not an expression.
    if (strong) return op ? a.t !== 'b' : a.t === 'n' || a.t === 'v' || a.t === 'f';
    return a.t === 'n' && /^(?:true|1)$/.test(a.v);
  }
  if (op.t === ')') return strong || (a.t === 'n' && toks[j + 2]?.t === 'c');
  if (op.t === 'o' && COMPARE.test(op.v)) {
    const k = skipOpen(toks, opAt + 1);
    const b = toks[k];
    if (!b) return strong;
    if (strong) return OPERAND.has(b.t) || b.t === 'n' || b.t === 'E';
    // Without a string break: at least one side a literal, the other a literal or identifier (1=1, id>0, 'a'='a').
    return (
      (a.t === 'n' || a.t === 's' || a.t === 'v' || a.t === 'f') &&
      (b.t === 'n' || b.t === 's' || b.t === 'f' || b.t === 'E')
    );
  }
  if (op.t === 'o' && strong) return true;
  if (op.t === '&') return strong;
  return false;
}

/** The last token of a qualified name starting at i (members.email, db.dbo.users): i when it is not qualified. */
function qualifiedEnd(toks: Tok[], i: number): number {
  let q = i;
  while (toks[q + 1]?.t === '.' && (toks[q + 2]?.t === 'b' || toks[q + 2]?.t === 'k')) q += 2;
  return q;
}

/**
 * A comparison of an operand with itself after the logic word at i (or a=a, or 1=1, or 'x'='x'), closing the value
 * (its end, a comment, ";" or ")"): always true whatever precedes, so no literal is needed before the logic word.
 */
function identicalComparison(toks: Tok[], i: number): boolean {
  const j = skipOpen(toks, i + 1);
  const a = toks[j];
  const op = toks[j + 1];
  const b = toks[j + 2];
  // Identifiers only as short as payloads spell them (a=a, x=x): "cats or dogs = dogs" is a riddle, not a bypass.
  if (!a || !op || !b || (a.t !== 'n' && a.t !== 's' && !(a.t === 'b' && a.v.length <= 3))) return false;
  if (b.t !== a.t || b.v !== a.v || (op.v !== '=' && op.v !== '==' && op.v !== 'like')) return false;
  const after = toks[j + 3];
  return !after || after.t === 'c' || after.t === ';' || after.t === ')';
}

/** GROUP BY somewhere before token i. */
function groupByBefore(toks: Tok[], i: number): boolean {
  for (let k = 0; k + 1 < i; k++) if (toks[k]?.v === 'group' && toks[k + 1]?.v === 'by') return true;
  return false;
}

/** Checks the token stream of one context. `broke`: the stream starts with a string the value closed. */
export function shapes(toks: Tok[], broke: boolean, s: string): Hit | null {
  let best: Hit | null = null;
  const take = (rule: string, score: number, at: number) => {
    if (!best || score > best.score) best = { rule, score, at };
  };
  const start = broke ? 1 : 0;
  // A quote after a space in prose opens a quotation ("the 'or' operator", "what does ' or 1=1 mean"): the value
  // does not close the application's string there. Payloads close it right after a value: admin'-- , 1' or.
  if (broke) {
    const before = toks[0]?.v ?? '';
    if (/^[a-z][a-z ,.:!?-]*\s$/.test(before) && (/[a-z]{2,}\s+[a-z]{2,}/.test(before) || /:\s$/.test(before)))
      return null;
  }
  if (broke) {
    const a = toks[1];
    const b = toks[2];
    if (!a) return null;
    switch (a.t) {
      case 'c':
        // admin'-- / admin'#: only when the value is short of prose before it.
        // A "#" is also a number sign (7" #2 needle) and prose uses it: after "#" the value must end or look like SQL.
        if (a.v === '#') {
          const after = s.slice(a.at + 1, a.at + 3);
          if (toks[0] && !/\s/.test(toks[0].v) && toks[0].v.length <= 64 && !/^\s?\d/.test(after))
            take('sqli.comment', CRITICAL, a.at);
        } else if (toks[0] && toks[0].v.length <= 64 && !/\s\w+\s\w+\s/.test(toks[0].v))
          take('sqli.comment', CRITICAL, a.at);
        break;
      case '&':
        if (logicExpr(toks, 1, true)) take('sqli.tautology', CRITICAL, a.at);
        break;
      case 'U':
        if (b?.t === 'E' || b?.t === '(' || (b?.t === 'k' && b.v === 'all')) take('sqli.union', CRITICAL, a.at);
        break;
      case ';':
        // "'; desc users; --": a word after the break and a comment closing what follows it count as a statement.
        if (
          statementAt(toks, 2) ||
          b?.t === 'c' ||
          ((b?.t === 'k' || b?.t === 'b') && toks.length <= 8 && toks[toks.length - 1]?.t === 'c')
        )
          take('sqli.stacked', CRITICAL, a.at);
        // "admin@juice-sh.op';": a bare value closed and the statement ended there, the rest of the query cut off.
        else if (!b && bareBefore(toks)) take('sqli.string_break', CRITICAL, a.at);
        break;
      case ')': {
        let j = 1;
        while (toks[j]?.t === ')') j++;
        const c = toks[j];
        if (
          c &&
          (c.t === 'c' ||
            c.t === 'U' ||
            c.t === ';' ||
            (c.t === '&' && logicExpr(toks, j, true)) ||
            orderByProbe(toks, j) === 'comment')
        ) {
          take('sqli.string_break', CRITICAL, a.at);
        }
        break;
      }
      case 'k':
        if (
          (a.v === 'order' || a.v === 'group') &&
          b?.t === 'k' &&
          b.v === 'by' &&
          (toks[3]?.t === 'n' || toks[3]?.t === 'b')
        )
          take('sqli.string_break', CRITICAL, a.at);
        else if ((a.v === 'having' || a.v === 'where') && logicExprLike(toks, 2))
          take('sqli.string_break', CRITICAL, a.at);
        else if (a.v === 'into' && b?.v && /^(?:outfile|dumpfile)$/.test(b.v)) take('sqli.file', CRITICAL, a.at);
        else if (a.v === 'procedure' && b?.t === 'f') take('sqli.string_break', CRITICAL, a.at);
        break;
      case 'E':
        // "' insert into users ...", "x' exec sp_addlogin ...": a bare value closed, then a statement; after prose
        // ("I can't select ...") it is weaker.
        if (statementAt(toks, 1))
          take('sqli.string_break', a.v === 'waitfor' || bareBefore(toks) ? CRITICAL : ERROR, a.at);
        break;
      case 'o':
        // '||(select ...)||', '+sleep(5)+', '='   , ' like '%
        if (b && (b.t === 'f' || b.t === '(' || b.t === 'E' || b.t === 's' || b.t === 'n' || b.t === 'v')) {
          // '-' '*' '&' '^' as the whole value: the empty string closed, an operator, a string opened (login bypass by
          // type juggling, "'' - ''" is 0).
          if (b.t === 's' && toks.length === 3 && toks[0]?.v === '' && b.v === '' && BYPASS_OPS.has(a.v)) {
            take('sqli.string_break', CRITICAL, a.at);
            break;
          }
          if (b.t === 's' && a.v !== '=' && a.v !== '+' && a.v !== 'like') break;
          if (b.t === 'n' && !/^(?:=|<|>|<=|>=|<>|!=|\+|-|\*|like|in|is)$/.test(a.v)) break;
          // 1'='1, '=': a bare value closed and compared; prose before the quote makes it weaker.
          const bare = toks[0] !== undefined && toks[0].v.length <= 32 && !/\s/.test(toks[0].v);
          take('sqli.string_break', (b.t === 's' || b.t === 'n') && !bare ? ERROR : CRITICAL, a.at);
        }
        break;
      case 'f':
        if (ATTACK_FUNCS.has(a.v)) take('sqli.string_break', CRITICAL, a.at);
        break;
    }
  }
  for (let i = start; i < toks.length; i++) {
    const t = toks[i] as Tok;
    const prev = toks[i - 1];
    switch (t.t) {
      case 'U': {
        const j = skipOpen(toks, i + 1);
        const nx = toks[i + 1];
        if (
          statementAt(toks, j) ||
          (nx?.t === 'k' && (nx.v === 'all' || nx.v === 'distinct') && toks[j + 1]?.t === 'E')
        )
          take('sqli.union', CRITICAL, t.at);
        break;
      }
      case ';':
        if (statementAt(toks, i + 1)) take('sqli.stacked', CRITICAL, t.at);
        break;
      case '&': {
        // A tautology needs something it continues: a literal, a closing paren, or the start of the value.
        const ok = !prev || prev.t === 'n' || prev.t === 's' || prev.t === ')' || prev.t === 'v';
        if ((ok && logicExpr(toks, i, false)) || identicalComparison(toks, i)) take('sqli.tautology', CRITICAL, t.at);
        break;
      }
      case 'f':
        if (STRONG_FUNCS.has(t.v)) {
          // sleep(5) / benchmark(1000000,md5(1)): call with a numeric-ish argument, or anywhere in SQL shape.
          take('sqli.function', CRITICAL, t.at);
        } else if (t.v === 'randomblob' && toks[i + 1]?.t === '(') {
          // SQLite's delay: randomblob(500000000/2). Small sizes make ids in ordinary SQL (hex(randomblob(16))).
          const size = toks[i + 2];
          if (size?.t === 'n' && Number(size.v) >= 1e6) take('sqli.function', CRITICAL, t.at);
        }
        break;
      case 'E':
        if ((t.v === 'exec' || t.v === 'execute') && dangerousProc(toks, i + 1)) take('sqli.function', CRITICAL, t.at);
        // EXEC(@q): dynamic SQL run from a variable (DECLARE @q ... SELECT @q = 0x...; EXEC(@q)).
        else if (
          (t.v === 'exec' || t.v === 'execute') &&
          toks[i + 1]?.t === '(' &&
          toks[i + 2]?.t === 'v' &&
          !(toks[i + 2] as Tok).v.startsWith('@@') &&
          toks[i + 3]?.t === ')'
        )
          take('sqli.dynamic', CRITICAL, t.at);
        else if (t.v === 'waitfor' && statementAt(toks, i)) take('sqli.function', CRITICAL, t.at);
        else if (
          prev &&
          (prev.t === '(' || prev.t === '&' || (prev.t === 'o' && SUBQUERY_OPS.test(prev.v))) &&
          statementAt(toks, i)
        ) {
          // A subquery inside an expression: "1 and (select ...)", "1 = (select ...)".
          take('sqli.subquery', CRITICAL, t.at);
        } else if (statementAt(toks, i)) take('sqli.statement', WARNING, t.at);
        break;
      case 'v':
        if (t.v.startsWith('@@')) take('sqli.variable', WARNING, t.at);
        break;
      case 'k':
        // "order by 5--" / "group by 1,2#": column counting at the very start of a value; after a closing paren or a
        // comparison ("1')) order by 1#", "1 where 5=5 order by 1--") only with a comment closing the query.
        if (t.v === 'order' || t.v === 'group') {
          const probe = orderByProbe(toks, i);
          if (probe !== null && (i === start || (probe === 'comment' && closesQuery(toks, i, broke))))
            take('sqli.order_by', CRITICAL, t.at);
        }
        // "having 1=1", "having 1=1--": a probe for a GROUP BY query, the whole value.
        // After GROUP BY anywhere in the value too: "group by userid having 1=1--".
        if ((i === start || groupByBefore(toks, i)) && t.v === 'having' && logicExprLike(toks, i + 1)) {
          const after = toks[i + 4];
          if (!after || after.t === 'c') take('sqli.tautology', CRITICAL, t.at);
        }
        if (t.v === 'into' && toks[i + 1] && /^(?:outfile|dumpfile)$/.test((toks[i + 1] as Tok).v))
          take('sqli.file', CRITICAL, t.at);
        break;
      case 'c':
        // "1 --", "1)--": a comment right after a literal that closes an expression.
        if (prev && (prev.t === ')' || prev.t === 'n') && i > start + 1) {
          const p2 = toks[i - 2];
          if (p2 && (p2.t === 'o' || p2.t === '&' || p2.t === 'n' || p2.t === 's' || p2.t === 'f'))
            take('sqli.comment', WARNING, t.at);
        }
        break;
    }
  }
  return best;
}

/**
 * ORDER BY / GROUP BY and a column number at i, as column counting sends them: 'comment' when a comment follows, 'end'
 * when the value ends or a list goes on ("group by 1,2"), null otherwise.
 */
function orderByProbe(toks: Tok[], i: number): 'comment' | 'end' | null {
  const t = toks[i];
  if (t?.t !== 'k' || (t.v !== 'order' && t.v !== 'group') || toks[i + 1]?.v !== 'by') return null;
  if (toks[i + 2]?.t !== 'n') return null;
  const after = toks[i + 3];
  return after?.t === 'c' ? 'comment' : !after || after.t === ',' ? 'end' : null;
}

/**
 * What the tokens before i end like a query an ORDER BY probe is appended to: a paren closing a number, a string or
 * another paren ("1) order by 1--", "-7277)))"; any paren after a string break), or a comparison of two numbers
 * ("where 5=5"). "Shirt (blue) order by 2 -- asap" closes a word.
 */
function closesQuery(toks: Tok[], i: number, broke: boolean): boolean {
  const prev = toks[i - 1];
  const p2 = toks[i - 2]?.t;
  if (prev?.t === ')') return broke || p2 === 'n' || p2 === 's' || p2 === ')';
  return prev?.t === 'n' && p2 === 'o' && toks[i - 3]?.t === 'n';
}

/** The string the value closed (toks[0]) is a bare value, not prose: short, no blank. */
function bareBefore(toks: Tok[]): boolean {
  const v = toks[0]?.v;
  return v !== undefined && v.length <= 32 && !/\s/.test(v);
}

/** Operators that make a login bypass between two empty strings: '-' '*' '&' '^' '|' '/' '%'. */
const BYPASS_OPS = new Set(['-', '*', '&', '^', '|', '/', '%']);

/**
 * Stored procedures that run commands, add logins or reconfigure the server, named after EXEC (no parentheses in
 * T-SQL): "exec master..xp_cmdshell 'dir'", "exec sp_addsrvrolemember 'x', 'sysadmin'". A qualified name is read
 * to its last part.
 */
function dangerousProc(toks: Tok[], i: number): boolean {
  let j = i;
  while (toks[j]?.t === 'b' && toks[j + 1]?.t === '.') {
    j++;
    while (toks[j]?.t === '.') j++;
  }
  const name = toks[j];
  if (!name || (name.t !== 'b' && name.t !== 'f')) return false;
  // Not the delay functions by name ("exec sleep study" is prose): only procedures that exist as such.
  return name.v.startsWith('xp_') || DANGEROUS_PROCS.has(name.v);
}
const DANGEROUS_PROCS = new Set([
  'sp_addlogin',
  'sp_addsrvrolemember',
  'sp_addrolemember',
  'sp_configure',
  'sp_password',
  'sp_makewebtask',
  'sp_oamethod',
  'sp_adduser',
  'sp_droplogin',
  'sp_executesql',
  'sp_oacreate',
]);

/** An operand, then a comparison with a second operand or a logic word: "1=1", "x like 'a'", "1 or 1" ("pain!" is not). */
function logicExprLike(toks: Tok[], i: number): boolean {
  const a = toks[i];
  const op = toks[i + 1];
  if (!a || !OPERAND.has(a.t) || !op) return false;
  return op.t === '&' || (op.t === 'o' && COMPARE.test(op.v) && toks[i + 2] !== undefined);
}

/** A logic word before a short operand compared with itself (or a=a): identicalComparison's shape, after any word. */
export const IDENTICAL = /\b(?:or|and|xor)\s+(\w{1,3})\s*==?\s*\1\b/;
/** IDENTICAL.test(s), read from each "=" (a value has few) instead of trying the pattern at every position. */
export function identicalAfterLogic(s: string): boolean {
  for (let q = s.indexOf('='); q !== -1; q = s.indexOf('=', q + 1)) {
    let e = q;
    while (e > 0 && isRegexSpace(s.charCodeAt(e - 1))) e--;
    let w = e;
    while (w > 0 && e - w <= 3 && isRegexWord(s.charCodeAt(w - 1))) w--;
    if (w === e || e - w > 3) continue;
    let l = w;
    while (l > 0 && isRegexSpace(s.charCodeAt(l - 1))) l--;
    if (l === w) continue;
    const logic =
      (l >= 2 && s.startsWith('or', l - 2) && (l === 2 || !isRegexWord(s.charCodeAt(l - 3)))) ||
      (l >= 3 &&
        (s.startsWith('and', l - 3) || s.startsWith('xor', l - 3)) &&
        (l === 3 || !isRegexWord(s.charCodeAt(l - 4))));
    if (!logic) continue;
    let r = q + 1;
    if (s.charCodeAt(r) === 61) r++;
    while (r < s.length && isRegexSpace(s.charCodeAt(r))) r++;
    if (s.startsWith(s.slice(w, e), r) && !isRegexWord(s.charCodeAt(r + e - w))) return true;
  }
  return false;
}
const STRONG_KEYWORDS =
  /\b(?:union|select|sleep|benchmark|waitfor|exec|execute|drop|insert|delete|update|shutdown|rlike|regexp|exists|into|declare|procedure|having)\b/;
const LOGIC_EXPR =
  /\b(?:or|and|xor|like|rlike|regexp)\s*(?:[\d(@!~-]|true\b|false\b|null\b|not\b)|[\d)]\s*(?:or|and|xor)\b|\b(?:order|group)\s+by\b/;
/**
 * Probes that blind injection sends whole, without a quote or a keyword the gates below look for: a conditional on two
 * numbers (iif(1=2,1,1/0), make_set(3=4,5), elt(5=5,1), case when 5=5 then, ;if(5=5) select ...), and a string
 * of millions of characters built for a delay (repeat(x,500000000)). Code compares variables, not two numbers.
 */
const PROBE_CALL =
  /\b(?:iif|if|elt|make_set)\s*\(\s*\d+\s*=\s*\d+\s*,|\bcase\s+when\s+\d+\s*=\s*\d+\s+then\b|\bif\s*\(\s*\d+\s*=\s*\d+\s*\)\s*(?:select|drop|waitfor|exec|declare)\b|\brepeat\s*\([^;]{0,120}?,\s*\d{7,}\s*\)/;

const KEYWORDS =
  /\b(?:union|select|sleep|benchmark|waitfor|or|and|xor|having|order|group|exec|execute|drop|insert|delete|update|shutdown|rlike|regexp|like|exists|into|declare|procedure)\b/;

/**
 * A quote, a backtick, ";", "#", "--", "/*" or "@@": what a value needs to be read for tokens without SQL words. Each
 * is a match of the regex that used to follow (/['"`;#()=|&]|@@|--|\/\*|.../), so there is no second scan.
 */
export function breakChars(s: string, f: number): boolean {
  return (
    (f & (F.QUOTE | F.BACKTICK | F.SEMI | F.HASH | F.DASH2)) !== 0 ||
    ((f & F.STAR) !== 0 && s.includes('/*')) ||
    ((f & F.AT) !== 0 && s.includes('@@'))
  );
}

/**
 * Every word the tokenizer gives a type or a function a weight, and every word a regex below looks for (SHAPE_WORDS is
 * STATEMENTS, UNIONS, LOGIC, STRONG_FUNCS, "outfile" and "dumpfile": all here).
 */
const PROSE_WORDS: readonly string[] = [
  ...WORD_TYPE.keys(),
  ...ATTACK_FUNCS,
  ...STRONG_FUNCS,
  ...'union select sleep benchmark waitfor exec execute drop insert delete update shutdown rlike regexp exists into declare procedure having order group by true false null not like iif if elt make_set case when then repeat pg_sleep randomblob'.split(
    ' ',
  ),
  ...'information_schema sysobjects syscolumns sys tables objects columns databases mysql user pg_catalog pg_shadow pg_user sqlite_master sqlite_schema all_tables user_tables dba_users msysobjects master sysdatabases'.split(
    ' ',
  ),
  ...'version servername hostname datadir basedir microsoftversion current_user session_user system_user current_database current_schema current_setting sysusers syslogins sysservers pg_group pg_roles'.split(
    ' ',
  ),
];

export const sqli: Detector = {
  cls: 'sqli',
  needs: 0,
  proseWords: PROSE_WORDS,
  // A URL or a path: SQL needs a quote, an operator or a comment besides its words.
  proseFlags: PROSE_FLAGS | F.COLON | F.SLASH | F.BANG,
  detect(v: Value): Hit | null {
    const s = v.lower;
    if (v.isKey || s.length < 2) return null;
    const f = v.flags;
    if (f & F.LPAREN && (f & F.EQ || s.includes('repeat'))) {
      const m = PROBE_CALL.exec(s);
      if (m) return { rule: 'sqli.function', score: CRITICAL, at: m.index };
    }
    // Delay calls glued to their prefix ("pg_sleep(5)", "randomblob(...)") have no word boundary the keywords see;
    // literal scans, not more alternatives in the keyword regexes (which made every value dearer).
    if (!breakChars(s, f) && !(f & F.LPAREN && (s.includes('pg_sleep') || s.includes('randomblob')))) {
      // Without quotes and comments SQL needs its words: "1 or 1=1", "1 union select 1".
      if (!(f & (F.SPACE | F.LPAREN | F.EQ | F.PLUS | F.SLASH)) || !KEYWORDS.test(s)) return null;
      // Prose has "or", "and" and "like": only a logic word next to a literal or a paren starts an expression.
      if (!STRONG_KEYWORDS.test(s) && !LOGIC_EXPR.test(s) && !(f & F.EQ && identicalAfterLogic(s))) return null;
    }
    let hit: Hit | null = null;
    // Most values that pass the quick test are prose with apostrophes and punctuation: when nothing in the value can
    // start one of the token shapes `shapes` reads, tokenising it (up to three times) would find nothing.
    if (!mayHaveShape(s, f)) return catalogue(s, null);
    const none = tokenize(s, 0);
    if (none) hit = shapes(none, false, s);
    if (hit && hit.score >= CRITICAL) return hit;
    // Filters that strip comments once turn UN/**/ION into UNION: read the value that way too.
    if (s.indexOf('/*') !== -1) {
      // A keyword that only exists with a comment taken out of its middle is evasion, whatever surrounds it.
      const split = commentSplitKeyword(s);
      if (split !== -1) return { rule: 'sqli.comment_evasion', score: CRITICAL, at: split };
      const joined = tokenize(s.replace(/\/\*[^*]{0,64}\*\//g, ''), 0);
      const h = joined ? shapes(joined, false, s) : null;
      if (h && h.score >= CRITICAL) return h;
    }
    for (const q of [39, 34]) {
      if (s.indexOf(String.fromCharCode(q)) === -1) continue;
      const toks = tokenize(s, q);
      if (!toks) continue;
      const h = shapes(toks, true, s);
      if (h && (!hit || h.score > hit.score)) hit = h;
      if (hit && hit.score >= CRITICAL) return hit;
    }
    return catalogue(s, hit);
  },
};

/** Words an inline comment glued inside them hides from a keyword filter (UNION written UN, comment, ION). */
const SPLIT_WORDS = new Set<string>([...STATEMENTS, ...UNIONS, ...LOGIC, 'from', 'where', 'sleep', 'benchmark']);
function isLetter(c: number): boolean {
  return c >= 97 && c <= 122;
}
/** Where the first word split by an inline comment (letters glued on both sides) is a SPLIT_WORDS keyword, or -1. */
export function commentSplitKeyword(s: string): number {
  for (let q = s.indexOf('/*'); q !== -1; q = s.indexOf('/*', q + 2)) {
    const e = s.indexOf('*/', q + 2);
    if (e === -1) return -1;
    if (e - q > 68 || q === 0 || !isLetter(s.charCodeAt(q - 1)) || !isLetter(s.charCodeAt(e + 2))) continue;
    let a = q;
    while (a > 0 && q - a < 16 && isLetter(s.charCodeAt(a - 1))) a--;
    let b = e + 2;
    while (b < s.length && b - e < 18 && isLetter(s.charCodeAt(b))) b++;
    if (SPLIT_WORDS.has(s.slice(a, q) + s.slice(e + 2, b))) return a;
  }
  return -1;
}

/**
 * What each CATALOGUES name holds: "sys" (sysobjects, sys.tables, msysobjects, master..sysdatabases), "mysql.user", or
 * an "_" with "pg" or "sqlite" or "dba" before it or "schema" or "tables" after it. Literal searches and a walk over the
 * few "_", where an alternation of hints tried at every position cost 1.6 ns a character on prose.
 */
export function catalogueHint(s: string): boolean {
  if (s.includes('sys') || s.includes('mysql.user')) return true;
  for (let u = s.indexOf('_'); u !== -1; u = s.indexOf('_', u + 1))
    if (
      s.startsWith('pg', u - 2) ||
      s.startsWith('dba', u - 3) ||
      s.startsWith('sqlite', u - 6) ||
      s.startsWith('schema', u + 1) ||
      s.startsWith('tables', u + 1)
    )
      return true;
  return false;
}

/** A read of a system catalogue (information_schema, sqlite_master ...) raises the hit or is one. */
function catalogue(s: string, hit: Hit | null): Hit | null {
  if ((!hit || hit.score < CRITICAL) && catalogueHint(s)) {
    const m = CATALOGUES.exec(s);
    if (m) return { rule: 'sqli.catalogue', score: hit ? CRITICAL : ERROR, at: m.index };
  }
  // A statement (or other SQL shape) that reads the server's identity: version, current user, settings.
  if (hit && hit.score < CRITICAL && (s.indexOf('@@') !== -1 || SYSINFO_HINT.test(s))) {
    const m = SYSINFO.exec(s);
    if (m) return { rule: 'sqli.catalogue', score: CRITICAL, at: m.index };
  }
  return hit;
}
const SYSINFO_HINT = /version|current_|session_user|system_user|sysusers|syslogins|sysservers|pg_group|pg_roles/;
const SYSINFO =
  /@@(?:version|servername|hostname|datadir|basedir|microsoftversion)|\bversion\(\s*\)|\b(?:current_user|session_user|system_user)\b|\b(?:current_database|current_schema|current_setting)\s*\(|\b(?:sysusers|syslogins|sysservers|pg_group|pg_roles)\b/;

/**
 * Words that can start a shape in `shapes`' main loop: statement starts (";", UNION and subqueries need one), the
 * UNION words, logic words, the dangerous functions, OUTFILE / DUMPFILE. `hasShapeWord` checks the words around.
 */
export const SHAPE_WORDS: readonly string[] = [
  ...STATEMENTS,
  ...UNIONS,
  ...LOGIC,
  ...STRONG_FUNCS,
  'outfile',
  'dumpfile',
];
/**
 * The words, each after the start or a character that may come before a word's start as the tokenizer reads it (not
 * an identifier character, or a digit, or a no-break space): consuming that character lets the regex reject the
 * inside of words with one class test per position instead of trying the alternation there.
 */
const SHAPE_WORD = new RegExp(
  `(?:^|[^a-zA-Z_$\\u0080-\\u009f\\u00a1-\\uffff])(${[...SHAPE_WORDS]
    .sort((a, b) => b.length - a.length)
    .map((w) => w.replaceAll('.', '\\.'))
    .join('|')})(?![a-z0-9_$\\u0080-\\uffff])`,
  'g',
);

/**
 * The next of SHAPE_WORD's words at or after `from` that starts a word as the tokenizer reads them: after a character
 * that is not part of an identifier, after a digit (a number glued to a word, "1or", ends there) or after a no-break
 * space (both a blank at a token's start and part of a word inside one).
 */
export function nextShapeWord(s: string, from: number): { at: number; word: string } | null {
  const re = SHAPE_WORD;
  re.lastIndex = from;
  const m = re.exec(s);
  if (!m) return null;
  const word = m[1] as string;
  return { at: m.index + m[0].length - word.length, word };
}

/** True when a SHAPE_WORD word can start a shape where it stands. */
export function hasShapeWord(s: string): boolean {
  for (let w = nextShapeWord(s, 0); w; w = nextShapeWord(s, w.at + 1)) {
    // AND / OR / XOR only start a shape after an operand (a literal, a string, ")", a variable) or at the start:
    // "neighbour or at the door" does not.
    if (
      (!LOGIC.has(w.word) || operandBefore(s, w.at)) &&
      !(PROSE_STATEMENTS.has(w.word) && twoPlainWords(s, w.at + w.word.length))
    )
      return true;
  }
  return false;
}

/**
 * Statement words whose grammar (`statementAt`) never holds when the next two tokens are plain words ("select the
 * warm white option", "please update your address"): SELECT wants a list then FROM, the others a keyword, a
 * variable or nothing at all. (EXEC, SHUTDOWN, GRANT and REVOKE take a plain word and stay out. UNION ALL followed
 * by any statement word is a shape: the UNION words are in SHAPE_WORD for that.)
 */
const PROSE_STATEMENTS = new Set([
  'select',
  'update',
  'delete',
  'insert',
  'replace',
  'drop',
  'create',
  'alter',
  'truncate',
  'declare',
  'waitfor',
  'call',
  'load',
  'merge',
  'handler',
  'rename',
]);

/**
 * A plain word from i (blanks first): ASCII letters then identifier characters, not a reserved word, not a call or a
 * qualified name. Returns its end, or -1.
 */
function plainWordAt(s: string, i: number): number {
  const n = s.length;
  let j = i;
  while (j < n && isSpace(s.charCodeAt(j))) {
    // A no-break space may belong to the word before: do not guess.
    if (s.charCodeAt(j) === 160) return -1;
    j++;
  }
  if (j === i || j >= n) return -1;
  const c = s.charCodeAt(j);
  if (!(c >= 97 && c <= 122)) return -1;
  let k = j + 1;
  while (k < n && isIdent(s.charCodeAt(k))) {
    if (s.charCodeAt(k) > 127) return -1;
    k++;
  }
  if (WORD_TYPE.has(s.slice(j, k)) || s.charCodeAt(k) === 46) return -1;
  let p = k;
  while (p < n && isSpace(s.charCodeAt(p))) p++;
  return s.charCodeAt(p) === 40 ? -1 : k;
}

/** Two plain words follow position i (the end of a statement word). */
function twoPlainWords(s: string, i: number): boolean {
  const x = plainWordAt(s, i);
  return x !== -1 && plainWordAt(s, x) !== -1;
}

/**
 * Whether the token before position i (blanks skipped; comments are ruled out before this is asked) may be one that
 * a tautology continues (`shapes`, case "&"): none, a number or literal word, a string, ")", a variable, "?".
 * Conservative: a quote, a backtick or a dot before it counts too.
 */
function operandBefore(s: string, i: number): boolean {
  let j = i - 1;
  while (j >= 0 && isSpace(s.charCodeAt(j))) j--;
  if (j < 0) return true;
  const c = s.charCodeAt(j);
  if (isIdent(c)) {
    let k = j;
    while (k >= 0 && isIdent(s.charCodeAt(k))) {
      // A no-break space may end or continue the word: do not guess.
      if (s.charCodeAt(k) === 160) return true;
      k--;
    }
    // A number (or a word glued to one), an @variable (@a, @a.b, @@x), or true / false / null / unknown.
    const before = k >= 0 ? s.charCodeAt(k) : 0;
    return isDigit(s.charCodeAt(k + 1)) || before === 64 || before === 46 || LITERALS.has(s.slice(k + 1, j + 1));
  }
  // ")" a string's quote, a backtick, "?", "@", a number's "." or its exponent's "-" ("1e-").
  if (c === 45) return j > 0 && (s.charCodeAt(j - 1) | 32) === 101;
  return c === 41 || c === 39 || c === 34 || c === 96 || c === 63 || c === 64 || c === 46;
}

/** Token types that start a shape when they come right after the string the value closed (`shapes`, broke). */
const BREAK_START = new Set<T>(['c', '&', 'U', ';', ')', 'k', 'E', 'o', 'f']);

/**
 * False only when `shapes` cannot find anything in any context: no shape-starting word or punctuation anywhere,
 * the value does not start with ORDER / GROUP, and after each quote the value could close, the first token starts
 * no shape (prose: "it's", "O'Connor"). Conservative by construction: the tokenizer's words are substrings.
 */
export function mayHaveShape(s: string, f: number): boolean {
  // "--" and "#" are flags; "/*" "*/" "@@" "&&" "||" are looked for only when their character is there.
  if (
    f & (F.DASH2 | F.HASH) ||
    (f & F.STAR && (s.includes('/*') || s.includes('*/'))) ||
    (f & F.AT && s.includes('@@')) ||
    (f & F.AMP && s.includes('&&')) ||
    (f & F.PIPE && s.includes('||')) ||
    hasShapeWord(s) ||
    (f & F.EQ && identicalAfterLogic(s))
  )
    return true;
  let i = 0;
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  if (s.startsWith('order', i) || s.startsWith('group', i) || s.startsWith('having', i)) return true;
  if (f & F.LPAREN && s.includes('randomblob')) return true;
  for (const q of QUOTES) {
    if (s.indexOf(q.ch) === -1) continue;
    const toks = tokenize(s, q.code, 2);
    const first = toks?.[1];
    if (first && BREAK_START.has(first.t)) return true;
  }
  return false;
}
const QUOTES = [
  { ch: "'", code: 39 },
  { ch: '"', code: 34 },
] as const;
