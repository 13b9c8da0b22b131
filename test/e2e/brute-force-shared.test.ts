import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, killRampart, type Spawned, send, spawnRampart, startUpstream, tmpFile } from '../helpers.js';

/**
 * Issue 6: brute-force counts on the shared state, through a real `rampart start --workers 2` (the primary owns the
 * counters). Failures spread over both workers add up to one max_failures (per-process counting would need
 * max_failures on each), and the locked-out address goes on the dynamic deny list that ip-filter reads on every
 * worker. Needs `npm run build` (dist).
 */
describe('brute-force across workers', () => {
  let sp: Spawned | undefined;
  let port = 0;
  let up: Awaited<ReturnType<typeof startUpstream>>;
  const MAX = 4;

  beforeAll(async () => {
    up = await startUpstream((_req, res) => res.end('ok'));
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = tmpFile('issuer.pem', publicKey.export({ type: 'spki', format: 'pem' }).toString());
    port = await freePort();
    const route = (name: string, extra = '') => `  - name: ${name}
    paths: ["/${name}"]
    upstream: echo
${extra}`;
    const yaml = `listeners: [{ host: 127.0.0.1, port: ${port} }]
metrics: { enabled: false }
upstreams:
  echo: { targets: ["${up.url}"] }
policies:
  brute-force: { max_failures: ${MAX}, window_s: 60, lockout_s: 60, deny_ip_for_s: 60 }
  jwt: { issuers: [{ issuer: "https://issuer.test", keys: ["\${file:${pem}}"], audiences: [api] }] }
routes:
${route('plain')}${route('guarded', '    policies:\n      ip-filter: { dynamic: true }\n')}`;
    sp = spawnRampart(['start', '--config', tmpFile('rampart.yaml', yaml), '--workers', '2', '--no-watch']);
    await sp.waitFor((l) => l.msg === 'all workers listening');
  });
  afterAll(async () => {
    await killRampart(sp);
    await up?.close();
  });

  /** A JWT-shaped token that no key verifies: a failed authentication, a different credential each time. */
  const badToken = () =>
    `${Buffer.from('{"alg":"ES256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.${randomBytes(64).toString('base64url')}`;
  const withToken = (path: string) => send(port, path, { headers: { authorization: `Bearer ${badToken()}` } });

  it(`locks the address after ${MAX} failures in total over both workers, and denies it on every worker`, async () => {
    const fails = [];
    for (let i = 0; i < MAX; i++) fails.push((await withToken('/plain')).status);
    expect(fails).toEqual(Array(MAX).fill(401));
    // both workers saw some of the failures (the primary hands connections out in turn)
    await sp?.waitFor(() => (sp?.logs.filter((l) => l.type === 'access' && l.status === 401).length ?? 0) >= MAX);
    const pids = new Set(sp?.logs.filter((l) => l.type === 'access' && l.status === 401).map((l) => l.pid));
    expect(pids.size).toBe(2);

    // locked: AUTH_LOCKED on every worker (several fresh connections), without checking the credential
    for (let i = 0; i < 4; i++) {
      const r = await withToken('/plain');
      expect(r.status).toBe(429);
      expect(JSON.parse(r.body).code).toBe('AUTH_LOCKED');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    // and on the dynamic deny list: ip-filter refuses the address in the connect phase, on every worker
    for (let i = 0; i < 4; i++) {
      const r = await send(port, '/guarded');
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body).code).toBe('IP_DENIED');
    }
    expect(sp?.logs.some((l) => l.msg === 'address added to the deny list')).toBe(true);
  });
});
