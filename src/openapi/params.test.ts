import { describe, expect, it } from 'vitest';
import {
  type ParamSpec,
  parseCookies,
  parseCookieValue,
  parseHeaderValue,
  parsePathValue,
  parseQuery,
  queryPairs,
} from './params.js';
import { PathMatcher, paramsOf } from './paths.js';

const spec = (o: Partial<ParamSpec> & Pick<ParamSpec, 'name' | 'in'>): ParamSpec => ({
  style: o.in === 'query' || o.in === 'cookie' ? 'form' : 'simple',
  explode: o.style === undefined && (o.in === 'query' || o.in === 'cookie'),
  required: false,
  shape: 'primitive',
  properties: [],
  json: false,
  allowReserved: false,
  ...o,
});

// The examples of the OpenAPI 3 style table (id = 5, [3, 4, 5], {role: admin, firstName: Alex}).
describe('path styles (OpenAPI style table)', () => {
  const cases: [Partial<ParamSpec>, string, unknown][] = [
    [{ style: 'simple', shape: 'primitive' }, '5', '5'],
    [{ style: 'simple', shape: 'array' }, '3,4,5', ['3', '4', '5']],
    [{ style: 'simple', shape: 'object' }, 'role,admin,firstName,Alex', { role: 'admin', firstName: 'Alex' }],
    [
      { style: 'simple', shape: 'object', explode: true },
      'role=admin,firstName=Alex',
      { role: 'admin', firstName: 'Alex' },
    ],
    [{ style: 'label', shape: 'primitive' }, '.5', '5'],
    [{ style: 'label', shape: 'array' }, '.3,4,5', ['3', '4', '5']],
    [{ style: 'label', shape: 'array', explode: true }, '.3.4.5', ['3', '4', '5']],
    [{ style: 'label', shape: 'object' }, '.role,admin,firstName,Alex', { role: 'admin', firstName: 'Alex' }],
    [
      { style: 'label', shape: 'object', explode: true },
      '.role=admin.firstName=Alex',
      { role: 'admin', firstName: 'Alex' },
    ],
    [{ style: 'matrix', shape: 'primitive' }, ';id=5', '5'],
    [{ style: 'matrix', shape: 'array' }, ';id=3,4,5', ['3', '4', '5']],
    [{ style: 'matrix', shape: 'array', explode: true }, ';id=3;id=4;id=5', ['3', '4', '5']],
    [{ style: 'matrix', shape: 'object' }, ';id=role,admin,firstName,Alex', { role: 'admin', firstName: 'Alex' }],
    [
      { style: 'matrix', shape: 'object', explode: true },
      ';role=admin;firstName=Alex',
      { role: 'admin', firstName: 'Alex' },
    ],
    [{ style: 'simple', shape: 'primitive' }, 'a%20b', 'a b'],
    [{ style: 'simple', shape: 'array' }, 'a%2Cb,c', ['a,b', 'c']],
  ];
  for (const [o, raw, want] of cases) {
    it(`${o.style} ${o.shape}${o.explode ? ' explode' : ''}: ${raw}`, () => {
      expect(parsePathValue(spec({ name: 'id', in: 'path', ...o }), raw)).toEqual(want);
    });
  }
  it('malformed values are undefined, not exceptions', () => {
    expect(parsePathValue(spec({ name: 'id', in: 'path', style: 'label' }), '5')).toBeUndefined();
    expect(parsePathValue(spec({ name: 'id', in: 'path', style: 'matrix' }), ';other=5')).toBeUndefined();
    expect(parsePathValue(spec({ name: 'id', in: 'path', shape: 'object' }), 'a,1,b')).toBeUndefined();
    expect(parsePathValue(spec({ name: 'id', in: 'path' }), '%E0%A4%A')).toBe('%E0%A4%A');
  });
});

