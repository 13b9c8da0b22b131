import { ANY_FLAG, CRITICAL, type Detector, ERROR, F, type Hit, type Value } from './common.js';

/**
 * JNDI / Log4Shell lookups. Log4j resolves nested lookups before it reads the result, so `${${lower:j}ndi:...}`,
 * `${${::-j}${::-n}di:...}` and `${${env:X:-j}ndi...}` are resolved here the same way (innermost first, bounded
 * rounds) before looking for `${jndi:`. Other lookups that leak data (`${env:`, `${sys:`, `${java:`) score lower.
 */
const INNER = /\$\{([^${}]{0,100})\}/g;
const JNDI = /\$\{\s*jndi\s*:|jndi\s*:\s*(?:ldaps?|rmi|dns|iiop|corba|nds|nis|https?):/;
const LEAK =
  /\$\{\s*(?:env|sys|java|ctx|main|bundle|spring|k8s|docker|web|log4j|marker|jvmrunargs|date|base64|lower|upper|sd|map|event)\s*:/;

/** Resolves one lookup the way log4j would, for the purpose of finding the hidden keyword. */
function resolve(body: string): string {
  // ${::-j}, ${env:NaN:-j}, ${lower:j}, ${upper:j}, ${date:'j'}
  const dflt = body.indexOf(':-');
  if (dflt !== -1) return body.slice(dflt + 2);
  const colon = body.indexOf(':');
  if (colon !== -1) {
    const kind = body.slice(0, colon).trim().toLowerCase();
    const arg = body.slice(colon + 1);
    if (kind === 'lower' || kind === 'upper') return arg;
    if (kind === 'base64') return Buffer.from(arg.trim(), 'base64').toString('latin1');
    if (kind === 'date') return arg.replace(/'/g, '');
    if (kind === 'jndi') return `\u0000jndi:${arg}`;
    return `\u0001${kind}:${arg}`;
  }
  return body;
}

export const jndi: Detector = {
  cls: 'jndi',
  proseFlags: ANY_FLAG & ~F.DOLLAR,
  needs: 0,
  // Looked for inside words too: an escaped "${" (\\u007bjndi) glues to it.
  proseWords: [],
  proseParts: ['jndi'],
  detect(v: Value): Hit | null {
    const s0 = v.lower;
    if (!(v.flags & F.DOLLAR) && !s0.includes('jndi')) return null;
    const at = s0.indexOf('${');
    if (at === -1)
      return s0.indexOf('jndi:') !== -1 && JNDI.test(s0)
        ? { rule: 'jndi.lookup', score: ERROR, at: s0.indexOf('jndi:') }
        : null;
    if (JNDI.test(s0)) return { rule: 'jndi.lookup', score: CRITICAL, at };
    // Resolved on the original text: base64 is case-sensitive.
    let s = v.text;
    let leak = LEAK.test(s0);
    for (let round = 0; round < 8 && s.indexOf('${') !== -1; round++) {
      const next = s.replace(INNER, (_m, body: string) => resolve(body));
      if (next === s) break;
      s = next.length > 8192 ? next.slice(0, 8192) : next;
      const low = s.toLowerCase();
      if (low.indexOf('\u0000jndi:') !== -1 || /(?:^|[^a-z])jndi\s*:/.test(low))
        return { rule: 'jndi.lookup', score: CRITICAL, at };
    }
    if (s.indexOf('\u0001') !== -1) leak = true;
    return leak ? { rule: 'jndi.lookup_other', score: ERROR, at } : null;
  },
};
