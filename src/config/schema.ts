import { z } from 'zod';
import { auditSchema } from '../audit/schema.js';
import { authServerIssues, authServerSchema } from '../authserver/schema.js';
import { cidrErrors } from '../core/client-ip.js';
import { objectAccessIssues } from '../policies/object-access/route-check.js';
import { POLICY_SCHEMAS } from '../policies/schemas.js';
import { bool, headerName, httpMethod, int, ratio, secret } from './types.js';

/**
 * The one schema of rampart.yaml. It gives the TypeScript type (`Config`) and the JSON Schema
 * (`rampart schema`). Durations are milliseconds (`*_ms`), sizes bytes.
 */

/** `policies:` block: one optional key per registered policy, each with `enabled`. */
function policiesSchema() {
  const shape: Record<string, z.ZodType> = {};
  for (const p of POLICY_SCHEMAS) {
    // `{ enabled: false }` alone switches an inherited policy off without repeating its required fields.
    shape[p.name] = z
      .union([
        p.schema.safeExtend({ enabled: bool().default(true).describe('false turns an inherited policy off here.') }),
        z.object({ enabled: z.union([z.literal(false), z.literal('false').transform(() => false as const)]) }).strict(),
      ])
      .optional()
      .describe(p.description);
  }
  // Typed as a map: each policy validates its own block; the pipeline looks blocks up by name.
  return z.object(shape).strict().default({}) as unknown as z.ZodDefault<z.ZodType<PoliciesConfig>>;
}
export type PoliciesConfig = Record<string, (Record<string, unknown> & { enabled: boolean }) | undefined>;
export const policies = policiesSchema();

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'names are letters, digits, ".", "_" and "-"');

const host = z.string().min(1).describe('Address to bind, e.g. 127.0.0.1, 0.0.0.0 or ::');

/** A file path: relative paths are read from the config file's folder. Paths, not ${file:} contents, so they can be watched. */
const filePath = (what: string) => z.string().min(1).describe(`${what} (path; relative to the config file's folder).`);

const tlsCertificate = z
  .object({
    cert_file: filePath('PEM certificate, the leaf first then its intermediates'),
    key_file: filePath('PEM private key of the certificate, unencrypted'),
    hosts: z
      .array(
        z
          .string()
          .regex(/^(\*\.)?[a-z0-9.-]+$/i, 'a host name or *.domain')
          .transform((n) => n.toLowerCase()),
      )
      .optional()
      .describe("SNI names this certificate answers; default: the certificate's DNS names."),
    ocsp_staple_file: filePath('DER OCSP response for this certificate, kept fresh by an external tool')
      .optional()
      .describe('DER OCSP response stapled to handshakes; reloaded on change, never fetched by rampart.'),
  })
  .strict();

const listenerTls = z
  .object({
    certificates: z
      .array(tlsCertificate)
      .min(1)
      .describe('The first is the default (no SNI, or a name no certificate claims).'),
    min_version: z
      .enum(['TLSv1.2', 'TLSv1.3'])
      .default('TLSv1.2')
      .describe('TLS 1.3 is preferred when both sides have it.'),
    ciphers: z
      .string()
      .min(1)
      .optional()
      .describe(
        'OpenSSL cipher list. Default: forward-secret AEAD suites only (the TLS 1.3 suites, then ECDHE with AES-GCM or ChaCha20-Poly1305).',
      ),
    http2: bool().default(true).describe('Offer HTTP/2 by ALPN next to HTTP/1.1.'),
    client_auth: z
      .object({
        mode: z.enum(['request', 'require']).describe('require refuses clients without a valid certificate.'),
        ca_file: filePath('PEM CA bundle that client certificates must chain to'),
        crl_file: filePath('PEM or DER certificate revocation list').optional(),
      })
      .strict()
      .optional()
      .describe('Client certificates (mTLS); a verified one is on the request context for identity policies.'),
  })
  .strict();

