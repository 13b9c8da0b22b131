/**
 * A way to deliver a batch of spooled event records (JSON lines). `send` resolves once the receiver accepted the
 * batch, with the number of events it refused for good (counted, not retried); it throws when the batch must be
 * sent again (connection refused, timeout, 5xx, 429), and the sink retries it with backoff.
 */
export interface Transport {
  send(records: readonly string[]): Promise<{ rejected: number }>;
  close(): Promise<void>;
}

/** A failure the sink retries; `message` is safe to log (no secret, no event content). */
export class RetryableError extends Error {}

/**
 * The receiver refused the batch as too large (HTTP 413): the sink sends it again in halves, at once; one event alone
 * refused so is refused for good (counted as rejected), instead of blocking every later event behind it.
 */
export class TooLargeError extends RetryableError {}
