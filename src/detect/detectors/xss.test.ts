import { describe, expect, it } from 'vitest';
import { inspectRequest } from '../engine.js';
import { detects, inHeader, inJson, inQuery } from '../testing.js';

const ATTACKS = [
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '<svg/onload=alert(1)>',
  '<svg\tonload=alert&lpar;1&rpar;>',
  'javascript:alert(1)',
  'JaVa\tScRiPt:alert(document.cookie)',
  '"><script>alert(1)</script>',
  "';alert(1)//",
  '" autofocus onfocus=alert(1) x="',
  '<a href="javascript:alert(1)">x</a>',
  '<iframe srcdoc="<script>alert(1)</script>">',
  '<IMG STYLE="xss:expr/*XSS*/ession(alert(\'XSS\'))">',
  '<scr<script>ipt>alert(1)</scr</script>ipt>',
  '＜script＞alert(1)＜/script＞',
  '%3Cscript%3Ealert(1)%3C%2Fscript%3E',
  '&lt;img src=x onerror=alert(1)&gt;',
  '\\u003cscript\\u003ealert(1)\\u003c/script\\u003e',
  '<IMG SRC="javas<!-- -->cript:alert(1)">',
  "<STYLE>@import'http://evil.example/xss.css';</STYLE>",
  '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(1);">',
  '<IMG SRC=`javascript:alert(1)`>',
  // From the OWASP CRS regression tests (941xxx), once missed:
  '<x:script xmlns:x="http://www.w3.org/1999/xhtml" src="data:,alert(1)" />',
  '(![]+[])[+!+[]]',
  '+!![]',
  'document /*foo*/ .     cookie',
  '(document/*foo*/)["cookie"]',
  'self  /*jhb*/  [  /*bar*/  "alert"]("xss")',
  '[].sort.call`${alert}1337`',
  '[  ] . sort . call ` ${ alert } 1337 `',
  'Reflect.sort.call``',
];
const BENIGN = [
  'Use <b>bold</b> and <i>italics</i>, a < b > c',
  'JavaScript: the good parts',
  '<a href="javascript:void(0)" class="toggle">Show more</a>',
  '<img src="https://cdn.example.com/hero.jpg" alt="Our team">',
  '<3 <3 love it',
  'I like prompts (and confirmations)',
  'The document (attached) has the call notes. Call me [after lunch]!',
  'Wow!! [+1] (great)',
  '<xsl:template match="/">',
  "It's top [priority]",
  'Results - Top [10]',
  'Student - parent [guardian]',
  'How do I set div.innerHTML safely?',
  '<xs:import namespace="urn:x"/>',
  '<xsl:import href="a.xsl"/>',
];

describe('xss detector', () => {
  it.each(ATTACKS)('detects %s', (p) => {
    expect(detects(inQuery(p), 'xss')).toBe(true);
  });
  it.each(BENIGN)('passes %s', (p) => {
    expect(inQuery(p).attack).toBe(false);
  });
  it('reads a base64 data: URL and blocks the markup in it', () => {
    // <svg/onload=alert(2)>
    expect(detects(inQuery('data:text/html;base64,PHN2Zy9vbmxvYWQ9YWxlcnQoMik+'), 'xss')).toBe(true);
    // <p>hello</p>: markup without script stays below the threshold.
    expect(inQuery('data:text/html;base64,PHA+aGVsbG88L3A+').attack).toBe(false);
  });

  it('reads parameter names, JSON keys and cookies without a name', () => {
    expect(detects(inQuery('1', encodeURIComponent('<img src=x onerror=alert(1)>')), 'xss')).toBe(true);
    expect(detects(inJson({ '<svg onload=alert(1)>': 'x' }), 'xss')).toBe(true);
    expect(detects(inHeader('cookie', '<STYLE>BODY{x:1}</STYLE><script>alert(1)</script>'), 'xss')).toBe(true);
    expect(inJson({ 'First Name': 'Ann', 'a[b]': 1, 'x-y.z': 2, $top: 5, 'Time Service': 1 }).attack).toBe(false);
    // A name without "=" is read as a name and as a value: one finding per rule and place.
    const r = inspectRequest({
      method: 'GET',
      path: '/x',
      query: encodeURIComponent('<script>alert(1)</script>'),
      headers: {},
    });
    expect(r.findings.filter((x) => x.rule === 'xss.tag')).toHaveLength(1);
  });
  it('inspects JSON and headers', () => {
    expect(detects(inJson({ comment: { text: 'nice <img src=x onerror=alert(1)>' } }), 'xss')).toBe(true);
    expect(detects(inHeader('referer', 'https://a.example/?q=<script>alert(1)</script>'), 'xss')).toBe(true);
  });
  it('treats code quoted in markdown as weak', () => {
    const r = inJson({ body: 'Embed with:\n\n```html\n<script src="https://cdn.example.com/w.js"></script>\n```' });
    expect(r.attack).toBe(false);
    expect(r.findings.some((f) => f.class === 'xss')).toBe(true);
  });
});
