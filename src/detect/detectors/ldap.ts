import { CRITICAL, type Detector, ERROR, F, type Hit, type Value, WARNING } from './common.js';

/**
 * LDAP filter injection: a value that closes the application's filter and opens another (`*)(uid=*))(|(uid=*`,
 * `admin)(&)`, `*)(|(objectclass=*)`). Patterns are bounded character classes without nested quantifiers.
 */
const ATTRIBUTE =
  /\((?:uid|cn|sn|ou|dc|o|mail|objectclass|userpassword|password|member|memberof|samaccountname|userprincipalname|givenname|displayname|description|telephonenumber|distinguishedname|name|gidnumber|uidnumber|homedirectory|loginshell|accountstatus)\s*[~<>]?=/;
const CLOSE_OPEN = /\)\s{0,8}\((?:\s{0,8}[|&!(]){0,4}\s{0,8}[a-z0-9][a-z0-9\-;.]{0,40}\s{0,8}[~<>]?=/;
/** A value made only of filter metacharacters: "*()|&'", "*))" (probes). */
const META_ONLY = /^[*()|&!='"\s]{3,32}$/;
const WILDCARD_CLOSE2 = /^\*\s{0,8}\)\s{0,8}\)/;
const EMPTY_LOGIC =
  /\)\s{0,8}\(\s{0,8}[|&]\s{0,8}\)|\(\s{0,8}[|&]\s{0,8}\(\s{0,8}[a-z][a-z0-9-]{0,40}\s{0,8}=\s{0,8}\*\s{0,8}\)/;
const WILDCARD_CLOSE = /^\*\s{0,8}\)|\*\)\s{0,8}\(|^[^()]{0,64}\)\s{0,8}\(\s{0,8}[|&!]/;

function closesFirst(s: string): boolean {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 40) depth++;
    else if (c === 41 && --depth < 0) return true;
  }
  return false;
}

/**
 * An injection closes the application's filter first: a ")" before its "(" (the depth goes below zero). A whole,
 * balanced filter quoted in text ("(&(objectClass=user)(uid=jdoe))") closes nothing, so it is only a warning.
 * A whole filter with a match-everything term ("(|(uid=*)(cn=*))") is an injection of a filter all the same.
 */
function filterScore(s: string): number {
  return closesFirst(s) || /=\s{0,8}\*\s{0,8}\)/.test(s) ? CRITICAL : WARNING;
}

export const ldap: Detector = {
  cls: 'ldap',
  needs: F.RPAREN,
  proseWords: [],
  detect(v: Value): Hit | null {
    const s = v.lower;
    // F.RPAREN is the quick test: every pattern below holds a ")".
    if (v.isKey || !(v.flags & F.RPAREN)) return null;
    // Every pattern below needs a "*" or a "(" after a ")": prose with a smiley or "(see above)" stops here.
    if (!(v.flags & F.STAR) && s.indexOf('(', s.indexOf(')') + 1) === -1) return null;
    let m = CLOSE_OPEN.exec(s);
    // A new filter term: a wildcard value, a logic operator or a directory attribute; "f(a)(b=1)" is not one.
    if (m && (/[|&!]/.test(m[0]) || s.charCodeAt(m.index + m[0].length) === 42 || ATTRIBUTE.test(m[0])))
      return { rule: 'ldap.filter_break', score: filterScore(s), at: m.index };
    m = EMPTY_LOGIC.exec(s);
    if (m) return { rule: 'ldap.filter_break', score: filterScore(s), at: m.index };
    const t = s.trim();
    if (WILDCARD_CLOSE2.test(t) || (META_ONLY.test(t) && t.includes('(') && t.includes(')') && t.includes('*')))
      return { rule: 'ldap.metacharacters', score: CRITICAL, at: 0 };
    m = WILDCARD_CLOSE.exec(s);
    if (m) return { rule: 'ldap.wildcard', score: ERROR, at: m.index };
    return null;
  },
};
