import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { makeCtx, runPhase, silentLogger } from '../../../test/unit-helpers.js';
import { parseConfig } from '../../config/load.js';
import type { ClientCertificate, RequestContext } from '../../core/context.js';
import type { GatewayError } from '../../core/errors.js';
import type { PolicyInstance } from '../../core/policy.js';
import { ServiceRegistry } from '../../core/shared.js';
import { openServices, type Services } from '../../services.js';
import type { Consumer, Store } from '../../store/types.js';
import def from './policy.js';
import { schema } from './schema.js';

let dir: string;
let services: Services;
let store: Store;

/** A real SQLite store with a real keyring, in a temporary folder. */
async function openTestStore(dataDir: string): Promise<Services> {
  const file = join(dataDir, 'rampart.yaml');
  const { config } = parseConfig(
    `listeners: [{ port: 0 }]\nenvironment: development\ndata_dir: ${dataDir}\nstore: {}\n`,
    file,
    dataDir,
    {},
  );
  const s = await openServices(config, file, silentLogger);
  if (!s) throw new Error('no store');
  return s;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-mtls-'));
  services = await openTestStore(dir);
  store = services.store;
});
afterAll(async () => {
  await services?.close();
  rmSync(dir, { recursive: true, force: true });
});

const DAY = 86_400_000;

/** A verified client certificate as the TLS listener puts it on the context (see src/tls/client-cert.ts). */
function cert(o: { cn?: string; subject?: string; issuer?: string; sans?: string[]; validTo?: Date } = {}) {
  const raw = randomBytes(200);
  const hex = createHash('sha256').update(raw).digest('hex').toUpperCase();
  const c: ClientCertificate = {
    subject: o.subject ?? `O=Acme\nCN=${o.cn ?? 'client'}`,
    issuer: o.issuer ?? 'CN=Rampart Test CA',
    commonName: o.cn ?? 'client',
    subjectAltNames: o.sans ?? [],
    serialNumber: '01',
    fingerprint256: hex.match(/../g)?.join(':') ?? '',
    validFrom: new Date(Date.now() - DAY),
    validTo: o.validTo ?? new Date(Date.now() + 30 * DAY),
    raw,
  };
  return { cert: c, fp: hex.toLowerCase() };
}

function ctxWith(c: ClientCertificate | null, route = 'api'): RequestContext {
  const ctx = makeCtx({ secure: true });
  ctx.clientCert = c;
  ctx.route = { name: route, upstream: null, public: false };
  return ctx;
}

class Lines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    for (const l of chunk.toString().split('\n')) if (l.trim()) this.lines.push(JSON.parse(l));
    cb();
  }
}

function make(cfg: z.input<typeof schema> = {}, registry = new ServiceRegistry(store, services.keyring)) {
  const logs = new Lines();
  const p = def.create(def.config.parse(cfg), {
    logger: pino({ level: 'debug' }, logs),
    scope: 'global',
    services: registry,
  });
  return { p, logs };
}

async function run(p: PolicyInstance, ctx: RequestContext) {
  return (await runPhase(p, 'request', ctx)) as GatewayError | undefined;
}

async function consumer(extra: Partial<Consumer> = {}): Promise<Consumer> {
  return store.consumers.create({ name: `c-${randomBytes(4).toString('hex')}`, ...extra });
}

async function bind(c: Consumer, fp: string, extra: { routes?: string[]; scopes?: string[]; expires_at?: Date } = {}) {
  return store.credentials.create({ consumer_id: c.id, kind: 'mtls', key_id: fp, ...extra });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mtls-identity schema', () => {
  it('fills defaults', () => {
    expect(schema.parse({})).toEqual({ match: [], require: false, cache_ttl_ms: 500 });
  });
  it('refuses rules without a matcher or consumer, two stars, unknown keys, a cache over 1 s', () => {
    expect(schema.safeParse({ match: [{ consumer: 'a' }] }).success).toBe(false);
    expect(schema.safeParse({ match: [{ cn: 'x' }] }).success).toBe(false);
    expect(schema.safeParse({ match: [{ san_uri: 'spiffe://*/*', consumer: 'a' }] }).success).toBe(false);
    expect(schema.safeParse({ match: [{ san_ip: '10.0.0.1', consumer: 'a' }] }).success).toBe(false);
    expect(schema.safeParse({ cache_ttl_ms: 1001 }).success).toBe(false);
    expect(schema.safeParse({ required: true }).success).toBe(false);
    expect(schema.safeParse({ match: [{ san_uri: 'spiffe://acme/*', consumer: 'a' }], require: 'true' }).success).toBe(
      true,
    );
  });
  it('fails at load when it could map nothing', () => {
    const noStore = new ServiceRegistry();
    expect(() => make({}, noStore)).toThrow(/maps no certificate/);
    expect(() => make({ fingerprints: true, match: [{ cn: 'a', consumer: 'a' }] }, noStore)).toThrow(/needs a store/);
    expect(() => make({ fingerprints: false })).toThrow(/maps no certificate/);
    expect(() => make({ match: [{ cn: 'a', consumer: 'a' }] }, noStore)).not.toThrow();
  });
});

