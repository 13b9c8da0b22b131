import { ANY_FLAG, CRITICAL, type Detector, ERROR, F, type Hit, type Value, WARNING } from './common.js';

/**
 * Cross-site scripting, in the spirit of libinjection's HTML5 scanner and CRS 941: tags are read (name and
 * attribute names) rather than matched whole, so `<b>bold</b>` and `a < b` pass while `<svg/onload=...>`,
 * `<img src=x onerror=...>`, `<script>`, `javascript:` URLs and JS sinks after a string break do not. Every scan is
 * a bounded loop over the value or a regex without nested quantifiers.
 */

/** Tags that run script or load active content by themselves. */
const DANGEROUS_TAGS = new Set([
  'script',
  'iframe',
  'frame',
  'frameset',
  'object',
  'embed',
  'bgsound',
  'applet',
  'base',
  'meta',
  'link',
  'style',
  'svg',
  'math',
  'xml',
  'import',
  'template',
  'portal',
  'isindex',
  'xss',
  'animate',
  'set',
  'handler',
  'listener',
  'vmlframe',
  'xmp',
  'noscript',
  'plaintext',
]);
/** Attributes that take URLs or code besides event handlers. */
const URL_ATTRS = new Set([
  'href',
  'src',
  'action',
  'formaction',
  'data',
  'xlink:href',
  'background',
  'dynsrc',
  'lowsrc',
  'poster',
  'srcdoc',
  'values',
  'from',
  'to',
  'by',
  'code',
  'codebase',
]);

