/** The shared-state backend did not answer in time or is unreachable (Redis down, the cluster primary gone). */
export class StateUnavailableError extends Error {
  override readonly name = 'StateUnavailableError';
  constructor(
    /** "cluster" or "redis". */
    readonly backend: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`shared state (${backend}) unavailable: ${message}`, options);
  }
}
