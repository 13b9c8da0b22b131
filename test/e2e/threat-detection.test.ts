import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, startGateway, startUpstream } from '../helpers.js';

/** The threat-detection policy on a real gateway and a real upstream: block, monitor, exclusions. */
describe('threat detection end to end', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let gw: Awaited<ReturnType<typeof startGateway>>;
  const seen: string[] = [];

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ ok: true }));
      });
    });
    gw = await startGateway(`
listeners: [{ port: 0, host: 127.0.0.1 }]
upstreams:
  api: { targets: [{ url: ${upstream.url} }] }
policies:
  threat-detection:
    exclusions:
      # Searches of the template docs quote template expressions: expected on this route only.
      - { rule: ssti, location: query.q, routes: [docs-search] }
routes:
  - { name: search, public: true, paths: [/search], upstream: api }
  - { name: docs-search, public: true, paths: [/docs/search], upstream: api }
  - { name: comments, public: true, paths: [/comments], methods: [POST], upstream: api }
  - name: legacy
    public: true
    paths: [/legacy]
    upstream: api
    policies:
      threat-detection: { mode: monitor }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const sqli = `q=${encodeURIComponent("1' or '1'='1")}`;

  it('blocks SQL injection in the query with 403 problem+json; the upstream is never reached', async () => {
    const before = seen.length;
    const r = await send(gw.port, `/search?${sqli}`);
    expect(r.status).toBe(403);
    expect(r.headers['content-type']).toBe('application/problem+json');
    const p = JSON.parse(r.body) as { code: string; detail?: string };
    expect(p.code).toBe('ATTACK_DETECTED');
    expect(r.body).not.toContain("'1'='1");
    expect(seen.length).toBe(before);
  });

  it('passes clean traffic through', async () => {
    const r = await send(gw.port, '/search?q=winter+boots&page=2');
    expect(r.status).toBe(200);
    expect(seen.at(-1)).toBe('GET /search?q=winter+boots&page=2 ');
  });

  it('inspects JSON bodies and still forwards the body of a clean request', async () => {
    const bad = await send(gw.port, '/comments', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'nice <img src=x onerror=alert(1)>' }),
    });
    expect(bad.status).toBe(403);
    const body = JSON.stringify({ text: "Don't select from the list, or pick 1 -- it's fine" });
    const ok = await send(gw.port, '/comments', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(ok.status).toBe(200);
    expect(seen.at(-1)).toBe(`POST /comments ${body}`);
  });

  it('monitor mode on a route passes the attack to the upstream and logs it', async () => {
    const r = await send(gw.port, `/legacy?${sqli}`);
    expect(r.status).toBe(200);
    expect(seen.at(-1)).toContain('/legacy?');
    const line = gw.logs.lines.find((l) => l.msg === 'attack detected (monitor)');
    expect(line).toMatchObject({ policy: 'threat-detection', route: 'legacy', rules: ['sqli.tautology@query.q'] });
    expect(JSON.stringify(line)).not.toContain("'1'='1");
  });

  it('an exclusion lets a known false positive through on its route only', async () => {
    const q = `q=${encodeURIComponent('why does {{7*7}} print 49')}`;
    expect((await send(gw.port, `/docs/search?${q}`)).status).toBe(200);
    expect((await send(gw.port, `/search?${q}`)).status).toBe(403);
  });

  it('checks every header for JNDI lookups', async () => {
    const r = await send(gw.port, '/search?q=ok', {
      headers: { 'x-api-version': '${${lower:j}ndi:ldap://127.0.0.1/a}' },
    });
    expect(r.status).toBe(403);
  });
});
