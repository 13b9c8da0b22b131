import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../test/helpers.js';
import { compileState } from '../../test/state/compile.js';
import { answer, ClusterStateClient, type IpcChannel } from './cluster.js';
import { StateUnavailableError } from './errors.js';
import { MemoryState } from './memory.js';
import { runStateSuite } from './state.suite.js';

/** A worker's IPC channel wired to a primary's MemoryState in this process (messages cross a macrotask, like IPC). */
function channelTo(state: MemoryState, opts: { answer?: boolean } = {}): IpcChannel & { sent: number } {
  const ee = new EventEmitter();
  const ch = {
    sent: 0,
    connected: true,
    send(msg: unknown) {
      ch.sent++;
      const m = structuredClone(msg) as { calls: Parameters<typeof answer>[1] };
      if (opts.answer !== false)
        setImmediate(() =>
          ee.emit('message', structuredClone({ type: 'rampart:state:r', replies: answer(state, m.calls) })),
        );
      return true;
    },
    on: (e: 'message', fn: (m: unknown) => void) => ee.on(e, fn),
    off: (e: 'message', fn: (m: unknown) => void) => ee.off(e, fn),
  };
  return ch;
}

runStateSuite('cluster (in-process channel)', async () => new ClusterStateClient(channelTo(new MemoryState())));

describe('ClusterStateClient', () => {
  it('batches the calls of one tick into one message', async () => {
    const ch = channelTo(new MemoryState());
    const c = new ClusterStateClient(ch);
    const rs = await Promise.all(
      Array.from({ length: 500 }, () => c.consume({ key: 'k', algorithm: 'gcra', limit: 50, windowMs: 60_000 })),
    );
    expect(rs.filter((r) => r.allowed)).toHaveLength(50);
    expect(ch.sent).toBe(1);
    await c.close();
  });

  it('rejects with StateUnavailableError when the primary does not answer in time', async () => {
    const c = new ClusterStateClient(channelTo(new MemoryState(), { answer: false }), { timeoutMs: 100 });
    const t0 = Date.now();
    const e = await c.get('k').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StateUnavailableError);
    expect((e as Error).message).toMatch(/did not answer within 100 ms/);
    expect(Date.now() - t0).toBeLessThan(500);
    await c.close();
  });

  it('rejects at once without an IPC channel (not a worker), and after close', async () => {
    const ee = new EventEmitter();
    const c = new ClusterStateClient({ on: (e, f) => ee.on(e, f), off: (e, f) => ee.off(e, f) });
    await expect(c.get('k')).rejects.toBeInstanceOf(StateUnavailableError);
    const d = new ClusterStateClient(channelTo(new MemoryState()));
    await d.close();
    await expect(d.get('k')).rejects.toBeInstanceOf(StateUnavailableError);
  });

  it('passes a bad request back as an error', async () => {
    const c = new ClusterStateClient(channelTo(new MemoryState()));
    await expect(c.consume({ key: 'k', algorithm: 'gcra', limit: 0, windowMs: 1 })).rejects.toThrow(/invalid consume/);
    await c.close();
  });
});

describe('cluster: 3 real workers (node:cluster) on one key', () => {
  let dir: string;
  beforeAll(() => {
    dir = compileState();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const algorithm of ['gcra', 'sliding-window', 'increment']) {
    it(`${algorithm}: admits exactly N of 3 x 1000`, async () => {
      const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'test/state/hammer.mjs')], {
        env: {
          ...process.env,
          STATE_DIR: dir,
          MODE: 'cluster',
          WORKERS: '3',
          PER_WORKER: '1000',
          LIMIT: '500',
          ALGORITHM: algorithm,
          OP: algorithm === 'increment' ? 'increment' : 'consume',
        },
        timeout: 30_000,
      });
      expect(JSON.parse(stdout.trim().split('\n').pop() ?? '{}')).toEqual({ admitted: 500, errors: 0, workers: 3 });
    });
  }
});