const listener = z
  .object({
    name: name.default('public'),
    host: host.default('127.0.0.1'),
    port: int(0, 65535),
    headers_timeout_ms: int(1).default(10_000).describe('Time to receive the request head (408 after).'),
    request_timeout_ms: int(1).default(30_000).describe('Time to receive the whole request (408 after).'),
    keep_alive_timeout_ms: int(1).default(5_000),
    max_header_bytes: int(1024, 1_048_576).default(16_384).describe('Largest request head (431 above it).'),
    max_connections_per_ip: int(1)
      .default(256)
      .describe('Open TCP connections one peer address may hold; a connection past it is closed at once.'),
    tls: listenerTls.optional().describe('Serve HTTPS (and HTTP/2) on this listener; files are reloaded on change.'),
    redirect_to_https: z
      .object({ port: int(1, 65535).default(443).describe('The HTTPS port to send clients to.') })
      .strict()
      .optional()
      .describe('A plain listener that only answers 308 to the same host and path over https.'),
  })
  .strict();

const targetUrl = z
  .string()
  .describe('http(s)://host:port')
  .superRefine((u, ctx) => {
    // One check, so a non-URL gets one clear message (and never reaches new URL() unparsed).
    const p = URL.canParse(u) ? new URL(u) : undefined;
    if (!p?.host) ctx.addIssue({ code: 'custom', message: 'not a URL: write http://host:port or https://host' });
    else if (!/^https?:$/.test(p.protocol))
      ctx.addIssue({ code: 'custom', message: 'only http:// and https:// targets' });
    else if ((p.pathname !== '/' && p.pathname !== '') || p.search || p.hash)
      ctx.addIssue({
        code: 'custom',
        message: 'a target is an origin (scheme://host:port); put paths on the route (rewrite)',
      });
  });

const target = z.union([
  targetUrl.transform((url) => ({ url, weight: 1 })),
  z.object({ url: targetUrl, weight: int(1, 1000).default(1) }).strict(),
]);

const timeoutFields = {
  connect_ms: int(1).describe('TCP (and TLS) connect.'),
  header_ms: int(1).describe('From request sent to response headers received.'),
  body_ms: int(1).describe('Longest silence while streaming either body.'),
  total_ms: int(1).describe('Whole upstream exchange up to response headers, retries included.'),
};

const timeouts = z
  .object({
    connect_ms: timeoutFields.connect_ms.default(5_000),
    header_ms: timeoutFields.header_ms.default(30_000),
    body_ms: timeoutFields.body_ms.default(30_000),
    total_ms: timeoutFields.total_ms.default(60_000),
  })
  .strict();

/** A route overrides the upstream's timeouts one by one: no defaults here, or they would mask the upstream's. */
// connect_ms belongs to the connection pool, which routes share: it is set on the upstream only.
const routeTimeouts = z.object(timeoutFields).omit({ connect_ms: true }).partial().strict();

