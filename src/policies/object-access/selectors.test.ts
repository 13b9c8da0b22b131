import { describe, expect, it } from 'vitest';
import { makeCtx } from '../../../test/unit-helpers.js';
import type { Identity } from '../../core/identity.js';
import { locationId } from './policy.js';
import {
  compileIdentitySelector,
  compileSource,
  MALFORMED,
  memberMatches,
  NO_BODY,
  NOT_JSON,
  type Pointer,
  parsePointer,
  queryIds,
  readPointer,
  type Source,
  scalarMatches,
  singleValue,
  WILDCARD,
} from './selectors.js';

const ptr = (p: string) => parsePointer(p) as Pointer;

describe('JSON pointers', () => {
  it('parse RFC 6901 pointers with ~0 / ~1 escapes and * for every array element', () => {
    expect(parsePointer('')).toEqual([]);
    expect(parsePointer('/account_id')).toEqual(['account_id']);
    expect(parsePointer('/a~1b/c~0d/0')).toEqual(['a/b', 'c~d', '0']);
    expect(parsePointer('/items/*/account_id')).toEqual(['items', WILDCARD, 'account_id']);
  });

  it('refuse pointers without a leading slash, bad escapes, or too deep', () => {
    expect(parsePointer('account_id')).toMatch(/starts with "\/"/);
    expect(parsePointer('/a~2')).toMatch(/~0.*~1/);
    expect(parsePointer('/a~')).toMatch(/~0/);
    expect(parsePointer(`/${Array(33).fill('a').join('/')}`)).toMatch(/at most 32/);
  });

  it('read strings and safe integers; null and absent are missing', () => {
    const doc = { account_id: 'acc_1', n: 42, nil: null, nested: { deep: ['x', 'y'] } };
    expect(readPointer(doc, ptr('/account_id'))).toBe('acc_1');
    expect(readPointer(doc, ptr('/n'))).toBe('42');
    expect(readPointer(doc, ptr('/nil'))).toBeUndefined();
    expect(readPointer(doc, ptr('/absent'))).toBeUndefined();
    expect(readPointer(doc, ptr('/nested/deep/1'))).toBe('y');
    expect(readPointer(doc, ptr('/nested/deep/01'))).toBeUndefined();
    expect(readPointer('whole', ptr(''))).toBe('whole');
  });

  it('refuse what is not an identifier: objects, booleans, floats, unsafe integers, empty strings', () => {
    expect(readPointer({ a: { b: 1 } }, ptr('/a'))).toBe(MALFORMED);
    expect(readPointer({ a: true }, ptr('/a'))).toBe(MALFORMED);
    expect(readPointer({ a: 1.5 }, ptr('/a'))).toBe(MALFORMED);
    // JSON.parse rounds past 2^53: the upstream may read another number than the gateway checked.
    expect(readPointer(JSON.parse('{"a": 12345678901234567890}'), ptr('/a'))).toBe(MALFORMED);
    expect(readPointer({ a: '' }, ptr('/a'))).toBe(MALFORMED);
    expect(readPointer({ a: 'x'.repeat(513) }, ptr('/a'))).toBe(MALFORMED);
  });

  it('give every id of an array leaf (an upstream may act on each)', () => {
    expect(readPointer({ ids: ['a', 'b', 3] }, ptr('/ids'))).toEqual(['a', 'b', '3']);
    expect(readPointer({ ids: ['a'] }, ptr('/ids'))).toBe('a');
    expect(readPointer({ ids: [] }, ptr('/ids'))).toBeUndefined();
    expect(readPointer({ ids: ['a', { x: 1 }] }, ptr('/ids'))).toBe(MALFORMED);
    expect(readPointer({ ids: ['a', null] }, ptr('/ids'))).toBe(MALFORMED);
  });

  it('with *, read the field of every element; one element without it makes the read missing', () => {
    const p = ptr('/items/*/account_id');
    expect(readPointer({ items: [{ account_id: 'a' }, { account_id: 'b' }] }, p)).toEqual(['a', 'b']);
    expect(readPointer({ items: [{ account_id: 'a' }, { sku: 'x' }] }, p)).toBeUndefined();
    expect(readPointer({ items: [{ account_id: 'a' }, { account_id: {} }] }, p)).toBe(MALFORMED);
    expect(readPointer({ items: [] }, p)).toBeUndefined();
    expect(readPointer({ items: { account_id: 'a' } }, p)).toBe(MALFORMED);
    expect(readPointer({}, p)).toBeUndefined();
    expect(readPointer({ a: [{ b: [{ c: '1' }, { c: '2' }] }, { b: [{ c: '3' }] }] }, ptr('/a/*/b/*/c'))).toEqual([
      '1',
      '2',
      '3',
    ]);
  });

  it('never read inherited properties', () => {
    expect(readPointer({}, ptr('/constructor'))).toBeUndefined();
    expect(readPointer(JSON.parse('{"__proto__": "p"}'), ptr('/__proto__'))).toBe('p');
  });
});

