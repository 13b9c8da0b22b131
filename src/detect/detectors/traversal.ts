import {
  ANY_FLAG,
  CRITICAL,
  type Detector,
  ERROR,
  F,
  type Hit,
  isRegexWord,
  regexWords,
  type Value,
  WARNING,
} from './common.js';

/**
 * Path traversal and local file inclusion: dot-dot segments after every decoding (`..%2f`, `%252e%252e/`,
 * `..%c0%af`, `..\`, `....//`), absolute paths to files attackers read, and PHP/Java stream wrappers. One `../` in a
 * value (a relative import in a code snippet) is a warning; two or more, or one that reaches a known file, is an
 * attack.
 */

const SENSITIVE =
  /(?:^|[/\\])(?:etc[/\\](?:passwd|shadow|group|hosts|issue|hostname|sudoers|crontab|fstab|mtab|resolv\.conf|os-release|apache2|nginx|httpd|mysql|ssh|profile|bashrc)|proc[/\\](?:self|\d+|version|cmdline|mounts|net)|windows[/\\](?:win\.ini|system\.ini|system32)|winnt[/\\]|boot\.ini|inetpub[/\\]|(?:var[/\\])?log[/\\](?:apache2?|nginx|httpd|auth\.log|syslog|messages)|\.ssh[/\\](?:id_[a-z0-9]+|authorized_keys|known_hosts)|web-inf[/\\]|meta-inf[/\\]|\.git[/\\](?:config|head)|\.env(?:$|[^a-z0-9])|\.htaccess|\.htpasswd|web\.config|wp-config\.php|home[/\\][a-z0-9_.-]+[/\\]\.|var[/\\]www|system32[/\\]|config[/\\]sam|repair[/\\]sam)/;
/**
 * More files of the system itself (configuration, logs, shell history), read by inclusion lists with absolute paths:
 * looked for only in a path from a system root (SYSTEM_ROOT) or after a dot-dot, so URLs and prose do not pay for it.
 */
const SYSTEM_FILES =
  /(?:^|[/\\])(?:etc[/\\](?:php[\d.]*[/\\.]|php\.d|master\.passwd|security[/\\]|logrotate|wu-ftpd|pure-?ftpd|proftpd?|vsftpd|vfstab|utmp|wtmp|updatedb\.conf|syslogd?\.conf|nsswitch\.conf|my\.cnf|motd|init\.d|inittab|lilo\.conf|samba|postfix|exports|ftpusers|aliases|shells|securetty|login\.defs|pam\.d|https?d?[/\\]|opt[/\\]|apache[/\\]|chrootusers|system$|defaultdomain|ftphosts|make\.conf|rpc$|netconfig|release$)|sys[/\\](?:class|kernel|devices|block|bus|firmware|module|power)(?:[/\\]|$)|proc[/\\](?:interrupts|cpuinfo|meminfo|partitions|sched_debug|kcore|modules|devices|filesystems|ioports|stat$|swaps|uptime|loadavg|config\.gz)|var[/\\]adm[/\\]|var[/\\]log[/\\](?:(?:access|error)[_.]?log|maillog|mail\.log|secure|[wbu]tmp|lastlog|cron|xferlog|proftpd|vsftpd|mysql|exim|kern\.log|dmesg|boot\.log|yum\.log|dpkg\.log|daemon\.log)|(?:apache2?|httpd|xampp|lampp|cpanel)[/\\](?:conf|logs?)(?:[/\\]|$)|php\.ini|root[/\\]\.|boot[/\\]grub[/\\]|\.(?:bash_history|bash_profile|bash_logout|mysql_history|psql_history|sh_history|zsh_history|viminfo|rhosts|netrc|pgpass|lesshst)(?:$|[^a-z0-9]))/;