const SCHEME = /(?:^|[\s"'`=(,<:[/])(?:javascript|vbscript|livescript|mocha)\s*:/;
const DATA_HTML = /data\s*:\s*(?:text\/html|image\/svg\+xml|application\/(?:x-)?(?:javascript|xhtml))/;
/** JS sinks and globals scripts reach for. Literal alternations only (linear). */
const SINK =
  /\b(?:alert|prompt|confirm|eval|settimeout|setinterval|execscript|fetch|atob|import)\s*(?:\(|`)|\b(?:document\.(?:cookie|domain|write|location)|window\.location|location\.(?:href|hash|replace)|string\.fromcharcode|\.innerhtml|constructor\.constructor|top\[|self\[|window\[|parent\[|globalthis\[|onerror=|document\)?\[["'`](?:cookie|domain|write|location)|\.(?:call|apply|bind)`)/;
/** The names in SINK's alternatives that need neither a backtick nor a "[" (and onerror=). */
const SINK_NAMES =
  /alert|prompt|confirm|eval|settimeout|setinterval|execscript|fetch|atob|import|string\.fromcharcode|constructor\.constructor|onerror=/;
const NOISE = /[\u0000-\u001f\\]|<!--/;
/** NOISE.test(s), scanned only when the flags show a control character, a backslash or a "<". */
export function noisy(s: string, f: number): boolean {
  return (f & (F.CONTROL | F.NEWLINE | F.BACKSLASH | F.LT)) !== 0 && NOISE.test(s);
}
const NOISE_ALL = /[\u0000-\u001f]+|<!--[^>]{0,64}-->|\\/g;
/** The part of ATTR_BREAK every match holds: a cheap first test. */
const ON_ATTR = /on[a-z]{3,24}\s{0,4}=/;
const ATTR_BREAK = /["'`](?:[^<>"'`]{0,64}?[\s/])?on[a-z]{3,24}\s{0,4}=\s{0,4}[^\s]/;
const STYLE_EXPR = /expression\s*\(|-moz-binding|behavior\s*:\s*url/;

function isAlpha(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** Reads the tag at `<` (index i); returns a hit for a dangerous tag or attribute. */
function tagAt(s: string, i: number): Hit | null {
  const n = s.length;
  let j = i + 1;
  if (s.charCodeAt(j) === 47) j++; // </script>
  if (!isAlpha(s.charCodeAt(j))) {
    if (s.startsWith('!--', i + 1) || s.startsWith('![cdata[', i + 1)) return null;
    return null;
  }
  const nameStart = j;
  while (j < n && j - nameStart < 32) {
    const c = s.charCodeAt(j);
    if (isAlpha(c) || (c >= 48 && c <= 57) || c === 45 || c === 58) j++;
    else break;
  }
  // A namespace prefix names the same element in XHTML and SVG documents: <x:script xmlns:x="...xhtml">.
  const full = s.slice(nameStart, j);
  // Only script is unwrapped: <xs:import> and <xsl:import> are XML Schema and XSLT, not IE's <import>.
  const name = full.endsWith(':script') ? 'script' : full;
  const sep = s.charCodeAt(j);
  // "<script" followed by end, space, "/", ">" or an attribute.
  const tagEnds =
    j >= n || sep === 32 || sep === 47 || sep === 62 || sep === 9 || sep === 10 || sep === 13 || sep === 12;
  if (!tagEnds) return null;
  let tagHit: Hit | null = null;
  if (DANGEROUS_TAGS.has(name)) {
    const weak =
      name === 'style' ||
      name === 'link' ||
      name === 'meta' ||
      name === 'base' ||
      name === 'set' ||
      name === 'xml' ||
      name === 'template' ||
      name === 'noscript' ||
      name === 'math' ||
      name === 'svg';
    // <iframe src="https://video..."> embeds and "the <script> tag" in prose are weaker than script that runs.
    const frame = name === 'iframe' || name === 'frame';
    const prose = sep === 62 && !s.includes(`</${full}`) && /^\s+[a-z]+\s+[a-z]+/.test(s.slice(j + 1, j + 40));
    if (!weak && !frame && !prose) return { rule: 'xss.tag', score: CRITICAL, at: i };
    // Style sheets that load or run something, meta refresh/link headers: active content all the same.
    const body = s.slice(j, j + 400).replace(/\\/g, '');
    if (name === 'style' && /@import|url\s*\(|expression\s*\(|-moz-binding|behavior\s*:|javascript:/.test(body))
      return { rule: 'xss.style', score: CRITICAL, at: i };
    if (name === 'meta' && /http-equiv|charset\s*=\s*["']?utf-7/.test(body.slice(0, 200)))
      return { rule: 'xss.meta', score: CRITICAL, at: i };
    tagHit = { rule: 'xss.tag', score: WARNING, at: i };
  }
  // Attributes: up to the closing ">" or 512 characters. Separators include "/" (<svg/onload=...>).
  const end = Math.min(n, j + 512);
  let k = j;
  while (k < end) {
    const c = s.charCodeAt(k);
    if (c === 62) break;
    if (c === 32 || c === 47 || c === 9 || c === 10 || c === 13 || c === 12 || c === 34 || c === 39) {
      k++;
      continue;
    }
    const a0 = k;
    while (k < end) {
      const d = s.charCodeAt(k);
      if (isAlpha(d) || d === 45 || d === 58 || d === 95 || (d >= 48 && d <= 57)) k++;
      else break;
    }
    if (k === a0) {
      k++;
      continue;
    }
    const attr = s.slice(a0, k);
    let p = k;
    while (p < end && (s.charCodeAt(p) === 32 || s.charCodeAt(p) === 9 || s.charCodeAt(p) === 10)) p++;
    if (s.charCodeAt(p) !== 61) continue;
    if (attr.length > 2 && attr.startsWith('on') && isAlpha(attr.charCodeAt(2)))
      return { rule: 'xss.event_handler', score: CRITICAL, at: a0 };
    if (attr === 'style') {
      const rest = s.slice(p, Math.min(end, p + 200)).replace(/\/\*[^*]{0,64}\*\//g, '');
      if (STYLE_EXPR.test(rest)) return { rule: 'xss.style', score: CRITICAL, at: a0 };
    }
    if (URL_ATTRS.has(attr)) {
      let q = p + 1;
      while (q < end && (s.charCodeAt(q) === 32 || s.charCodeAt(q) === 9 || s.charCodeAt(q) === 10)) q++;
      const quote = s[q];
      let val: string;
      if (quote === '"' || quote === "'" || quote === '`') {
        const close = s.indexOf(quote, q + 1);
        val = s.slice(q + 1, close === -1 ? Math.min(s.length, q + 120) : Math.min(close, q + 120));
      } else val = s.slice(q, Math.min(s.length, q + 120)).split(/[\s>]/)[0] as string;
      const rest = val.replace(/[\s\u0000-\u001f]+/g, '');
      if (/^javascript:(?:void\(?0\)?|;)?;?$/.test(rest)) {
        // The idiom href="javascript:void(0)" runs nothing.
      } else if (/^(?:javascript|vbscript|livescript):/.test(rest) || DATA_HTML.test(rest))
        return { rule: 'xss.url', score: CRITICAL, at: a0 };
      if (attr === 'srcdoc') return { rule: 'xss.srcdoc', score: CRITICAL, at: a0 };
    }
    k = p + 1;
  }
  return tagHit;
}

/**
 * SINK's match, looked for only where one can be. Without ` [ every sink has a name to look for first (a call's or a
 * property's), or is onerror=; a value needs a "(" or a "=" besides. Without "(" (and "`" "[") the call alternatives
 * cannot match: only the three names that need none are looked for then.
 */
export function sinkMatch(s: string, f: number): RegExpExecArray | null {
  return f & (F.BACKTICK | F.BRACKET) ||
    s.includes('document.') ||
    s.includes('location') ||
    s.includes('.innerhtml') ||
    (f & F.LPAREN
      ? SINK_NAMES.test(s)
      : f & F.EQ &&
        (s.includes('onerror=') || s.includes('string.fromcharcode') || s.includes('constructor.constructor')))
    ? SINK.exec(s)
    : null;
}

const QUICK = /[<:(`[]|&#|\\u|\bon[a-z]+\s*=/;
/** QUICK's handler without the word boundary: what proseReads looks for. */
const ON_EQ = /on[a-z]+\s*=/;
/** Only JSFuck's six characters (and blanks), with a negated or added empty array in them. */
const JSFUCK = /^[\s[\]()!+]{5,}$/;
const JS_COMMENT = /\/\*[^*]{0,64}\*\//g;
/** After blanks are squeezed to one space (BLANKS), a space on either side of . [ ] ( ) ` goes. Linear. */
const BLANKS = /\s+/g;
const JS_GAPS = / ?([.[\]()`]) ?/g;
/** The flags' gate and QUICK: its first class is flags, so only a value with "=" and none of them needs the scan. */
export function quick(s: string, f: number): boolean {
  return (f & (F.LT | F.LPAREN | F.BACKTICK | F.COLON | F.BRACKET)) !== 0 || ((f & F.EQ) !== 0 && QUICK.test(s));
}

/** A data: URL's base64 payload (case kept: base64 is case-sensitive), bounded. */
const DATA_BASE64 = /data\s*:[^,]{0,100};\s*base64\s*,([A-Za-z0-9+/=_-]{8,8192})/i;

/** A base64 data: URL that decodes to script: a tag with a script, an event handler or a sink (`PHN2Zy9vbmxvYWQ9...`). */
function base64Markup(text: string): boolean {
  const m = DATA_BASE64.exec(text);
  if (!m) return false;
  const html = Buffer.from(m[1] as string, 'base64')
    .toString('latin1')
    .toLowerCase();
  return html.includes('<') && (html.includes('script') || /\bon[a-z]+\s*=/.test(html) || SINK.test(html));
}

export const xss: Detector = {
  cls: 'xss',
  needs: F.LT | F.LPAREN | F.BACKTICK | F.COLON | F.BRACKET | F.EQ | F.STAR,
  proseFlags: ANY_FLAG & ~(F.LT | F.BACKTICK | F.BRACKET | F.STAR | F.BACKSLASH),
  // An event handler is any "on" word before "=": no list holds them all.
  proseReads: (s) => s.indexOf('=') !== -1 && ON_EQ.test(s),
  // SINK's names and properties, and the URL schemes (which need a ":" prose has not).
  proseWords:
    'alert prompt confirm eval settimeout setinterval execscript fetch atob import document cookie domain write location window href hash replace string fromcharcode innerhtml constructor top self parent globalthis onerror call apply bind javascript vbscript livescript script data mocha expression'.split(
      ' ',
    ),
  detect(v: Value): Hit | null {
    const s = v.lower;
    const f = v.flags;
    // Comments hide a sink's "." from the quick gate: "document /*x*/ . cookie".
    if (v.isKey || (!quick(s, f) && !(f & F.STAR && s.includes('document')))) return null;
    let hit: Hit | null = null;
    // Tags: every "<" is checked; bounded by a count so that "<<<<..." stays linear.
    let from = 0;
    for (let count = 0; count < 64; count++) {
      const i = s.indexOf('<', from);
      if (i === -1) break;
      const h = tagAt(s, i);
      if (h && (!hit || h.score > hit.score)) hit = h;
      if (hit && hit.score >= CRITICAL) return hit;
      from = i + 1;
    }
    // javascript: URLs with whitespace and control characters removed (java\tscript:).
    // Controls, HTML comments and CSS escapes inside the scheme are dropped by browsers: java\tscript:, javas<!-- -->cript:
    const compact = f & F.COLON && noisy(s, f) ? s.replace(NOISE_ALL, '') : s;
    if (
      compact.indexOf(':') !== -1 &&
      (compact.includes('script') || compact.includes('data') || compact.includes('mocha'))
    ) {
      const m = SCHEME.exec(compact);
      if (m) {
        const after = compact.slice(m.index + m[0].length, m.index + m[0].length + 40);
        // "JavaScript: the good parts" is prose; code follows without a word and a space.
        const idiom = /^\s*(?:void\s*\(?\s*0\s*\)?|;)?\s*(?:["'>;]|$)/.test(after);
        if (!idiom && (!/^\s*[a-z]+\s+[a-z]+/.test(after) || /[(`=;/[]/.test(after)))
          return { rule: 'xss.url', score: CRITICAL, at: m.index };
      }
      const d = DATA_HTML.exec(s);
      if (d) {
        return { rule: 'xss.data_url', score: s.includes('<') || base64Markup(v.text) ? CRITICAL : ERROR, at: d.index };
      }
    }
    // Breaking out of an attribute: `" autofocus onfocus=alert(1) x="`.
    const attr = f & (F.QUOTE | F.BACKTICK) && f & F.EQ && ON_ATTR.test(s) ? ATTR_BREAK.exec(s) : null;
    if (attr) return { rule: 'xss.attribute_break', score: CRITICAL, at: attr.index };
    // JSFuck: script written with []()!+ alone ("(![]+[])[+!+[]]" is "a"); no text is made of these.
    if (f & F.BRACKET && f & F.BANG && JSFUCK.test(s) && (s.includes('![]') || s.includes('+[]')))
      return { rule: 'xss.obfuscated', score: CRITICAL, at: 0 };
    // Comments and blanks that JavaScript ignores between a name and its property, call or template:
    // "document /*x*/ . cookie", "self [ 'alert' ] (1)", "[] . sort . call `${alert}1`".
    let t = s;
    // Only with a JS comment, or a template handed to call/apply: squeezing blanks in prose joins "top [10]" into a sink.
    if ((f & F.STAR && s.includes('/*') && s.includes('*/')) || (f & F.SPACE && f & F.BACKTICK && s.includes('call'))) {
      t = s.replace(JS_COMMENT, '').replace(BLANKS, ' ').replace(JS_GAPS, '$1');
    }
    const sink = t === s ? sinkMatch(s, f) : SINK.exec(t);
    if (sink) {
      // A sink after a break out of a string or attribute ("-alert(1)-", "';alert(1)//", "\"><"), or a template
      // literal handed to call/apply (a call without parentheses): critical.
      const before = t.slice(Math.max(0, sink.index - 6), sink.index);
      const broke =
        /['"`;>]|[-+*|&]\s*$/.test(before) ||
        /^\(*$/.test(t.slice(0, sink.index)) ||
        /^\.(?:call|apply|bind)`/.test(sink[0]);
      const score = broke ? CRITICAL : WARNING;
      // A match in the rewritten text has no place in the value: the fragment then starts at the value's start.
      if (!hit || score > hit.score) hit = { rule: 'xss.js_sink', score, at: t === s ? sink.index : 0 };
    }
    return hit;
  },
};
