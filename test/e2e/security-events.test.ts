import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditLog } from '../../src/audit/log.js';
import { openTestLog, tempDir, testSigner } from '../../src/audit/test-helpers.js';
import type { AuditEvent } from '../../src/audit/types.js';
import { ServiceRegistry } from '../../src/core/shared.js';
import { send, startGateway, startUpstream } from '../helpers.js';

/**
 * Security events reach the audit log where a route has the audit policy, with the removed paths the filter collects
 * only there; a route without one is filtered the same (its pipeline reads no events, so the server tells policies to
 * skip them: Pipeline.readsSecurityEvents, tested in pipeline.test.ts). A real gateway, a real audit log and a real
 * upstream that leaks fields the response filter removes.
 */

const LEAKY = { id: 'u1', name: 'Alice', password_hash: 'x', ssn: '536-90-4399' };
const events: AuditEvent[] = [];
let dir: string;
let log: AuditLog;
let up: Awaited<ReturnType<typeof startUpstream>>;
let gw: Awaited<ReturnType<typeof startGateway>>;

beforeAll(async () => {
  dir = await tempDir('rampart-events-');
  log = await openTestLog(dir, testSigner(), { flush_ms: 5 });
  log.subscribe({ name: 'test', handle: (batch) => events.push(...batch) });
  up = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(LEAKY));
  });
  const filter = `
      response-filter:
        responses:
          "200": { type: object, properties: { id: { type: string }, name: { type: string } } }`;
  const services = new ServiceRegistry();
  services.audit = log;
  gw = await startGateway(
    `
listeners: [{ port: 0 }]
upstreams: { app: { targets: [{ url: "${up.url}" }] } }
routes:
  - name: audited
    public: true
    paths: ["/audited/*"]
    upstream: app
    policies:
      audit: { requests: false }${filter}
  - name: plain
    public: true
    paths: ["/plain/*"]
    upstream: app
    policies:${filter}
`,
    {},
    { services },
  );
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
  await log?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('security events and the pipelines that read them', () => {
  it('the audited route records the removal with its paths; the other route filters the same', async () => {
    const audited = await send(gw.port, '/audited/users/u1');
    const plain = await send(gw.port, '/plain/users/u1');
    expect(JSON.parse(audited.body)).toEqual({ id: 'u1', name: 'Alice' });
    expect(JSON.parse(plain.body)).toEqual({ id: 'u1', name: 'Alice' });
    const end = Date.now() + 5000;
    while (!events.some((e) => e.type === 'response.field_removed') && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    const removed = events.filter((e) => e.type === 'response.field_removed');
    expect(removed).toHaveLength(1);
    expect(removed[0]).toMatchObject({
      kind: 'security',
      route: 'audited',
      path: '/audited/users/u1',
      events: [
        {
          type: 'response.field_removed',
          policy: 'response-filter',
          rule: 'schema',
          location: 'body/password_hash',
          action: 'modify',
          detail: { removed: 2, by_schema: 2, by_rules: 0, paths: '/password_hash /ssn' },
        },
      ],
    });
  });
});
