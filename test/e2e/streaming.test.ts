import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, killRampart, type Spawned, spawnRampart, startUpstream, tmpFile } from '../helpers.js';

/**
 * 1 GiB bodies both ways through a real gateway process, generated and counted on the fly (nothing holds
 * 1 GiB), with the gateway's peak RSS read from /proc; and the body limit on chunked and declared lengths.
 */

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const CHUNK = Buffer.alloc(64 * 1024, 'rampart streaming test ');
const LIMIT = 1 * MiB;

/** `total` bytes of CHUNK repeated, produced only as fast as they are read. */
function generate(total: number): Readable {
  let left = total;
  return new Readable({
    highWaterMark: CHUNK.length,
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, CHUNK.length);
      left -= n;
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

/** Peak and current resident set of a process, from /proc (Linux). */
function memoryOf(pid: number): { hwm: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { hwm: kib('VmHWM') * 1024, rss: kib('VmRSS') * 1024 };
}

const mib = (n: number) => `${(n / MiB).toFixed(0)} MiB`;

describe('streaming through the gateway process', () => {
  let up: Awaited<ReturnType<typeof startUpstream>>;
  let sp: Spawned | undefined;
  let base = '';
  let port = 0;
  /** A second listener with a short request_timeout_ms, for bounds that would take 30 s by default. */
  let shortPort = 0;
  /** Per upstream request: path and body bytes it received (updated as they arrive). */
  const seen: { path: string; bytes: number; complete: boolean }[] = [];
  let baseline = 0;

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const entry = { path: req.url ?? '', bytes: 0, complete: false };
      seen.push(entry);
      if (req.url?.startsWith('/download/')) {
        const size = Number(req.url.slice('/download/'.length));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
        generate(size).pipe(res);
        return;
      }
      req.on('data', (c: Buffer) => {
        entry.bytes += c.length;
      });
      req.on('end', () => {
        entry.complete = true;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ bytes: entry.bytes }));
      });
      req.on('error', () => {});
    });
    port = await freePort();
    shortPort = await freePort();
    const file = tmpFile(
      'rampart.yaml',
      `listeners:
  - host: 127.0.0.1
    port: ${port}
  - name: short
    host: 127.0.0.1
    port: ${shortPort}
    request_timeout_ms: 2000
    headers_timeout_ms: 1000
metrics: { enabled: false }
upstreams:
  sink:
    targets: ["${up.url}"]
routes:
  - name: big
    public: true
    paths: ["/upload", "/download/{size}"]
    upstream: sink
    policies:
      request-limits: { max_body_bytes: ${2 * GiB} }
  - name: limited
    public: true
    paths: ["/limited"]
    upstream: sink
    policies:
      request-limits: { max_body_bytes: ${LIMIT} }
`,
    );
    sp = spawnRampart(['start', '--config', file, '--workers', '1']);
    await sp.waitFor((l) => l.msg === 'listening');
    base = `http://127.0.0.1:${port}`;
    // Warm up, then take the resting footprint.
    for (let i = 0; i < 5; i++) await (await request(`${base}/upload`, { method: 'POST', body: 'x' })).body.text();
    baseline = memoryOf(sp.proc.pid ?? 0).rss;
  });
  afterAll(async () => {
    await killRampart(sp);
    await up.close();
  });

  it('streams a 1 GiB chunked request body to the upstream with bounded memory', async () => {
    const t0 = performance.now();
    const r = await request(`${base}/upload`, { method: 'POST', body: generate(GiB) });
    const answer = (await r.body.json()) as { bytes: number };
    const seconds = (performance.now() - t0) / 1000;
    expect(r.statusCode).toBe(200);
    expect(answer.bytes).toBe(GiB);
    expect(seen.at(-1)).toMatchObject({ path: '/upload', bytes: GiB, complete: true });
    const mem = memoryOf(sp?.proc.pid ?? 0);
    console.log(
      `1 GiB upload: ${seconds.toFixed(2)} s (${Math.round(GiB / MiB / seconds)} MiB/s); gateway RSS at rest ` +
        `${mib(baseline)}, peak (VmHWM) ${mib(mem.hwm)}`,
    );
    expect(mem.hwm).toBeLessThan(300 * MiB);
    const access = await sp?.waitFor((l) => l.type === 'access' && l.path === '/upload' && l.bytes_in === GiB);
    expect(access?.status).toBe(200);
  });

  it('streams a 1 GiB response body to the client with bounded memory', async () => {
    const t0 = performance.now();
    const r = await request(`${base}/download/${GiB}`);
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-length']).toBe(String(GiB));
    let bytes = 0;
    for await (const c of r.body) bytes += (c as Buffer).length;
    const seconds = (performance.now() - t0) / 1000;
    expect(bytes).toBe(GiB);
    const mem = memoryOf(sp?.proc.pid ?? 0);
    console.log(
      `1 GiB download: ${seconds.toFixed(2)} s (${Math.round(GiB / MiB / seconds)} MiB/s); gateway peak (VmHWM) ` +
        `${mib(mem.hwm)} (includes the upload test)`,
    );
    expect(mem.hwm).toBeLessThan(300 * MiB);
    const access = await sp?.waitFor((l) => l.type === 'access' && l.path === `/download/${GiB}`);
    expect(access?.bytes_out).toBe(GiB);
  });

  it('streams an upload sent with Expect: 100-continue (as curl does for large bodies)', async () => {
    const size = 8 * MiB;
    const result = await new Promise<{ status: number; body: string; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/upload',
          headers: { expect: '100-continue', 'content-length': String(size) },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, continued }));
        },
      );
      req.on('error', reject);
      req.on('continue', () => {
        continued = true;
        generate(size).pipe(req);
      });
    });
    expect(result).toEqual({ status: 200, body: JSON.stringify({ bytes: size }), continued: true });
  });

  it('answers 413 PAYLOAD_TOO_LARGE to a chunked body over max_body_bytes', async () => {
    const r = await request(`${base}/limited`, { method: 'POST', body: generate(4 * LIMIT) });
    expect(r.statusCode).toBe(413);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(((await r.body.json()) as { code: string }).code).toBe('PAYLOAD_TOO_LARGE');
    // Whatever reached the upstream was cut off at the limit, never completed.
    const last = seen.at(-1);
    if (last?.path === '/limited') {
      expect(last.complete).toBe(false);
      expect(last.bytes).toBeLessThanOrEqual(LIMIT);
    }
    // The gateway still serves.
    const ok = await request(`${base}/limited`, { method: 'POST', body: generate(LIMIT) });
    expect(ok.statusCode).toBe(200);
    expect(await ok.body.json()).toEqual({ bytes: LIMIT });
  });

  it('after a 413 mid-stream, a client that sends its whole body first still gets the answer and keeps the connection', async () => {
    // Like most HTTP/1.1 clients: write the request (32 MiB chunked, far over the limit, more than socket buffers
    // hold), then a second request on the same connection, and only then read.
    const text = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      let got = '';
      const t = setTimeout(() => {
        s.destroy();
        resolve(got);
      }, 10_000);
      s.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if ((got.match(/HTTP\/1\.1 /g) ?? []).length >= 2 && got.endsWith('}')) {
          clearTimeout(t);
          s.destroy();
          resolve(got);
        }
      });
      s.on('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
      s.on('close', () => {
        clearTimeout(t);
        resolve(got);
      });
      s.pause();
      const chunks = 512;
      let i = 0;
      const write = () => {
        while (i < chunks) {
          i++;
          if (!s.write(Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from('\r\n')]))) {
            s.once('drain', write);
            return;
          }
        }
        s.write(`0\r\n\r\nPOST /limited HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 5\r\n\r\nhello`);
        s.resume();
      };
      s.write(`POST /limited HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n`);
      write();
    });
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toContain('"code":"PAYLOAD_TOO_LARGE"');
    expect(text).toMatch(/"\}HTTP\/1\.1 200 OK\r\n[\s\S]*\{"bytes":5\}$/);
  });

  it('after a 413 mid-stream, drains a body that never ends only until request_timeout_ms, then cuts it', async () => {
    const t0 = performance.now();
    const outcome = await new Promise<{ response: string; sent: number; closedAfterMs: number }>((resolve) => {
      let response = '';
      let sent = 0;
      const s = connect(shortPort, '127.0.0.1', () => {
        s.write('POST /limited HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n');
        const frame = Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from('\r\n')]);
        const more = () => {
          while (s.writable) {
            sent += CHUNK.length;
            if (!s.write(frame)) {
              s.once('drain', more);
              return;
            }
          }
        };
        more();
      });
      const giveUp = setTimeout(() => s.destroy(), 15_000);
      s.on('data', (d: Buffer) => {
        response += d.toString('latin1');
      });
      s.on('error', () => {});
      s.on('close', () => {
        clearTimeout(giveUp);
        resolve({ response, sent, closedAfterMs: performance.now() - t0 });
      });
    });
    expect(outcome.response).toMatch(/^HTTP\/1\.1 413 /);
    // Cut by the gateway, not by the 15 s give-up above.
    expect(outcome.closedAfterMs).toBeLessThan(15_000);
    console.log(
      `endless body after 413: ${mib(outcome.sent)} drained, connection cut after ${Math.round(outcome.closedAfterMs)} ms ` +
        '(request_timeout_ms 2000)',
    );
  });

  it('answers 413 to a declared content-length over max_body_bytes before the upstream sees anything', async () => {
    const before = seen.length;
    const response = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => {
        s.write(
          `POST /limited HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/octet-stream\r\n` +
            `content-length: ${10 * LIMIT}\r\n\r\n`,
        );
        s.write(CHUNK);
      });
      let text = '';
      s.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        // Status line and headers are enough; the gateway need not read the rest of the body.
        if (text.includes('\r\n\r\n') && text.includes('PAYLOAD_TOO_LARGE')) {
          s.destroy();
          resolve(text);
        }
      });
      s.on('error', reject);
      s.on('close', () => resolve(text));
    });
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response).toContain('"code":"PAYLOAD_TOO_LARGE"');
    expect(seen.length).toBe(before);
  });
});
