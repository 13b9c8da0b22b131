import { describe, expect, it } from 'vitest';
import { type RoutableRoute, type RouteLookup, Router } from './router.js';

type R = RoutableRoute;
const r = (name: string, paths: string[], o: Partial<Omit<R, 'name' | 'paths'>> = {}): R => ({ name, paths, ...o });

function find(
  router: Router<R>,
  method: string,
  path: string,
  host = 'gw.local',
  headers: Record<string, string | string[] | undefined> = {},
): RouteLookup<R> {
  return router.find(method, path, host, headers);
}
const nameOf = (l: RouteLookup<R>) => l.route?.name ?? null;

describe('Router paths', () => {
  const router = new Router([
    r('user', ['/users/{id}']),
    r('user-orders', ['/users/{id}/orders/{orderId}']),
    r('me', ['/users/me']),
    r('static', ['/static/*']),
    r('root', ['/']),
  ]);

  it('matches static paths before params', () => {
    const l = find(router, 'GET', '/users/me');
    expect(nameOf(l)).toBe('me');
    expect(l.route && l.params).toEqual({});
    expect(l.route && l.pattern).toBe('/users/me');
    expect(nameOf(find(router, 'GET', '/users/you'))).toBe('user');
  });

  it('extracts params and reports the pattern', () => {
    const l = find(router, 'GET', '/users/42/orders/a-7');
    expect(nameOf(l)).toBe('user-orders');
    expect(l.route && l.params).toEqual({ id: '42', orderId: 'a-7' });
    expect(l.route && l.pattern).toBe('/users/{id}/orders/{orderId}');
  });

  it('decodes percent-encoded params', () => {
    const l = find(router, 'GET', '/users/J%C3%BCrgen');
    expect(l.route && l.params).toEqual({ id: 'Jürgen' });
  });

  it('matches a trailing wildcard with its rest under "*"', () => {
    const l = find(router, 'GET', '/static/css/site.css');
    expect(nameOf(l)).toBe('static');
    expect(l.route && l.params).toEqual({ '*': 'css/site.css' });
    expect(nameOf(find(router, 'GET', '/static/'))).toBe('static');
  });

  it('ignores a trailing slash and is case sensitive', () => {
    expect(nameOf(find(router, 'GET', '/users/42/'))).toBe('user');
    expect(nameOf(find(router, 'GET', '/Users/42'))).toBeNull();
  });

  it('answers no route with an empty allow list for unknown paths', () => {
    expect(find(router, 'GET', '/nope/x')).toEqual({ route: null, allow: [] });
    expect(find(router, 'GET', '/users')).toEqual({ route: null, allow: [] });
    expect(nameOf(find(router, 'GET', '/'))).toBe('root');
  });

  it('matches several paths of one route', () => {
    const rt = new Router([r('health', ['/healthz', '/livez'])]);
    expect(nameOf(find(rt, 'GET', '/healthz'))).toBe('health');
    expect(nameOf(find(rt, 'GET', '/livez'))).toBe('health');
  });
});

describe('Router methods', () => {
  const router = new Router([
    r('read', ['/items/{id}'], { methods: ['GET', 'HEAD'] }),
    r('write', ['/items/{id}'], { methods: ['PUT', 'DELETE'] }),
    r('any', ['/any']),
  ]);

  it('picks the route by method', () => {
    expect(nameOf(find(router, 'GET', '/items/1'))).toBe('read');
    expect(nameOf(find(router, 'HEAD', '/items/1'))).toBe('read');
    expect(nameOf(find(router, 'DELETE', '/items/1'))).toBe('write');
  });

  it('lists the allowed methods when the path matches but the method does not', () => {
    const l = find(router, 'POST', '/items/1');
    expect(l.route).toBeNull();
    expect(!l.route && l.allow.sort()).toEqual(['DELETE', 'GET', 'HEAD', 'PUT']);
  });

  it('allows any method on a route without methods', () => {
    for (const m of ['GET', 'POST', 'PATCH', 'OPTIONS', 'TRACE']) expect(nameOf(find(router, m, '/any'))).toBe('any');
  });

  it('only lists methods of routes that match host and headers too', () => {
    const rt = new Router([
      r('a', ['/x'], { methods: ['GET'], hosts: ['a.example.com'] }),
      r('b', ['/x'], { methods: ['PUT'], hosts: ['b.example.com'] }),
    ]);
    const l = find(rt, 'POST', '/x', 'a.example.com');
    expect(!l.route && l.allow).toEqual(['GET']);
  });
});

