import type { Config } from '../config/schema.js';
import { ClusterStateClient } from './cluster.js';
import { MemoryState } from './memory.js';
import { RedisState } from './redis.js';
import type { SharedState } from './types.js';

export { ClusterStateClient, serveClusterState } from './cluster.js';
export { StateUnavailableError } from './errors.js';
export { MemoryState } from './memory.js';
export { RedisState } from './redis.js';
export type {
  Algorithm,
  ConsumeRequest,
  ConsumeResult,
  CounterSpec,
  IncrementResult,
  SharedState,
} from './types.js';

/** What openState logs through (pino's Logger fits). */
export interface StateLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * The shared state of this process, by role: a single process keeps it in memory; the cluster primary owns a
 * MemoryState that its workers reach over IPC (or nothing, with Redis); every worker of a Redis setup connects to
 * Redis itself. With Redis, start-up waits up to `startup_wait_ms` for the connection (logged either way) and then
 * goes on regardless: policies apply their on_state_error while Redis is down, and recover once it answers.
 */
export async function openState(
  config: Config,
  role: 'single' | 'primary' | 'worker',
  onError?: (e: Error) => void,
  log?: StateLog,
): Promise<SharedState | null> {
  const c = config.state;
  if (c.kind === 'redis') {
    if (role === 'primary') return null;
    // Connects in the background and reconnects by itself; until then calls fail with StateUnavailableError.
    const state = new RedisState({ url: c.url, keyPrefix: c.key_prefix, timeoutMs: c.timeout_ms, onError });
    const wait = c.startup_wait_ms ?? 0;
    if (wait > 0) {
      const t0 = Date.now();
      try {
        await state.ready(wait);
        log?.info({ backend: 'redis', ms: Date.now() - t0 }, 'shared state connected');
      } catch (e) {
        log?.warn(
          { backend: 'redis', waited_ms: wait, err: { message: (e as Error).message } },
          'shared state (redis) not reachable at start; starting anyway: policies apply their on_state_error until it is, and recover by themselves',
        );
      }
    }
    return state;
  }
  if (role === 'worker') return new ClusterStateClient(undefined, { timeoutMs: c.timeout_ms });
  return new MemoryState();
}