describe('query styles', () => {
  const q = (specs: ParamSpec[], query: string) => parseQuery(specs, queryPairs(query));
  it('form exploded / not, spaceDelimited, pipeDelimited, deepObject, exploded objects', () => {
    const r = q(
      [
        spec({ name: 'a', in: 'query', shape: 'array' }),
        spec({ name: 'b', in: 'query', shape: 'array', explode: false }),
        spec({ name: 'c', in: 'query', shape: 'array', style: 'spaceDelimited' }),
        spec({ name: 'd', in: 'query', shape: 'array', style: 'pipeDelimited' }),
        spec({ name: 'e', in: 'query', shape: 'object', style: 'deepObject', explode: true }),
        spec({ name: 'f', in: 'query', shape: 'object', properties: ['x', 'y'] }),
        spec({ name: 'g', in: 'query', shape: 'object', explode: false }),
        spec({ name: 'h', in: 'query' }),
      ],
      'a=1&a=2&b=3,4%2C5&c=6%207&d=8|9&e[k]=v&e[l]=w&x=10&y=11&g=m,n&h=a+b%26',
    );
    expect(r.errors).toEqual({});
    expect(r.unknown).toEqual([]);
    expect({ ...r.values }).toEqual({
      a: ['1', '2'],
      b: ['3', '4,5'],
      c: ['6', '7'],
      d: ['8', '9'],
      e: { k: 'v', l: 'w' },
      f: { x: '10', y: '11' },
      g: { m: 'n' },
      h: 'a b&',
    });
  });
  it('reports repeats, unknown names and malformed values', () => {
    const r = q(
      [spec({ name: 'a', in: 'query' }), spec({ name: 'g', in: 'query', shape: 'object', explode: false })],
      'a=1&a=2&z=3&g=odd&z=4',
    );
    expect({ ...r.errors }).toEqual({ a: 'must not be repeated', g: 'is malformed' });
    expect(r.unknown).toEqual(['z']);
  });
  it('names are decoded before matching (user%5Fid is user_id)', () => {
    const r = q([spec({ name: 'user_id', in: 'query' })], 'user%5Fid=u_1');
    expect({ ...r.values }).toEqual({ user_id: 'u_1' });
  });
});

describe('headers and cookies', () => {
  it('headers: simple style', () => {
    expect(parseHeaderValue(spec({ name: 'x', in: 'header', shape: 'array' }), 'a, b,c')).toEqual(['a', 'b', 'c']);
    expect({
      ...(parseHeaderValue(spec({ name: 'x', in: 'header', shape: 'object', explode: true }), 'r=1, g=2') as object),
    }).toEqual({
      r: '1',
      g: '2',
    });
  });
  it('cookies: first value wins, quotes removed, form style values', () => {
    const jar = parseCookies('a=1; b="two"; a=3; junk; c=x,y');
    expect([...jar]).toEqual([
      ['a', '1'],
      ['b', 'two'],
      ['c', 'x,y'],
    ]);
    expect(parseCookieValue(spec({ name: 'c', in: 'cookie', shape: 'array', explode: false }), 'x,y')).toEqual([
      'x',
      'y',
    ]);
  });
});

describe('path templates', () => {
  const m = new PathMatcher<string>();
  for (const t of [
    '/users',
    '/users/{id}',
    '/users/me',
    '/users/{id}/orders/{orderId}',
    '/files/{name}.{ext}',
    '/files/{path}',
    '/',
  ])
    m.add(t, t);
  const hit = (p: string) => {
    const r = m.match(p);
    const e = r?.entries[0];
    return e ? { t: e.template, params: paramsOf(e.names, r.values) } : null;
  };
  it('literal segments win; parameters capture raw segments; several parameters in one segment', () => {
    expect(hit('/users/me')).toEqual({ t: '/users/me', params: {} });
    expect(hit('/users/u%201')).toEqual({ t: '/users/{id}', params: { id: 'u%201' } });
    expect(hit('/users/7/orders/9')).toEqual({ t: '/users/{id}/orders/{orderId}', params: { id: '7', orderId: '9' } });
    expect(hit('/files/report.pdf')).toEqual({ t: '/files/{name}.{ext}', params: { name: 'report', ext: 'pdf' } });
    expect(hit('/files/readme')).toEqual({ t: '/files/{path}', params: { path: 'readme' } });
    expect(hit('/')).toEqual({ t: '/', params: {} });
  });
  it('no match for empty segments, extra segments or a missing slash', () => {
    expect(hit('/users/')).toBeNull();
    expect(hit('/users/7/orders')).toBeNull();
    expect(hit('/users/7/orders/9/x')).toBeNull();
    expect(hit('users')).toBeNull();
  });
  it('refuses malformed and duplicate templates', () => {
    expect(() => m.add('/users/{id', 'x')).toThrow(/unclosed/);
    expect(() => m.add('/users/{id}', 'x')).toThrow(/listed twice/);
    expect(() => m.add('nope', 'x')).toThrow(/must start/);
  });
});
