import { describe, expect, it } from 'vitest';
import { ConfigError, formatIssue, parseConfig } from '../config/load.js';
import { ClusterStateClient, MemoryState, openState, RedisState } from './index.js';

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
    expect(c.state).toEqual({ kind: 'memory', key_prefix: 'rampart:', timeout_ms: 500 });
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
