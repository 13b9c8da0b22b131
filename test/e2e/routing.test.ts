import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, startGateway, startUpstream } from '../helpers.js';

interface Echo {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A route whose responses are tagged with `x-route: NAME`, so the test sees which route answered. */
function route(name: string, body: string): string {
  return `  - name: ${name}
    upstream: echo
    public: true
${body
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
    policies:
      headers:
        response:
          set: { x-route: ${name} }
`;
}

describe('routing end to end', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let gw: Awaited<ReturnType<typeof startGateway>>;

  const get = async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
    const r = await send(gw.port, path, { headers, method });
    const echo = r.status === 200 ? (JSON.parse(r.body) as Echo) : null;
    return { ...r, route: r.headers['x-route'], echo };
  };

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }));
    });
    const yaml = `
listeners: [{ port: 0 }]
metrics: { enabled: false }
logging: { level: silent, access_log: false }
upstreams:
  echo:
    targets: ["${up.url}"]
routes:
${route('users', 'paths: ["/users/{id}"]\nmethods: [GET, PUT]')}
${route('user-orders', 'paths: ["/users/{id}/orders/{order}"]\nmethods: [GET]')}
${route('static', 'paths: ["/static/*"]')}
${route('host-exact', 'hosts: [api.example.com]\npaths: ["/where"]')}
${route('host-wild', 'hosts: ["*.example.com"]\npaths: ["/where"]')}
${route('host-any', 'paths: ["/where"]')}
${route('hdr-exact', 'paths: ["/hdr"]\nheaders: { x-version: "2" }')}
${route('hdr-regex', 'paths: ["/hdr"]\nheaders: { x-version: "~^3\\\\.[0-9]+$" }')}
${route('hdr-none', 'paths: ["/hdr"]')}
${route('admin-special', 'hosts: [admin.example.com]\npaths: ["/api/users/special"]')}
${route('api-generic', 'paths: ["/api/*"]')}
${route('api-users', 'paths: ["/api/users/*"]')}
${route('api-user', 'paths: ["/api/v2/{id}"]\nrewrite: /users/{id}')}
${route('admin-v2', 'hosts: [admin.example.com]\npaths: ["/api/v2/me"]')}
${route('strip', 'paths: ["/svc", "/svc/*"]\nstrip_prefix: /svc')}
${route('rewrite', 'paths: ["/r/{id}/files/*"]\nrewrite: /v2/files/{id}/{*}')}
${route('preserve', 'paths: ["/preserve"]\npreserve_host: true')}
${route('target-host', 'paths: ["/target-host"]')}
${route('b', 'paths: ["/b"]')}
`;
    gw = await startGateway(yaml);
  });

  afterAll(async () => {
    await gw.close();
    await up.close();
  });

  describe('paths and methods', () => {
    it('matches path params and forwards the path as sent', async () => {
      const r = await get('/users/42');
      expect(r.status).toBe(200);
      expect(r.route).toBe('users');
      expect(r.echo?.url).toBe('/users/42');
      const o = await get('/users/7/orders/99');
      expect(o.route).toBe('user-orders');
      expect(o.echo?.url).toBe('/users/7/orders/99');
    });

    it('matches a trailing wildcard at any depth', async () => {
      for (const p of ['/static/', '/static/app.js', '/static/css/site/main.css']) {
        const r = await get(p);
        expect(r.status, p).toBe(200);
        expect(r.route, p).toBe('static');
        expect(r.echo?.url, p).toBe(p);
      }
    });

    it('answers 404 problem+json when nothing matches', async () => {
      for (const p of ['/nope', '/users', '/users/1/2', '/static']) {
        const r = await get(p);
        expect(r.status, p).toBe(404);
        expect(r.headers['content-type'], p).toBe('application/problem+json');
        expect(JSON.parse(r.body).code, p).toBe('ROUTE_NOT_FOUND');
      }
    });

    it('answers a method no route allows with 405 and Allow', async () => {
      const r = await get('/users/42', {}, 'DELETE');
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('GET, PUT, HEAD'); // GET implies HEAD
      expect(r.headers['content-type']).toBe('application/problem+json');
      expect(JSON.parse(r.body).code).toBe('METHOD_NOT_ALLOWED');
      const put = await get('/users/42', {}, 'PUT');
      expect(put.status).toBe(200);
      expect(put.echo?.method).toBe('PUT');
    });
  });

  describe('hosts', () => {
    it('prefers an exact host over a wildcard host over a route without hosts', async () => {
      expect((await get('/where', { host: 'api.example.com' })).route).toBe('host-exact');
      expect((await get('/where', { host: 'API.Example.com:8080' })).route).toBe('host-exact');
      expect((await get('/where', { host: 'shop.example.com' })).route).toBe('host-wild');
      expect((await get('/where', { host: 'a.b.example.com' })).route).toBe('host-wild');
      // "*.example.com" does not cover the bare domain, nor a look-alike suffix.
      expect((await get('/where', { host: 'example.com' })).route).toBe('host-any');
      expect((await get('/where', { host: 'evilexample.com' })).route).toBe('host-any');
      expect((await get('/where', { host: 'other.test' })).route).toBe('host-any');
    });

    it('a more specific route on another host does not shadow generic routes', async () => {
      expect((await get('/api/users/special', { host: 'admin.example.com' })).route).toBe('admin-special');
      // The tree's best path belongs to admin-special; for another host the most specific generic path wins,
      // exactly as for any other path under /api/users/.
      expect((await get('/api/users/other', { host: 'www.test' })).route).toBe('api-users');
      expect((await get('/api/users/special', { host: 'www.test' })).route).toBe('api-users');
      expect((await get('/api/orders/1', { host: 'www.test' })).route).toBe('api-generic');
      // Same through a param route: params and rewrite still apply on the slow path.
      const me = await get('/api/v2/me', { host: 'www.test' });
      expect(me.route).toBe('api-user');
      expect(me.echo?.url).toBe('/users/me');
      expect((await get('/api/v2/me', { host: 'admin.example.com' })).route).toBe('admin-v2');
    });
  });

  describe('headers', () => {
    it('routes on an exact header value, a ~regex, and falls back to a route without header rules', async () => {
      expect((await get('/hdr', { 'x-version': '2' })).route).toBe('hdr-exact');
      expect((await get('/hdr', { 'x-version': '3.14' })).route).toBe('hdr-regex');
      expect((await get('/hdr', { 'x-version': '3.x' })).route).toBe('hdr-none');
      expect((await get('/hdr', { 'x-version': '22' })).route).toBe('hdr-none');
      expect((await get('/hdr')).route).toBe('hdr-none');
    });
  });

  describe('upstream path', () => {
    it('strip_prefix removes the prefix and keeps the rest and the query', async () => {
      const r = await get('/svc/items/1?q=a%20b&x=1&x=2');
      expect(r.route).toBe('strip');
      expect(r.echo?.url).toBe('/items/1?q=a%20b&x=1&x=2');
      expect((await get('/svc')).echo?.url).toBe('/');
      expect((await get('/svc/')).echo?.url).toBe('/');
    });

    it('rewrite fills {param} and {*} and keeps the query', async () => {
      const r = await get('/r/abc/files/x/y.txt?download=1');
      expect(r.route).toBe('rewrite');
      expect(r.echo?.url).toBe('/v2/files/abc/x/y.txt?download=1');
      // Params are re-encoded on the way out.
      const enc = await get('/r/a%20b/files/z');
      expect(enc.echo?.url).toBe('/v2/files/a%20b/z');
    });

    it('forwards the query string untouched', async () => {
      const q = '?a=1&a=2&b=%2F%20x&c&empty=&%7Bjson%7D=%22v%22';
      const r = await get(`/users/5${q}`);
      expect(r.echo?.url).toBe(`/users/5${q}`);
    });
  });

  describe('path normalisation', () => {
    it('routes /a/../b as /b and sends /b upstream', async () => {
      for (const p of ['/a/../b', '/a/%2e%2e/b', '/./b', '//b', '/x/y/../../b']) {
        const r = await get(p);
        expect(r.status, p).toBe(200);
        expect(r.route, p).toBe('b');
        expect(r.echo?.url, p).toBe('/b');
      }
    });

    it('refuses encoded slashes and paths above the root with 400 BAD_PATH', async () => {
      for (const p of ['/static/a%2Fb', '/static/a%2fb', '/..', '/../b', '/a/../../b', '/static/%2e%2e/%2e%2e/x']) {
        const r = await get(p);
        expect(r.status, p).toBe(400);
        expect(r.headers['content-type'], p).toBe('application/problem+json');
        expect(JSON.parse(r.body).code, p).toBe('BAD_PATH');
      }
    });
  });

  describe('host header upstream', () => {
    it('sends the target host by default and the client host with preserve_host', async () => {
      const def = await get('/target-host', { host: 'client.example.org' });
      expect(def.echo?.headers.host).toBe(`127.0.0.1:${up.port}`);
      expect(def.echo?.headers['x-forwarded-host']).toBe('client.example.org');
      const kept = await get('/preserve', { host: 'client.example.org' });
      expect(kept.echo?.headers.host).toBe('client.example.org');
    });
  });
});
