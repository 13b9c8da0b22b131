/**
 * Path templates ("/users/{id}", "/files/{name}.{ext}") → the entry for a request path, as a trie of segments:
 * literal segments first (OpenAPI: concrete paths win over templated ones), then templated segments, with
 * backtracking. Cost per request is the number of segments (plus the templated siblings tried), not the number of
 * paths, so a spec with a thousand paths matches as fast as one with ten.
 */

interface TemplatedSegment<T> {
  readonly re: RegExp;
  readonly node: Node<T>;
  /** Segments with more literal text are more specific and tried first. */
  readonly literalLength: number;
}

interface Node<T> {
  literal: Map<string, Node<T>>;
  templated: TemplatedSegment<T>[];
  /** Templates of the same shape ("/a/{x}" and "/a/{y}", invalid in OpenAPI but found in real specs) share a node. */
  entries: Entry<T>[];
}

interface Entry<T> {
  readonly value: T;
  readonly template: string;
  /** Parameter names in the order the template's segments capture them. */
  readonly names: readonly string[];
}

const newNode = <T>(): Node<T> => ({ literal: new Map(), templated: [], entries: [] });
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every template of one shape that matched, with the raw (still percent-encoded) captured values in order. */
export interface PathMatches<T> {
  readonly entries: readonly Entry<T>[];
  readonly values: readonly string[];
}

export function paramsOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  names.forEach((n, i) => {
    params[n] = values[i] as string;
  });
  return params;
}

export class PathMatcher<T> {
  readonly #root = newNode<T>();

  /** Adds a template; throws on a malformed one or an exact duplicate. */
  add(template: string, value: T): void {
    if (!template.startsWith('/')) throw new Error(`path "${template}" must start with "/"`);
    let node = this.#root;
    const allNames: string[] = [];
    for (const seg of template.slice(1).split('/')) {
      if (!seg.includes('{')) {
        let next = node.literal.get(seg);
        if (!next) {
          next = newNode();
          node.literal.set(seg, next);
        }
        node = next;
        continue;
      }
      const names = allNames;
      let src = '';
      let literalLength = 0;
      let rest = seg;
      for (;;) {
        const open = rest.indexOf('{');
        if (open === -1) break;
        const close = rest.indexOf('}', open);
        if (close === -1) throw new Error(`path "${template}": unclosed "{"`);
        src += escapeRe(rest.slice(0, open));
        literalLength += open;
        names.push(rest.slice(open + 1, close));
        // A whole-segment parameter takes anything but "/"; several in one segment split it lazily.
        src += '([^/]+?)';
        rest = rest.slice(close + 1);
      }
      src += escapeRe(rest);
      literalLength += rest.length;
      const key = `^${src}$`;
      let t = node.templated.find((x) => x.re.source === key);
      if (!t) {
        t = { re: new RegExp(key), node: newNode(), literalLength };
        node.templated.push(t);
        node.templated.sort((a, b) => b.literalLength - a.literalLength);
      }
      node = t.node;
    }
    if (node.entries.some((e) => e.template === template)) throw new Error(`path "${template}" is listed twice`);
    node.entries.push({ value, template, names: allNames });
  }

  match(path: string): PathMatches<T> | null {
    if (!path.startsWith('/')) return null;
    const segs = path.slice(1).split('/');
    const values: string[] = [];
    const entries = walk(this.#root, segs, 0, values);
    return entries ? { entries, values } : null;
  }
}

function walk<T>(node: Node<T>, segs: readonly string[], i: number, values: string[]): Entry<T>[] | null {
  if (i === segs.length) return node.entries.length ? node.entries : null;
  const seg = segs[i] as string;
  const lit = node.literal.get(seg);
  if (lit) {
    const r = walk(lit, segs, i + 1, values);
    if (r) return r;
  }
  if (seg === '') return null;
  for (const t of node.templated) {
    const m = t.re.exec(seg);
    if (!m) continue;
    const mark = values.length;
    for (let j = 1; j < m.length; j++) values.push(m[j] as string);
    const r = walk(t.node, segs, i + 1, values);
    if (r) return r;
    values.length = mark;
  }
  return null;
}
