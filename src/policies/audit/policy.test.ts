import { readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { send, startGateway, startUpstream } from '../../../test/helpers.js';
import { openRecording } from '../../../test/raw-http.js';
import type { AuditRecord } from '../../audit/chain.js';
import { segmentName } from '../../audit/segments.js';
import { openTestLog, tempDir, testSigner } from '../../audit/test-helpers.js';
import { verifyAuditDir } from '../../audit/verify.js';
import { ServiceRegistry } from '../../core/shared.js';
import { isoAt } from './events.js';
import { schema } from './schema.js';

const YAML = (upstream: string) => `
listeners: [{ port: 0, host: 127.0.0.1 }]
metrics: { enabled: false }
logging: { level: silent, access_log: false }
upstreams: { api: { targets: [{ url: "${upstream}" }] } }
policies:
  request-id: {}
  audit: {}
routes:
  - { name: open, public: true, paths: ["/open/*"], upstream: api }
  - { name: closed, paths: ["/closed/*"], upstream: api }
`;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(durability: 'async' | 'sync') {
  const dir = await tempDir();
  const signer = testSigner();
  const log = await openTestLog(dir, signer, { durability, flush_ms: 5 });
  const up = await startUpstream((_req, res) => res.end('hello'));
  const services = new ServiceRegistry();
  services.audit = log;
  const gw = await startGateway(YAML(up.url), {}, { services });
  cleanups.push(up.close, gw.close, () => log.close());
  return { dir, signer, log, gw };
}

async function records(dir: string): Promise<AuditRecord[]> {
  const text = await readFile(join(dir, 'main', segmentName(1)), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord);
}

describe('audit policy', () => {
  it('schema: requests defaults to true and unknown keys are refused', () => {
    expect(schema.parse({})).toEqual({ requests: true });
    expect(schema.safeParse({ nope: 1 }).success).toBe(false);
  });

  it('needs the audit log at create', async () => {
    const up = await startUpstream((_req, res) => res.end());
    cleanups.push(up.close);
    await expect(startGateway(YAML(up.url))).rejects.toThrow(/audit log/);
  });

  it('async: records allowed, refused and unrouted requests with their security events, never the query', async () => {
    const { dir, signer, log, gw } = await setup('async');
    const ok = await send(gw.port, '/open/a?api_key=SECRET123');
    const denied = await send(gw.port, '/closed/b');
    const missing = await send(gw.port, '/shadow/api?x=1');
    expect([ok.status, denied.status, missing.status]).toEqual([200, 401, 404]);
    await new Promise((r) => setTimeout(r, 50));
    await log.flush();
    const recs = await records(dir);
    const text = JSON.stringify(recs);
    expect(text).not.toContain('SECRET123');
    const reqs = recs.filter((r) => r.event.type === 'request').map((r) => r.event);
    const byId = (h: string | string[] | undefined) => reqs.find((e) => e.request_id === h);
    expect(byId(ok.headers['x-request-id'])).toMatchObject({
      route: 'open',
      method: 'GET',
      path: '/open/a',
      status: 200,
      bytes_out: 5,
      actor: { client_ip: '127.0.0.1' },
    });
    expect(byId(ok.headers['x-request-id'])?.upstream).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(byId(denied.headers['x-request-id'])).toMatchObject({
      route: 'closed',
      status: 401,
      code: 'UNAUTHENTICATED',
    });
    expect(byId(missing.headers['x-request-id'])).toMatchObject({
      path: '/shadow/api',
      status: 404,
      code: 'ROUTE_NOT_FOUND',
    });
    expect(byId(missing.headers['x-request-id'])?.route).toBeUndefined();
    const sec = recs.filter((r) => r.event.kind === 'security').map((r) => r.event);
    expect(sec).toEqual([
      expect.objectContaining({ type: 'auth.failure', request_id: denied.headers['x-request-id'], status: 401 }),
    ]);
    const [v] = await verifyAuditDir(dir, { publicKeys: [signer.publicKey] });
    expect(v?.ok).toBe(true);
  });

  it('records requests refused before any pipeline (smuggling framing, parser errors) as security events', async () => {
    const { dir, log, gw } = await setup('async');
    const raw = async (text: string) => {
      const c = await openRecording(gw.port);
      c.s.write(text);
      for (let i = 0; i < 100 && !c.closed(); i++) await new Promise((r) => setTimeout(r, 10));
      return c.text();
    };
    // Refused by the gateway's own framing check (the parser accepts it): Transfer-Encoding other than chunked.
    const te = await raw(
      'POST /open/a?token=SECRET1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
    );
    // Refused by node's parser: Content-Length and Transfer-Encoding together (the classic CL.TE smuggle).
    const clte = await raw(
      'POST /open/b?token=SECRET2 HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG',
    );
    // Not HTTP at all.
    const junk = await raw('\x16\x03\x01 hello\r\n\r\n');
    for (const t of [te, clte, junk]) expect(t).toMatch(/^HTTP\/1\.1 400 /);
    await new Promise((r) => setTimeout(r, 50));
    await log.flush();
    const recs = await records(dir);
    expect(JSON.stringify(recs)).not.toMatch(/SECRET\d/);
    const sec = recs.filter((r) => r.event.kind === 'security').map((r) => r.event);
    expect(sec).toEqual([
      expect.objectContaining({
        type: 'request.bad_framing',
        method: 'POST',
        path: '/open/a',
        status: 400,
        code: 'BAD_FRAMING',
        actor: { client_ip: '127.0.0.1' },
        events: [expect.objectContaining({ policy: 'gateway', action: 'block', detail: expect.any(Object) })],
      }),
      expect.objectContaining({ type: 'request.bad_framing', method: 'POST', path: '/open/b', code: 'BAD_FRAMING' }),
      expect.objectContaining({ type: 'request.malformed', method: '-', path: '', code: 'BAD_REQUEST', status: 400 }),
    ]);
    expect(sec[1]?.events?.[0]?.detail).toEqual({ parser: 'HPE_INVALID_TRANSFER_ENCODING' });
    // Each also has its request event, like any other answered request.
    expect(recs.filter((r) => r.event.type === 'request' && r.event.status === 400)).toHaveLength(3);
  });

  it('sync: the response is sent only after its event is in the segment file', async () => {
    const { dir, gw } = await setup('sync');
    for (let i = 0; i < 5; i++) {
      const r = await send(gw.port, `/open/${i}`);
      expect(r.status).toBe(200);
      // Read right after the answer: the event must already be written (and fsynced) by then.
      const ids = (await records(dir)).map((x) => x.event.request_id);
      expect(ids).toContain(r.headers['x-request-id']);
    }
  });

  it('sync: a write failure (a full disk) answers 503 AUDIT_UNAVAILABLE instead of an unaudited response', async () => {
    const { dir, log, gw } = await setup('sync');
    await log.flush();
    // The next segment is /dev/full: every write to it fails with ENOSPC, as on a full disk.
    const next = log.stats.written + 2; // after the segment close record
    await symlink('/dev/full', join(dir, 'main', segmentName(next)));
    await log.rotate();
    const r = await send(gw.port, '/open/x');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).code).toBe('AUDIT_UNAVAILABLE');
    expect(log.healthy).toBe(false);
  });
});

describe('audit event time', () => {
  it('isoAt writes what toISOString writes, across milliseconds, seconds and days', () => {
    const base = Date.UTC(2026, 11, 31, 23, 59, 58, 990);
    for (let i = 0; i < 3000; i += 0.75) {
      const ms = base + i;
      expect(isoAt(ms)).toBe(new Date(Math.floor(ms)).toISOString());
    }
  });
});