describe('query parameters', () => {
  it('read a value as URLSearchParams decodes it', () => {
    expect(queryIds('?user_id=u_1001', 'user_id')).toBe('u_1001');
    expect(queryIds('?a=1&user_id=u%5F1001&b=2', 'user_id')).toBe('u_1001');
    expect(queryIds('?user%5Fid=u_1', 'user_id')).toBe('u_1');
    expect(queryIds('?q=a+b', 'q')).toBe('a b');
    expect(queryIds('?q=%zz%41', 'q')).toBe(new URLSearchParams('q=%zz%41').get('q'));
    expect(queryIds('', 'user_id')).toBeUndefined();
    expect(queryIds('?other=1', 'user_id')).toBeUndefined();
    expect(queryIds('?user_idx=1', 'user_id')).toBeUndefined();
  });

  it('return every occurrence, bracket and dot forms included (qs and PHP read them into the same field)', () => {
    expect(queryIds('?user_id=u_1&user_id=u_2', 'user_id')).toEqual(['u_1', 'u_2']);
    expect(queryIds('?user_id[]=u_2', 'user_id')).toBe('u_2');
    expect(queryIds('?user_id%5B0%5D=u_2&user_id=u_1', 'user_id')).toEqual(['u_2', 'u_1']);
    expect(queryIds('?user_id.x=u_2', 'user_id')).toBe('u_2');
  });

  it('refuse a present but empty value (some APIs read it as "no filter")', () => {
    expect(queryIds('?user_id=', 'user_id')).toBe(MALFORMED);
    expect(queryIds('?user_id', 'user_id')).toBe(MALFORMED);
    expect(queryIds('?user_id=u_1&user_id=', 'user_id')).toBe(MALFORMED);
  });
});

describe('request sources', () => {
  const src = (s: Parameters<typeof compileSource>[0]) => compileSource(s) as Source;

  it('need exactly one of param, query, header, body', () => {
    expect(compileSource({})).toMatch(/exactly one/);
    expect(compileSource({ param: 'id', query: 'id' })).toMatch(/exactly one/);
    expect(compileSource({ body: 'x' })).toMatch(/starts with/);
  });

  it('read path params, query, upstream headers and the parsed body', () => {
    const ctx = makeCtx({ url: '/orders/ord_1?user_id=u_1' });
    ctx.params = { id: 'ord_1', empty: '' };
    ctx.upstreamHeaders = { 'x-account': 'acc_1', 'x-many': ['a', 'b'] };
    expect(src({ param: 'id' }).read(ctx, NO_BODY)).toBe('ord_1');
    expect(src({ param: 'nope' }).read(ctx, NO_BODY)).toBeUndefined();
    expect(src({ param: 'empty' }).read(ctx, NO_BODY)).toBe(MALFORMED);
    expect(src({ query: 'user_id' }).read(ctx, NO_BODY)).toBe('u_1');
    expect(src({ header: 'X-Account' }).read(ctx, NO_BODY)).toBe('acc_1');
    expect(src({ header: 'x-many' }).read(ctx, NO_BODY)).toEqual(['a', 'b']);
    expect(src({ header: 'x-none' }).read(ctx, NO_BODY)).toBeUndefined();
    const body = src({ body: '/account_id' });
    expect(body.read(ctx, { account_id: 'acc_9' })).toBe('acc_9');
    expect(body.read(ctx, NO_BODY)).toBeUndefined();
    expect(body.read(ctx, NOT_JSON)).toBe(MALFORMED);
    expect(body.label).toBe('body /account_id');
  });
});

