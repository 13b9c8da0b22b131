import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceRegistry } from '../../src/core/shared.js';
import { denyAddress } from '../../src/policies/ip-filter/deny-list.js';
import { send, startGateway, startUpstream } from '../helpers.js';
import { TestState } from '../shared-state.js';

type Gw = Awaited<ReturnType<typeof startGateway>>;

describe('ip-filter and rate-limit end to end', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let direct: Gw; // the test client is an untrusted peer: X-Forwarded-For is ignored
  let behindProxy: Gw; // 127.0.0.1 is a trusted proxy: X-Forwarded-For names the client
  const state = new TestState();

  const yaml = (extra: string) => `
listeners: [{ port: 0 }]
metrics: { enabled: false }
${extra}
upstreams:
  echo: { targets: ["${up.url}"] }
routes:
  - name: open
    public: true
    paths: ["/open"]
    upstream: echo
  - name: no-local
    public: true
    paths: ["/no-local"]
    upstream: echo
    policies:
      ip-filter: { deny: ["127.0.0.0/8", "::ffff:127.0.0.0/104"] }
  - name: docs-net-denied
    public: true
    paths: ["/filtered"]
    upstream: echo
    policies:
      ip-filter: { deny: ["203.0.113.0/24"] }
  - name: limited-by-ip
    public: true
    paths: ["/by-ip"]
    upstream: echo
    policies:
      rate-limit: { limits: [{ name: ip, limit: 3, window: 1m }] }
  - name: shared-gcra
    public: true
    paths: ["/gcra"]
    upstream: echo
    policies:
      rate-limit: { limits: [{ name: all, limit: 50, window: 1m, key: [route] }] }
  - name: shared-sliding
    public: true
    paths: ["/sliding"]
    upstream: echo
    policies:
      rate-limit: { limits: [{ name: all, limit: 50, window: 1m, algorithm: sliding-window, key: [route] }] }
`;

  beforeAll(async () => {
    up = await startUpstream((_req, res) => res.end('ok'));
    direct = await startGateway(yaml(''), {}, { services: new ServiceRegistry(null, null, null, state) });
    behindProxy = await startGateway(
      yaml('trusted_proxies: [127.0.0.1/32]'),
      {},
      {
        services: new ServiceRegistry(null, null, null, state),
      },
    );
  });
  afterAll(async () => {
    await direct?.close();
    await behindProxy?.close();
    await up?.close();
  });

  it('a spoofed X-Forwarded-For from an untrusted peer does not evade a deny rule', async () => {
    expect((await send(direct.port, '/open')).status).toBe(200);
    const r = await send(direct.port, '/no-local', { headers: { 'x-forwarded-for': '198.51.100.1' } });
    expect(r.status).toBe(403);
    expect(r.headers['content-type']).toContain('application/problem+json');
    expect(JSON.parse(r.body).code).toBe('IP_DENIED');
    // Spoofing a denied address does not get an allowed peer denied either: the header is not read at all.
    expect((await send(direct.port, '/filtered', { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(200);
  });

  it("honours a trusted proxy's X-Forwarded-For, including the dynamic deny list", async () => {
    const via = (xff: string, path = '/filtered') =>
      send(behindProxy.port, path, { headers: { 'x-forwarded-for': xff } });
    expect((await via('203.0.113.9')).status).toBe(403);
    expect((await via('198.51.100.1')).status).toBe(200);
    expect((await via('198.51.100.1', '/no-local')).status).toBe(200);
    await denyAddress(state, '198.51.100.66', 'test', 60_000);
    expect((await via('198.51.100.66', '/open')).status).toBe(200); // no ip-filter on this route
    const denied = await via('198.51.100.66');
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body).code).toBe('IP_DENIED');
  });

  it('a spoofed X-Forwarded-For does not evade an IP rate limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await send(direct.port, '/by-ip', { headers: { 'x-forwarded-for': `198.51.100.${i}` } })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
    const r = await send(direct.port, '/by-ip');
    expect(r.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
    expect(r.headers['ratelimit-policy']).toBe('"ip";q=3;w=60');
    expect(r.headers.ratelimit).toMatch(/^"ip";r=0;t=\d+$/);
    expect(JSON.parse(r.body).code).toBe('RATE_LIMITED');
  });

  for (const path of ['/gcra', '/sliding']) {
    it(`a limit of 50 per minute hammered by 10 concurrent clients admits exactly 50 (${path})`, async () => {
      const clients = Array.from({ length: 10 }, async () => {
        const got: number[] = [];
        for (let i = 0; i < 20; i++) got.push((await send(direct.port, path)).status);
        return got;
      });
      const all = (await Promise.all(clients)).flat();
      expect(all.length).toBe(200);
      expect(all.filter((s) => s === 200).length).toBe(50);
      expect(all.filter((s) => s === 429).length).toBe(150);
      const ok = await send(behindProxy.port, path); // another gateway on the same state: same counter
      expect(ok.status).toBe(429);
    });
  }
});
