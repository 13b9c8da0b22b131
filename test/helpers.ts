import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/config/load.js';
import type { ServiceRegistry } from '../src/core/shared.js';
import { createLogger } from '../src/observability/logger.js';
import { Gateway } from '../src/server.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A real upstream on 127.0.0.1:random. */
export async function startUpstream(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; port: number; server: Server; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Collects log lines (JSON) written by the gateway's logger. */
export class LogSink extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const l of chunk.toString().split('\n'))
      if (l.trim()) this.lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  }
}

/**
 * Starts a Gateway in this process on a YAML config (listener port forced to 0 unless given).
 * Real sockets; only the process boundary is skipped. Use spawnGateway for signals and workers.
 */
export async function startGateway(
  yaml: string,
  env: NodeJS.ProcessEnv = {},
  /** Store, keyring and shared objects for policies (e.g. a real SQLite store); an empty registry by default. */
  opts: {
    services?: ServiceRegistry;
    /** Runs on the Gateway before the config is applied (e.g. mount the built-in authorization server). */
    setup?: (gw: Gateway) => void;
  } = {},
): Promise<{
  url: string;
  port: number;
  gw: Gateway;
  logs: LogSink;
  reload(yaml: string): void;
  close(): Promise<void>;
}> {
  const logs = new LogSink();
  const logger = createLogger('info', logs);
  const loaded = parseConfig(yaml, 'test.yaml', ROOT, { ...process.env, ...env });
  const gw = new Gateway({ logger, ...(opts.services && { services: opts.services }) });
  opts.setup?.(gw);
  gw.apply(loaded);
  const [bound] = await gw.listen(loaded.config.listeners);
  const port = bound?.port ?? 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    gw,
    logs,
    reload: (y: string) => {
      gw.apply(parseConfig(y, 'test.yaml', ROOT, { ...process.env, ...env }));
    },
    close: () => gw.shutdown(1000),
  };
}

export function tmpFile(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-test-'));
  const f = join(dir, name);
  writeFileSync(f, content);
  return f;
}

export interface Spawned {
  proc: ChildProcess;
  /** Parsed JSON log lines from stdout; other lines as { raw }. */
  logs: Record<string, unknown>[];
  stderr: string[];
  /** Resolves with the first log line matching, waiting up to timeoutMs. */
  waitFor(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Runs the built CLI (`dist/src/cli/main.js`) as a real process. Requires `npm run build` first. */
export function spawnRampart(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const proc = spawn(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] =
    [];
  let buf = '';
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i !== -1) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
      if (!line.trim()) continue;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        rec = { raw: line };
      }
      logs.push(rec);
      for (const w of [...waiters]) {
        if (w.pred(rec)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(rec);
        }
      }
    }
  });
  proc.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    logs,
    stderr,
    exited,
    waitFor(pred, timeoutMs = 15_000) {
      const found = logs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`timed out waiting for log line; stderr: ${stderr.join('')}`)),
          timeoutMs,
        );
        waiters.push({
          pred,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
  };
}

/** A free port on 127.0.0.1 (for configs that must name one, e.g. spawned processes). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Waits for a log line matching pred that is logged after this call (lines already seen are ignored). */
export function waitForNew(
  sp: Spawned,
  pred: (l: Record<string, unknown>) => boolean,
  timeoutMs?: number,
): Promise<Record<string, unknown>> {
  const before = new Set(sp.logs);
  return sp.waitFor((l) => !before.has(l) && pred(l), timeoutMs);
}

/** Cleanup for spawned gateways: SIGKILL if it is still running, then wait for the exit. */
export async function killRampart(sp: Spawned | undefined): Promise<void> {
  if (!sp) return;
  if (sp.proc.exitCode === null && sp.proc.signalCode === null) sp.proc.kill('SIGKILL');
  await sp.exited;
}

export interface SentResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request over its own connection (no agent), so each test sees exactly what it sent. */
export function send(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<SentResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}