describe('mtls-identity: certificates bound by fingerprint', () => {
  it('maps a bound certificate to its consumer', async () => {
    const alice = await consumer({ groups: ['ops'], attributes: { team: 'blue' } });
    const { cert: c, fp } = cert({ validTo: new Date(Date.now() + 10 * DAY) });
    const cred = await bind(alice, fp, { scopes: ['read'], expires_at: new Date(Date.now() + 5 * DAY) });
    const ctx = ctxWith(c);
    const seen: string[] = [];
    ctx.onAuthAttempt = (k) => seen.push(k);
    expect(await run(make().p, ctx)).toBeUndefined();
    expect(ctx.identity).toEqual({
      kind: 'mtls',
      consumerId: alice.id,
      subject: alice.name,
      credentialId: cred.id,
      roles: ['ops'],
      scopes: ['read'],
      attributes: { team: 'blue' },
      claims: null,
      clientId: null,
      expiresAt: Math.floor(Date.parse(cred.expires_at ?? '') / 1000),
    });
    expect(seen).toEqual([`mtls:${fp}`]);
  });

  it('leaves requests without a certificate, or already identified, alone', async () => {
    const { p } = make({ require: true });
    const none = ctxWith(null);
    expect(await run(p, none)).toBeUndefined();
    expect(none.identity).toBeNull();
    const { cert: c } = cert();
    const done = ctxWith(c);
    const before = { kind: 'api-key', subject: 'x' } as RequestContext['identity'];
    done.identity = before;
    expect(await run(p, done)).toBeUndefined();
    expect(done.identity).toBe(before);
  });

  it('an unbound certificate: no identity, or 401 with require', async () => {
    const { cert: c } = cert();
    const ctx = ctxWith(c);
    ctx.onAuthAttempt = () => {
      throw new Error('no credential was checked');
    };
    expect(await run(make().p, ctx)).toBeUndefined();
    expect(ctx.identity).toBeNull();
    const err = await run(make({ require: true }).p, ctxWith(c));
    expect(err?.code).toBe('UNAUTHENTICATED');
    expect(err?.headers).toEqual({ 'www-authenticate': 'mTLS realm="rampart"' });
  });

  it('refuses revoked and expired bindings and disabled consumers, without require', async () => {
    const { p } = make({ cache_ttl_ms: 0 });
    const alice = await consumer();
    const revoked = cert();
    await store.credentials.revoke((await bind(alice, revoked.fp)).id);
    const expired = cert();
    const e = await bind(alice, expired.fp, { expires_at: new Date(Date.now() + 50) });
    const disabled = cert();
    await bind(await consumer({ status: 'disabled' }), disabled.fp);
    const graced = cert();
    await store.credentials.revoke((await bind(alice, graced.fp)).id, new Date(Date.now() + 60_000));
    await sleep(60);
    expect(Date.parse(e.expires_at ?? '')).toBeLessThan(Date.now());
    for (const c of [revoked, expired, disabled]) {
      const err = await run(p, ctxWith(c.cert));
      expect(err?.code).toBe('UNAUTHENTICATED');
    }
    // A revocation dated ahead (a grace period) still lets the certificate in until then.
    const ctx = ctxWith(graced.cert);
    expect(await run(p, ctx)).toBeUndefined();
    expect(ctx.identity?.expiresAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 60);
  });

  it('sees a revocation within cache_ttl_ms, and a new binding as well', async () => {
    const { p } = make({ cache_ttl_ms: 300 });
    const alice = await consumer();
    const { cert: c, fp } = cert();
    expect(await run(p, ctxWith(c))).toBeUndefined();
    const cred = await bind(alice, fp);
    const t0 = Date.now();
    for (;;) {
      const ctx = ctxWith(c);
      await run(p, ctx);
      if (ctx.identity) break;
      await sleep(20);
    }
    expect(Date.now() - t0).toBeLessThan(1000);
    await store.credentials.revoke(cred.id);
    const t1 = Date.now();
    while ((await run(p, ctxWith(c)))?.code !== 'UNAUTHENTICATED') await sleep(20);
    expect(Date.now() - t1).toBeLessThan(1000);
  });

  it('answers 403 on a route the binding does not list', async () => {
    const { p } = make();
    const { cert: c, fp } = cert();
    await bind(await consumer(), fp, { routes: ['orders'] });
    expect(await run(p, ctxWith(c, 'orders'))).toBeUndefined();
    const ctx = ctxWith(c, 'billing');
    const err = await run(p, ctx);
    expect(err?.code).toBe('INSUFFICIENT_SCOPE');
    expect(err?.status).toBe(403);
  });

  it('shares lookups: concurrent requests make one query, and later ones within the TTL none', async () => {
    let queries = 0;
    const counting: Store = {
      ...store,
      kind: store.kind,
      credentials: {
        ...store.credentials,
        getByKeyId: (k: string) => {
          queries++;
          return store.credentials.getByKeyId(k);
        },
      } as Store['credentials'],
      consumers: store.consumers,
    } as Store;
    const registry = new ServiceRegistry(counting, services.keyring);
    const { cert: c, fp } = cert();
    await bind(await consumer(), fp);
    const a = make({}, registry).p;
    const b = make({ require: true }, registry).p;
    const ctxs = Array.from({ length: 10 }, () => ctxWith(c));
    await Promise.all(ctxs.map((x, i) => run(i % 2 ? a : b, x)));
    expect(ctxs.every((x) => x.identity?.kind === 'mtls')).toBe(true);
    expect(queries).toBe(1);
    await run(a, ctxWith(c));
    expect(queries).toBe(1);
  });

  it('fails closed (503) when the store fails', async () => {
    const d = mkdtempSync(join(tmpdir(), 'rampart-mtls-down-'));
    const s = await openTestStore(d);
    const { p, logs } = make({}, new ServiceRegistry(s.store, s.keyring));
    await s.close();
    const err = await run(p, ctxWith(cert().cert));
    expect(err?.code).toBe('AUTH_UNAVAILABLE');
    expect(err?.headers?.['retry-after']).toBe('1');
    expect(logs.lines.some((l) => l.msg === 'mtls-identity: store lookup failed: refusing with 503')).toBe(true);
    rmSync(d, { recursive: true, force: true });
  });
});

