import { describe, expect, it } from 'vitest';
import { DetectionEngine, fragment, inspectRequest } from './engine.js';

const attackQuery = {
  method: 'GET',
  path: '/search',
  query: `q=${encodeURIComponent("1' or '1'='1")}&page=2`,
  headers: {},
};

describe('detection engine', () => {
  it('reports score, threshold verdict and findings with rule, class, location and fragment', () => {
    const r = inspectRequest(attackQuery);
    expect(r.attack).toBe(true);
    expect(r.score).toBeGreaterThanOrEqual(5);
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]).toMatchObject({ class: 'sqli', location: 'query.q', rule: 'sqli.tautology' });
    expect(r.findings[0]?.fragment).toContain("or '1'='1");
  });
  it('a higher threshold turns the same finding into a non-attack', () => {
    const r = new DetectionEngine({ threshold: 50 }).inspect(attackQuery);
    expect(r.attack).toBe(false);
    expect(r.findings).toHaveLength(1);
  });
  it('exclusions by rule, class and location glob', () => {
    expect(new DetectionEngine({ exclusions: [{ rule: 'sqli' }] }).inspect(attackQuery).findings).toHaveLength(0);
    expect(
      new DetectionEngine({ exclusions: [{ rule: 'sqli.tautology', location: 'query.*' }] }).inspect(attackQuery)
        .findings,
    ).toHaveLength(0);
    expect(
      new DetectionEngine({ exclusions: [{ rule: 'sqli', location: 'query.other' }] }).inspect(attackQuery).attack,
    ).toBe(true);
    expect(new DetectionEngine({ exclusions: [{ rule: 'xss' }] }).inspect(attackQuery).attack).toBe(true);
  });
  it('classes and locations can be switched off', () => {
    expect(new DetectionEngine({ classes: ['xss'] }).inspect(attackQuery).findings).toHaveLength(0);
    expect(new DetectionEngine({ query: false }).inspect(attackQuery).findings).toHaveLength(0);
  });
  it('reads urlencoded forms, multipart parts (names, filenames, text) and JSON by content type', () => {
    const form = inspectRequest({
      method: 'POST',
      path: '/f',
      query: '',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1&b=%3Cscript%3Ealert(1)%3C%2Fscript%3E',
    });
    expect(form.findings[0]).toMatchObject({ class: 'xss', location: 'body.b' });
    const b = 'XyZ';
    const mp = [
      `--${b}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n`,
      `--${b}\r\nContent-Disposition: form-data; name="file"; filename="../../../etc/passwd"\r\nContent-Type: image/png\r\n\r\n\x89PNG...\r\n`,
      `--${b}\r\nContent-Disposition: form-data; name="__proto__"\r\n\r\nx\r\n--${b}--\r\n`,
    ].join('');
    const r = inspectRequest({
      method: 'POST',
      path: '/u',
      query: '',
      headers: { 'content-type': `multipart/form-data; boundary=${b}` },
      body: Buffer.from(mp, 'latin1'),
    });
    expect(r.findings.map((f) => `${f.class}@${f.location}`).sort()).toEqual([
      'proto@body.__proto__',
      'traversal@body.file.filename',
    ]);
  });
  it('bounds the body it reads', () => {
    const body = JSON.stringify({ pad: 'x'.repeat(5000), late: "1' or '1'='1" });
    const small = new DetectionEngine({ maxInspectBytes: 1024 });
    expect(
      small.inspect({ method: 'POST', path: '/', query: '', headers: { 'content-type': 'application/json' }, body })
        .attack,
    ).toBe(false);
    expect(
      inspectRequest({ method: 'POST', path: '/', query: '', headers: { 'content-type': 'application/json' }, body })
        .attack,
    ).toBe(true);
  });
  it('counts the strongest finding per class: the same weak signal in many fields does not add up', () => {
    const r = inspectRequest({
      method: 'POST',
      path: '/',
      query: '',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: '../a.json', b: '../b.json', c: '../c.json' }),
    });
    expect(r.findings.length).toBe(3);
    expect(r.attack).toBe(false);
  });
  it('fragments are truncated to 64 characters and redact long tokens, digit runs and e-mail local parts', () => {
    const f = fragment(`x ${'A1b2C3d4'.repeat(5)} 4111111111111111 bob.smith@example.com ${'y'.repeat(100)}`, 0);
    expect(f.length).toBeLessThanOrEqual(64);
    expect(f).not.toContain('A1b2C3d4A1b2');
    expect(f).not.toContain('4111111111111111');
    const g = fragment('mail bob.smith@example.com now', 0);
    expect(g).not.toContain('bob.smith');
  });
  it('caches header findings without changing results', () => {
    const e = new DetectionEngine();
    const req = { method: 'GET', path: '/', query: '', headers: { 'user-agent': '${jndi:ldap://x/a}' } };
    const a = e.inspect(req);
    const b = e.inspect(req);
    expect(b).toEqual(a);
    expect(a.attack).toBe(true);
  });
  it('inspects a value longer than one window in overlapping windows: padding does not hide a payload', () => {
    const pad = 'lorem ipsum dolor sit amet, '.repeat(400); // ~11,200 characters of prose
    const payloads: [string, string][] = [
      ["1' or '1'='1", 'sqli'],
      ['<script>alert(document.cookie)</script>', 'xss'],
      ['; cat /etc/passwd', 'cmdi'],
    ];
    for (const [payload, cls] of payloads) {
      // After the padding, in the query, in a JSON string and in a header; and straddling the first window's end.
      const straddle = `${'a '.repeat(4090)}${payload}`;
      for (const value of [`${pad}${payload}`, `${pad}${pad}${payload}`, straddle]) {
        const q = inspectRequest({ method: 'GET', path: '/', query: `q=${encodeURIComponent(value)}`, headers: {} });
        expect(
          q.findings.some((f) => f.class === cls && f.location === 'query.q'),
          `${cls} in query`,
        ).toBe(true);
        const j = inspectRequest({
          method: 'POST',
          path: '/',
          query: '',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ note: value }),
        });
        expect(j.attack, `${cls} in JSON`).toBe(true);
        const h = inspectRequest({ method: 'GET', path: '/', query: '', headers: { referer: value } });
        expect(
          h.findings.some((f) => f.class === cls),
          `${cls} in header`,
        ).toBe(true);
      }
    }
    // Long prose alone is not an attack, and a rule met in several windows is reported once.
    expect(
      inspectRequest({ method: 'GET', path: '/', query: `q=${encodeURIComponent(pad + pad)}`, headers: {} }).findings,
    ).toEqual([]);
    const twice = `${"1' or '1'='1 "}${pad}${"1' or '1'='1"}`;
    const r = inspectRequest({ method: 'GET', path: '/', query: `q=${encodeURIComponent(twice)}`, headers: {} });
    expect(r.findings.filter((f) => f.rule === 'sqli.tautology')).toHaveLength(1);
  });
  it('inspects cookie names as it does query names (NoSQL operators, prototype pollution)', () => {
    const classes = (cookie: string) =>
      inspectRequest({ method: 'GET', path: '/', query: '', headers: { cookie } }).findings.map(
        (f) => `${f.class}@${f.location}`,
      );
    expect(classes('session=abc; password[$ne]=1')).toContain('nosqli@cookie.password[$ne]');
    expect(classes('session=abc; __proto__[admin]=1')).toContain('proto@cookie.__proto__[admin]');
    expect(classes('session=abc; theme=dark; _ga=GA1.2.3.4')).toEqual([]);
  });
});
