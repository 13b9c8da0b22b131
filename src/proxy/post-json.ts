import type { Pool } from 'undici';

/**
 * Why an outbound JSON call a policy makes (token introspection, a policy decision point) gave no usable answer.
 * Logged, never sent to the client; the policy fails closed.
 */
export class CallFailure extends Error {
  override readonly name = 'CallFailure';
  constructor(
    readonly reason: 'unreachable' | 'timeout' | 'status' | 'not_json' | 'too_large' | 'malformed',
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface JsonCall {
  pool: Pool;
  /** Path (and query) of the endpoint. */
  path: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  maxBytes: number;
}

/**
 * POSTs once and returns the JSON object of a 200 answer, read within `maxBytes` and `timeoutMs`; anything else
 * (no connection, a timeout, another status, too large, not JSON, not an object) throws a CallFailure.
 */
export async function postJson(c: JsonCall): Promise<Record<string, unknown>> {
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
    throw failure(e, signal, c.timeoutMs);
  }
  const body = res.body;
  // An error answer's body is of no use and may be large: drop it (which frees the connection).
  if (res.statusCode !== 200) {
    body.on('error', () => {});
    body.destroy();
    throw new CallFailure('status', `answered ${res.statusCode}`, res.statusCode);
  }
  if (Number(res.headers['content-length'] ?? 0) > c.maxBytes) {
    body.on('error', () => {});
    body.destroy();
    throw new CallFailure('too_large', `answer larger than ${c.maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      total += (chunk as Buffer).length;
      if (total > c.maxBytes) throw new CallFailure('too_large', `answer larger than ${c.maxBytes} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (e) {
    if (e instanceof CallFailure) throw e;
    throw failure(e, signal, c.timeoutMs);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks, total).toString('utf8'));
  } catch {
    throw new CallFailure('not_json', 'answer is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new CallFailure('malformed', 'answer is not a JSON object');
  return parsed as Record<string, unknown>;
}

function failure(e: unknown, signal: AbortSignal, timeoutMs: number): CallFailure {
  const code = (e as { code?: string } | null)?.code;
  const name = (e as { name?: string } | null)?.name;
  const timedOut =
    signal.aborted ||
    name === 'TimeoutError' ||
    name === 'AbortError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_ABORTED';
  return timedOut
    ? new CallFailure('timeout', `no answer within ${timeoutMs} ms`)
    : new CallFailure('unreachable', (e as Error | null)?.message ?? 'connection failed');
}
