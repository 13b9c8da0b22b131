import { ANY_FLAG, CRITICAL, type Detector, ERROR, F, type Hit, type Value, WARNING } from './common.js';

/**
 * Server-side template injection: template delimiters of the common engines (Jinja2/Twig/Nunjucks/Handlebars
 * `{{ }}` `{% %}`, Freemarker/Velocity/SpEL/EL `${ }` `#{ }` `*{ }` `<#...>` `#set`, ERB/JSP `<% %>`, Razor `@( )`,
 * Smarty `{php}`) holding an expression that probes or escapes the sandbox: arithmetic (`{{7*7}}`), dunder walks
 * (`__class__.__mro__`), runtime and reflection objects, filters that run code. `Hello {{name}}` is a template
 * placeholder and passes. Each delimiter's body is read up to a bounded length.
 */

const BODY_MAX = 400;
const ARITH =
  /^\s*[-+]?\d{1,12}\s*[*+\-/%]\s*['"]?\d{1,12}['"]?\s*(?:[*+\-/%]\s*\d{1,12}\s*)?$|^\s*['"]\w{0,8}['"]\s*\*\s*\d{1,4}\s*$/;
const DANGEROUS =
  /__[a-z]{2,20}__|\b(?:self|config|request|lipsum|cycler|joiner|namespace|url_for|get_flashed_messages|application|settings)\b\s*[.[|(]|\b(?:popen|subprocess|os\.system|system|exec|eval|execute|getruntime|runtime|processbuilder|forname|getclass|classloader|newinstance|invoke|getmethod|constructor|import|require|child_process|process\.mainmodule|global\.process|freemarker\.template|objectconstructor|getbean|\.class\b|t\s*\(\s*java)|\|\s*attr\s*\(|\|\s*(?:safe|e\s*\(|map|join|format)\b.*\(|\bdump\s*\(|`|\|\s*(?:file_excerpt|filter|reduce|sort|system|passthru|exec|shell_exec)\b|\b(?:file|io|dir)\.(?:open|read|popen|readlines|entries|foreach)\b|\bkernel\.|\b%x\(|\bsyscall\b|\b_self\b|\b_context\b|\bapp\.(?:request|session|user|container)|\bmro\b|\bsubclasses\b|\bglobals\b|\bbuiltins\b|\bfile\s*\(|\bbase64\s*\|/;
const OPENERS: Array<[string, string]> = [
  ['{{', '}}'],
  ['{%', '%}'],
  ['${', '}'],
  ['#{', '}'],
  ['*{', '}'],
  ['@{', '}'],
  ['<%', '%>'],
  ['[[', ']]'],
  ['@(', ')'],
  ['{=', '}'],
];
/** Delimiters by engine family: Jinja/Twig, EL/Freemarker, ERB/JSP, Ruby/Thymeleaf, Template Toolkit. */
const POLYGLOT: readonly (readonly string[])[] = [
  ['{{', '}}', '{%', '%}'],
  ['${'],
  ['<%', '%>'],
  ['#{', '*{'],
  ['[%', '%]'],
];
const FREEMARKER = /<#(?:assign|import|include|macro|function|setting|list)\b|\?new\s*\(|\?api\b|\?eval\b/;
const VELOCITY =
  /#set\s*\(\s*\$|#foreach\s*\(|\$[a-z_]{1,32}\.getclass\s*\(|\$class\.(?:inspect|forname|type)\b|#evaluate\s*\(/;
const RAZOR = /@(?:system\.diagnostics|system\.io|\(\s*system\.|[a-z_]{1,32}\.getruntime\s*\()/;
const SMARTY =
  /\{php\}|\{\/php\}|\{(?:system|exec|passthru|shell_exec|popen|proc_open|eval|include|file_get_contents|readfile)\s*\(|\{self::|\{literal\}|\{\$smarty\.(?:version|template_object)/;
const QUICK =
  /\{\{|\{%|[$#*@]\{|<%|<#|#set|#foreach|#evaluate|\[\[|@\(|\{php|\{=|\{self::|\{\$smarty|\$[a-z_]+\.(?:getclass|inspect|class)|\{[a-z_]+\s*\(|@system\.|@\(|<!--\s*#|<esi:/;
/**
 * Server-side includes (Apache, nginx, IIS) and Edge Side Includes (Varnish, CDNs): a directive in user input is run
 * by the server that includes the page (`<!--#exec cmd="id" -->`, `<!--#echo var="DOCUMENT_ROOT" -->`,
 * `<esi:include src="http://..."/>`). An HTML comment that starts with "#" and a word that is no directive passes.
 */
const SSI = /<!--\s*#\s*(?:exec|include|echo|printenv|config|fsize|flastmod|set|if|elif)\b/;
const ESI = /<esi:(?:include|inline|vars|debug|eval|choose|when|try|attempt|assign|remove|comment)\b/;

export const ssti: Detector = {
  cls: 'ssti',
  proseFlags: ANY_FLAG & ~(F.BRACE | F.LT | F.HASH | F.AT | F.BRACKET | F.DOLLAR),
  needs: F.BRACE | F.LT | F.HASH | F.AT | F.BRACKET | F.DOLLAR,
  proseWords: [],
  detect(v: Value): Hit | null {
    const s = v.lower;
    if (v.isKey || !(v.flags & (F.BRACE | F.LT | F.HASH | F.AT | F.BRACKET | F.DOLLAR)) || !QUICK.test(s)) return null;
    let hit: Hit | null = null;
    const take = (rule: string, score: number, at: number) => {
      if (!hit || score > hit.score) hit = { rule, score, at };
    };
    for (const [open, close] of OPENERS) {
      let from = 0;
      for (let count = 0; count < 16; count++) {
        const i = s.indexOf(open, from);
        if (i === -1) break;
        const j = s.indexOf(close, i + open.length);
        let body = s.slice(i + open.length, j === -1 ? Math.min(s.length, i + BODY_MAX) : Math.min(j, i + BODY_MAX));
        // ERB/JSP output and comment markers: <%= 7*7 %>, <%- x %>, {{= x}}, {{- x -}}.
        if (/^[=\-#~]/.test(body)) body = body.slice(1);
        if (/[-~]$/.test(body)) body = body.slice(0, -1);
        from = i + open.length;
        if (open === '${' && body.trim().startsWith('jndi')) continue;
        if (ARITH.test(body)) take('ssti.probe', j === -1 ? ERROR : CRITICAL, i);
        else if (open === '{{' && /^\s*(?:config|self|_self|settings|request\.environ)\s*$/.test(body))
          take('ssti.object', CRITICAL, i);
        else if (open === '{%' && /^\s*debug\s*$/.test(body)) take('ssti.object', CRITICAL, i);
        else if (DANGEROUS.test(body)) take('ssti.expression', CRITICAL, i);
        else if ((open === '{{' || open === '{%') && /[()[\]]/.test(body) && /['"]/.test(body) && /\./.test(body))
          take('ssti.expression', WARNING, i);
        if (hit && (hit as Hit).score >= CRITICAL) return hit;
      }
    }
    // Polyglot probes put several engines' delimiters side by side: ${{<%[%'"}}%\.
    let families = 0;
    for (const fam of POLYGLOT) if (fam.some((mk) => s.includes(mk))) families++;
    if (families >= 3 && s.length <= 64) take('ssti.polyglot', CRITICAL, 0);
    let m = FREEMARKER.exec(s);
    if (m) take('ssti.freemarker', CRITICAL, m.index);
    m = VELOCITY.exec(s);
    if (m) take('ssti.velocity', CRITICAL, m.index);
    m = RAZOR.exec(s);
    if (m) take('ssti.razor', CRITICAL, m.index);
    m = SMARTY.exec(s);
    if (m) take('ssti.smarty', CRITICAL, m.index);
    if (v.flags & F.LT) {
      m = SSI.exec(s);
      if (m) take('ssti.ssi', CRITICAL, m.index);
      m = ESI.exec(s);
      if (m) take('ssti.esi', CRITICAL, m.index);
    }
    return hit;
  },
};
