import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePki, type Pki } from '../../../test/tls-helpers.js';
import type { AuditEvent } from '../types.js';
import { createSinks, type Sink } from './index.js';
import { sinksSchema } from './schema.js';

/**
 * A real rsyslogd (Debian package) started with its own config on free ports: imudp, imtcp (octet counting) and
 * imtcp over TLS (openssl driver), each input writing what rsyslog parsed into its own file.
 */
const logger = pino({ level: 'silent' });

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(r));
  return p;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(50);
  }
}

let dir: string;
let pki: Pki;
let ports: { udp: number; tcp: number; tls: number };
let rsyslog: ChildProcess | null = null;

function lines(name: string): string[] {
  const f = join(dir, `${name}.log`);
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
}

async function startRsyslog(): Promise<void> {
  rsyslog = spawn('rsyslogd', ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslog.pid')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  rsyslog.stderr?.on('data', (d) => {
    err += d;
  });
  // Ready once both TCP listeners accept.
  for (const port of [ports.tcp, ports.tls]) {
    const end = Date.now() + 15_000;
    for (;;) {
      const ok = await new Promise<boolean>((r) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          r(true);
        }).on('error', () => r(false));
      });
      if (ok) break;
      if (Date.now() > end || rsyslog.exitCode !== null) throw new Error(`rsyslogd did not start: ${err}`);
      await sleep(100);
    }
  }
}

async function stopRsyslog(): Promise<void> {
  const p = rsyslog;
  rsyslog = null;
  if (!p || p.exitCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await done;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-rsyslog-'));
  pki = await makePki();
  const leaf = await pki.leaf('rsyslog', { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
  ports = { udp: await freeUdpPort(), tcp: await freeTcpPort(), tls: await freeTcpPort() };
  // What rsyslog parsed from the RFC 5424 header (app name, msgid, structured data), then the MSG.
  const fields = '%app-name%|%msgid%|%structured-data%|%msg%\\n';
  writeFileSync(
    join(dir, 'rsyslog.conf'),
    `global(workDirectory="${dir}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp" maxSessions="50")
template(name="fields" type="string" string="${fields}")
input(type="imudp" address="127.0.0.1" port="${ports.udp}" ruleset="udp" rcvbufSize="4m")
input(type="imtcp" address="127.0.0.1" port="${ports.tcp}" ruleset="tcp" supportOctetCountedFraming="on")
input(type="imtcp" address="127.0.0.1" port="${ports.tls}" ruleset="tls"
      streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon"
      streamDriver.CAFile="${join(pki.dir, 'ca.pem')}" streamDriver.CertFile="${leaf.certFile}"
      streamDriver.KeyFile="${leaf.keyFile}")
ruleset(name="udp") { action(type="omfile" file="${dir}/udp.log" template="fields") }
ruleset(name="tcp") {
  if $msg contains "CEF:0|" then { action(type="omfile" file="${dir}/cef.log" template="fields") stop }
  action(type="omfile" file="${dir}/tcp.log" template="fields")
}
ruleset(name="tls") { action(type="omfile" file="${dir}/tls.log" template="fields") }
`,
  );
  await startRsyslog();
}, 60_000);

afterAll(async () => {
  await stopRsyslog();
});

let seq = 0;
/** Events with unique request ids and the characters that need escaping in each format. */
function events(n: number, tag: string): AuditEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `${tag}-${seq++}`;
    return i % 3 === 0
      ? {
          time: new Date().toISOString(),
          kind: 'security',
          type: 'detection.sqli',
          request_id: id,
          severity: 'high',
          actor: { client_ip: '192.0.2.7', consumer: 'c"o]n\\s' },
          route: 'users',
          path: '/users/1',
          status: 403,
          code: 'FORBIDDEN',
          detail: { fragment: "' or 1=1 -- é|x=y\nz", score: 9 },
        }
      : {
          time: new Date().toISOString(),
          kind: 'request',
          type: 'request',
          request_id: id,
          actor: { client_ip: '192.0.2.8', consumer: 'shop' },
          route: 'orders',
          method: 'GET',
          path: `/orders/${i}`,
          status: 200,
          latency_ms: 3,
        };
  });
}

