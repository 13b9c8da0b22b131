import {
  CRITICAL,
  type Detector,
  ERROR,
  F,
  type Hit,
  isRegexSpace,
  PROSE_FLAGS,
  type Value,
  WARNING,
} from './common.js';

/**
 * OS command injection by reading the value as a shell would: after shell quoting tricks are undone (`c'a't`,
 * `c\at`, `w$@hoami`, `${IFS}`, `{cat,/etc/passwd}`), a command position (the start, or after `;` `|` `&&` `||` `&`
 * a newline, `$(` or a backtick) must hold a known command followed by what commands take (a flag, a path, an
 * address, a redirection, the end). Commands that are also English words ("id", "cat", "ping", "type") need a
 * stronger argument than a following word, so "Tom & Jerry" and "note; id must be unique" pass.
 */

/** Commands that are not English words: any argument (or none) makes the command position an attack. */
const COMMANDS = new Set(
  (
    'whoami uname ifconfig ipconfig netstat wget curl nc ncat netcat bash sh zsh ksh csh tcsh powershell pwsh ' +
    'cmd cmd.exe powershell.exe perl python python2 python3 php ruby lua printf nslookup systeminfo tasklist taskkill chmod ' +
    'chown chgrp rm rmdir mkdir cp mv passwd useradd usermod userdel crontab base64 xxd telnet ssh scp sftp ftp tftp ' +
    'certutil bitsadmin wmic regsvr32 rundll32 mshta cscript wscript msiexec nohup ' +
    'hostname getent busybox socat openssl sudo printenv ps pwd lsb_release ls uptime dmesg lsof ifup tcpdump nmap ' +
    'iptables killall pkill systemctl chroot dd mkfifo mknod ' +
    'jrunscript sqlite3 mysql psql mongo redis-cli ldapsearch smbclient net.exe reg.exe ' +
    'whoami.exe netsh sysinfo nltest dsquery qwinsta schtasks sc.exe arp traceroute tracert ipconfig.exe ' +
    // GTFOBins-style binaries that are no English word: compilers, debuggers, archivers, tracers, admin tools.
    'gcc c89 c99 clang irb gdb lldb rmt rmt-tar rmt-dump flock cpulimit lastlog lastlogin strace ltrace zstdcat zcat ' +
    'gunzip bsdtar 7z 7za unzip base32 hexdump rsync ssh-keygen pkexec doas runuser setarch unshare nsenter chattr ' +
    'ionice taskset stdbuf visudo cscli ansible ansible-playbook ansible-galaxy ansible-console ansible-doc ' +
    'ansible-inventory ansible-pull ansible-vault ansible-config chef-client chef-shell chef-run chef-vault ' +
    // PowerShell's network and process cmdlets and their aliases.
    'iwr irm iwmi invoke-webrequest invoke-restmethod invoke-wmimethod start-process'
  ).split(' '),
);
/** Words that run the command right after them (time ifconfig, nohup ifconfig): that word is a command position. */
const WRAPPERS = new Set(['time', 'nohup', 'strace', 'ltrace', 'nice', 'sudo', 'doas', 'stdbuf', 'ionice', 'busybox']);
/** Names that carry a version in their binary's name (python3.10, gcc10.1, php8.2); "ps5" or "cp1252" do not. */
const VERSIONED = new Set(['python', 'php', 'perl', 'ruby', 'lua', 'gcc', 'clang']);
/** A name as COMMANDS lists it: without ".exe" or a version (python3.10, gcc10.1). */
function commandBase(base: string): string {
  const b = base.endsWith('.exe') ? base.slice(0, -4) : base;
  let e = b.length;
  while (e > 0 && ((b.charCodeAt(e - 1) >= 48 && b.charCodeAt(e - 1) <= 57) || b.charCodeAt(e - 1) === 46)) e--;
  if (e === b.length || COMMANDS.has(b) || WORD_COMMANDS.has(b)) return b;
  const v = b.slice(0, e);
  return VERSIONED.has(v) ? v : b;
}
/** Commands that are also words: they need an argument shaped like a shell argument. */
const WORD_COMMANDS = new Set(
  // Shells, and words such as "service" and "route", are English or Spanish too ("soup; fish and chips", "intro; service
  // review", "notes; su casa"): they need a shell-shaped argument, as these do.
  'grep egrep fgrep awk gawk sed xargs id cat echo ping sleep more less type dir set net find head tail sort who last kill date whois mount env tee touch ln od tr cut wc uniq rev diff host dig locate which whereis nl fold strings eval exec fish dash su shutdown reboot halt service route ver vol'.split(
    ' ',
  ),
);

