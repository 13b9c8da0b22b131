import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoApi } from '../../examples/demo-api/server.js';
import { startGateway } from '../helpers.js';

describe('demo config end to end', () => {
  let api: Awaited<ReturnType<typeof startDemoApi>>;
  let gw: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => {
    api = await startDemoApi();
    const { readFileSync } = await import('node:fs');
    const yaml = readFileSync(new URL('../../rampart.yaml', import.meta.url), 'utf8').replace(/port: 9090/, 'port: 0');
    gw = await startGateway(yaml, { RAMPART_PORT: '0', DEMO_API_URL: api.url });
  });
  afterAll(async () => {
    await gw.close();
    await api.close();
  });

  it('proxies a public demo route with a rewrite, adding security headers and a request id', async () => {
    const r = await fetch(`${gw.url}/api/echo/users/u_1001?x=1`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { path: string };
    expect(body.path).toBe('/echo/users/u_1001?x=1');
    expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('server')).toBeNull();
    expect(r.headers.get('x-powered-by')).toBeNull();
  });

  it('refuses a non-public route without an identity: 401 problem+json with WWW-Authenticate', async () => {
    const r = await fetch(`${gw.url}/api/users/u_1001`);
    expect(r.status).toBe(401);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(((await r.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
  });

  it('answers unknown paths with problem+json 404', async () => {
    const r = await fetch(`${gw.url}/nope`);
    expect(r.status).toBe(404);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    expect(((await r.json()) as { code: string }).code).toBe('ROUTE_NOT_FOUND');
  });

  it('answers a wrong method with 405 and Allow', async () => {
    const r = await fetch(`${gw.url}/api/accounts/acc_2001`, { method: 'DELETE' });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET, HEAD');
  });
});