function sinkOf(cfg: unknown, dataDir: string, registry: Registry): Sink {
  const [s] = createSinks(sinksSchema.parse([cfg]), { logger, dataDir, metrics: registry });
  return s!;
}

async function metric(r: Registry, name: string, sink: string): Promise<number> {
  const m = await r.getSingleMetric(name)?.get();
  return m?.values.find((v) => v.labels.sink === sink)?.value ?? 0;
}

/** request_id → how often it arrived, from the JSON MSG rsyslog wrote. */
function received(file: string, prefix: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines(file)) {
    const [app, msgid, sd, ...rest] = l.split('|');
    const msg = rest.join('|').replace(/^\uFEFF/, '');
    if (!msg.startsWith('{')) continue;
    const e = JSON.parse(msg) as AuditEvent;
    if (!e.request_id?.startsWith(prefix)) continue;
    expect(app).toBe('rampart');
    expect(msgid).toBe(e.type);
    expect(sd).toContain(`request_id="${e.request_id}"`);
    m.set(e.request_id, (m.get(e.request_id) ?? 0) + 1);
  }
  return m;
}

function expectExactlyOnce(got: Map<string, number>, sent: AuditEvent[]): void {
  expect(got.size).toBe(sent.length);
  for (const e of sent) expect(got.get(e.request_id!)).toBe(1);
}