function isAlnum(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
}

/**
 * `t.replace(/([a-z0-9])['"]([a-z0-9]+)['"]?/g, '$1$2')` by hand (the same leftmost, non-overlapping matches): a
 * quote between two letters or digits goes, and so does a quote right after the run of letters and digits that
 * follows it. c'a't → cat, w"h"oami → whoami, and prose's it's → its.
 */
export function unquoteGlued(t: string): string {
  const n = t.length;
  let out = '';
  let last = 0;
  // Jump from quote to quote (the next of each kind is kept, so each kind is searched once over the value).
  let single = t.indexOf("'", 1);
  let double = t.indexOf('"', 1);
  let from = 1;
  for (;;) {
    if (single !== -1 && single < from) single = t.indexOf("'", from);
    if (double !== -1 && double < from) double = t.indexOf('"', from);
    const k = single === -1 ? double : double === -1 ? single : Math.min(single, double);
    if (k === -1 || k >= n - 1) break;
    from = k + 1;
    if (k - 1 < last || !isAlnum(t.charCodeAt(k - 1)) || !isAlnum(t.charCodeAt(k + 1))) continue;
    let e = k + 2;
    while (e < n && isAlnum(t.charCodeAt(e))) e++;
    out += t.slice(last, k) + t.slice(k + 1, e);
    const c = t.charCodeAt(e);
    last = c === 39 || c === 34 ? e + 1 : e;
    from = last;
  }
  return last === 0 ? t : out + t.slice(last);
}

/** Undoes shell quoting tricks; bounded single passes. */
export function shellNormalize(s: string): string {
  let t = s;
  if (t.indexOf('$') !== -1) {
    t = t
      .replace(/\$\{ifs\}|\$ifs\$\d|\$ifs\b|\$\{ifs%\?\?\}/g, ' ')
      .replace(/\$@|\$\*|\$\(\)|\$\{\}|\$\d/g, '')
      .replace(/\$'\\x([0-9a-f]{2})'/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  }
  if (t.indexOf("''") !== -1 || t.indexOf('""') !== -1) t = t.replace(/''|""/g, '');
  // c\at → cat (a backslash before a letter is nothing to the shell); keep "\n"-free Windows paths intact enough.
  if (t.indexOf('\\') !== -1 && !/[a-z]:\\/.test(t))
    t = t.replace(/\\(?=[a-z])(?![a-z]*\.(?:ini|exe|dll|txt|log|bat))/g, '');
  // Quotes glued inside words: c'a't, w"h"oami.
  if (t.indexOf("'") !== -1 || t.indexOf('"') !== -1) t = unquoteGlued(t);
  // Brace expansion {cat,/etc/passwd} → cat /etc/passwd.
  if (t.indexOf('{') !== -1)
    t = t.replace(
      /\{([a-z0-9_./-]+),([^{}]{0,200})\}/g,
      (_m, a: string, b: string) => ` ; ${a} ${b.replace(/,/g, ' ')}`,
    );
  return t;
}

function isWordChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 95 ||
    c === 45 ||
    c === 46 ||
    c === 47 ||
    c === 63 ||
    c === 42 ||
    c === 92 ||
    c === 58
  );
}

