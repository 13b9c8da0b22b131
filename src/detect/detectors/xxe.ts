import { ANY_FLAG, CRITICAL, type Detector, ERROR, F, type Hit, type Value, WARNING } from './common.js';

/**
 * XML external entities and entity expansion: entity declarations (external with SYSTEM/PUBLIC, parameter entities,
 * or internal ones as in "billion laughs"), DOCTYPEs with an internal subset or an external DTD, XInclude and XSLT
 * document loading. `<!DOCTYPE html>` alone is ordinary HTML.
 */
const ENTITY_EXTERNAL = /<!entity\s{1,32}(?:%\s{1,32})?[^\s>]{1,128}\s{1,32}(?:system|public)\b/;
const ENTITY = /<!entity\b/;
const DOCTYPE_SUBSET = /<!doctype\s{1,32}[^\s>[]{1,128}\s{0,32}(?:(?:system|public)\b[^>[]{0,512})?\[/;
const DOCTYPE_EXTERNAL =
  /<!doctype\s{1,32}[^\s>[]{1,128}\s{1,32}(?:system|public)\s{0,32}(?:"[^"]{0,256}"\s{0,32}){0,2}/;
const XINCLUDE =
  /<[a-z0-9_-]{0,32}:?include\b[^>]{0,512}\bhref\s*=|xmlns:[a-z0-9_-]{1,32}\s*=\s*["']http:\/\/www\.w3\.org\/2001\/xinclude/;
const PARAM_REF = /%[a-z_][a-z0-9_.-]{0,64};/;
const XSLT = /<xsl:[a-z-]{1,32}[^>]{0,256}(?:document\s*\(|unparsed-text|system-property|xalan:|php:function)/;
const QUICK = /<!|<[a-z0-9_-]*:?include|%[a-z_][a-z0-9_.-]*;|<xsl:/;

export const xxe: Detector = {
  cls: 'xxe',
  proseFlags: ANY_FLAG & ~(F.LT | F.PERCENT),
  needs: F.LT | F.PERCENT,
  proseWords: [],
  detect(v: Value): Hit | null {
    const s = v.lower;
    if (v.isKey || !(v.flags & (F.LT | F.PERCENT)) || !QUICK.test(s)) return null;
    let m = ENTITY_EXTERNAL.exec(s);
    if (m) return { rule: 'xxe.external_entity', score: CRITICAL, at: m.index };
    m = ENTITY.exec(s);
    if (m) return { rule: 'xxe.entity', score: CRITICAL, at: m.index };
    m = DOCTYPE_SUBSET.exec(s);
    if (m) return { rule: 'xxe.doctype_subset', score: ERROR, at: m.index };
    m = DOCTYPE_EXTERNAL.exec(s);
    if (m) {
      const html = /<!doctype\s+html\b/.test(s.slice(m.index, m.index + 20)) && /w3\.org\/tr\/x?html/.test(m[0]);
      if (!html) return { rule: 'xxe.external_dtd', score: CRITICAL, at: m.index };
    }
    m = XINCLUDE.exec(s);
    if (m) return { rule: 'xxe.xinclude', score: CRITICAL, at: m.index };
    m = XSLT.exec(s);
    if (m) return { rule: 'xxe.xslt', score: CRITICAL, at: m.index };
    if (s.indexOf('<!doctype') !== -1) {
      m = PARAM_REF.exec(s);
      if (m) return { rule: 'xxe.parameter_entity', score: WARNING, at: m.index };
    }
    return null;
  },
};