describe('identity selectors', () => {
  const identity: Identity = {
    kind: 'jwt',
    consumerId: 'c_1',
    subject: 'alice',
    credentialId: null,
    roles: ['customer'],
    scopes: ['orders:read'],
    attributes: { user_id: 'u_1001', accounts: ['acc_1', 'acc_2'], org: { id: 't_1' }, n: 7 },
    claims: { sub: 'alice', tenant_id: 't_acme', realm: { groups: ['g1'] } },
    clientId: 'app',
    expiresAt: null,
  };
  const get = (s: string) => {
    const f = compileIdentitySelector(s);
    if (typeof f === 'string') throw new Error(f);
    return f(identity);
  };

  it('read every identity field, attributes and claims, with dotted paths and the consumer.* alias', () => {
    expect(get('identity.subject')).toBe('alice');
    expect(get('identity.id')).toBe('c_1');
    expect(get('consumer.id')).toBe('c_1');
    expect(get('identity.client_id')).toBe('app');
    expect(get('identity.roles')).toEqual(['customer']);
    expect(get('identity.scopes')).toEqual(['orders:read']);
    expect(get('identity.attributes.user_id')).toBe('u_1001');
    expect(get('consumer.attributes.accounts')).toEqual(['acc_1', 'acc_2']);
    expect(get('identity.attributes.org.id')).toBe('t_1');
    expect(get('identity.attributes.missing')).toBeUndefined();
    expect(get('identity.attributes.user_id.x')).toBeUndefined();
    expect(get('claims.sub')).toBe('alice');
    expect(get('claims.realm.groups')).toEqual(['g1']);
    expect(get('identity.claims.tenant_id')).toBe('t_acme');
    expect(get('claims.toString')).toBeUndefined();
  });

  it('name what is allowed when a selector is wrong', () => {
    expect(compileIdentitySelector('identity.attribute.user_id')).toMatch(/not an identity value.*identity\.subject/);
    expect(compileIdentitySelector('claims.')).toMatch(/a name or dotted path/);
    expect(compileIdentitySelector('claims.a..b')).toMatch(/a name or dotted path/);
    expect(compileIdentitySelector('user_id')).toMatch(/not an identity value/);
  });

  it('match: equals needs one value, in accepts a list; empty values never match; numbers compare as text', () => {
    expect(scalarMatches('u_1', 'u_1')).toBe(true);
    expect(scalarMatches(['u_1'], 'u_1')).toBe(false);
    expect(scalarMatches('', '')).toBe(false);
    expect(scalarMatches(7, '7')).toBe(true);
    expect(scalarMatches(undefined, 'x')).toBe(false);
    expect(memberMatches(['a', 'b'], 'b')).toBe(true);
    expect(memberMatches(['a', 'b'], 'c')).toBe(false);
    expect(memberMatches('a', 'a')).toBe(true);
    expect(memberMatches([1, 2], '2')).toBe(true);
    expect(memberMatches({ a: 1 }, 'a')).toBe(false);
    expect(singleValue('t')).toBe('t');
    expect(singleValue(['t'])).toBe('t');
    expect(singleValue(['t', 'u'])).toBeNull();
    expect(singleValue('')).toBeNull();
  });
});

describe('Location ids', () => {
  it('take the last path segment of a relative or absolute Location, decoded', () => {
    expect(locationId('/orders/ord_3007')).toBe('ord_3007');
    expect(locationId('/orders/ord_3007/')).toBe('ord_3007');
    expect(locationId('https://api.example/v1/orders/a%20b?x=1#f')).toBe('a b');
    expect(locationId('ord_1')).toBe('ord_1');
    expect(locationId(undefined)).toBeUndefined();
    expect(locationId('')).toBeUndefined();
    expect(locationId('/')).toBeUndefined();
    expect(locationId('https://api.example')).toBeUndefined();
    expect(locationId('/orders/%E0%A4%A')).toBe(MALFORMED);
  });
});
