import { hostname } from 'node:os';
import { Agent, request } from 'undici';
import type { AuditEvent } from '../types.js';
import { bulkItem, hecEvent } from './format.js';
import type { HttpSinkConfig } from './schema.js';
import { RetryableError, TooLargeError, type Transport } from './transport.js';

const HOST = hostname();

/**
 * Batches to Splunk HEC or the Elasticsearch _bulk API over undici. 2xx delivers; 5xx, 429, timeouts and connection
 * errors are retried by the sink (backoff with jitter); 400 refuses the batch for good (counted as rejected); 413
 * makes the sink send it again in smaller batches; other 4xx (a wrong token, a missing index) are retried too, at the longest backoff, because dropping audit events over a
 * fixable configuration error would be worse than waiting (logged as an error on every attempt).
 */
export class HttpTransport implements Transport {
  private readonly agent: Agent;
  private readonly headers: Record<string, string>;
  private readonly index: string;

  constructor(private readonly c: HttpSinkConfig) {
    this.agent = new Agent({
      connect: {
        timeout: Math.min(c.timeout_ms, 10_000),
        ca: c.tls.ca,
        cert: c.tls.cert,
        key: c.tls.key,
        rejectUnauthorized: c.tls.verify,
      },
      headersTimeout: c.timeout_ms,
      bodyTimeout: c.timeout_ms,
      connections: 2,
    });
    this.index = c.index ?? 'rampart-audit';
    this.headers =
      c.format === 'splunk_hec' ? { 'content-type': 'application/json' } : { 'content-type': 'application/x-ndjson' };
    if (c.token) this.headers.authorization = c.format === 'splunk_hec' ? `Splunk ${c.token}` : `ApiKey ${c.token}`;
  }

  private body(records: readonly string[]): string {
    let out = '';
    if (this.c.format === 'splunk_hec') {
      const o = { source: this.c.source, sourcetype: this.c.sourcetype, index: this.c.index, host: HOST };
      for (const r of records) out += hecEvent(r, JSON.parse(r) as AuditEvent, o);
    } else {
      for (const r of records) out += bulkItem(r, this.index);
    }
    return out;
  }

  async send(records: readonly string[]): Promise<{ rejected: number }> {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(this.c.url, {
        method: 'POST',
        headers: this.headers,
        body: this.body(records),
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.c.timeout_ms),
      });
    } catch (err) {
      throw new RetryableError(`http: ${(err as NodeJS.ErrnoException).code ?? (err as Error).name}`);
    }
    // Bounded read: an answer is small JSON; a huge one is cut (and then not parsed).
    const text = await readCapped(res.body, 4 * 1024 * 1024);
    const status = res.statusCode;
    if (status === 400) return { rejected: records.length };
    if (status === 413) throw new TooLargeError(`http status 413 for ${records.length} events`, { cause: status });
    if (status < 200 || status >= 300) throw new RetryableError(`http status ${status}`, { cause: status });
    if (this.c.format === 'elasticsearch_bulk') return this.bulkResult(text, records.length);
    return { rejected: 0 };
  }

  /**
   * _bulk answers 200 even when items failed: `errors: true` and a status per item. 429 and 5xx items mean the whole
   * batch is sent again (the _id makes the items that succeeded idempotent); other item errors (mapping) are final.
   */
  private bulkResult(text: string | null, n: number): { rejected: number } {
    if (text === null) throw new RetryableError('elasticsearch: answer too large to check');
    let j: { errors?: boolean; items?: Record<string, { status?: number }>[] };
    try {
      j = JSON.parse(text);
    } catch {
      throw new RetryableError('elasticsearch: answer is not JSON');
    }
    if (!j.errors) return { rejected: 0 };
    if (!Array.isArray(j.items) || j.items.length !== n) throw new RetryableError('elasticsearch: item count mismatch');
    let rejected = 0;
    for (const it of j.items) {
      const st = Object.values(it)[0]?.status ?? 500;
      if (st === 429 || st >= 500) throw new RetryableError(`elasticsearch item status ${st}`);
      if (st >= 300) rejected++;
    }
    return { rejected };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

async function readCapped(body: AsyncIterable<Buffer>, max: number): Promise<string | null> {
  const parts: Buffer[] = [];
  let n = 0;
  let over = false;
  for await (const chunk of body) {
    n += chunk.length;
    if (n > max) over = true;
    else parts.push(chunk);
  }
  return over ? null : Buffer.concat(parts).toString('utf8');
}
