import { ANY_FLAG, CRITICAL, type Detector, ERROR, F, type Hit, type Value } from './common.js';

/**
 * Prototype pollution: `__proto__` or `constructor`→`prototype` as a JSON key, a query/form key
 * (`__proto__[admin]=1`, `constructor[prototype][x]=1`, `a.__proto__.b`) or a dotted/bracketed path in a value
 * that a merge or "set by path" helper will follow.
 */
const PATH =
  /(?:^|[./[\]"'])__proto__(?:$|[./[\]"'])|(?:^|[./[\]"'])constructor\s*(?:\]?\s*\[|\.|\/)\s*['"]?prototype\b/;
const QUICK = /__proto__|prototype/;

export const proto: Detector = {
  cls: 'proto',
  proseFlags: ANY_FLAG & ~F.UNDERSCORE2,
  needs: 0,
  proseWords: ['proto', 'prototype', 'constructor'],
  detect(v: Value): Hit | null {
    const s = v.lower;
    if (!(v.flags & F.UNDERSCORE2) && !s.includes('prototype')) return null;
    if (!QUICK.test(s)) return null;
    if (v.isKey) {
      if (s === '__proto__' || s === 'constructor.prototype') return { rule: 'proto.key', score: CRITICAL, at: 0 };
      const m = PATH.exec(s);
      if (m) return { rule: 'proto.key', score: CRITICAL, at: m.index };
      if (s.indexOf('__proto__') !== -1) return { rule: 'proto.key', score: CRITICAL, at: s.indexOf('__proto__') };
      return null;
    }
    const m = PATH.exec(s);
    if (m)
      return {
        rule: 'proto.path',
        score: s.trim() === '__proto__' || /^[\w./[\]'"]+$/.test(s.trim()) ? CRITICAL : ERROR,
        at: m.index,
      };
    return null;
  },
};