describe('Router hosts', () => {
  it('matches exact hosts, with or without a port, case-insensitively in config', () => {
    const rt = new Router([r('api', ['/'], { hosts: ['API.example.com'] })]);
    expect(nameOf(find(rt, 'GET', '/', 'api.example.com'))).toBe('api');
    expect(nameOf(find(rt, 'GET', '/', 'api.example.com:8443'))).toBe('api');
    expect(nameOf(find(rt, 'GET', '/', 'web.example.com'))).toBeNull();
    expect(nameOf(find(rt, 'GET', '/', 'api.example.com.evil.net'))).toBeNull();
  });

  it('matches a host with a port only on that port', () => {
    const rt = new Router([r('api', ['/'], { hosts: ['api.example.com:8443'] })]);
    expect(nameOf(find(rt, 'GET', '/', 'api.example.com:8443'))).toBe('api');
    expect(nameOf(find(rt, 'GET', '/', 'api.example.com:80'))).toBeNull();
  });

  it('matches wildcard hosts on subdomains only', () => {
    const rt = new Router([r('wild', ['/'], { hosts: ['*.example.com'] })]);
    expect(nameOf(find(rt, 'GET', '/', 'a.example.com'))).toBe('wild');
    expect(nameOf(find(rt, 'GET', '/', 'a.b.example.com:8080'))).toBe('wild');
    expect(nameOf(find(rt, 'GET', '/', 'example.com'))).toBeNull();
    expect(nameOf(find(rt, 'GET', '/', '.example.com'))).toBeNull();
    expect(nameOf(find(rt, 'GET', '/', 'evilexample.com'))).toBeNull();
    expect(nameOf(find(rt, 'GET', '/', 'a.example.com.evil.net'))).toBeNull();
  });

  it('ranks exact host over wildcard host over any host, whatever the order', () => {
    const rt = new Router([
      r('any', ['/x']),
      r('wild', ['/x'], { hosts: ['*.example.com'] }),
      r('exact', ['/x'], { hosts: ['api.example.com'] }),
    ]);
    expect(nameOf(find(rt, 'GET', '/x', 'api.example.com'))).toBe('exact');
    expect(nameOf(find(rt, 'GET', '/x', 'www.example.com'))).toBe('wild');
    expect(nameOf(find(rt, 'GET', '/x', 'other.net'))).toBe('any');
  });

  it('ranks by how the host matched when a route lists exact and wildcard hosts', () => {
    const rt = new Router([
      r('mixed', ['/x'], { hosts: ['api.example.com', '*.example.com'] }),
      r('exact', ['/x'], { hosts: ['www.example.com'] }),
    ]);
    expect(nameOf(find(rt, 'GET', '/x', 'www.example.com'))).toBe('exact');
    expect(nameOf(find(rt, 'GET', '/x', 'api.example.com'))).toBe('mixed');
    expect(nameOf(find(rt, 'GET', '/x', 'cdn.example.com'))).toBe('mixed');
  });

  it('matches a wildcard host with a port only on that port', () => {
    const rt = new Router([r('wild', ['/'], { hosts: ['*.example.com:8443'] })]);
    expect(nameOf(find(rt, 'GET', '/', 'a.example.com:8443'))).toBe('wild');
    expect(nameOf(find(rt, 'GET', '/', 'a.example.com'))).toBeNull();
    expect(nameOf(find(rt, 'GET', '/', 'a.example.com:80'))).toBeNull();
  });

  it('routes the same path shape with different param names by host, each with its own names', () => {
    const rt = new Router([
      r('admin', ['/users/{id}/keys/{key}'], { hosts: ['admin.example.com'] }),
      r('public', ['/users/{userId}/keys/{keyId}/']),
    ]);
    const a = find(rt, 'GET', '/users/1/keys/k', 'admin.example.com');
    expect(nameOf(a)).toBe('admin');
    expect(a.route && a.params).toEqual({ id: '1', key: 'k' });
    const p = find(rt, 'GET', '/users/2/keys/j/', 'www.example.com');
    expect(nameOf(p)).toBe('public');
    expect(p.route && p.params).toEqual({ userId: '2', keyId: 'j' });
    expect(p.route && p.pattern).toBe('/users/{userId}/keys/{keyId}/');
  });

  it('accepts the same path with and without a trailing slash on different routes', () => {
    const rt = new Router([r('a', ['/x'], { hosts: ['a.example.com'] }), r('b', ['/x/'])]);
    expect(nameOf(find(rt, 'GET', '/x', 'a.example.com'))).toBe('a');
    expect(nameOf(find(rt, 'GET', '/x', 'b.example.com'))).toBe('b');
    expect(nameOf(find(rt, 'GET', '/x/', 'b.example.com'))).toBe('b');
  });

  it('keeps declaration order between routes of equal rank', () => {
    const rt = new Router([
      r('first', ['/x'], { hosts: ['*.example.com'] }),
      r('second', ['/x'], { hosts: ['*.example.com'] }),
    ]);
    expect(nameOf(find(rt, 'GET', '/x', 'a.example.com'))).toBe('first');
  });
});

