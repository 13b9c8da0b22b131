import { describe, expect, it } from 'vitest';
import { freePort } from '../../test/helpers.js';
import { ConfigError, formatIssue, parseConfig } from '../config/load.js';
import { ClusterStateClient, MemoryState, openState, RedisState, StateUnavailableError } from './index.js';

const base = `listeners:
  - host: 127.0.0.1
    port: 8080
routes: []
`;
const load = (extra: string, env: NodeJS.ProcessEnv = {}) =>
  parseConfig(base + extra, 'rampart.yaml', '/tmp', env).config;

describe('state config and openState', () => {
  it('defaults to memory: in-process for one worker, the primary owns it, workers ask the primary', async () => {
    const c = load('');
    expect(c.state).toEqual({ kind: 'memory', key_prefix: 'rampart:', timeout_ms: 500, startup_wait_ms: 5000 });
    const single = await openState(c, 'single');
    const primary = await openState(c, 'primary');
    const worker = await openState(c, 'worker');
    expect(single).toBeInstanceOf(MemoryState);
    expect(primary).toBeInstanceOf(MemoryState);
    expect(worker).toBeInstanceOf(ClusterStateClient);
    await Promise.all([single?.close(), primary?.close(), worker?.close()]);
  });

  it('redis: every worker connects itself, the primary holds nothing; the url is a secret from the environment', async () => {
    const c = load('state: { kind: redis, url: "${env:REDIS_URL}", key_prefix: "gw1:", timeout_ms: 250 }\n', {
      REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect(c.state).toMatchObject({
      kind: 'redis',
      url: 'redis://127.0.0.1:6379',
      key_prefix: 'gw1:',
      timeout_ms: 250,
    });
    expect(await openState(c, 'primary')).toBeNull();
    const w = await openState(c, 'worker');
    expect(w).toBeInstanceOf(RedisState);
    await w?.close();
  });

  it('redis: start-up waits for the connection (logged), bounded by startup_wait_ms, then starts anyway', async () => {
    const logs: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
    const log = {
      info: (obj: object, msg: string) => logs.push({ level: 'info', msg, obj: obj as Record<string, unknown> }),
      warn: (obj: object, msg: string) => logs.push({ level: 'warn', msg, obj: obj as Record<string, unknown> }),
    };
    const up = load('state: { kind: redis, url: "${env:REDIS_URL}" }\n', { REDIS_URL: 'redis://127.0.0.1:6379' });
    const s = await openState(up, 'single', undefined, log);
    expect(logs).toEqual([expect.objectContaining({ level: 'info', msg: 'shared state connected' })]);
    await s?.close();

    // Nothing listens on port 1: the wait ends after startup_wait_ms with a warning, and calls fail meanwhile.
    const port = await freePort();
    const down = load(`state: { kind: redis, url: "\${env:REDIS_URL}", startup_wait_ms: 300 }\n`, {
      REDIS_URL: `redis://127.0.0.1:${port}`,
    });
    logs.length = 0;
    const t0 = Date.now();
    const d = await openState(down, 'worker', undefined, log);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: 'warn', obj: { waited_ms: 300 } });
    expect(logs[0]?.msg).toMatch(/not reachable at start; starting anyway/);
    await expect(d?.get('k')).rejects.toBeInstanceOf(StateUnavailableError);
    await d?.close();
  });

  it('redis without url, and an inline url with a password, are refused', () => {
    const issues = (extra: string) => {
      try {
        load(extra);
        return [];
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        return e.issues.map(formatIssue);
      }
    };
    expect(issues('state: { kind: redis }\n').join('\n')).toMatch(/state\.url.*kind: redis needs url/);
    expect(issues('state: { kind: redis, url: "redis://:pw@10.0.0.1:6379" }\n').join('\n')).toMatch(
      /secret written inline/,
    );
    expect(issues('state: { kind: etcd }\n')).not.toEqual([]);
  });
});
