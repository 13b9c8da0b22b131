/**
 * The one error-code table. Every error a client can see has a stable code here, a status and a title;
 * docs/errors.md is generated from it (`npm run docs`). Add rows, never rename a code: clients match on it.
 */
export const ERRORS = {
  BAD_REQUEST: { status: 400, title: 'Bad request', doc: 'The request could not be parsed.' },
  BAD_PATH: {
    status: 400,
    title: 'Bad request path',
    doc: 'The path holds encoded slashes, backslashes, NUL bytes or dot segments that escape the root.',
  },
  ROUTE_NOT_FOUND: { status: 404, title: 'Not found', doc: 'No route matches the host, path, method and headers.' },
  METHOD_NOT_ALLOWED: {
    status: 405,
    title: 'Method not allowed',
    doc: 'A route matches the path but not the method; `Allow` lists the methods that do.',
  },
  REQUEST_TIMEOUT: {
    status: 408,
    title: 'Request timeout',
    doc: 'The client was too slow to send the request head or body.',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    title: 'Payload too large',
    doc: 'The request body is larger than the route allows (`request-limits.max_body_bytes`).',
  },
  URI_TOO_LONG: {
    status: 414,
    title: 'URI too long',
    doc: 'The request target is longer than `request-limits.max_url_length`.',
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    title: 'Request header fields too large',
    doc: 'Too many headers, or a header or the whole head is larger than `request-limits` allows.',
  },
  UNAUTHENTICATED: {
    status: 401,
    title: 'Unauthorized',
    doc: 'The route needs an identity and the request brought none, or a credential that did not verify. The answer never says which part failed; `WWW-Authenticate` lists the accepted schemes (RFC 6750 for Bearer).',
  },
  INSUFFICIENT_SCOPE: {
    status: 403,
    title: 'Forbidden',
    doc: 'The credential is valid but not for this route or scope (an API key limited to other routes, a token without a required scope).',
  },
  FORBIDDEN: {
    status: 403,
    title: 'Forbidden',
    doc: 'An authorization rule denied the request (a missing role or scope, a failed condition, an object that belongs to someone else, or no rule allowing it: deny by default). The audit log names the rule; the answer does not.',
  },
  OBJECT_NOT_FOUND: {
    status: 404,
    title: 'Not found',
    doc: "An object-level rule (`object-access` with `deny_as: not_found`) denied access to an object that is not the caller's: answered as not found, so that ids cannot be probed for existence.",
  },
  AUTH_LOCKED: {
    status: 429,
    title: 'Too many failed authentications',
    doc: 'Too many failed authentications from this client or for this credential; `Retry-After` says when to try again. The lockout grows with repeated failures.',
  },
  AUTH_UNAVAILABLE: {
    status: 503,
    title: 'Service unavailable',
    doc: 'The identity provider needed to verify the credential is unreachable (no signing key can be had, introspection failed), or the ownership store that object-level authorization asks: the request is refused, not let through. `Retry-After` is set.',
  },
  IP_DENIED: {
    status: 403,
    title: 'Forbidden',
    doc: 'The `ip-filter` policy refused the client address (after the trusted-proxies walk): it is in a `deny` range, outside the `allow` ranges, or on the dynamic deny list (added with an expiry, e.g. by brute-force detection).',
  },
  RATE_LIMITED: {
    status: 429,
    title: 'Too many requests',
    doc: 'A `rate-limit` limit is used up for this key (IP, consumer, credential, header ...). `Retry-After` says when one more request fits; `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers) describe every limit on the route.',
  },
  STATE_UNAVAILABLE: {
    status: 503,
    title: 'Service unavailable',
    doc: 'A policy needs the shared state (rate-limit counters, the dynamic deny list) and cannot reach it (Redis down, the cluster primary not answering), and is configured with `on_state_error: fail-closed`. `Retry-After` is set; it recovers by itself.',
  },
  CORS_ORIGIN_DENIED: {
    status: 403,
    title: 'Origin not allowed',
    doc: 'A CORS preflight came from an origin the `cors` policy does not list.',
  },
  CLIENT_CLOSED_REQUEST: {
    status: 499,
    title: 'Client closed request',
    doc: 'The client closed the connection before the answer was ready (as nginx logs it); seen in logs and metrics only.',
  },
  UPSTREAM_UNAVAILABLE: {
    status: 502,
    title: 'Bad gateway',
    doc: 'The upstream refused or dropped the connection, or sent an invalid response.',
  },
  NO_HEALTHY_UPSTREAM: {
    status: 503,
    title: 'Service unavailable',
    doc: 'Every target of the upstream is ejected or failing its health checks.',
  },
  CIRCUIT_OPEN: {
    status: 503,
    title: 'Service unavailable',
    doc: "The upstream's circuit breaker is open after too many failures; it retries by itself.",
  },
  RESPONSE_TOO_LARGE: {
    status: 502,
    title: 'Bad gateway',
    doc: 'A policy had to read the upstream answer whole and it was larger than the gateway buffers (8 MiB).',
  },
  UPSTREAM_TIMEOUT: {
    status: 504,
    title: 'Gateway timeout',
    doc: 'The upstream did not connect or answer within the configured timeouts.',
  },
  // --- traffic control: quotas, concurrency, load shedding (issue 6) (add rows below this line) ---
  QUOTA_EXCEEDED: {
    status: 429,
    title: 'Quota exceeded',
    doc: 'The `quota` of this consumer (or other key) for the current calendar period is used up. `Retry-After` is the number of seconds until the period ends; `X-Quota-Limit`, `X-Quota-Remaining`, `X-Quota-Reset` and the RateLimit headers describe the quota.',
  },
  CONCURRENCY_LIMITED: {
    status: 429,
    title: 'Too many concurrent requests',
    doc: 'The `concurrency-limit` policy already has its maximum of requests in flight for this key (consumer, route, IP ...). `Retry-After` is set; retry once one of them has finished.',
  },
  CONCURRENCY_SATURATED: {
    status: 503,
    title: 'Service unavailable',
    doc: 'As CONCURRENCY_LIMITED, for a `concurrency-limit` configured with `status: 503` (a limit that protects the upstream rather than rations a client). `Retry-After` is set.',
  },
  OVERLOADED: {
    status: 503,
    title: 'Service unavailable',
    doc: 'The gateway is overloaded (event-loop delay or requests in flight past the `load-shed` thresholds) and sheds the lowest-priority routes first; `critical` routes are never shed. `Retry-After` is set; it recovers by itself when the pressure falls.',
  },
  // --- protocol and smuggling (issue 7) (add rows below this line) ---
  EXPECTATION_FAILED: {
    status: 417,
    title: 'Expectation failed',
    doc: 'The request has an `Expect` header other than `100-continue`, the only expectation the gateway understands.',
  },
  BAD_FRAMING: {
    status: 400,
    title: 'Bad request',
    doc: 'The request framing is ambiguous or invalid (Content-Length with Transfer-Encoding, a duplicate or malformed Content-Length, a transfer coding other than chunked, Transfer-Encoding on HTTP/1.0, bad chunk syntax, line folding, a duplicate Host, HTTP/0.9, HTTP/2 connection-specific headers): refused and the connection closed, so nothing can be smuggled behind it.',
  },
  // --- request validation: OpenAPI and JSON limits (issue 7) (add rows below this line) ---
  REQUEST_INVALID: {
    status: 400,
    title: 'Request does not match the API description',
    doc: 'The `request-validation` policy found the request outside its OpenAPI operation: a path, query, header or cookie parameter, or the body. `errors` lists each problem as `{in, name, pointer, message}`, pointing at the field without repeating the value sent.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    title: 'Unsupported media type',
    doc: "The request body's `Content-Type` is not one the OpenAPI operation accepts (`request-validation`).",
  },
  OPERATION_NOT_FOUND: {
    status: 404,
    title: 'Not found',
    doc: 'The `request-validation` policy (strict mode) found no operation in its OpenAPI document for this path.',
  },
  OPERATION_METHOD_NOT_ALLOWED: {
    status: 405,
    title: 'Method not allowed',
    doc: 'The path is in the OpenAPI document but not with this method (`request-validation`, strict mode); `Allow` lists the methods it has.',
  },
  JSON_LIMIT_EXCEEDED: {
    status: 413,
    title: 'JSON body too large',
    doc: 'A JSON request body goes past a structural limit of `json-limits` (or the defaults `request-validation` applies): total size, nesting depth, keys in an object, items in an array or length of a string. `errors[0].pointer` says where.',
  },
  JSON_UNSAFE: {
    status: 400,
    title: 'Unsafe JSON body',
    doc: 'A JSON request body holds what parsers disagree on or what attacks use: a duplicate key, a `__proto__` or `constructor.prototype` key, a NUL character, invalid UTF-8 or a lone surrogate escape.',
  },
  JSON_MALFORMED: {
    status: 400,
    title: 'Malformed JSON body',
    doc: 'The request says its body is JSON and it is not.',
  },
  // --- attack detection (issue 7) (add rows below this line) ---
  ATTACK_DETECTED: {
    status: 403,
    title: 'Forbidden',
    doc: 'The `threat-detection` policy found an attack in the request (SQL or NoSQL injection, XSS, command injection, path traversal, SSRF, XXE, JNDI, template or LDAP injection, prototype pollution) with an anomaly score at or above its threshold. The answer does not say what matched; the security events (rule id, location, a truncated redacted fragment) do.',
  },
  BODY_NOT_INSPECTED: {
    status: 413,
    title: 'Payload too large',
    doc: 'The request body is longer than `threat-detection.max_inspect_bytes`, and `oversize: block` (the default) refuses what attack detection could not read whole. Raise `max_inspect_bytes` for the route, or set `oversize: pass` to inspect the first bytes only.',
  },
  // --- audit (issue 8) (add rows below this line) ---
  AUDIT_UNAVAILABLE: {
    status: 503,
    title: 'Service unavailable',
    doc: "With `audit.durability: sync`, the request's audit event could not be made durable (disk full, I/O error), so no answer is given for it.",
  },
  // --- response protection (issue 9) (add rows below this line) ---
  RESPONSE_BLOCKED: {
    status: 502,
    title: 'Bad gateway',
    doc: 'The upstream answer would have exposed data the route does not allow (a field the API does not declare or the caller may not see, a secret, personal data) and the `response-filter` or `redact` policy is set to block: the answer is withheld, not sent. The audit log names the rule; the answer does not.',
  },
  UPSTREAM_ERROR: {
    status: 502,
    title: 'Bad gateway',
    doc: 'The upstream failed with an error page or a stack trace; `redact` replaced it so that no internals (versions, paths, code) reach the client. The request id finds the original in the logs.',
  },
  FIELD_ENCRYPTION_UNAVAILABLE: {
    status: 502,
    title: 'Bad gateway',
    doc: 'A response field must be encrypted for the caller (`field-encryption`) and the caller has no usable public key registered, or encryption failed: the field is never sent in clear.',
  },
  SENSITIVE_DATA_REFUSED: {
    status: 422,
    title: 'Sensitive data not accepted',
    doc: 'The request body holds data the route must not forward (a card number, a secret, personal data found by `redact` with `requests: true` and action `block`). The answer names no value.',
  },
  TOKENIZATION_FAILED: {
    status: 503,
    title: 'Service unavailable',
    doc: 'The `tokenize` policy could not store or restore a token (the store or keyring is unreachable): the request is refused rather than forwarded with the clear value.',
  },
  SHUTTING_DOWN: { status: 503, title: 'Service unavailable', doc: 'The gateway is draining before it stops.' },
  INTERNAL: {
    status: 500,
    title: 'Internal server error',
    doc: 'An unexpected error; details are logged, never sent.',
  },
} as const satisfies Record<string, { status: number; title: string; doc: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers (Allow, Retry-After, WWW-Authenticate ...). */
  readonly headers: Record<string, string> | undefined;
  /** Shown to the client only when status < 500. */
  readonly detail: string | undefined;
  /**
   * Extra problem members (RFC 9457 extensions, e.g. `errors` of request validation), added to the body only when
   * status < 500; they never override the standard members. Never put attacker input or secrets here.
   */
  readonly extensions: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    detail?: string,
    opts: { headers?: Record<string, string>; cause?: unknown; extensions?: Record<string, unknown> } = {},
  ) {
    super(detail ?? ERRORS[code].title, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.detail = detail;
    this.headers = opts.headers;
    this.extensions = opts.extensions;
  }
}

/** Anything thrown that is not a GatewayError becomes INTERNAL: its message is logged, never sent. */
export function toGatewayError(err: unknown): GatewayError {
  return err instanceof GatewayError ? err : new GatewayError('INTERNAL', undefined, { cause: err });
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance?: string;
  request_id?: string;
  /** Extensions (GatewayError.extensions), e.g. `errors` of request validation. */
  [extension: string]: unknown;
}

/** RFC 9457 body. `detail` only below 500 so that 5xx never leak internals. */
export function problemOf(err: GatewayError, requestId?: string, instance?: string): Problem {
  const def = ERRORS[err.code];
  const p: Problem = {
    ...(err.extensions && def.status < 500 ? err.extensions : {}),
    type: `https://rampart.dev/errors/${err.code.toLowerCase().replaceAll('_', '-')}`,
    title: def.title,
    status: def.status,
    code: err.code,
  };
  if (err.detail && def.status < 500) p.detail = err.detail;
  if (instance) p.instance = instance;
  if (requestId) p.request_id = requestId;
  return p;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
