import { describe, expect, it } from 'vitest';
import { LARGE_JSON } from '../../../bench/large-json.js';
import { ByteFilter } from './byte-filter.js';
import { walkMemory, walkReady } from './byte-walk.js';
import { applyPaths, type CompiledPath, compilePath, DROP } from './json-path.js';
import { filterValue, REMOVED, SchemaCompiler, type Shape } from './schema-filter.js';

const MAX = 10;

/** The object path, as policy.ts runs it: parse, schema cut, rule cut. */
function reference(buf: Buffer, shape: Shape | null, deny: CompiledPath[], allow: CompiledPath[] | null) {
  let value: unknown;
  try {
    value = JSON.parse(buf.toString('utf8'));
  } catch {
    return null;
  }
  const paths: string[] = [];
  let count = 0;
  const onRemoved = (p: string) => {
    if (count++ < MAX) paths.push(p);
  };
  if (shape) {
    const r = filterValue(value, shape, onRemoved);
    value = r === REMOVED ? null : r;
  }
  const bySchema = count;
  if (deny.length || allow) {
    const r = applyPaths(value, deny, allow, onRemoved);
    value = r === DROP ? null : r;
  }
  return { count, bySchema, paths, value };
}

interface Case {
  schema?: unknown;
  root?: unknown;
  deny?: string[];
  allow?: string[];
}

/** Runs both paths; whenever the byte path answers, it must answer exactly as the object path. */
function differential(f: ByteFilter, text: string | Buffer, c: Case) {
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  const shape = c.schema === undefined ? null : new SchemaCompiler(c.root).compile(c.schema);
  const deny = (c.deny ?? []).map(compilePath);
  const allow = c.allow?.length ? c.allow.map(compilePath) : null;
  const ref = reference(buf, shape, deny, allow);
  const fast = f.run(buf, shape, deny, allow, MAX);
  if (fast) {
    // Never accepts what the object path refuses.
    expect(ref).not.toBeNull();
    if (!ref) return { fast, ref };
    expect({ count: fast.count, bySchema: fast.bySchema, paths: fast.paths }).toEqual({
      count: ref.count,
      bySchema: ref.bySchema,
      paths: ref.paths,
    });
    if (fast.count > 0) {
      const out = fast.body();
      expect(JSON.parse(out.toString('utf8'))).toEqual(ref.value);
      // Compacted within the input (what the policy asks for): the same bytes.
      expect(fast.body(true).equals(out)).toBe(true);
      // What the client parses is exactly what was filtered: the output is itself strict, unambiguous JSON.
      expect(f.run(out, null, [compilePath('$.__none__')], null, MAX)).not.toBeNull();
    }
  }
  return { fast, ref };
}

const USER = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    email: { type: 'string' },
    phone: { type: 'string' },
    role: { type: 'string' },
    created_at: { type: 'string' },
    address: { type: 'object', properties: { street: {}, city: {}, postal_code: {}, country: {} } },
    tags: { type: 'array', items: { type: 'string' } },
  },
};
const ROOT = { components: { schemas: { User: USER } } };
const PAGE = {
  type: 'object',
  properties: {
    page: { type: 'integer' },
    total: { type: 'integer' },
    items: { type: 'array', items: { $ref: '#/components/schemas/User' } },
  },
};

