import { describe, expect, it } from 'vitest';
import { DetectionEngine } from './engine.js';
import type { InspectRequest } from './types.js';

/**
 * Catastrophic backtracking and super-linear scans: every detector sees adversarial values of growing length,
 * in every place a value can come from. Values are cut at 8192 characters (decode.ts), so work past that is bounded
 * by construction; below it, 8x the input must cost about 8x the time. A quadratic scan would cost 64x and an
 * exponential regex far more; the bound (40x) leaves room for noise on a loaded machine. Each timing is the
 * fastest of several runs. No absolute times are asserted.
 */

const GENERATORS: Record<string, (n: number) => string> = {
  letters: (n) => 'a'.repeat(n),
  spaces: (n) => `a${' '.repeat(n)}!`,
  quotes: (n) => "'".repeat(n),
  dquote_pairs: (n) => '"a'.repeat(n / 2),
  sql_words: (n) => ' or 1'.repeat(n / 5),
  sql_union: (n) => 'union '.repeat(n / 6),
  comments: (n) => '/*'.repeat(n / 2),
  dashes: (n) => '-'.repeat(n),
  parens_open: (n) => '('.repeat(n),
  parens_pairs: (n) => ')('.repeat(n / 2),
  ldap_like: (n) => ')(a'.repeat(n / 3),
  tags: (n) => '<'.repeat(n),
  tag_attrs: (n) => `<a${' b='.repeat(n / 4)}`,
  on_attrs: (n) => `"${' onx'.repeat(n / 4)}`,
  js_scheme: (n) => `${'java\tscript'.repeat(n / 11)}:`,
  entities: (n) => '&#'.repeat(n / 2),
  percents: (n) => '%'.repeat(n),
  percent25: (n) => '%25'.repeat(n / 3),
  overlong: (n) => '%c0'.repeat(n / 3),
  backslashes: (n) => '\\u'.repeat(n / 2),
  dollars: (n) => '${'.repeat(n / 2),
  nested_lookups: (n) => `${'${a:'.repeat(n / 4)}${'}'.repeat(n / 4)}`,
  braces: (n) => '{{'.repeat(n / 2),
  templates: (n) => '{{7*'.repeat(n / 4),
  dotdots: (n) => '..'.repeat(n / 2),
  dotdot_slash: (n) => '..../'.repeat(n / 5),
  slashes: (n) => '/'.repeat(n),
  urls: (n) => 'http://'.repeat(n / 7),
  at_signs: (n) => `http://${'a@'.repeat(n / 2)}`,
  digits_dots: (n) => '1.'.repeat(n / 2),
  ipv6ish: (n) => `http://[${':'.repeat(n)}`,
  separators: (n) => ';a'.repeat(n / 2),
  pipes: (n) => '|'.repeat(n),
  nc_flags: (n) => `nc ${'-a '.repeat(n / 3)}`,
  powershell: (n) => `powershell ${'-x '.repeat(n / 3)}`,
  braces_cmd: (n) => `{a,${','.repeat(n)}`,
  shell_quotes: (n) => "a'b".repeat(n / 3),
  dtd: (n) => `<!doctype a ${' '.repeat(n)}`,
  entity: (n) => `<!entity ${'a'.repeat(n)}`,
  mongo: (n) => `{"${'$a'.repeat(n / 2)}`,
  proto: (n) => '__proto'.repeat(n / 7),
  unicode: (n) => '＜'.repeat(n),
  // The fast paths' own scans: logic words glued inside words (each candidate rejected), apostrophes in prose,
  // quotes glued in words, "&" without references, event-handler look-alikes, URLs with ordinary hosts.
  glued_logic: (n) => 'door'.repeat(n / 4),
  apostrophes: (n) => "it's ".repeat(n / 5),
  glued_quotes: (n) => "a'b'".repeat(n / 4),
  ampersands: (n) => '& a'.repeat(n / 3),
  on_words: (n) => "'onabc ".repeat(n / 7),
  public_urls: (n) => 'https://example.com/a '.repeat(n / 22),
  // SQL probe calls: repeat( with arguments that never reach a large count, conditionals on numbers never closed.
  repeat_args: (n) => `=${'repeat(a,'.repeat(n / 9)}`,
  probe_calls: (n) => 'iif(1=1 case when 2=2 '.repeat(n / 22),
  // Found by review: blanks before a JS gap, blanks around an optional quote, a long versioned word after a wrapper.
  js_gaps: (n) => `[a${' '.repeat(n)}b \``,
  js_gaps_comment: (n) => `/* */ top${' '.repeat(n)}x`,
  paren_blanks: (n) => `<(${' '.repeat(n)}`,
  wrapped_version: (n) => `time a${'1'.repeat(n)}x1`,
};

function fastest(fn: () => void, runs = 7): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const t = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t));
  }
  return best;
}

const engine = new DetectionEngine();

function requests(value: string): InspectRequest[] {
  return [
    { method: 'GET', path: '/x', query: `q=${encodeURIComponent(value)}`, headers: {} },
    {
      method: 'POST',
      path: '/x',
      query: '',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v: value }),
    },
    { method: 'GET', path: '/x', query: '', headers: { 'x-custom': value, 'user-agent': value } },
    { method: 'POST', path: '/x', query: '', headers: { 'content-type': 'application/xml' }, body: `<a>${value}</a>` },
  ];
}

function cost(value: string): number {
  const reqs = requests(value);
  // Repeat small inputs so that each measurement is well above timer resolution.
  const reps = Math.max(1, Math.round(20_000 / value.length));
  return (
    fastest(() => {
      for (let i = 0; i < reps; i++)
        for (const r of reqs) engine.inspect({ ...r, headers: { ...r.headers, 'x-rep': String(i) } });
    }) / reps
  );
}

describe('linear time on adversarial input', () => {
  it.each(Object.keys(GENERATORS))('%s: 8x the input costs about 8x the time', (name) => {
    const gen = GENERATORS[name] as (n: number) => string;
    const small = cost(gen(1000));
    const large = cost(gen(8000));
    expect(large / small).toBeLessThan(40);
  });

  it('a value past one window costs in proportion to the windows it spans (100k vs 8k characters)', () => {
    // Long values are inspected in overlapping windows of 8,192 characters (a step of 7,168): 100k characters span
    // 14 windows, each as costly as the 8k value at most. Four times that leaves room for GC noise on the larger
    // value (33x was seen once on CI against a 28x bound) and still fails quadratic work (12.5² ≈ 156x).
    const windows = Math.ceil((100_000 - 1024) / 7168);
    for (const name of ['quotes', 'tags', 'dollars', 'sql_words']) {
      const gen = GENERATORS[name] as (n: number) => string;
      const atCut = cost(gen(8000));
      const huge = cost(gen(100_000));
      expect(huge / atCut).toBeLessThan(windows * 4);
    }
  });
});
