import type { SecurityEvent } from '../core/decision.js';

/**
 * The audit event model shared by the audit log (src/audit), its SIEM sinks (src/audit/sinks) and the anomaly
 * detectors (src/anomaly). Fields are snake_case as written to disk and exported; add fields, never rename one
 * (exports, sinks and `audit verify` of old segments read them).
 */
export type AuditKind = 'request' | 'security' | 'change' | 'system';

export interface AuditActor {
  /** Consumer id of the caller, when identified. */
  readonly consumer?: string;
  /** Credential id (API key id, client id, token digest prefix): never the secret. */
  readonly credential?: string;
  /** Token subject or certificate subject. */
  readonly subject?: string;
  /** Operator of a CLI or admin change (OS user, admin account). */
  readonly operator?: string;
  readonly client_ip?: string;
}

export interface AuditEvent {
  /** RFC 3339 time with milliseconds, UTC. */
  readonly time: string;
  readonly kind: AuditKind;
  /**
   * A stable dotted type: "request"; security: "auth.failure", "auth.lockout", "detection.sqli", "validation.failed",
   * "rate_limit.hit", "ip.denied", "anomaly.credential_stuffing"; change: "config.reload", "consumer.create",
   * "credential.revoke"; system: "audit.retention.delete", "audit.checkpoint".
   */
  readonly type: string;
  /** The gateway node that recorded it (hostname or `node_id` from the config). */
  readonly node?: string;
  readonly request_id?: string;
  readonly actor?: AuditActor;
  readonly route?: string;
  readonly method?: string;
  /** Path without the query, with credential-bearing query parameters never included. */
  readonly path?: string;
  readonly status?: number;
  /** Error code of a refused request ("FORBIDDEN", "RATE_LIMITED"). */
  readonly code?: string;
  readonly bytes_in?: number;
  readonly bytes_out?: number;
  readonly latency_ms?: number;
  /** Upstream target ("host:port") of the last attempt. */
  readonly upstream?: string;
  /** The authorization decision that decided (the last deny, or the last allow). */
  readonly decision?: { readonly effect: 'allow' | 'deny'; readonly policy: string; readonly rule: string };
  /** Security events the request's policies recorded (detections, validation failures, limit hits). */
  readonly events?: readonly SecurityEvent[];
  /** For kind "change": what changed, with digests of the before and after states (never their content). */
  readonly change?: {
    readonly target: string;
    readonly action: string;
    readonly before_digest?: string;
    readonly after_digest?: string;
  };
  readonly severity?: 'info' | 'low' | 'medium' | 'high' | 'critical';
  /** Free, secret-free details (an anomaly's counts and window, a retention deletion's range). */
  readonly detail?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * Something that receives every audit event after the audit log accepted it, in order, in batches: the SIEM sinks
 * and the anomaly detectors. `handle` must not block or throw: a subscriber buffers (on disk where it must not
 * lose events) and does its own I/O.
 */
export interface AuditSubscriber {
  readonly name: string;
  handle(events: readonly AuditEvent[]): void;
  close?(): Promise<void>;
}