describe.each([
  ['the WebAssembly walk', true],
  ['the JavaScript walk', false],
] as const)('byte filter, %s', (_, wasm) => {
  it('cuts the bench answer exactly as the object path (schema, $ref, per-role rule)', () => {
    const f = new ByteFilter({ wasm });
    const bench = { schema: PAGE, root: ROOT, deny: ['$.items[*].email'] };
    const { fast, ref } = differential(f, LARGE_JSON, bench);
    expect(fast).not.toBeNull();
    expect(fast?.count).toBe(120);
    expect(fast?.bySchema).toBe(100);
    // The answer, then its output read again by differential().
    expect(wasm ? f.walks.wasm : f.walks.js).toBe(2);
    expect(ref?.paths[0]).toBe('/items/0/password_hash');
    // An admin (no rule) and pretty-printed input.
    expect(differential(f, LARGE_JSON, { schema: PAGE, root: ROOT }).fast?.count).toBe(100);
    const pretty = JSON.stringify(JSON.parse(LARGE_JSON), null, '\t').replaceAll('\n', '\r\n  ');
    expect(differential(f, pretty, bench).fast?.count).toBe(120);
  });

  it('leaves a clean answer alone and reports nothing', () => {
    const f = new ByteFilter({ wasm });
    const { fast } = differential(f, '{"id":"1","name":"a","address":{"city":"x"}}', { schema: USER });
    expect(fast?.count).toBe(0);
  });

  it('fixes up commas whichever members go (first, middle, last, all, runs)', () => {
    const f = new ByteFilter({ wasm });
    const s = { type: 'object', properties: { k: {}, n: { type: 'object', properties: { k: {} } } } };
    const docs = [
      '{"x":1,"k":2}',
      '{"k":1,"x":2}',
      '{"k":1,"x":2,"k2":3}',
      '{"x":1,"y":2,"k":3,"z":4,"w":5}',
      '{"x":1,"y":2}',
      '{ "x" : 1 , "k" : 2 , "y" : [1,{"a":2}] }',
      '{"n":{"a":1,"k":2,"b":3},"x":{}}',
      '{"n":{"a":1},"z":[]}',
      '[{"x":1},{"k":1,"x":[]}]',
      '{"k":[],"n":{},"z":{}}',
    ];
    for (const d of docs) expect(differential(f, d, { schema: s }).fast).not.toBeNull();
    expect(f.run(Buffer.from('{"x":1,"y":2}'), new SchemaCompiler().compile(s), [], null, MAX)?.body().toString()).toBe(
      '{}',
    );
  });

  it('arrays: prefixItems, items:false, rule indexes after the schema cut', () => {
    const f = new ByteFilter({ wasm });
    const tuple = { type: 'array', prefixItems: [{ type: 'string' }, false, USER], items: false };
    for (const d of ['["a",1,{"id":1,"x":2},4,5]', '[]', '["a"]', '[1,2]', '[1,2,{"x":1}]']) {
      expect(differential(f, d, { schema: tuple, deny: ['$[1].id', '$[0]'] }).fast).not.toBeNull();
    }
    const r = differential(f, '["a",1,{"id":1,"x":2},4]', { schema: tuple, deny: ['$[1].id'] });
    expect(r.ref?.paths).toEqual(['/1', '/2/x', '/3', '/1/id']);
    expect(r.fast?.paths).toEqual(['/1', '/2/x', '/3', '/1/id']);
  });

  it('rules alone: deny, allow with containers, descendants, wildcards, escaped names', () => {
    const f = new ByteFilter({ wasm });
    const doc = JSON.stringify({
      id: 1,
      name: 'n',
      secret: 's',
      nested: { a: 1, b: 2, c: { ssn: 3 } },
      list: [{ id: 1, x: 2, ssn: 9 }, 3, null, [{ id: 4 }]],
      'odd key': { 'a/b~c': 1, ssn: 2 },
      ssn: 0,
    });
    const cases: Case[] = [
      { deny: ['$..ssn'] },
      { deny: ['$.list[*].x', '$.nested.c'] },
      { allow: ['$.id', '$.nested.a', '$.list[*].id'] },
      { deny: ['$.nested.a'], allow: ['$.nested', '$..ssn'] },
      { allow: ["$['odd key']['a/b~c']"] },
      { deny: ['$.*'] },
      { deny: ['$..*'] },
      { deny: ['$.list[0]', '$.list[3][0].id'] },
      { deny: ['$..c..ssn', '$..[1]'] },
      { allow: ['$.list[*]'], deny: ['$.list[*].id'] },
    ];
    for (const c of cases) {
      const r = differential(f, doc, c);
      expect(r.fast).not.toBeNull();
      expect(r.fast?.count).toBeGreaterThan(0);
    }
  });

  it('keys with escapes and unicode are compared decoded', () => {
    const f = new ByteFilter({ wasm });
    const s = { type: 'object', properties: { email: {}, 'na"me': {}, 'b\\s': {}, café: {}, 'a/b': false } };
    const docs = [
      '{"em\\u0061il":"x","na\\"me":1,"b\\\\s":2,"caf\\u00e9":3,"cafe":4,"a\\/b":5,"\\u0022":6}',
      '{"café":1,"x":"caf\\u00e9","\\ud83d\\ude00":2}',
      '{"email":"a\\"b\\\\c\\u0022\\n","v":"\\u00e9\\t\\/"}',
    ];
    for (const d of docs) differential(f, d, { schema: s, deny: ['$.email'] });
    expect(differential(f, docs[0] as string, { schema: s, deny: ['$.email'] }).fast).not.toBeNull();
    // An escaped key with a surrogate goes the object way.
    expect(differential(f, docs[1] as string, { schema: s }).fast).toBeNull();
  });

  it('numbers and literals of every form', () => {
    const f = new ByteFilter({ wasm });
    const s = { type: 'object', properties: { a: {} } };
    for (const n of ['0', '-1', '1.5', '1e5', '1E+5', '-2.5e-3', '123456789012345678901234567890', '0.0', '1e99']) {
      expect(differential(f, `{"a":${n},"b":${n},"c":[${n},true,false,null]}`, { schema: s }).fast).not.toBeNull();
    }
    // Ones JSON.stringify would write back differently go the object way.
    for (const n of ['-0', '-0.0', '1e400', '-1e-400', '1e100', `1${'0'.repeat(400)}`]) {
      expect(differential(f, `{"a":${n},"b":1}`, { schema: s }).fast).toBeNull();
    }
  });

  it('gives up on anything doubtful; the object path then decides (and refuses what does not parse)', () => {
    const f = new ByteFilter({ wasm });
    const c = { schema: USER };
    const bad = [
      '{"id":1,}',
      '[1,2,]',
      '{"id":1 "x":2}',
      "{'id':1}",
      '{"id":NaN}',
      '{"id":01}',
      '{"id":1.}',
      '{"id":.5}',
      '{"id":+1}',
      '{"id":"a\tb"}',
      '{"id":"a\u0001"}',
      '{"id":"\\x41"}',
      '{"id":"\\u12G4"}',
      '{"id":tru}',
      '{"id":1}/**/',
      '{"id":1}{}',
      '\ufeff{"id":1}',
      '{"id":1',
      '{"id":"1}',
      '{"id":1}\u00a0',
      '{"id":1,"id":2}',
      '{"x":1,"x":2}',
      '{"1":1,"id":2}',
      '{"__proto__":{"a":1},"id":2}',
    ];
    for (const d of bad) {
      const r = differential(f, d, c);
      expect(r.fast, d).toBeNull();
    }
    // Invalid UTF-8 (the object path would decode it with replacement characters).
    expect(differential(f, Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d]), c).fast).toBeNull();
    // Too deep: 100 walked levels are read on the bytes, 101 are not.
    for (const k of [99, 100, 101]) {
      const arrays = `${'['.repeat(k)}1${']'.repeat(k)}`;
      const objects = `${'{"x":'.repeat(k - 1)}{"y":1}${'}'.repeat(k - 1)}`;
      expect(differential(f, arrays, { deny: ['$..x'] }).fast === null).toBe(k > 100);
      expect(differential(f, objects, { deny: ['$..z'] }).fast === null).toBe(k > 100);
    }
    const deep = `${'['.repeat(150)}1${']'.repeat(150)}`;
    expect(differential(f, deep, { schema: {}, deny: ['$..x'] }).fast).toBeNull();
    // A oneOf with a discriminator needs the value: the object path.
    const oneOf = {
      oneOf: [{ properties: { t: { const: 'a' }, x: {} } }, { properties: { t: { const: 'b' }, y: {} } }],
    };
    expect(differential(f, '{"t":"b","x":1,"y":2}', { schema: oneOf }).fast).toBeNull();
  });

  it('duplicate keys and odd keys are fine where nothing is walked', () => {
    const f = new ByteFilter({ wasm });
    const s = { type: 'object', properties: { free: {}, id: {} } };
    expect(differential(f, '{"free":{"a":1,"a":2,"1":3,"__proto__":4},"x":1}', { schema: s }).fast).not.toBeNull();
  });

  it('top level: primitives, arrays, null where an object is expected, false schema', () => {
    const f = new ByteFilter({ wasm });
    for (const d of ['1', '"x"', 'null', 'true', ' [] ', '{}', '[{"id":1,"x":2},null,3,"s"]', '[[{"x":1}]]']) {
      for (const c of [{ schema: USER }, { schema: false }, { deny: ['$[0].x'] }, { schema: { type: 'array' } }]) {
        expect(differential(f, d, c).fast, d).not.toBeNull();
      }
    }
    expect(f.run(Buffer.from('[1]'), new SchemaCompiler().compile(false), [], null, MAX)?.body().toString()).toBe(
      'null',
    );
    // Wrong types where the schema expects an object or an array.
    for (const d of ['{"address":"x","tags":{"a":1},"id":{"deep":1}}', '{"address":[{"city":1}],"tags":null}']) {
      expect(differential(f, d, { schema: USER }).fast).not.toBeNull();
    }
  });

  it('patternProperties, additionalProperties (true, schema), recursive $ref, allOf, oneOf without a tag', () => {
    const f = new ByteFilter({ wasm });
    const root = {
      components: {
        schemas: { Node: { type: 'object', properties: { name: {}, child: { $ref: '#/components/schemas/Node' } } } },
      },
    };
    const schemas: Case[] = [
      {
        schema: { type: 'object', patternProperties: { '^x-': { type: 'string' }, é$: false }, properties: { id: {} } },
      },
      { schema: { type: 'object', additionalProperties: { type: 'object', properties: { n: {} } } } },
      { schema: { type: 'object', properties: { id: {} }, additionalProperties: true } },
      { schema: { $ref: '#/components/schemas/Node' }, root },
      { schema: { allOf: [{ properties: { a: {} } }, { properties: { b: {} } }] } },
      { schema: { oneOf: [{ properties: { id: {}, a: {} } }, { properties: { id: {}, b: {} } }] } },
      { schema: { $ref: '#/nowhere' }, root },
      { schema: { type: 'object', nullable: true, properties: { a: { type: 'object', nullable: true } } } },
    ];
    const docs = [
      '{"id":1,"x-a":"k","y":2,"café":3,"cafe":4,"a":{"n":1,"m":2},"b":null}',
      '{"name":"a","x":1,"child":{"name":"b","y":2,"child":{"name":"c","z":3,"child":null}}}',
      '{"a":null,"b":{"n":[1]},"n":5}',
    ];
    for (const c of schemas) for (const d of docs) expect(differential(f, d, c).fast).not.toBeNull();
  });

  it('matches the object path on random documents, schemas and rules', () => {
    const f = new ByteFilter({ wasm });
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)] as T;
    // Names of every length the module's word hash meets (1-3 bytes left over, whole words, several words).
    const KEYS = [
      ...['a', 'b', 'id', 'x', 'e\u0301', 'n', 'ü', 'a/b', 't~1', 'list', 'q"', 'z\\', '0', '1x', '__proto__'],
      ...['abcd', 'created_at', 'internal_notes', 'a_longer_name_here'],
    ];
    const SCALARS = [
      '1',
      '-2.5e3',
      '0',
      '-0',
      'true',
      'false',
      'null',
      '""',
      '"s"',
      '"\\u00e9\\n\\""',
      '"😀"',
      '1E+2',
      '1e400',
    ];
    const ws = () => pick(['', '', '', ' ', '\n  ', '\t', '\r\n']);
    const key = (k: string) => {
      const j = JSON.stringify(k);
      return rnd(6) === 0 ? j.replace(/[a-z]/, (ch) => `\\u00${ch.charCodeAt(0).toString(16)}`) : j;
    };
    const value = (depth: number): string => {
      const r = rnd(depth > 4 ? 2 : 5);
      if (r < 2) return pick(SCALARS);
      if (r < 4) {
        // Mostly distinct keys, now and then a duplicate.
        const keys: string[] = [];
        for (let i = rnd(5); i > 0; i--) {
          const k = pick(KEYS);
          if (!keys.includes(k) || rnd(20) === 0) keys.push(k);
        }
        const members = keys.map((k) => `${ws()}${key(k)}${ws()}:${ws()}${value(depth + 1)}${ws()}`);
        return `{${members.join(',')}${members.length ? '' : ws()}}`;
      }
      const n = rnd(4);
      const els = Array.from({ length: n }, () => `${ws()}${value(depth + 1)}${ws()}`);
      return `[${els.join(',')}${els.length ? '' : ws()}]`;
    };
    const schema = (depth: number): unknown => {
      const r = rnd(depth > 3 ? 3 : 9);
      if (r === 0) return {};
      if (r === 1) return rnd(4) === 0 ? false : { type: 'string' };
      if (r === 2) return true;
      if (r < 6) {
        const props: Record<string, unknown> = {};
        for (let i = rnd(5); i > 0; i--) props[pick(KEYS)] = schema(depth + 1);
        const s: Record<string, unknown> = { type: 'object', properties: props };
        if (rnd(4) === 0) s.additionalProperties = rnd(2) ? true : schema(depth + 1);
        if (rnd(6) === 0) s.patternProperties = { '^[a-d]': schema(depth + 1) };
        return s;
      }
      if (r < 8) {
        const s: Record<string, unknown> = { type: 'array', items: schema(depth + 1) };
        if (rnd(4) === 0) s.prefixItems = [schema(depth + 1), schema(depth + 1)];
        if (rnd(6) === 0) s.items = false;
        return s;
      }
      return { [pick(['allOf', 'oneOf'])]: [schema(depth + 1), schema(depth + 1)] };
    };
    const PATHS = [
      '$.a',
      '$..b',
      '$..internal_notes',
      '$.a_longer_name_here',
      '$.*.id',
      '$[*].x',
      '$..list[0]',
      "$['a/b']",
      '$.a.b',
      '$..*',
      "$['t~1'].n",
      '$[1]',
    ];
    let fastCount = 0;
    for (let i = 0; i < 3000; i++) {
      const doc = `${ws()}${value(0)}${ws()}`;
      const c: Case = {};
      if (rnd(4) !== 0) c.schema = schema(0);
      if (rnd(2) === 0) c.deny = Array.from({ length: 1 + rnd(2) }, () => pick(PATHS));
      if (rnd(4) === 0) c.allow = Array.from({ length: 1 + rnd(2) }, () => pick(PATHS));
      try {
        if (differential(f, doc, c).fast) fastCount++;
      } catch (e) {
        throw new Error(`doc ${doc} case ${JSON.stringify(c)}: ${(e as Error).message}`);
      }
    }
    // Most random documents are decided on the bytes (the rest: duplicate keys and the like).
    expect(fastCount).toBeGreaterThan(1500);
    // Each walk decided its share: the WebAssembly one most documents, JavaScript's the escaped keys and the like.
    if (wasm) {
      expect(f.walks.wasm).toBeGreaterThan(1000);
      expect(f.walks.js).toBeGreaterThan(100);
    } else expect(f.walks.wasm).toBe(0);
  });

  it.runIf(wasm)('the WebAssembly walk runs here, and keeps no answer in its memory', () => {
    expect(walkReady).toBe(true);
    const f = new ByteFilter({ wasm });
    const secret = 'marker-7f3a9c-not-to-be-kept';
    const doc = JSON.stringify({ id: '1', name: 'a', ssn: secret, address: { city: secret } });
    const out = differential(f, doc, { schema: USER, deny: ['$.name'] });
    expect(out.fast?.count).toBe(2);
    // The answer, then its output read again by differential().
    expect(f.walks).toEqual({ wasm: 2, js: 0 });
    expect(Buffer.from(walkMemory()).includes(secret)).toBe(false);
    // Where it has any doubt (an escaped key), the JavaScript walk decides.
    differential(f, '{"id":"1","n\\u0061me":"a"}', { schema: USER, deny: ['$.name'] });
    expect(f.walks).toEqual({ wasm: 3, js: 1 });
  });
});
