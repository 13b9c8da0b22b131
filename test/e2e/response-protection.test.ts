import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactDecrypt, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceRegistry } from '../../src/core/shared.js';
import { createKeyFile, FileKeySource } from '../../src/crypto/file-key-source.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { generateApiKey } from '../../src/identity/api-key.js';
import { CREDENTIAL_MAC_PURPOSE } from '../../src/services.js';
import { openStore, STORE_PURPOSE, type Store } from '../../src/store/index.js';
import { ROOT, type SentResponse, send, startGateway, startUpstream } from '../helpers.js';

/**
 * Response protection end to end (issue 9): a real gateway with a real SQLite store and keyring in front of a real
 * upstream that leaks (whole user records with password hashes, SSNs and internal ids, stack traces, card numbers).
 * The client sees only what the OpenAPI document and its role allow; a JWE field decrypts with the client's private
 * key; a card number is tokenised before the upstream and restored on the route allowed to.
 */

const LEAKY_USER = {
  id: 'u_1001',
  name: 'Alice',
  email: 'alice@example.com',
  role: 'customer',
  password_hash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA',
  ssn: '536-90-4399',
  internal_id: 88123,
  tenant_id: 't_9',
};

let dir: string;
let store: Store;
let ring: Keyring;
let up: Awaited<ReturnType<typeof startUpstream>>;
let gw: Awaited<ReturnType<typeof startGateway>>;
const keys: Record<string, string> = {};
let alicePrivate: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
/** Bodies the upstream received, by path. */
const received: { path: string; body: string }[] = [];
const payments = new Map<string, unknown>();

async function consumer(name: string, groups: string[], attributes: Record<string, unknown> = {}): Promise<void> {
  const c = await store.consumers.create({ name, groups, attributes });
  const { key, keyId } = generateApiKey();
  await store.credentials.create({
    consumer_id: c.id,
    kind: 'api-key',
    key_id: keyId,
    secret_hash: ring.mac(CREDENTIAL_MAC_PURPOSE, key),
  });
  keys[name] = key;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-resp-'));
  await createKeyFile(join(dir, 'master.keys'));
  let keyring: Keyring | null = null;
  store = await openStore({ kind: 'sqlite', dataDir: join(dir, 'data') }, async (state) => {
    keyring = await Keyring.open({
      source: await FileKeySource.open(join(dir, 'master.keys')),
      state,
      purposes: [STORE_PURPOSE, CREDENTIAL_MAC_PURPOSE],
    });
    return keyring;
  });
  ring = keyring as unknown as Keyring;

  // Alice registers her public encryption key as a consumer attribute (JSON text, as the CLI's --attr stores it).
  const pair = await generateKeyPair('ECDH-ES+A256KW', { extractable: true });
  alicePrivate = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'alice-enc-1', use: 'enc' };
  await consumer('alice', ['customer'], { encryption_jwk: JSON.stringify(jwk) });
  await consumer('admin', ['admin']);
  await consumer('billing', ['billing']);

  up = await startUpstream((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const path = req.url ?? '';
      received.push({ path, body });
      const json = (status: number, v: unknown, type = 'application/json') => {
        res.writeHead(status, { 'content-type': type, server: 'Apache/2.4.1', 'x-powered-by': 'PHP/7.1' });
        res.end(typeof v === 'string' ? v : JSON.stringify(v));
      };
      if (path === '/users/u_1001') return json(200, LEAKY_USER);
      if (path === '/me/card') return json(200, { id: 'card_1', brand: 'visa', number: '4111111111111111' });
      if (path === '/profile') {
        return json(200, {
          contact: 'alice@example.com, +44 20 7946 0958',
          card: '4111 1111 1111 1111',
          order_no: '4111 1111 1111 1112',
          reference: '1234567890123456',
          iban: 'DE89 3704 0044 0532 0130 00',
          not_iban: 'DE88 3704 0044 0532 0130 00',
          shipped: '2024-01-15',
        });
      }
      if (path === '/boom') {
        return json(
          500,
          'java.lang.IllegalStateException: pool exhausted\n\tat com.acme.db.Pool.get(Pool.java:88)\n\tat com.acme.api.Users.find(Users.java:31)',
          'text/plain',
        );
      }
      if (path === '/export.csv') {
        // A text export: PII and a secret in plain text, and look-alikes that must stay.
        return json(
          200,
          'name,email,card,note\nAlice,alice@example.com,4111 1111 1111 1111,order 4111 1111 1111 1112 shipped\nBot,-,-,key AKIAIOSFODNN7EXAMPLE\n',
          'text/csv; charset=utf-8',
        );
      }
      if (path === '/payments' && req.method === 'POST') {
        const p = JSON.parse(body) as { card: { number: string }; amount: number };
        payments.set('p1', { id: 'p1', amount: p.amount, card: { number: p.card.number } });
        return json(201, payments.get('p1'));
      }
      if (path === '/payments/p1') return json(200, payments.get('p1'));
      json(404, { error: 'not found' });
    });
  });

  gw = await startGateway(
    `listeners: [{ port: 0 }]
metrics: { enabled: false }
upstreams:
  app: { targets: ["${up.url}"] }
policies:
  request-id: {}
  api-key: {}
  security-headers: {}
routes:
  - name: users
    paths: ["/api/users/{id}"]
    upstream: app
    strip_prefix: /api
    policies:
      response-filter:
        spec: ${join(ROOT, 'examples/openapi.yaml')}
        fields:
          - { name: email-admin-only, paths: [$.email], action: deny, except_roles: [admin] }
  - name: card
    paths: ["/me/card"]
    upstream: app
    policies:
      field-encryption: { fields: [$.number] }
  - name: profile
    paths: ["/profile", "/boom"]
    upstream: app
    policies:
      redact: {}
  - name: export
    paths: ["/export.csv"]
    upstream: app
    policies:
      redact: { text: true }
  - name: pay
    paths: ["/payments"]
    methods: [POST]
    upstream: app
    policies:
      tokenize: { fields: [$.card.number] }
  - name: pay-read
    paths: ["/payments/{id}"]
    methods: [GET]
    upstream: app
    policies:
      tokenize: { detokenize: true, roles: [billing] }
`,
    {},
    { services: new ServiceRegistry(store, ring) },
  );
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

