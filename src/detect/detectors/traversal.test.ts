import { describe, expect, it } from 'vitest';
import { inspectRequest } from '../engine.js';
import { detects, inJson, inQuery } from '../testing.js';

const ATTACKS = [
  '../../../etc/passwd',
  '..\\..\\..\\windows\\win.ini',
  '....//....//etc/passwd',
  '/etc/passwd',
  'c:\\windows\\win.ini',
  'file:///etc/shadow',
  'php://filter/convert.base64-encode/resource=index.php',
  '/root/.ssh/authorized_keys',
  '../../config/database.yml',
  '..%c0%af..%c0%afetc%c0%afpasswd',
  '..%c0%2f..%c0%2fetc%c0%2fpasswd',
  '%uff0e%uff0e%u2215%uff0e%uff0e%u2215etc%u2215passwd',
  '/sys/class',
  '/sys/kernel/debug/tracing',
];
const BENIGN = [
  "import x from '../utils'",
  'C:\\Users\\bob\\Documents',
  "it's in /etc/nginx/sites-available/default, line 12",
  'https://example.com/docs/guide',
  '../../dist/web',
  'file://server/share',
  'https://example.com/sys/classes/math-101',
];

describe('traversal detector', () => {
  it.each(ATTACKS)('detects %s', (p) => {
    // Already-encoded payloads go in as they are; the others are encoded as a client would.
    const r = /%[0-9a-f]{2}|%u/i.test(p)
      ? inspectRequest({ method: 'GET', path: '/x', query: `file=${p}`, headers: {} })
      : inQuery(p, 'file');
    expect(detects(r, 'traversal')).toBe(true);
  });
  it.each(BENIGN)('passes %s', (p) => {
    expect(inQuery(p, 'file').attack).toBe(false);
  });
  it('absolute paths to system files, and dot-dots glued to junk before a target file', () => {
    for (const p of [
      '/etc/php.ini',
      '/etc/master.passwd',
      '/proc/interrupts',
      '/var/log/maillog',
      '/var/adm/messages',
      '/usr/local/apache/logs/access_log',
      'c:\\Program Files\\Apache Group\\Apache\\logs\\error.log',
      '/root/.bash_history',
      '..%uEFC8..%uEFC8etc/passwd',
      '..0x2f..0x2fetc/passwd',
    ])
      expect([p, detects(inQuery(p, 'file'), 'traversal')]).toEqual([p, true]);
    for (const p of [
      '/var/log/myapp/app.log',
      '/opt/app/config.yaml',
      'C:/Program Files/MyApp/app.exe',
      '/home/alice/projects',
      'where is php.ini on a mac?',
      'Restart... then edit win.ini and boot again',
    ])
      expect([p, inQuery(p, 'file').attack]).toEqual([p, false]);
  });

  it('inspects the raw path (double-encoded dots)', () => {
    const r = inspectRequest({
      method: 'GET',
      path: '/static/%252e%252e/%252e%252e/%252e%252e/etc/passwd',
      query: '',
      headers: {},
    });
    expect(detects(r, 'traversal')).toBe(true);
    expect(r.findings[0]?.location).toBe('path');
  });
  it('one ../ in a JSON config is weak', () => {
    expect(inJson({ extends: '../tsconfig.base.json', outDir: '../../dist/web' }).attack).toBe(false);
  });
});
