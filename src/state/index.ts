import type { Config } from '../config/schema.js';
import { ClusterStateClient } from './cluster.js';
import { MemoryState } from './memory.js';
import { RedisState } from './redis.js';
import type { SharedState } from './types.js';

export { ClusterStateClient, serveClusterState } from './cluster.js';
export { StateUnavailableError } from './errors.js';
export { MemoryState } from './memory.js';
export { RedisState } from './redis.js';
export type { Algorithm, ConsumeRequest, ConsumeResult, SharedState } from './types.js';

/**
 * The shared state of this process, by role: a single process keeps it in memory; the cluster primary owns a
 * MemoryState that its workers reach over IPC (or nothing, with Redis); every worker of a Redis setup connects to
 * Redis itself.
 */
export async function openState(
  config: Config,
  role: 'single' | 'primary' | 'worker',
  onError?: (e: Error) => void,
): Promise<SharedState | null> {
  const c = config.state;
  if (c.kind === 'redis') {
    if (role === 'primary') return null;
    // Connects in the background and reconnects by itself; until then calls fail with StateUnavailableError.
    return new RedisState({ url: c.url, keyPrefix: c.key_prefix, timeoutMs: c.timeout_ms, onError });
  }
  if (role === 'worker') return new ClusterStateClient(undefined, { timeoutMs: c.timeout_ms });
  return new MemoryState();
}