describe('syslog sinks against rsyslogd', () => {
  it('UDP: RFC 5424 lines with structured data that rsyslog parses', async () => {
    const r = new Registry();
    const s = sinkOf(
      { name: 'udp', type: 'syslog', transport: 'udp', host: '127.0.0.1', port: ports.udp },
      mkdtempSync(join(tmpdir(), 'rampart-data-')),
      r,
    );
    // UDP has no acknowledgement: paced like a gateway's audit batches, so a busy machine's socket buffer keeps up.
    const sent = events(200, 'udp');
    for (let i = 0; i < sent.length; i += 20) {
      s.handle(sent.slice(i, i + 20));
      await sleep(20);
    }
    await waitFor(() => received('udp', 'udp-').size >= sent.length);
    expectExactlyOnce(received('udp', 'udp-'), sent);
    // The escaped structured data survived: rsyslog kept the consumer value with its escapes.
    expect(lines('udp').some((l) => l.includes('consumer="c\\"o\\]n\\\\s"'))).toBe(true);
    expect(await metric(r, 'rampart_audit_sink_sent_total', 'udp')).toBe(200);
    expect(await metric(r, 'rampart_audit_sink_dropped_total', 'udp')).toBe(0);
    await s.close();
  });

  it('TCP with octet counting: every event exactly once, CEF too', async () => {
    const r = new Registry();
    const data = mkdtempSync(join(tmpdir(), 'rampart-data-'));
    const s = sinkOf({ name: 'tcp', type: 'syslog', transport: 'tcp', host: '127.0.0.1', port: ports.tcp }, data, r);
    const cef = sinkOf(
      { name: 'cef', type: 'syslog', transport: 'tcp', host: '127.0.0.1', port: ports.tcp, format: 'cef' },
      data,
      r,
    );
    const sent = events(1000, 'tcp');
    for (let i = 0; i < sent.length; i += 50) {
      s.handle(sent.slice(i, i + 50));
      cef.handle(sent.slice(i, i + 50));
    }
    await waitFor(() => received('tcp', 'tcp-').size >= sent.length && lines('cef').length >= sent.length);
    expectExactlyOnce(received('tcp', 'tcp-'), sent);
    const cefLines = lines('cef').map((l) => l.slice(l.indexOf('CEF:0|')));
    expect(cefLines.length).toBe(sent.length);
    const ids = new Set(cefLines.map((l) => /externalId=(\S+)/.exec(l)?.[1]));
    expect(ids.size).toBe(sent.length);
    const sqli = cefLines.find((l) => l.includes('|detection.sqli|'))!;
    expect(sqli).toMatch(/^CEF:0\|Rampart\|Rampart\|[^|]+\|detection\.sqli\|detection\.sqli\|8\|/);
    // Extension escaping: '=' and '\' escaped, the newline encoded; '|' needs none in extensions.
    expect(sqli).toContain("rampart_fragment=' or 1\\=1 -- é|x\\=y\\nz");
    expect(sqli).toContain('suser=c"o]n\\\\s');
    expect(await metric(r, 'rampart_audit_sink_dropped_total', 'tcp')).toBe(0);
    await s.close();
    await cef.close();
  });

  it('TLS (CA verified): every event exactly once; a receiver we cannot verify gets nothing', async () => {
    const r = new Registry();
    const ca = readFileSync(join(pki.dir, 'ca.pem'), 'utf8');
    const s = sinkOf(
      { name: 'tls', type: 'syslog', transport: 'tls', host: '127.0.0.1', port: ports.tls, tls: { ca } },
      mkdtempSync(join(tmpdir(), 'rampart-data-')),
      r,
    );
    const sent = events(500, 'tls');
    for (let i = 0; i < sent.length; i += 25) s.handle(sent.slice(i, i + 25));
    await waitFor(() => received('tls', 'tls-').size >= sent.length);
    expectExactlyOnce(received('tls', 'tls-'), sent);
    await s.close();

    const other = await makePki('rampart-other-ca-');
    const bad = sinkOf(
      {
        name: 'tls-bad',
        type: 'syslog',
        transport: 'tls',
        host: '127.0.0.1',
        port: ports.tls,
        tls: { ca: readFileSync(join(other.dir, 'ca.pem'), 'utf8') },
        retry: { base_ms: 20, max_ms: 50 },
      },
      mkdtempSync(join(tmpdir(), 'rampart-data-')),
      r,
    );
    bad.handle(events(5, 'tlsbad'));
    await waitFor(() => bad.pending === 5);
    await sleep(500);
    expect(await metric(r, 'rampart_audit_sink_retries_total', 'tls-bad')).toBeGreaterThan(1);
    expect(bad.pending).toBe(5);
    expect(received('tls', 'tlsbad-').size).toBe(0);
    await bad.close();
  });

  it('TCP: rsyslogd stopped mid-stream, events wait in the spool, and all arrive once it is back', async () => {
    const r = new Registry();
    const s = sinkOf(
      {
        name: 'tcp-outage',
        type: 'syslog',
        transport: 'tcp',
        host: '127.0.0.1',
        port: ports.tcp,
        retry: { base_ms: 50, max_ms: 300 },
      },
      mkdtempSync(join(tmpdir(), 'rampart-data-')),
      r,
    );
    const first = events(300, 'out');
    s.handle(first);
    await waitFor(() => received('tcp', 'out-').size >= first.length);
    await stopRsyslog();
    const during = events(400, 'out');
    for (let i = 0; i < during.length; i += 40) {
      s.handle(during.slice(i, i + 40));
      await sleep(50);
    }
    await sleep(300);
    expect(s.pending).toBe(during.length);
    expect(await metric(r, 'rampart_audit_sink_retries_total', 'tcp-outage')).toBeGreaterThan(0);
    await startRsyslog();
    await waitFor(() => received('tcp', 'out-').size >= first.length + during.length, 30_000);
    expectExactlyOnce(received('tcp', 'out-'), [...first, ...during]);
    expect(s.pending).toBe(0);
    expect(await metric(r, 'rampart_audit_sink_dropped_total', 'tcp-outage')).toBe(0);
    await s.close();
  }, 60_000);
});