/** Files whose name alone is the attack (credentials, OS markers): any path to them counts. */
const HIGH =
  /(?:passwd|shadow|win\.ini|boot\.ini|system\.ini|id_[a-z0-9]+|authorized_keys|environ|\.htpasswd|web\.config|wp-config\.php|sam|\.git[/\\]config|\.env)(?:$|[^a-z0-9_])/;
/** Files traversal goes after: server code, configuration, keys, logs, databases. */
const TARGET_EXT =
  /\.(?:php\d?|phtml|asp|aspx|jsp|jspx|cgi|pl|py|rb|sh|bat|ps1|ini|conf|cnf|cfg|config|xml|ya?ml|properties|env|log|key|pem|crt|p12|pfx|jks|bak|old|orig|swp|sql|sqlite3?|db|mdb|htaccess|htpasswd|passwd|shadow|git|svn)(?:$|[?#;&\s%])/;
const ABSOLUTE = /^(?:file:\/\/)?(?:\/|[a-z]:[/\\]|\\\\)/;
/** Directory names with blanks in them, which do not make a path prose. */
const SPACED_DIRS = /program files(?: \(x86\))?|apache group|documents and settings/g;
/** A path from a directory of the system itself (not of a web app), after separators were made "/". */
const SYSTEM_ROOT =
  /^(?:file:\/\/)?(?:[a-z]:)?\/(?:usr|opt|var|etc|home|private|volumes|srv|root|windows|winnt|inetpub|xampp|lampp|www|proc|boot|sys|system|apps?|program files)\//;
/** SYSTEM_ROOT.test(s), after the characters it must start with ("/", "c:", "file:"): most values stop there. */
function fromSystemRoot(s: string): boolean {
  return (s.charCodeAt(0) === 47 || s.charCodeAt(1) === 58 || s.startsWith('file:')) && SYSTEM_ROOT.test(s);
}
const WRAPPER_NAMES = [
  'php',
  'zip',
  'phar',
  'glob',
  'expect',
  'data',
  'compress.zlib',
  'compress.bzip2',
  'ogg',
  'rar',
  'ssh2',
  'jar',
  'netdoc',
];
/** WRAPPER_NAMES by their last character: the one before a ":/" picks the few names to compare. */
const WRAPPERS_BY_LAST = new Map<number, string[]>();
const NO_NAMES: readonly string[] = [];
for (const n of WRAPPER_NAMES) {
  const last = n.charCodeAt(n.length - 1);
  WRAPPERS_BY_LAST.set(last, [...(WRAPPERS_BY_LAST.get(last) ?? []), n]);
}
/**
 * The first match of `/\b(?:php|zip|phar|glob|expect|data|compress\.zlib|compress\.bzip2|ogg|rar|ssh2(?:\.[a-z]+)?|jar|netdoc):\/\/?/`
 * (its index and the name's alternative), read back from each ":/" instead of trying the alternation at every
 * position. Names hold no ":", so a match for a later ":/" starts after an earlier one's.
 */
export function wrapperAt(s: string): { index: number; name: string } | null {
  for (let q = s.indexOf(':/'); q !== -1; q = s.indexOf(':/', q + 1)) {
    let index = -1;
    let name = '';
    for (const n of WRAPPERS_BY_LAST.get(s.charCodeAt(q - 1)) ?? NO_NAMES) {
      const p = q - n.length;
      if (
        p >= 0 &&
        (index === -1 || p < index) &&
        s.startsWith(n, p) &&
        (p === 0 || !isRegexWord(s.charCodeAt(p - 1)))
      ) {
        index = p;
        name = n;
      }
    }
    // ssh2.<letters>: the letters run back from the ":" to a ".".
    let r = q;
    while (r > 0 && s.charCodeAt(r - 1) >= 97 && s.charCodeAt(r - 1) <= 122) r--;
    const p = r - 5;
    if (
      r < q &&
      p >= 0 &&
      (index === -1 || p < index) &&
      s.charCodeAt(r - 1) === 46 &&
      s.startsWith('ssh2', p) &&
      (p === 0 || !isRegexWord(s.charCodeAt(p - 1)))
    ) {
      index = p;
      name = 'ssh2.';
    }
    if (index !== -1) return { index, name };
  }
  return null;
}
export const PHP_FILTER =
  /php:\/\/(?:filter|input|fd|memory|temp)|data:\/\/text\/plain|data:text\/plain;base64|expect:\/\//;
/** Whether a ":" in s ends one of PHP_FILTER's names (php, data, expect): URLs' colons end "https". */
export function phpFilterNamed(s: string): boolean {
  for (let q = s.indexOf(':', 3); q !== -1; q = s.indexOf(':', q + 1))
    if (s.startsWith('php', q - 3) || s.startsWith('data', q - 4) || s.startsWith('expect', q - 6)) return true;
  return false;
}

/**
 * `/\.\.|[/\\]|:\/\/|%00/.test(s)` by the flags: ".." "/" "\\" are flags ("://" holds a "/"); only "%00" is
 * looked for.
 */
export function quick(s: string, flags: number): boolean {
  return (flags & (F.DOTDOT | F.SLASH | F.BACKSLASH)) !== 0 || ((flags & F.PERCENT) !== 0 && s.includes('%00'));
}

/** Files a dot-dot goes after, wherever they stand: with a ".." that is no clean segment ("..%uefc8etc/passwd"). */
const DOTDOT_TARGET = /etc[/\\](?:passwd|shadow)|win\.ini|boot\.ini|system\.ini|proc[/\\]self[/\\]/;

/**
 * Words of the regexes above that no pattern needs alone, with the word they need as well: "https" (etc/httpd, after
 * "etc"), "www" (var/www, after "var", or first under a root: /www/, which its slash start and the ABSOLUTE check
 * read). "id" is id_rsa's, looked for as the part "id_".
 */
const NOT_ALONE = new Set(['https', 'www', 'id']);

export const traversal: Detector = {
  cls: 'traversal',
  needs: F.DOTDOT | F.SLASH | F.BACKSLASH | F.PERCENT,
  // Without "..", "\\", "%" or a control character a path is read for the names of files, roots and wrappers (a URL's path among them).
  // "id_rsa" is looked for as a part: "id" alone is a word prose and URLs ("?id=") are full of.
  proseFlags: ANY_FLAG & ~(F.DOTDOT | F.BACKSLASH | F.PERCENT | F.CONTROL | F.NEWLINE),
  proseWords: [
    ...regexWords(
      SENSITIVE,
      SYSTEM_FILES,
      HIGH,
      TARGET_EXT,
      SYSTEM_ROOT,
      PHP_FILTER,
      DOTDOT_TARGET,
      SPACED_DIRS,
    ).filter((w) => !NOT_ALONE.has(w)),
    ...WRAPPER_NAMES,
  ],
  proseParts: ['id_'],
  detect(v: Value): Hit | null {
    const raw = v.lower;
    const flags = v.flags;
    if (v.isKey || !quick(raw, flags)) return null;
    const s = raw.indexOf('\\') === -1 ? raw : raw.replace(/\\+/g, '/');
    let hit: Hit | null = null;
    const take = (rule: string, score: number, at: number) => {
      if (!hit || score > hit.score) hit = { rule, score, at };
    };
    // PHP_FILTER, the wrappers and the file: URLs all hold a ":".
    const colon = (flags & F.COLON) !== 0;
    const f = colon && phpFilterNamed(s) ? PHP_FILTER.exec(s) : null;
    if (f) take('traversal.wrapper', CRITICAL, f.index);
    // Count "../" segments (".." between separators or at the ends). "....//" counts: the filter that strips "../"
    // once leaves "../".
    let dots = 0;
    let first = -1;
    let from = 0;
    for (let guard = 0; guard < 256; guard++) {
      const i = s.indexOf('..', from);
      if (i === -1) break;
      const before = i === 0 ? '/' : s[i - 1];
      let j = i + 2;
      while (s[j] === '.') j++;
      const after = j >= s.length ? '/' : s[j];
      if (
        (before === '/' || before === '.' || before === '=' || before === ' ' || i === 0) &&
        (after === '/' || after === ';' || j >= s.length)
      ) {
        if (j < s.length || i > 0) {
          dots++;
          if (first === -1) first = i;
        }
      }
      from = j;
    }
    const sens = SENSITIVE.exec(s) ?? (flags & F.DOTDOT || fromSystemRoot(s) ? SYSTEM_FILES.exec(s) : null);
    if (dots === 0 && flags & F.DOTDOT) {
      // ".." glued to junk an evasion list puts between segments (%uefc8, 0x2f): the target file decides, when no
      // blank stands between them (prose's "..." and a path it names are not one token).
      const t = DOTDOT_TARGET.exec(s);
      const k = t ? s.lastIndexOf('..', t.index) : -1;
      if (t && k !== -1 && !/\s/.test(s.slice(k, t.index))) take('traversal.dotdot', CRITICAL, k);
    }
    if (dots > 0) {
      const ext = TARGET_EXT.test(s);
      // A dot-dot that was hidden by encoding (%2e, double encoding, overlong UTF-8) is evasion, not a relative link.
      const hidden = (v.flags & F.ENCODED) !== 0;
      if (sens || dots >= 3 || (dots === 2 && ext) || (ext && v.kind !== 'body') || hidden)
        take('traversal.dotdot', CRITICAL, first);
      else if (dots === 2) take('traversal.dotdot', ERROR, first);
      else take('traversal.dotdot', v.kind === 'path' || v.kind === 'body' ? WARNING : ERROR, first);
    }
    if (sens) {
      // An absolute path to a known file (/etc/passwd, c:\windows\win.ini, file:///etc/shadow).
      const lead = s.slice(Math.max(0, sens.index - 10), sens.index + 1);
      const absolute =
        (sens.index === 0 && ABSOLUTE.test(s)) ||
        // Deeper in a path from a system root: /usr/local/apache/logs/access_log, c:/program files/apache group/...
        (fromSystemRoot(s) && !/\s/.test(s.slice(0, sens.index).replace(SPACED_DIRS, ''))) ||
        /(?:^|[\s=;|&'"(`:,<>/])(?:\/|[a-z]:\/?|file:\/\/\/?)$/.test(lead) ||
        (/^[a-z]:\/$/.test(s.slice(0, 3)) && sens.index <= 3);
      const high = HIGH.test(s.slice(sens.index, sens.index + 48));
      const prose = /\s[a-z]+\s/.test(s);
      if ((absolute && (high || !prose)) || (high && !prose)) take('traversal.sensitive_file', CRITICAL, sens.index);
      else if (absolute) take('traversal.sensitive_file', WARNING, sens.index);
      else take('traversal.sensitive_file', WARNING, sens.index);
    }
    const w = colon ? wrapperAt(s) : null;
    if (
      w &&
      (w.name === 'php' ||
        w.name === 'expect' ||
        w.name === 'phar' ||
        w.name === 'zip' ||
        w.name.startsWith('compress') ||
        w.name === 'glob')
    )
      take('traversal.wrapper', CRITICAL, w.index);
    else if (
      colon &&
      (s.startsWith('file:///') ||
        s.startsWith('file://localhost/') ||
        (s.startsWith('file:/') && s.length > 6 && s.charCodeAt(6) !== 47))
    )
      take('traversal.file_url', ERROR, 0);
    // A NUL byte before an extension (file.php%00.jpg) is truncation.
    if (raw.indexOf('%00') !== -1 || v.text.indexOf('\u0000') !== -1) take('traversal.null_byte', ERROR, 0);
    return hit;
  },
};