function call(who: string, method: string, path: string, body?: unknown): Promise<SentResponse> {
  const headers: Record<string, string> = { 'x-api-key': keys[who] as string };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return send(gw.port, path, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
}
const json = <T = Record<string, unknown>>(r: SentResponse): T => JSON.parse(r.body) as T;

describe('excessive data exposure', () => {
  it('a customer sees only the fields the OpenAPI response schema declares, and not email (role rule)', async () => {
    const r = await call('alice', 'GET', '/api/users/u_1001');
    expect(r.status).toBe(200);
    expect(json(r)).toEqual({ id: 'u_1001', name: 'Alice', role: 'customer' });
    for (const leak of ['password_hash', 'argon2', 'ssn', '536-90-4399', 'internal_id', '88123', 'tenant_id']) {
      expect(r.body).not.toContain(leak);
    }
  });

  it('an admin also sees email, never the undeclared fields', async () => {
    const r = await call('admin', 'GET', '/api/users/u_1001');
    expect(json(r)).toEqual({ id: 'u_1001', name: 'Alice', email: 'alice@example.com', role: 'customer' });
  });

  it('the answer carries safe API headers and no stack banners', async () => {
    const r = await call('alice', 'GET', '/api/users/u_1001');
    expect(r.headers.server).toBeUndefined();
    expect(r.headers['x-powered-by']).toBeUndefined();
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['content-security-policy']).toContain("default-src 'none'");
    // Plain HTTP: no HSTS.
    expect(r.headers['strict-transport-security']).toBeUndefined();
  });
});

describe('redaction', () => {
  it('masks true positives and leaves look-alikes (Luhn failures, bad IBAN check digits, dates, ids) alone', async () => {
    const r = await call('alice', 'GET', '/profile');
    expect(r.status).toBe(200);
    expect(json(r)).toEqual({
      contact: 'a***@example.com, **********58',
      card: '************1111',
      order_no: '4111 1111 1111 1112',
      reference: '1234567890123456',
      iban: 'DE****************3000',
      not_iban: 'DE88 3704 0044 0532 0130 00',
      shipped: '2024-01-15',
    });
  });

  it('redacts text bodies when asked (text: true): a CSV export keeps its shape, loses its PII and secrets', async () => {
    const r = await call('alice', 'GET', '/export.csv');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    const [head, alice, bot] = r.body.split('\n');
    expect(head).toBe('name,email,card,note');
    expect(alice).toBe('Alice,a***@example.com,************1111,order 4111 1111 1111 1112 shipped');
    expect(bot).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(bot).toBe('Bot,-,-,key [REDACTED:aws_key]');
  });

  it('replaces an upstream stack trace by problem+json UPSTREAM_ERROR without internals', async () => {
    const r = await call('alice', 'GET', '/boom');
    expect(r.status).toBe(502);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(json(r).code).toBe('UPSTREAM_ERROR');
    for (const leak of ['java', 'Pool', 'acme', 'exhausted']) expect(r.body).not.toContain(leak);
  });
});

describe('field-level encryption', () => {
  it('the client decrypts its JWE field with its private key; the clear value never crosses the wire', async () => {
    const r = await call('alice', 'GET', '/me/card');
    expect(r.status).toBe(200);
    expect(r.body).not.toContain('4111111111111111');
    const body = json<{ id: string; brand: string; number: string }>(r);
    expect(body.brand).toBe('visa');
    const { plaintext, protectedHeader } = await compactDecrypt(body.number, alicePrivate);
    expect(protectedHeader).toMatchObject({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: 'alice-enc-1' });
    expect(JSON.parse(new TextDecoder().decode(plaintext))).toBe('4111111111111111');
  });

  it('a caller without a registered key gets no clear value (502 FIELD_ENCRYPTION_UNAVAILABLE)', async () => {
    const r = await call('admin', 'GET', '/me/card');
    expect(r.status).toBe(502);
    expect(json(r).code).toBe('FIELD_ENCRYPTION_UNAVAILABLE');
    expect(r.body).not.toContain('4111');
  });
});

describe('tokenization', () => {
  it('the upstream never receives the card number; it is restored only on the allowed route and role', async () => {
    const created = await call('alice', 'POST', '/payments', { amount: 25, card: { number: '4242424242424242' } });
    expect(created.status).toBe(201);
    const seen = received.filter((x) => x.path === '/payments').at(-1);
    expect(seen?.body).toBeDefined();
    expect(seen?.body).not.toContain('4242424242424242');
    const token = (JSON.parse(seen?.body ?? '{}') as { card: { number: string } }).card.number;
    expect(token).toMatch(/^tok_/);
    // The create answer (a tokenize-only route) echoes the token, not the value.
    expect(json<{ card: { number: string } }>(created).card.number).toBe(token);

    const restored = await call('billing', 'GET', '/payments/p1');
    expect(json(restored)).toEqual({ id: 'p1', amount: 25, card: { number: '4242424242424242' } });
    const notAllowed = await call('alice', 'GET', '/payments/p1');
    expect(json(notAllowed)).toEqual({ id: 'p1', amount: 25, card: { number: token } });
  });
});
