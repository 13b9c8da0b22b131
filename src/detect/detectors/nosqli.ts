import { ANY_FLAG, CRITICAL, type Detector, ERROR, F, type Hit, type Value, WARNING } from './common.js';

/**
 * NoSQL (MongoDB) injection: query operators where the application expects a plain value, as JSON object keys
 * (`{"password": {"$ne": null}}`), as bracket keys in query strings and forms (`password[$ne]=x`), inside
 * stringified JSON in a parameter (`?filter={"$where": ...}`), and server-side JavaScript (`$where`, `sleep()`,
 * `this.password.match`, `'; return true; var x='`).
 */
const OPERATORS = new Set(
  '$ne $eq $gt $gte $lt $lte $in $nin $regex $where $exists $or $and $nor $not $expr $function $accumulator $elemmatch $type $size $all $mod $text $jsonschema $options $comment $lookup $merge $out $unionwith $graphlookup $facet $search $geowithin $near $nearsphere $bitsallset $bitsanyset $rand $natural'.split(
    ' ',
  ),
);
/** Operators that run JavaScript or aggregation code: never a plain filter. */
const CODE_OPERATORS = new Set([
  '$where',
  '$function',
  '$accumulator',
  '$expr',
  '$jsonschema',
  '$lookup',
  '$merge',
  '$out',
  '$unionwith',
  '$graphlookup',
]);
/** Fields an authentication or lookup compares with equality: an operator there is a bypass. */
const IDENTITY_FIELD =
  /(?:^|[_\-.])(?:pass(?:word|wd)?|pwd|secret|token|otp|pin|code|user(?:name)?|login|email|mail|name|id|_id|uid|key|apikey|api_key|account|role|session|sid|hash|answer|nonce|owner|owner_id|tenant|tenant_id|customer|customer_id|org|org_id|account_id|user_id|userid)$/;

/**
 * How bad an operator is: code operators, operators on identity fields and operands that match everything
 * (null, "", true, ".*") are bypasses; a numeric range or a list under a field like "price" is the shape of
 * an API that accepts query filters, which only counts with other evidence.
 */
function operatorScore(op: string, field: string, operand: string): number {
  if (CODE_OPERATORS.has(op)) return CRITICAL;
  // $eq never widens a match ("filters[title][$eq]=x" is how Strapi-style APIs filter).
  if (op === '$eq') return /^(?:\{|\[)/.test(operand) ? CRITICAL : WARNING;
  if (IDENTITY_FIELD.test(field)) return CRITICAL;
  if (
    /^(?:null|""|true|false|"\.\*"|"\^"|"\.\+"|\{)/.test(operand) ||
    op === '$regex' ||
    op === '$exists' ||
    op === '$nor' ||
    op === '$ne' ||
    op === '$nin' ||
    op === '$not'
  )
    return CRITICAL;
  return WARNING;
}

const KEY_OP = /\[\s*(\$[a-z]{2,16})\s*\]/;
const TEXT_OP = /["'{,[\s]\s*["']?(\$[a-z]{2,16})["']?\s*:/;
const JS =
  /\$where\b|[;}]\s*(?:do\s*\{|while\s*\(|for\s*\(\s*;|[a-z_]{1,12}\s*=\s*new\s+date\s*\()|\bthis\.[a-z_]{1,40}\.(?:match|constructor|length)\b|\bsleep\s*\(\s*\d|(?:^|['"])\s*;\s*(?:return|while|var|let|const|sleep)\b|\|\|\s*(?:['"]\w*['"]\s*==\s*['"]|1\s*==\s*1|true\b)|\bdb\.[a-z_]{1,40}\.(?:find|drop|insert|remove|update)|\bobjectid\s*\(|\bnew\s+date\s*\(\s*\)\s*[;)]/;
const QUICK = /\$|this\.|sleep|\|\||db\.|;/;
/** The flags' gate and QUICK: "$" and ";" are matches by themselves, "|" and "(" need its words. */
export function quick(s: string, flags: number): boolean {
  return (flags & (F.DOLLAR | F.SEMI)) !== 0 || ((flags & (F.PIPE | F.LPAREN)) !== 0 && QUICK.test(s));
}
const SEMI_STATEMENT = /;\s*(?:return|while|var|let|const|sleep)\b/;

export const nosqli: Detector = {
  cls: 'nosqli',
  needs: F.DOLLAR | F.SEMI | F.PIPE | F.LPAREN,
  proseFlags: ANY_FLAG & ~(F.DOLLAR | F.PIPE | F.BRACE),
  proseWords:
    'where this db sleep return while var let const do for new date objectid match constructor length find drop insert remove update true'.split(
      ' ',
    ),
  detect(v: Value): Hit | null {
    const s = v.lower;
    if (!quick(s, v.flags)) return null;
    if (v.isKey) {
      // A JSON key or a parameter name: "$ne", "password[$ne]", "filter[$where]".
      const key = s.trim();
      if (OPERATORS.has(key))
        return { rule: 'nosqli.operator', score: operatorScore(key, v.name, v.keyValue ?? ''), at: 0 };
      const m = KEY_OP.exec(key);
      if (m && OPERATORS.has(m[1] as string)) {
        // The field is the last bracket segment before the operator: filters[price][$lt] → price.
        const before = key.slice(0, m.index);
        const seg = /\[([^\]]*)\]$/.exec(before);
        const field = seg ? (seg[1] as string) : before;
        return {
          rule: 'nosqli.operator',
          score: operatorScore(m[1] as string, field, v.keyValue ?? '""'),
          at: m.index,
        };
      }
      return null;
    }
    let hit: Hit | null = null;
    const f = v.flags;
    const m = f & F.DOLLAR ? TEXT_OP.exec(s) : null;
    if (m && OPERATORS.has(m[1] as string)) hit = { rule: 'nosqli.operator', score: CRITICAL, at: m.index };
    if (!hit && s.startsWith('$') && OPERATORS.has(s.trim())) hit = { rule: 'nosqli.operator', score: WARNING, at: 0 };
    // Without $ ( { | every JS pattern needs "this.", "db." or a statement after ";": prose with a ";" stops here.
    const j =
      f & (F.DOLLAR | F.LPAREN | F.BRACE | F.PIPE) ||
      s.includes('this.') ||
      s.includes('db.') ||
      (f & F.SEMI && SEMI_STATEMENT.test(s))
        ? JS.exec(s)
        : null;
    if (j) {
      const score = /^(?:\$where|this\.|db\.)|[;}]\s*(?:return|while|do|for|[a-z_]{1,12}\s*=)|\|\|/.test(j[0])
        ? CRITICAL
        : ERROR;
      if (!hit || score > hit.score) hit = { rule: 'nosqli.javascript', score, at: j.index };
    }
    return hit;
  },
};
