import { Counter, register } from 'prom-client';

const LOG_INTERVAL_MS = 10_000;

/** Shared-state failures by policy and configured mode (prom-client's global registry, aggregated across workers). */
export function stateErrorsCounter(): Counter<'policy' | 'mode'> {
  const name = 'rampart_state_errors_total';
  return (
    (register.getSingleMetric(name) as Counter<'policy' | 'mode'> | undefined) ??
    new Counter({
      name,
      help: 'Shared-state (counters, deny list) failures seen by policies, by policy and on_state_error mode',
      labelNames: ['policy', 'mode'] as const,
    })
  );
}

interface WarnLogger {
  warn(obj: object, msg: string): void;
}

/**
 * How a policy reports that the shared state failed it: counted in rampart_state_errors_total on every failure and
 * logged at most every 10 s (Redis down means a failure per request), with what it was doing and what it does now.
 */
export function stateFailureReporter(
  logger: WarnLogger,
  ctx: { policy: string; scope: string; backend: string | undefined; mode: string },
): (err: unknown, what: string) => void {
  const counter = stateErrorsCounter();
  let last = 0;
  return (err, what) => {
    counter.inc({ policy: ctx.policy, mode: ctx.mode });
    const now = Date.now();
    if (now - last < LOG_INTERVAL_MS) return;
    last = now;
    logger.warn({ err, ...ctx }, `shared state unavailable (${what})`);
  };
}