export const upstream = z
  .object({
    targets: z.array(target).min(1),
    balancer: z.enum(['round-robin', 'weighted', 'least-connections', 'consistent-hash']).default('round-robin'),
    hash_on: z
      .string()
      .regex(/^(ip|path|header:[A-Za-z0-9-]+|cookie:[A-Za-z0-9_.-]+)$/, 'one of ip, path, header:NAME, cookie:NAME')
      .default('ip')
      .describe('Key for consistent-hash.'),
    tls: z
      .object({
        ca: z.string().optional().describe('PEM CA bundle (use ${file:...}).'),
        cert: z.string().optional().describe('PEM client certificate for mTLS.'),
        key: secret().optional().describe('PEM client key for mTLS (a secret).'),
        servername: z
          .string()
          .optional()
          .describe("SNI name sent, and the name the certificate must match (default: the target's host)."),
        verify: bool()
          .default(true)
          .describe('Verify the upstream certificate. Turning it off is refused in production.'),
        min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('Lowest TLS version offered.'),
      })
      .strict()
      .default({ verify: true, min_version: 'TLSv1.2' }),
    pool: z
      .object({
        connections: int(1, 10_000).default(128).describe('Most connections per target.'),
        keep_alive_ms: int(1).default(4_000),
        pipelining: int(1, 64).default(1),
      })
      .strict()
      .default({ connections: 128, keep_alive_ms: 4_000, pipelining: 1 }),
    timeouts: timeouts.default({ connect_ms: 5_000, header_ms: 30_000, body_ms: 30_000, total_ms: 60_000 }),
    retries: z
      .object({
        attempts: int(0, 10).default(2).describe('Extra tries on connection failures, idempotent methods only.'),
        budget_ratio: ratio().default(0.2).describe('Retries may add at most this fraction to the traffic.'),
        min_per_second: int(0).default(10),
      })
      .strict()
      .default({ attempts: 2, budget_ratio: 0.2, min_per_second: 10 }),
    health: z
      .object({
        passive: z
          .object({
            enabled: bool().default(true),
            max_failures: int(1).default(5).describe('Failures in a row before a target is ejected.'),
            eject_ms: int(1).default(10_000),
            max_eject_ms: int(1).default(300_000),
            failure_statuses: z.array(int(500, 599)).default([502, 503, 504]),
          })
          .strict()
          .default({
            enabled: true,
            max_failures: 5,
            eject_ms: 10_000,
            max_eject_ms: 300_000,
            failure_statuses: [502, 503, 504],
          }),
        active: z
          .object({
            path: z.string().startsWith('/').default('/health'),
            interval_ms: int(100).default(5_000),
            timeout_ms: int(1).default(2_000),
            healthy_threshold: int(1).default(2),
            unhealthy_threshold: int(1).default(3),
            expected_statuses: z.tuple([int(100, 599), int(100, 599)]).default([200, 399]),
          })
          .strict()
          .optional()
          .describe('Periodic probes; off unless set.'),
      })
      .strict()
      .default({
        passive: {
          enabled: true,
          max_failures: 5,
          eject_ms: 10_000,
          max_eject_ms: 300_000,
          failure_statuses: [502, 503, 504],
        },
      }),
    circuit_breaker: z
      .object({
        window_ms: int(100).default(10_000),
        min_requests: int(1).default(20),
        failure_ratio: ratio().default(0.5),
        open_ms: int(1).default(30_000),
        half_open_requests: int(1).default(3),
      })
      .strict()
      .optional()
      .describe('Fails fast with 503 while the upstream keeps failing; off unless set.'),
    policies,
  })
  .strict();

