import { Pool } from 'undici';
import type { PolicyServices } from '../../core/policy.js';
import { CallFailure, type JsonCall, postJson } from '../../proxy/post-json.js';

/** Why an introspection call gave no usable answer; logged (never sent), and the request gets 503. */
export { CallFailure as IntrospectionFailure } from '../../proxy/post-json.js';

/** One keep-alive pool per endpoint origin for the whole process: reloads and routes reuse warm connections. */
export function poolFor(services: PolicyServices, origin: string): Pool {
  return services.shared(`introspection:pool:${origin}`, () => new Pool(origin, { connections: 16 }));
}

export type IntrospectionCall = JsonCall;

/**
 * POSTs one introspection request (RFC 7662 2.1) and returns the parsed JSON answer, or throws a CallFailure:
 * anything but a 200 with a JSON object holding a boolean `active` is a failure.
 */
export async function introspect(c: IntrospectionCall): Promise<Record<string, unknown>> {
  const answer = await postJson(c);
  if (typeof answer.active !== 'boolean') throw new CallFailure('malformed', 'answer has no boolean "active"');
  return answer;
}
