import { Pool } from 'undici';
import type { PolicyServices } from '../../core/policy.js';

/** Why an introspection call gave no usable answer; logged (never sent), and the request gets 503. */
export class IntrospectionFailure extends Error {
  override readonly name = 'IntrospectionFailure';
  constructor(
    readonly reason: 'unreachable' | 'timeout' | 'status' | 'not_json' | 'too_large' | 'malformed',
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** One keep-alive pool per endpoint origin for the whole process: reloads and routes reuse warm connections. */
export function poolFor(services: PolicyServices, origin: string): Pool {
  return services.shared(`introspection:pool:${origin}`, () => new Pool(origin, { connections: 16 }));
}

export interface IntrospectionCall {
  pool: Pool;
  /** Path and query of the endpoint. */
  path: string;
  headers: Record<string, string>;
  /** Form-encoded body (token, hint, and the client credentials for client_secret_post). */
  body: string;
  timeoutMs: number;
  maxBytes: number;
}

/**
 * POSTs one introspection request (RFC 7662 2.1) and returns the parsed JSON answer, or throws an
 * IntrospectionFailure: anything but a 200 with a JSON object holding a boolean `active` is a failure.
 */
export async function introspect(c: IntrospectionCall): Promise<Record<string, unknown>> {
  const signal = AbortSignal.timeout(c.timeoutMs);
  let res: Awaited<ReturnType<Pool['request']>>;
  try {
    res = await c.pool.request({
      method: 'POST',
      path: c.path,
      headers: c.headers,
      body: c.body,
      signal,
      headersTimeout: c.timeoutMs,
      bodyTimeout: c.timeoutMs,
    });
  } catch (e) {
    throw signal.aborted || isTimeout(e)
      ? new IntrospectionFailure('timeout', `no answer within ${c.timeoutMs} ms`)
      : new IntrospectionFailure('unreachable', (e as Error).message);
  }
  const body = res.body;
  // An error answer's body is of no use, and may be large: drop it (which frees the connection).
  if (res.statusCode !== 200) {
    body.on('error', () => {});
    body.destroy();
    throw new IntrospectionFailure('status', `answered ${res.statusCode}`, res.statusCode);
  }
  if (Number(res.headers['content-length'] ?? 0) > c.maxBytes) {
    body.on('error', () => {});
    body.destroy();
    throw new IntrospectionFailure('too_large', `answer larger than ${c.maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      total += (chunk as Buffer).length;
      if (total > c.maxBytes) throw new IntrospectionFailure('too_large', `answer larger than ${c.maxBytes} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (e) {
    if (e instanceof IntrospectionFailure) throw e;
    throw signal.aborted || isTimeout(e)
      ? new IntrospectionFailure('timeout', `no answer within ${c.timeoutMs} ms`)
      : new IntrospectionFailure('unreachable', (e as Error).message);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks, total).toString('utf8'));
  } catch {
    throw new IntrospectionFailure('not_json', 'answer is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new IntrospectionFailure('malformed', 'answer is not a JSON object');
  }
  if (typeof (parsed as { active?: unknown }).active !== 'boolean') {
    throw new IntrospectionFailure('malformed', 'answer has no boolean "active"');
  }
  return parsed as Record<string, unknown>;
}

function isTimeout(e: unknown): boolean {
  const code = (e as { code?: string; name?: string } | null)?.code;
  const name = (e as { name?: string } | null)?.name;
  return (
    name === 'TimeoutError' ||
    name === 'AbortError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_ABORTED'
  );
}