const pathPattern = z
  .string()
  .startsWith('/', 'paths start with "/"')
  .refine(
    (p) => !p.includes('*') || (p.endsWith('*') && p.indexOf('*') === p.length - 1),
    'a wildcard "*" must be last',
  )
  .refine((p) => !/[?#]/.test(p), 'no query or fragment in a route path');

export const route = z
  .object({
    name,
    hosts: z.array(z.string().regex(/^(\*\.)?[a-z0-9.-]+(:\d+)?$/i, 'a host or *.domain')).optional(),
    paths: z.array(pathPattern).min(1).describe('"/users/{id}" params, "/static/*" wildcard (last).'),
    methods: z.array(httpMethod).optional().describe('Any method when absent.'),
    headers: z
      .record(headerName, z.string())
      .optional()
      .describe('Required request headers: exact value, or "~regex".'),
    upstream: name.optional().describe('Name of an upstream; a route without one answers from its policies only.'),
    strip_prefix: z.string().startsWith('/').optional(),
    rewrite: z.string().startsWith('/').optional().describe('Upstream path template with {param} and {*}.'),
    preserve_host: bool().default(false).describe('Send the client Host header upstream instead of the target host.'),
    public: bool()
      .default(false)
      .describe(
        'Serve requests with no identity. Deny by default: a route that is not public answers 401 unless an identity policy (api-key, jwt, introspection, mtls-identity) recognises the caller.',
      ),
    websocket: bool().default(false).describe('Allow WebSocket upgrades on this route.'),
    priority: z
      .enum(['critical', 'high', 'normal', 'low'])
      .default('normal')
      .describe('Under overload (`load-shed`) low routes are shed first, then normal, then high; critical never.'),
    timeouts: routeTimeouts
      .optional()
      .describe("Override some of the upstream's timeouts for this route; the others stay the upstream's."),
    retries: z
      .object({ attempts: int(0, 10) })
      .strict()
      .optional(),
    policies,
  })
  .strict();

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    environment: z
      .enum(['production', 'development'])
      .default('production')
      .describe('production refuses unsafe settings (inline secrets, unverified TLS); development warns.'),
    listeners: z.array(listener).min(1),
    trusted_proxies: z
      .array(
        z.string().superRefine((c, ctx) => {
          for (const e of cidrErrors([c])) ctx.addIssue({ code: 'custom', message: e.message });
        }),
      )
      .default([])
      .describe('CIDRs of proxies whose X-Forwarded-For / Forwarded headers are believed.'),
    workers: int(0, 256).optional().describe('Worker processes; 0 or absent = one per core (--workers overrides).'),
    shutdown_timeout_ms: int(0).default(30_000).describe('How long SIGTERM waits for in-flight requests.'),
    data_dir: z
      .string()
      .min(1)
      .default('.rampart')
      .describe(
        "Folder for the embedded store and (development only) the generated master key; relative to the config file's folder.",
      ),
    keyring: z
      .object({
        master_keys_file: z
          .string()
          .min(1)
          .optional()
          .describe('A 0600 JSON file of master key versions (`rampart keyring init`); rotatable online.'),
        master_key: secret()
          .optional()
          .describe('Master key(s) as base64 of 32 bytes, or "2:BASE64,1:BASE64" (newest first): ${env:...} only.'),
      })
      .strict()
      .optional()
      .describe('Envelope encryption of everything secret at rest (AES-256-GCM). Production requires a master key.'),
    store: z
      .object({
        kind: z.enum(['sqlite', 'postgres']).default('sqlite'),
        url: secret().optional().describe('PostgreSQL connection URL (kind: postgres): ${env:...}.'),
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/)
          .optional()
          .describe('PostgreSQL schema (search_path).'),
        migrate: bool().default(true).describe('Apply pending migrations at start (else `rampart migrate` must have).'),
      })
      .strict()
      .optional()
      .describe(
        'Durable entities (consumers, credentials, keys): embedded SQLite in data_dir, or PostgreSQL for clusters.',
      ),
    state: z
      .object({
        kind: z.enum(['memory', 'redis']).default('memory'),
        url: secret()
          .optional()
          .describe('Redis URL (kind: redis), redis://[user:password@]host:port[/db]: ${env:REDIS_URL}.'),
        key_prefix: z.string().max(128).default('rampart:').describe('Prepended to every Redis key.'),
        timeout_ms: int(1, 60_000)
          .default(500)
          .describe('A state call slower than this fails (the policy decides how).'),
        startup_wait_ms: int(0, 600_000)
          .default(5000)
          .describe(
            'kind: redis: how long start-up waits for Redis before listening anyway (logged; policies apply their on_state_error until it is reachable, then recover by themselves); 0: do not wait.',
          ),
      })
      .strict()
      .default({ kind: 'memory', key_prefix: 'rampart:', timeout_ms: 500, startup_wait_ms: 5000 })
      .describe('Shared counters (rate limits, concurrency, deny list): memory (one machine) or redis (many nodes).'),
    logging: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        access_log: bool().default(true),
      })
      .strict()
      .default({ level: 'info', access_log: true }),
    metrics: z
      .object({
        enabled: bool().default(true),
        host: host.default('127.0.0.1'),
        port: int(0, 65535).default(9090),
        allow_remote: bool().default(false).describe('Required to bind the metrics listener beyond loopback.'),
      })
      .strict()
      .default({ enabled: true, host: '127.0.0.1', port: 9090, allow_remote: false }),
    upstreams: z.record(name, upstream).default({}),
    routes: z.array(route).default([]),
    policies,
    audit: auditSchema
      .optional()
      .describe(
        'The tamper-evident audit log: hash-chained segments with signed checkpoints (needs store: for the keyring).',
      ),
    auth_server: authServerSchema
      .optional()
      .describe(
        'Built-in OAuth 2.0 authorization server for machine clients (client credentials, JWT access tokens); needs store.',
      ),
  })
  .strict()
  .superRefine(
    (cfg, ctx) => {
      // Also runs when other fields failed (so one run reports every problem): values may be raw, check shapes.
      const obj = (v: unknown): Record<string, unknown> =>
        v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
      const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
      const root = obj(cfg);
      const upstreams = obj(root.upstreams);
      const seen = new Map<string, number>();
      list(root.routes).forEach((item, i) => {
        const r = obj(item);
        if (typeof r.name === 'string') {
          const first = seen.get(r.name);
          if (first !== undefined)
            ctx.addIssue({
              code: 'custom',
              path: ['routes', i, 'name'],
              message: `duplicate route name "${r.name}" (first used by routes[${first}])`,
            });
          else seen.set(r.name, i);
        }
        if (typeof r.upstream === 'string' && !Object.hasOwn(upstreams, r.upstream)) {
          const known = Object.keys(upstreams);
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'upstream'],
            message: `no upstream named "${r.upstream}" (${known.length ? `upstreams: ${known.join(', ')}` : 'no upstreams are defined'})`,
          });
        }
        if (r.strip_prefix && r.rewrite) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'rewrite'],
            message: 'use strip_prefix or rewrite, not both',
          });
        }
      });
      const ports = new Map<number, number>();
      list(root.listeners).forEach((item, i) => {
        const port = obj(item).port;
        if (typeof port !== 'number' || port === 0) return;
        const first = ports.get(port);
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['listeners', i, 'port'],
            message: `port ${port} is used twice (also by listeners[${first}])`,
          });
        } else ports.set(port, i);
      });
      list(root.listeners).forEach((item, i) => {
        const l = obj(item);
        if (l.tls !== undefined && l.redirect_to_https !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['listeners', i, 'redirect_to_https'],
            message: 'a redirect listener is plain HTTP: use tls or redirect_to_https, not both',
          });
      });
      const keyring = obj(root.keyring);
      if (keyring.master_keys_file !== undefined && keyring.master_key !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['keyring'], message: 'use master_keys_file or master_key, not both' });
      }
      const store = obj(root.store);
      if (store.kind === 'postgres' && typeof store.url !== 'string') {
        ctx.addIssue({
          code: 'custom',
          path: ['store', 'url'],
          message: 'kind: postgres needs url (${env:DATABASE_URL})',
        });
      }
      const state = obj(root.state);
      if (state.kind === 'redis' && typeof state.url !== 'string') {
        ctx.addIssue({ code: 'custom', path: ['state', 'url'], message: 'kind: redis needs url (${env:REDIS_URL})' });
      }
      authServerIssues(root, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
      objectAccessIssues(root, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
    },
    { when: () => true },
  );

export type Config = z.output<typeof configSchema>;
export type UpstreamConfig = z.output<typeof upstream>;
export type RouteConfig = z.output<typeof route>;
export type ListenerConfig = z.output<typeof listener>;
export type ListenerTlsConfig = z.output<typeof listenerTls>;
export type TlsCertificateConfig = z.output<typeof tlsCertificate>;