describe('mtls-identity: rules', () => {
  const outcome = async (p: PolicyInstance, c: ClientCertificate) => {
    const ctx = ctxWith(c);
    const err = await run(p, ctx);
    return err?.code ?? ctx.identity?.subject ?? null;
  };

  it('matches SAN URIs exactly or with one "*" spanning anything (at least one character)', async () => {
    const noStore = new ServiceRegistry();
    const { p } = make(
      {
        match: [
          { san_uri: 'spiffe://acme.example/ns/prod/sa/billing', consumer: 'billing' },
          { san_uri: 'spiffe://acme.example/ns/prod/*', consumer: 'prod' },
        ],
      },
      noStore,
    );
    const uri = (u: string) => cert({ sans: ['DNS:x.example', `URI:${u}`] }).cert;
    expect(await outcome(p, uri('spiffe://acme.example/ns/prod/sa/billing'))).toBe('billing');
    expect(await outcome(p, uri('spiffe://acme.example/ns/prod/sa/orders'))).toBe('prod');
    expect(await outcome(p, uri('spiffe://acme.example/ns/prod/'))).toBeNull();
    expect(await outcome(p, uri('spiffe://acme.example/ns/dev/sa/x'))).toBeNull();
    expect(await outcome(p, uri('spiffe://acme.example.evil/ns/prod/sa/x'))).toBeNull();
    expect(await outcome(p, uri('SPIFFE://acme.example/ns/prod/sa/x'))).toBeNull();
    expect(await outcome(p, cert({ sans: ['DNS:spiffe://acme.example/ns/prod/sa/x'] }).cert)).toBeNull();
    const ctx = ctxWith(uri('spiffe://acme.example/ns/prod/sa/billing'));
    await run(p, ctx);
    expect(ctx.identity).toMatchObject({ kind: 'mtls', consumerId: null, roles: [] });
    expect(ctx.identity?.credentialId).toMatch(/^[0-9a-f]{64}$/);
  });

  it('matches DNS names case-insensitively with "*" as one label; email, CN, subject and issuer', async () => {
    const { p } = make(
      {
        match: [
          { san_dns: '*.svc.acme.example', consumer: 'svc' },
          { san_email: '*@acme.example', consumer: 'mail' },
          { cn: 'batch-*', issuer: 'CN=Rampart Test CA', consumer: 'batch' },
          { subject: 'C = US, O = Acme, CN = *', consumer: 'us' },
        ],
      },
      new ServiceRegistry(),
    );
    expect(await outcome(p, cert({ sans: ['DNS:Orders.SVC.acme.example'] }).cert)).toBe('svc');
    expect(await outcome(p, cert({ sans: ['DNS:a.b.svc.acme.example'] }).cert)).toBeNull();
    expect(await outcome(p, cert({ sans: ['DNS:svc.acme.example'] }).cert)).toBeNull();
    expect(await outcome(p, cert({ sans: ['email:Bob@ACME.example'] }).cert)).toBe('mail');
    expect(await outcome(p, cert({ sans: ['email:bob@evil.example@acme.example'] }).cert)).toBeNull();
    expect(await outcome(p, cert({ cn: 'batch-7' }).cert)).toBe('batch');
    expect(await outcome(p, cert({ cn: 'batch-7', issuer: 'CN=Other CA' }).cert)).toBeNull();
    expect(await outcome(p, cert({ subject: 'C=US\nO=Acme\nCN=zed' }).cert)).toBe('us');
    expect(await outcome(p, cert({ subject: 'C=US\nO=Acme\nCN=zed\nOU=x' }).cert)).toBeNull();
    expect(await outcome(p, cert({ subject: 'C=UK\nO=Acme\nCN=zed' }).cert)).toBeNull();
  });

  it('a "*" in a subject rule spans one RDN value: an escaped "," in a crafted CN does not open a new RDN', async () => {
    const { p } = make(
      {
        match: [
          { subject: 'CN=*,O=Acme', consumer: 'acme' },
          { subject: 'CN=x\\,O=Acme', consumer: 'literal' },
        ],
      },
      new ServiceRegistry(),
    );
    expect(await outcome(p, cert({ subject: 'CN=bob\nO=Acme' }).cert)).toBe('acme');
    expect(await outcome(p, cert({ subject: 'CN=b\\,c\nO=Acme' }).cert)).toBe('acme');
    // One RDN, CN "x,O=Acme" (no O at all), as node prints it: not Acme's.
    expect(await outcome(p, cert({ subject: 'CN=x\\,O=Acme' }).cert)).toBe('literal');
    expect(await outcome(p, cert({ subject: 'CN=y\\,O=Acme' }).cert)).toBeNull();
    expect(await outcome(p, cert({ subject: 'CN=y\\, O=Acme' }).cert)).toBeNull();
  });

  it('refuses a certificate past its validity (a connection or TLS session that outlived it)', async () => {
    const { p } = make({ match: [{ cn: 'late', consumer: 'late' }] }, new ServiceRegistry());
    expect(await outcome(p, cert({ cn: 'late' }).cert)).toBe('late');
    expect(await outcome(p, cert({ cn: 'late', validTo: new Date(Date.now() - 1000) }).cert)).toBe('UNAUTHENTICATED');
  });

  it('requires every field of a rule to match', async () => {
    const { p } = make({ match: [{ san_dns: 'api.acme.example', cn: 'api', consumer: 'api' }] }, new ServiceRegistry());
    expect(await outcome(p, cert({ cn: 'api', sans: ['DNS:api.acme.example'] }).cert)).toBe('api');
    expect(await outcome(p, cert({ cn: 'other', sans: ['DNS:api.acme.example'] }).cert)).toBeNull();
    expect(await outcome(p, cert({ cn: 'api' }).cert)).toBeNull();
  });

  it('with a store: the rule names a consumer there; missing or disabled is refused', async () => {
    const team = await consumer({ groups: ['payments'] });
    const off = await consumer({ status: 'disabled' });
    const { p, logs } = make({
      fingerprints: false,
      match: [
        { cn: 'team', consumer: team.name },
        { cn: 'off', consumer: off.name },
        { cn: 'ghost', consumer: 'no-such-consumer' },
      ],
    });
    const ctx = ctxWith(cert({ cn: 'team' }).cert);
    expect(await run(p, ctx)).toBeUndefined();
    expect(ctx.identity).toMatchObject({ consumerId: team.id, subject: team.name, roles: ['payments'] });
    expect(await outcome(p, cert({ cn: 'off' }).cert)).toBe('UNAUTHENTICATED');
    expect(await outcome(p, cert({ cn: 'ghost' }).cert)).toBe('UNAUTHENTICATED');
    expect(await outcome(p, cert({ cn: 'ghost' }).cert)).toBe('UNAUTHENTICATED');
    expect(logs.lines.filter((l) => l.msg === 'mtls-identity: a rule names no such consumer')).toHaveLength(1);
  });

  it('a binding comes before the rules, and a revoked binding is refused even when a rule matches', async () => {
    const bound = await consumer();
    const ruled = await consumer();
    const { p } = make({ cache_ttl_ms: 0, match: [{ cn: 'shared', consumer: ruled.name }] });
    const a = cert({ cn: 'shared' });
    const cred = await bind(bound, a.fp);
    expect(await outcome(p, a.cert)).toBe(bound.name);
    expect(await outcome(p, cert({ cn: 'shared' }).cert)).toBe(ruled.name);
    await store.credentials.revoke(cred.id);
    expect(await outcome(p, a.cert)).toBe('UNAUTHENTICATED');
  });
});