describe('Router headers', () => {
  const rt = new Router([
    r('v2', ['/api/*'], { headers: { 'X-Version': '2' } }),
    r('beta', ['/api/*'], { headers: { 'x-client': '~^beta-[0-9]+$' } }),
    r('both', ['/api/*'], { headers: { 'x-version': '3', 'x-client': 'ios' } }),
    r('default', ['/api/*']),
  ]);
  const hit = (h: Record<string, string | string[]>) => nameOf(find(rt, 'GET', '/api/items', 'gw.local', h));

  it('matches exact header values (names case-insensitive in config)', () => {
    expect(hit({ 'x-version': '2' })).toBe('v2');
    expect(hit({ 'x-version': '20' })).toBe('default');
    expect(hit({})).toBe('default');
  });

  it('matches regex header values', () => {
    expect(hit({ 'x-client': 'beta-12' })).toBe('beta');
    expect(hit({ 'x-client': 'beta-12x' })).toBe('default');
    expect(hit({ 'x-client': 'xbeta-1' })).toBe('default');
  });

  it('requires every header rule and ranks more rules first', () => {
    expect(hit({ 'x-version': '3', 'x-client': 'ios' })).toBe('both');
    expect(hit({ 'x-version': '3' })).toBe('default');
    expect(hit({ 'x-version': '2', 'x-client': 'beta-1' })).toBe('v2');
  });

  it('matches any value of a repeated header', () => {
    expect(hit({ 'x-version': ['1', '2'] })).toBe('v2');
  });

  it('ranks a host match above header rules', () => {
    const router = new Router([
      r('headers', ['/x'], { headers: { a: '1', b: '2', c: '3' } }),
      r('host', ['/x'], { hosts: ['*.example.com'] }),
    ]);
    expect(nameOf(find(router, 'GET', '/x', 'a.example.com', { a: '1', b: '2', c: '3' }))).toBe('host');
  });
});

describe('Router slow path', () => {
  it('falls back to a less specific path when another host owns the best one', () => {
    const rt = new Router([
      r('admin-user', ['/users/{id}'], { hosts: ['admin.example.com'] }),
      r('catch-all', ['/users/*']),
    ]);
    const l = find(rt, 'GET', '/users/42', 'api.example.com');
    expect(nameOf(l)).toBe('catch-all');
    expect(l.route && l.params).toEqual({ '*': '42' });
    expect(l.route && l.pattern).toBe('/users/*');
    expect(nameOf(find(rt, 'GET', '/users/42', 'admin.example.com'))).toBe('admin-user');
  });

  it('prefers the more specific path on the slow path (static > param > wildcard)', () => {
    const rt = new Router([
      r('owner', ['/files/readme'], { hosts: ['a.example.com'] }),
      r('wild', ['/files/*']),
      r('param', ['/files/{name}'], { hosts: ['*.example.com'] }),
    ]);
    const l = find(rt, 'GET', '/files/readme', 'b.example.com');
    expect(nameOf(l)).toBe('param');
    expect(l.route && l.params).toEqual({ name: 'readme' });
    expect(nameOf(find(rt, 'GET', '/files/readme', 'other.net'))).toBe('wild');
  });

  it('decodes params and respects methods on the slow path', () => {
    const rt = new Router([
      r('owner', ['/u/{id}'], { hosts: ['a.example.com'] }),
      r('fallback', ['/u/{name}/'], { methods: ['GET'] }),
      r('wild', ['/u/*'], { methods: ['PUT'] }),
    ]);
    const l = find(rt, 'GET', '/u/J%C3%BCrgen', 'b.example.com');
    expect(l.route && l.params).toEqual({ name: 'Jürgen' });
    expect(nameOf(find(rt, 'PUT', '/u/x', 'b.example.com'))).toBe('wild');
    const none = find(rt, 'POST', '/u/x', 'b.example.com');
    expect(!none.route && none.allow.sort()).toEqual(['GET', 'PUT']);
  });

  it('keeps a bad escape as is rather than throwing', () => {
    const rt = new Router([r('owner', ['/u/{id}'], { hosts: ['a.example.com'] }), r('w', ['/u/*'])]);
    const l = find(rt, 'GET', '/u/%E0%A4%A', 'b.example.com');
    expect(nameOf(l)).toBe('w');
    expect(l.route && l.params).toEqual({ '*': '%E0%A4%A' });
  });

  it('answers no route when no host matches at all', () => {
    const rt = new Router([r('a', ['/x'], { hosts: ['a.example.com'], methods: ['GET'] })]);
    expect(find(rt, 'GET', '/x', 'b.example.com')).toEqual({ route: null, allow: [] });
  });
});
