import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tmpFile } from '../helpers.js';

/** `rampart inspect` as a real process (the built CLI; `npm run build` first). */
function inspect(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'inspect', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('rampart inspect', () => {
  it('prints a table of findings and exits 1 for an attack given with curl-like flags', () => {
    const r = inspect(['--url', "/search?q=1'%20or%20'1'='1", '-H', 'User-Agent: ${jndi:ldap://127.0.0.1/a}']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/SCORE\s+RULE\s+LOCATION\s+FRAGMENT/);
    expect(r.out).toContain('sqli.tautology');
    expect(r.out).toContain('query.q');
    expect(r.out).toContain('jndi.lookup');
    expect(r.out).toMatch(/score \d+ \/ threshold 5: ATTACK/);
  });

  it('exits 0 for a clean request and prints JSON with --json', () => {
    const r = inspect(['--url', '/search?q=winter+boots', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ threshold: 5, score: 0, attack: false, findings: [] });
  });

  it('reads a request file with a JSON body and a POST body from -d', () => {
    const file = tmpFile(
      'req.json',
      JSON.stringify({
        method: 'POST',
        url: '/users',
        headers: { 'Content-Type': 'application/json' },
        body: { name: '<svg/onload=alert(1)>' },
      }),
    );
    const r = inspect(['--file', file, '--json']);
    expect(r.code).toBe(1);
    const rep = JSON.parse(r.out) as { findings: { class: string; location: string }[] };
    expect(rep.findings[0]).toMatchObject({ class: 'xss', location: 'body./name' });
    const d = inspect(['--url', '/login', '-d', 'user=admin&pass%5B%24ne%5D=x', '--json']);
    expect(d.code).toBe(1);
    expect((JSON.parse(d.out) as { findings: { class: string }[] }).findings[0]?.class).toBe('nosqli');
  });

  it("applies a config's threshold and exclusions for a route (--config --route)", () => {
    const cfg = tmpFile(
      'rampart.yaml',
      [
        'listeners: [{ port: 0 }]',
        'policies:',
        '  threat-detection:',
        '    exclusions: [{ rule: ssti.probe, location: query.q, routes: [docs] }]',
        'routes:',
        '  - { name: docs, public: true, paths: [/docs] }',
        '  - name: lenient',
        '    public: true',
        '    paths: [/lenient]',
        '    policies: { threat-detection: { threshold: 20 } }',
        '',
      ].join('\n'),
    );
    const url = '/docs?q=why%20does%20%7B%7B7*7%7D%7D%20print%2049';
    expect(inspect(['--url', url]).code).toBe(1);
    expect(inspect(['--url', url, '--config', cfg, '--route', 'docs']).code).toBe(0);
    const lenient = inspect(['--url', url, '--config', cfg, '--route', 'lenient', '--json']);
    expect(lenient.code).toBe(0);
    expect(JSON.parse(lenient.out)).toMatchObject({ threshold: 20, attack: false });
    const missing = inspect(['--url', url, '--config', cfg, '--route', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('no route named "nope"');
  });

  it('refuses a bad header or a missing request', () => {
    expect(inspect(['--url', '/x', '-H', 'nocolon']).err).toContain('expected "Name: value"');
    expect(inspect([]).err).toContain('give --file or --url');
  });
});