/** What follows a command word makes it a shell command line or prose. */
function argShape(s: string, i: number, strongOnly: boolean, sep: string): boolean {
  const n = s.length;
  let j = i;
  while (j < n && (s.charCodeAt(j) === 32 || s.charCodeAt(j) === 9)) j++;
  if (j >= n) return true;
  const c = s[j] as string;
  if (';&\n`)><#'.includes(c)) return true;
  // "| id | name |" is a markdown table (spaces around the cells); "a|id|" is a pipe.
  if (c === '|') return sep !== '|' || j === i;
  if (c === '-' || c === '/' || c === '~' || c === '$' || c === '.' || c === '%') return true;
  // A quoted argument counts when it holds a path, a flag or a substitution: cat "/etc/passwd", not File "x".
  if (c === '"' || c === "'") return /^["'][/~.$-]/.test(s.slice(j, j + 2)) || !strongOnly;
  if (/[a-z]:\\/.test(s.slice(j, j + 3))) return true;
  if (c >= '0' && c <= '9') {
    // "sleep 5", "ping 127.0.0.1": a number argument alone then the end, a separator or an option.
    const m = /^[0-9.:]+\s*(?:$|[;&|`)\n#>-])/.exec(s.slice(j, j + 40));
    return m !== null;
  }
  if (strongOnly) {
    // "echo pwned > /tmp/x", "cat notes | nc host 1": a redirection, path or substitution later in the command.
    const rest = s.slice(j, j + 64);
    const stop = rest.search(/[;&|\n]/);
    return /\s(?:>>?\s*[/~.$\w-]|<\s+[/~.$\w-]|<\s*\/[a-z])|>\s*\/|\s\/[a-z]|\s-[a-z]|\$\(|`|^[a-z]+:\/\/|^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/.test(
      stop === -1 ? rest : rest.slice(0, stop),
    );
  }
  // Any word: "whoami x", "wget evil.sh", "nc attacker 4444".
  return /[a-z_]/.test(c);
}

/** The command word at i: letters, digits and path characters; returns its basename and end. */
function wordAt(s: string, i: number): { word: string; base: string; end: number } | null {
  const n = s.length;
  let j = i;
  while (j < n && j - i < 128 && isWordChar(s.charCodeAt(j))) j++;
  if (j === i) return null;
  const word = s.slice(i, j);
  const slash = Math.max(word.lastIndexOf('/'), word.lastIndexOf('\\'));
  return { word, base: slash === -1 ? word : word.slice(slash + 1), end: j };
}

/** The command a wrapper ending at `end` runs (time ifconfig): the next word, blanks skipped, when COMMANDS names it. */
function wrappedCommand(s: string, end: number): { word: string; base: string; end: number } | null {
  let q = end;
  while (q < s.length && isRegexSpace(s.charCodeAt(q))) q++;
  const inner = wordAt(s, q);
  return inner && COMMANDS.has(commandBase(inner.base)) ? inner : null;
}
/** A command ending at `end` stands alone or with shell-shaped arguments only ("time ifconfig", not "time ps talk"). */
function aloneOrCommandLine(s: string, end: number): boolean {
  return end >= s.trimEnd().length || commandLineOnly(s, end);
}

/** A command name in quotes at a command position (;'curl' http://...): the shell drops the quotes. */
function quotedWordAt(s: string, i: number): { word: string; base: string; end: number } | null {
  const q = s.charCodeAt(i);
  if (q !== 39 && q !== 34) return null;
  const w = wordAt(s, i + 1);
  return w && s.charCodeAt(w.end) === q ? { word: w.word, base: w.base, end: w.end + 1 } : null;
}

/** Glob spellings of binaries: /???/c?t, /b??/n*, /usr/bin/w?oami. */
const GLOB_PATH = /(?:^|[\s;|&`(])\/[a-z?*]{1,8}(?:\/[a-z?*]{1,12}){0,3}\/[a-z?*]*[?*][a-z?*]*(?=$|[\s;|&`)])/;
/**
 * GLOB_PATH.exec(s), scanned only when s has a "?" or "*" and a "/" at the start or after a blank or ; | & ` (: URLs
 * ("https://host/a?b") and prose have neither.
 */
export function globPath(s: string): RegExpExecArray | null {
  if (s.indexOf('?') === -1 && s.indexOf('*') === -1) return null;
  for (let q = s.indexOf('/'); q !== -1; q = s.indexOf('/', q + 1)) {
    const c = q === 0 ? 32 : s.charCodeAt(q - 1);
    if (isRegexSpace(c) || c === 59 || c === 124 || c === 38 || c === 96 || c === 40) return GLOB_PATH.exec(s);
  }
  return null;
}
/** Word-like commands that, alone with shell-shaped arguments only, are a command line: "cat /etc/hosts", "sleep 5". */
const BARE_WORD_COMMANDS = new Set([
  'cat',
  'echo',
  'ping',
  'sleep',
  'type',
  'dir',
  'id',
  'find',
  'head',
  'tail',
  'kill',
  'env',
  'net',
]);
/**
 * `/^\s*([a-z][a-z0-9_.-]{1,20})(?=\s)/.exec(s)?.[1]` by hand: the value's first word, a letter then one to twenty of
 * [a-z0-9_.-], followed by a blank; null when there is none. Most values are prose whose first word is no command.
 */
export function leadingWord(s: string): string | null {
  const n = s.length;
  let i = 0;
  while (i < n && isRegexSpace(s.charCodeAt(i))) i++;
  const c = s.charCodeAt(i);
  if (!(c >= 97 && c <= 122)) return null;
  let j = i + 1;
  while (j < n && j - i <= 21 && isCommandChar(s.charCodeAt(j))) j++;
  return j - i >= 2 && j - i <= 21 && j < n && isRegexSpace(s.charCodeAt(j)) ? s.slice(i, j) : null;
}
function isCommandChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c === 46 || c === 45;
}

/** Recon commands that are an attack even alone as a whole value. */
const RECON = /^\s*(?:whoami|ifconfig|ipconfig|netstat|uname|systeminfo|tasklist|sysinfo|id;?)\s*$/;
/** Shellshock: a function definition at the start of a value (an environment variable to bash), `() { :;};`. */
const SHELLSHOCK = /^\s*\(\s*\)\s*\{/;
/** Code execution in the server-side languages payload lists pair with shell commands (PHP, SSI, Perl/JS eval). */
const CODE_EXEC =
  /<\?php|\$_(?:get|post|request|cookie|server)\s*\[|<!--\s*#\s*exec\s+cmd\s*=|\b(?:phpinfo|system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|assert)\s*\(\s*(?:['"$)]|\$_)|\$\{@?(?:print|system|eval)\s*\(|\{\$\{[a-z_]+\s*\(|\beval\s*\(\s*['"](?:ls|id|pwd|whoami|cat|sleep|echo)\b|\beval\s*\(\s*(?:base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13)\s*\(|\(\s*(?:["']\s*)?(?:system|exec|shell_exec|passthru|popen|proc_open|assert)\s*(?:["']\s*)?\)\(/;
/** Every word after the command is shell-shaped (a flag, a path, a number, an address, a quoted string). */
const ARG =
  /^(?:-{1,2}[\w=.-]*|[\w.~-]*\/[\w./*~-]*|\d[\d.:]*|['"`].*|[a-z]:\\.*|\$\S+|[<>|&;]+|\d?>&?\d?|[a-z]+:\/\/\S+|[\w.-]+\.(?:sh|php|pl|py|rb|txt|exe|ps1|bat|dll|elf))$/;
/** Interpreters and tools that are also product names in skill lists: they need an argument (PRODUCTS below). */
const PRODUCTS = new Set(
  (
    'python python2 python3 perl php ruby lua irb gcc clang mysql psql mongo sqlite3 ansible ansible-playbook ' +
    'ansible-galaxy ansible-console ansible-doc ansible-inventory ansible-pull ansible-vault ansible-config ' +
    'chef-client chef-shell chef-run chef-vault powershell pwsh ' +
    // Standards, formats and tools that lists name as often as shells run them ("C89; C99", "zip; 7z", "herd; flock").
    'c89 c99 gdb lldb rmt rmt-tar rmt-dump flock cpulimit lastlog lastlogin strace ltrace zstdcat zcat gunzip bsdtar ' +
    '7z 7za unzip base32 hexdump rsync ssh-keygen runuser setarch unshare nsenter chattr ionice taskset stdbuf visudo cscli'
  ).split(' '),
);
/**
 * What follows a command (blanks skipped) is an argument: a shell-shaped token (ARG), a redirection or here-string,
 * or words followed by an option, a path or a redirection before the next separator (argShape's strong test).
 */
function productArg(s: string, from: number): boolean {
  let i = from;
  while (i < s.length && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9)) i++;
  let j = i;
  while (j < s.length && j - i < 200 && !/[\s;|&\n)]/.test(s[j] as string)) j++;
  if (j === i) return false;
  const c = s.charCodeAt(i);
  const token = s.slice(i, j);
  // A version is no argument: "Java 17; Python 3.11; Go".
  if (/^\d[\d.]*$/.test(token)) return false;
  return c === 60 || c === 62 || ARG.test(token) || argShape(s, from, true, ';');
}
function commandLineOnly(s: string, from: number): boolean {
  const rest = s.slice(from, from + 200).trim();
  if (!rest) return false;
  const words = rest.split(/\s+/);
  return words.length <= 12 && words.every((w) => ARG.test(w));
}

const STRONG =
  /\/dev\/(?:tcp|udp)\/|\b(?:nc|ncat|netcat)(?:\.exe)?\s[^;|&\n]{0,64}?\s-[a-z]{0,4}e\b|\bbash\s+-i\b|\bsh\s+-i\b|\b(?:bash|sh|zsh)\s+-c\s|\bcmd(?:\.exe)?\s+\/[ck]\b|\bpowershell(?:\.exe)?\s[^;|&\n]{0,80}?(?:-e(?:nc|ncodedcommand)?|-c(?:ommand)?|iex|-nop|-w(?:indowstyle)?)\b|\biex\s*\(|\binvoke-expression\b|\bdownloadstring\s*\(|\bmkfifo\s+\/tmp|\bchmod\s+\+?[0-7]*x?\s+\/tmp|\b(?:python[23]?|perl|ruby|php)\s+-[cre]\s|\|\s*(?:ba)?sh\b|(?:^|[;&|\n`])\s*(?:system|exec|shell_exec|passthru|popen|proc_open)\s*\(\s*['"]|\breg(?:\.exe)?\s+(?:add|query|delete|save|export)\s|(?:^|[;&|\n`])\s*net\s+(?:user|localgroup|view|share|use|session|group|accounts)\b/;

/** Every name the command-position loop scores: a word that is none of them (and no path) scores nothing there. */
const KNOWN = new Set([...COMMANDS, ...WORD_COMMANDS, ...PRODUCTS, ...WRAPPERS]);
const escapeRe = (w: string) => w.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
/**
 * What a position the loop scores needs (a superset): the start or a separator's last character ("(" for "$(", the
 * last "|" of "||", the last newline of a run of blanks), blanks, maybe a quote, then a word (wordAt's characters)
 * with a "/" or "\\" in it, or a KNOWN name ending the word, with ".exe" or, for VERSIONED names, a version after it
 * (commandBase's spellings). The blanks it reads hold no separator, so each is read once: linear.
 */
export const COMMAND_POSITION = new RegExp(
  `(?:^|[;\\n\\r|&\`(])[ \\t]*['"]?(?:[a-z0-9_.?*:-]*[/\\\\]|(?:${[...KNOWN]
    .sort((a, b) => b.length - a.length)
    .map(escapeRe)
    .join(
      '|',
    )})(?:\\.exe)?(?![a-z0-9_./?*\\\\:-])|(?:${[...VERSIONED].join('|')})[0-9.]+(?:\\.exe)?(?![a-z0-9_./?*\\\\:-]))`,
);
/** COMMAND_POSITION tried at one position only (sticky). */
const COMMAND_AT = new RegExp(COMMAND_POSITION.source, 'y');
/** Where a COMMAND_POSITION match can start besides the value's start: its separator characters. */
const POSITION_CHARS = ';\n\r|&`(';
/**
 * COMMAND_POSITION.test(s), tried only where a match can start: the start and each separator character, found by
 * indexOf (prose has few). The alternation of every KNOWN name tried at each character cost 1.3 ns a character, a
 * character-class scan for the separators 0.9. Each try reads blanks and one word up to the next separator: linear.
 */
export function commandPosition(s: string): boolean {
  COMMAND_AT.lastIndex = 0;
  if (COMMAND_AT.test(s)) return true;
  let tries = 0;
  for (let k = 0; k < POSITION_CHARS.length; k++) {
    const ch = POSITION_CHARS[k] as string;
    for (let i = s.indexOf(ch); i !== -1; i = s.indexOf(ch, i + 1)) {
      // A value made of separators is read in one scan, as before.
      if (++tries > 64) return COMMAND_POSITION.test(s);
      COMMAND_AT.lastIndex = i;
      if (COMMAND_AT.test(s)) return true;
    }
  }
  return false;
}

const QUICK = /[;|&`$\n{\\]|\/dev\/|\/bin\/|\bcmd\b|powershell|\b(?:nc|bash|sh|wget|curl)\b/;
/** QUICK.test(s): a separator of its first class in the flags is a match without the scan. */
export function quick(s: string, flags: number): boolean {
  return (flags & (F.SEMI | F.PIPE | F.AMP | F.BACKTICK | F.DOLLAR | F.BRACE | F.BACKSLASH)) !== 0 || QUICK.test(s);
}
/** RECON.test(s): it holds blanks, letters and ";" only, so any other flag (the engine's ENCODED aside) rules it out. */
export function recon(s: string, flags: number): boolean {
  return (flags & ~(F.SPACE | F.NEWLINE | F.CONTROL | F.SEMI | F.ENCODED)) === 0 && RECON.test(s);
}
/**
 * What every STRONG alternative needs: a flag or path after a blank (its first character a letter: -i, -c, /c, /tmp),
 * /dev/, a pipe, a few literal words, or a "(" after one of the functions it names. Cheap scans of literals first;
 * STRONG itself is far dearer on prose (and " - " in a product name is no flag).
 */
const STRONG_NEED = /\s[-/][a-z]|\/dev\/|\||powershell|invoke-expression|reg(?:\.exe)?\s|net\s/;
const STRONG_CALLS = /iex|downloadstring|system|exec|passthru|popen|proc_open/;
export function strong(s: string): RegExpExecArray | null {
  return STRONG_NEED.test(s) || (s.indexOf('(') !== -1 && STRONG_CALLS.test(s)) ? STRONG.exec(s) : null;
}
/**
 * Node.js code execution: node-serialize's function marker (CVE-2017-5941), raw or as its base64 in a cookie
 * ("_$$ND_FUNC$$" is "XyQkTkRfRlVOQyQk"), and the ways to a shell from injected JavaScript: child_process required
 * or called, process.mainModule, process.binding(x).spawn. A Node stack trace ("node:internal/child_process:284")
 * and prose about them ("process.binding() is deprecated") hold none of these.
 */
const NODE_EXEC =
  /_\$\$nd_func\$\$_|xyqktkrfrlvoqyqk|\brequire\s*\(\s*['"`](?:node:)?child_process|\bchild_process['"`]?\s*\)?\s*\.\s*(?:exec|execsync|execfile|spawn|spawnsync|fork)\s*\(|\bprocess(?:\.mainmodule\b|\.binding\s*\([^)]{1,64}\)\s*\.|\[\s*['"`]?(?:mainmodule|binding))/;
function nodeExec(v: Value): RegExpExecArray | null {
  const s = v.lower;
  return s.includes('process') ||
    (v.flags & F.DOLLAR && s.includes('nd_func')) ||
    (!(v.flags & F.SPACE) && s.includes('xyqktkrfrlvoqyqk'))
    ? NODE_EXEC.exec(s)
    : null;
}

/** O:8:"stdClass":1:{...} / C:11:"ArrayObject":... as PHP's serialize() writes an object. */
const PHP_OBJECT = /\b[oc]:\d{1,4}:"[a-z_\\][\w\\]{0,127}":\d{1,4}:\{/;

/** CODE_EXEC needs a "<" or a "$", or a "(" and one of the functions it names. */
const CODE_CALLS = /phpinfo|system|exec|passthru|popen|proc_open|assert|eval/;
function codeExec(v: Value): RegExpExecArray | null {
  return v.flags & (F.LT | F.DOLLAR) || (v.flags & F.LPAREN && CODE_CALLS.test(v.lower))
    ? CODE_EXEC.exec(v.lower)
    : null;
}

/** The characters a separator starts with; the loop below jumps between them instead of testing every character. */
const SEP_CHAR = /[;\n\r|&`$(]/g;
function nextSepChar(s: string, from: number): number {
  SEP_CHAR.lastIndex = from;
  return SEP_CHAR.test(s) ? SEP_CHAR.lastIndex - 1 : s.length;
}

/**
 * The words STRONG, CODE_EXEC, NODE_EXEC and RECON look for, and each name's first run of letters: without a separator
 * a name counts only as the value's first word ("ansible-galaxy init", not "a guide to the galaxy").
 */
const PROSE_WORDS: readonly string[] = [
  ...[...KNOWN].map((w) => /^[a-z]*/.exec(w)?.[0] ?? ''),
  ...'bin sbin usr local whoami ifconfig ipconfig netstat uname systeminfo tasklist sysinfo id nc ncat netcat bash sh zsh cmd exe powershell iex invoke expression downloadstring mkfifo tmp chmod python perl ruby php system exec shell_exec passthru popen proc_open reg add query delete save export net user localgroup view share use session group accounts dev tcp udp phpinfo assert eval pcntl_exec print base64_decode gzinflate gzuncompress gzdecode str_rot13 process require child_process node mainmodule binding spawn fork execsync execfile spawnsync nd_func xyqktkrfrlvoqyqk ifs'.split(
    ' ',
  ),
];

export const cmdi: Detector = {
  cls: 'cmdi',
  needs: 0,
  proseWords: PROSE_WORDS,
  // A URL or a path without separators: a command position is only the start, and what a path runs is its last name
  // (a KNOWN word) or a /bin directory; globs (? *) and quotes glued inside its words (/bin/c'a't) are read.
  proseFlags: PROSE_FLAGS | F.COLON | F.SLASH | F.BANG,
  proseReads: (s) => s.indexOf('/') !== -1 && (s.indexOf('?') !== -1 || s.indexOf("'") !== -1 || s.indexOf('"') !== -1),
  // node-serialize's marker in base64 (nodeExec): found glued to anything.
  proseParts: ['xyqktkrfrlvoqyqk'],
  detect(v: Value): Hit | null {
    const SEPS = F.SEMI | F.PIPE | F.AMP | F.BACKTICK | F.DOLLAR | F.NEWLINE | F.BRACE | F.BACKSLASH | F.SLASH;
    if (v.isKey) return null;
    const node = nodeExec(v);
    if (node) return { rule: 'cmdi.code_exec', score: CRITICAL, at: node.index };
    // A PHP-serialized object handed to unserialize() builds any class the application loads (object injection).
    if (v.flags & F.COLON && v.flags & F.BRACE && v.flags & F.QUOTE) {
      const o = PHP_OBJECT.exec(v.lower);
      if (o) return { rule: 'cmdi.deserialization', score: CRITICAL, at: o.index };
    }
    if (v.flags & F.BRACE && v.flags & F.LPAREN && SHELLSHOCK.test(v.lower))
      return { rule: 'cmdi.shellshock', score: CRITICAL, at: 0 };
    if (!(v.flags & SEPS) || !quick(v.lower, v.flags)) {
      if (recon(v.lower, v.flags)) return { rule: 'cmdi.command', score: CRITICAL, at: 0 };
      if (!(v.flags & (F.LPAREN | F.LT | F.SPACE))) return null;
      const c = codeExec(v);
      if (c) return { rule: 'cmdi.code_exec', score: CRITICAL, at: c.index };
      // A bare command line: "ls -la /", "nc -lvvp 4444 -e /bin/sh", "ipconfig /all".
      const w = leadingWord(v.lower);
      if (w !== null) {
        const end = v.lower.indexOf(w) + w.length;
        // Windows names the same programs with ".exe": ping.exe -n 3 127.0.0.1.
        const base = commandBase(w);
        // "time ifconfig", "nohup ifconfig -a": the wrapped command alone or with shell-shaped arguments only
        // ("Time service outage" and "Nice python tutorial" are prose).
        const inner = WRAPPERS.has(base) ? wrappedCommand(v.lower, end) : null;
        if (inner && aloneOrCommandLine(v.lower, inner.end)) return { rule: 'cmdi.command', score: CRITICAL, at: 0 };
        if ((COMMANDS.has(w) || COMMANDS.has(base) || BARE_WORD_COMMANDS.has(base)) && commandLineOnly(v.lower, end))
          return { rule: 'cmdi.command', score: CRITICAL, at: 0 };
      }
      const st = strong(v.lower);
      return st ? { rule: 'cmdi.shell', score: CRITICAL, at: st.index } : null;
    }
    const s = shellNormalize(v.lower);
    const st = strong(s);
    if (st) return { rule: 'cmdi.shell', score: CRITICAL, at: Math.min(st.index, v.text.length) };
    const code = codeExec(v);
    if (code) return { rule: 'cmdi.code_exec', score: CRITICAL, at: code.index };
    if (RECON.test(s)) return { rule: 'cmdi.command', score: CRITICAL, at: 0 };
    if (v.flags & F.DOLLAR && (v.lower.indexOf('$ifs') !== -1 || v.lower.indexOf('${ifs') !== -1))
      return { rule: 'cmdi.evasion', score: CRITICAL, at: 0 };
    let hit: Hit | null = null;
    // Command positions: the start, then after every separator. Bounded by a count. Skipped when no position holds
    // a word the loop scores (prose's "; the door", "& have").
    const n = commandPosition(s) ? s.length : 0;
    let seps = 0;
    for (let i = 0; i < n && seps < 256; i = nextSepChar(s, i + 1)) {
      const c = s.charCodeAt(i);
      let sep = '';
      let p = i;
      if (c === 59 || c === 10 || c === 13) sep = ';';
      else if (c === 124) sep = '|';
      else if (c === 38) sep = '&';
      else if (c === 96) sep = '`';
      else if (c === 36 && s.charCodeAt(i + 1) === 40) sep = '$(';
      else if (c === 40 && (i === 0 || /[;&|\s]/.test(s[i - 1] as string)) && s.charCodeAt(i + 1) !== 40) sep = '(';
      else if (i === 0) sep = '^';
      else continue;
      seps++;
      if (sep !== '^') p = i + sep.length;
      // "||", "&&" and "|&": the separator is two characters.
      while (p < n && (s.charCodeAt(p) === 124 || s.charCodeAt(p) === 38)) p++;
      while (p < n && (s.charCodeAt(p) === 32 || s.charCodeAt(p) === 9 || s.charCodeAt(p) === 10)) p++;
      let w = wordAt(s, p) ?? quotedWordAt(s, p);
      // Resume after the separator run and the blanks (each character is passed once).
      const resume = sep === '^' ? i : p - 1;
      if (!w) {
        i = Math.max(i, resume);
        continue;
      }
      let base = commandBase(w.base);
      // Most words after a separator are prose ("; the door", "& have"): no name below and no /bin path, no score.
      if (!KNOWN.has(base) && !COMMANDS.has(w.base) && w.word.charCodeAt(0) !== 47) {
        i = Math.max(i, resume);
        continue;
      }
      // "time ifconfig", "; nohup curl x": the wrapped command stands where the wrapper did.
      const inner = WRAPPERS.has(base) ? wrappedCommand(s, w.end) : null;
      if (inner) {
        w = inner;
        base = commandBase(inner.base);
        if (sep === '^' && aloneOrCommandLine(s, w.end)) return { rule: 'cmdi.command', score: CRITICAL, at: 0 };
      }
      const fullPath = w.word.startsWith('/') && /^\/(?:usr\/)?(?:local\/)?s?bin\//.test(w.word);
      let score = 0;
      if (PRODUCTS.has(base) && sep !== '^') {
        // Languages and tools are named in lists ("Docker; Python; Go", "Java; Python scripting"): after a separator
        // they need an argument shaped like one (python -c ..., perl x.pl, irb<<<1+2, ansible all -m ping); with no
        // argument they run nothing.
        if (productArg(s, w.end)) score = CRITICAL;
      } else if (COMMANDS.has(base) || COMMANDS.has(w.base)) {
        // At the very start a command needs a shell-shaped argument: "mongo query that works" is prose.
        if (argShape(s, w.end, sep === '^', sep))
          score = sep === '^' ? (commandLineOnly(s, w.end) ? CRITICAL : WARNING) : CRITICAL;
      } else if (WORD_COMMANDS.has(base)) {
        if (argShape(s, w.end, true, sep))
          score = sep !== '^' ? CRITICAL : BARE_WORD_COMMANDS.has(base) && commandLineOnly(s, w.end) ? CRITICAL : 0;
      }
      if (fullPath) score = Math.max(score, sep === '^' ? ERROR : CRITICAL);
      // Inside $( ) or backticks any known command is execution.
      if ((sep === '$(' || sep === '`') && (COMMANDS.has(base) || WORD_COMMANDS.has(base))) {
        const close = sep === '$(' ? s.indexOf(')', w.end) : s.indexOf('`', w.end);
        if (close !== -1 || sep === '$(') score = CRITICAL;
      }
      if (score && (!hit || score > hit.score))
        hit = { rule: sep === '^' ? 'cmdi.command' : 'cmdi.chained', score, at: Math.min(i, v.text.length) };
      if (hit && hit.score >= CRITICAL) return hit;
      i = Math.max(i, resume);
    }
    const g = globPath(s);
    if (g) {
      const score = /[;|&`]/.test(s) ? CRITICAL : ERROR;
      if (!hit || score > hit.score) hit = { rule: 'cmdi.glob', score, at: g.index };
    }
    return hit;
  },
};
