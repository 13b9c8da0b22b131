import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { openServices } from '../../src/services.js';
import { freePort, killRampart, ROOT, type Spawned, send, spawnRampart, startUpstream, tmpFile } from '../helpers.js';

/**
 * The built-in authorization server in a real `rampart start --workers 2` (each worker runs its own provider on the
 * shared SQLite store), with clients and signing keys managed by the CLI. Needs `npx tsc -p tsconfig.build.json`.
 */
let sp: Spawned | undefined;
let file: string;
let port: number;
let client: { id: string; secret: string };
let upstream: Awaited<ReturnType<typeof startUpstream>>;

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const basic = (c: { id: string; secret: string }) => `Basic ${Buffer.from(`${c.id}:${c.secret}`).toString('base64')}`;

async function cli(...args: string[]): Promise<string> {
  const run = spawnRampart([...args, '--config', file]);
  const code = await run.exited;
  const out = run.logs.map((l) => (typeof l.raw === 'string' ? l.raw : JSON.stringify(l))).join('\n');
  if (code !== 0) throw new Error(`rampart ${args.join(' ')} exited ${code}: ${run.stderr.join('')}`);
  return out;
}

const tokenRequest = () =>
  send(port, '/oauth/token', {
    method: 'POST',
    headers: { ...FORM, authorization: basic(client) },
    body: 'grant_type=client_credentials&scope=read',
  });

/** Which workers answered `path` with `status`, from the access log (lines reach stdout within 250 ms). */
const pidsOf = (path: string, status: number) =>
  new Set((sp?.logs ?? []).filter((l) => l.path === path && l.status === status).map((l) => l.pid));

async function within(ms: number, fn: () => Promise<boolean> | boolean): Promise<number> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

beforeAll(async () => {
  upstream = await startUpstream((_req, res) => res.end('{"upstream":true}'));
  port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-as-proc-'));
  file = tmpFile(
    'rampart.yaml',
    `environment: development
listeners: [{ port: ${port} }]
data_dir: ${dataDir}
store: {}
metrics: { enabled: false }
auth_server: {}
audit: { dir: audit, flush_ms: 20 }
policies: { audit: {} }
upstreams:
  api: { targets: ["${upstream.url}"] }
routes:
  - { name: api, paths: ["/api/*"], upstream: api, policies: { jwt: {} } }
`,
  );
  // The consumer straight into the store (its own CLI is tested elsewhere); the client through `rampart clients`.
  const loaded = parseConfig(readFileSync(file, 'utf8'), file, ROOT);
  const opened = await openServices(loaded.config, file, createLogger('silent'));
  await opened?.store.consumers.create({ name: 'reporting' });
  await opened?.close();
  const out = await cli('clients', 'create', 'reporting', '--scope', 'read');
  const id = /created client (rmc_[a-z2-7]+)/.exec(out)?.[1];
  const secret = /client_secret: (rmcs_[0-9A-Za-z]+)/.exec(out)?.[1];
  if (!id || !secret) throw new Error(`unexpected output: ${out}`);
  client = { id, secret };
  sp = spawnRampart(['start', '--config', file, '--workers', '2', '--no-watch']);
  await sp.waitFor((l) => l.msg === 'all workers listening', 20_000);
}, 30_000);

afterAll(async () => {
  await killRampart(sp);
  await upstream?.close();
});

describe('authorization server in rampart start --workers 2', () => {
  it('every worker serves the token, and refuses it within 1 s of its revocation', async () => {
    const r = await tokenRequest();
    expect(r.status).toBe(200);
    const t = (JSON.parse(r.body) as { access_token: string }).access_token;
    const call = () => send(port, '/api/w', { headers: { authorization: `Bearer ${t}` } });
    for (let i = 0; i < 6; i++) expect((await call()).status).toBe(200);
    await within(2000, () => pidsOf('/api/w', 200).size === 2);

    const revoked = await send(port, '/oauth/token/revocation', {
      method: 'POST',
      headers: { ...FORM, authorization: basic(client) },
      body: `token=${t}`,
    });
    expect(revoked.status).toBe(200);
    const took = await within(1000, async () => {
      const rs = await Promise.all(Array.from({ length: 6 }, call));
      return rs.every((x) => x.status === 401);
    });
    console.log(`revoked token refused by every worker after ${took} ms`);
    for (let i = 0; i < 6; i++) expect((await call()).status).toBe(401);
    await within(2000, () => pidsOf('/api/w', 401).size === 2);
    // The token endpoint is in the access log; the secret is in no log line.
    expect(sp?.logs.some((l) => l.path === '/oauth/token' && l.status === 200)).toBe(true);
    expect(JSON.stringify(sp?.logs)).not.toContain(client.secret);
  });

  it('the CLI lists clients without secrets, rotates the signing key, and a deleted client gets no token', async () => {
    const [list, rotated] = await Promise.all([cli('clients', 'list'), cli('authserver', 'rotate-key')]);
    expect(list).toContain(client.id);
    expect(list).toContain('client_secret_basic/post');
    expect(list).not.toContain(client.secret);
    expect(list).not.toMatch(/v\d+\./);
    const kid = /new signing key (\S+) \(ES256\), published now/.exec(rotated)?.[1];
    expect(kid).toBeDefined();

    const [keys] = await Promise.all([cli('authserver', 'keys'), cli('clients', 'delete', client.id)]);
    expect(keys).toContain(`${kid}  ES256  published (signs soon)`);
    expect(keys).toMatch(/ES256 {2}signing/);
    const refused = await tokenRequest();
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'invalid_client' });

    // Token requests are audited like routed ones: the granted ones, and the refused one as an auth failure.
    const events = async (...filter: string[]) =>
      (
        JSON.parse(await cli('audit', 'search', '--text', '/oauth/token', '--json', ...filter)) as {
          event: { type: string; path?: string; status?: number; kind: string };
        }[]
      ).map((r) => r.event);
    await within(3000, async () => (await events('--type', 'auth.failure')).some((e) => e.status === 401));
    const all = await events();
    expect(all.some((e) => e.kind === 'request' && e.path === '/oauth/token' && e.status === 200)).toBe(true);
    expect(all.some((e) => e.kind === 'request' && e.path === '/oauth/token' && e.status === 401)).toBe(true);
    expect(JSON.stringify(all)).not.toContain(client.secret);
  });
});
