/**
 * What an authorization policy decided and why. Every allow and deny is recorded on the request
 * (`ctx.decisions`), for the audit log and for the debug header trusted callers may ask for.
 */
export type Effect = 'allow' | 'deny';

export interface Decision {
  readonly effect: Effect;
  /** The policy that decided: "authorize", "object-access", "external-authz". */
  readonly policy: string;
  /**
   * The rule that decided, as the config names it (`name:`), or its place ("rules[2]"); "default" when no rule
   * matched and deny by default applied.
   */
  readonly rule: string;
  /** A short reason safe to show a trusted caller (never a secret, never an object's content). */
  readonly reason?: string;
}

/**
 * Something security-relevant a policy noticed on a request: a detection, a validation failure, a limit hit, a
 * field removed from a response. Recorded on the request (`ctx.securityEvent`) whether or not the request was
 * stopped; the audit log writes them with the request's event and the anomaly detectors read them.
 */
export interface SecurityEvent {
  /** A stable dotted type: "detection.sqli", "validation.failed", "rate_limit.hit", "response.field_removed". */
  readonly type: string;
  /** The policy that recorded it. */
  readonly policy: string;
  /** The rule id that fired, when there is one ("sqli.tautology", "rules[2]", a limit's name). */
  readonly rule?: string;
  /** Where in the request or response: "query.id", "body./user/email", "header.user-agent", "path". */
  readonly location?: string;
  /** "monitor" when recorded without stopping the request, "block" when the policy refused it. */
  readonly action?: 'monitor' | 'block' | 'modify';
  /** Small, secret-free details: a score, a truncated and redacted fragment, a count. Never a raw value. */
  readonly detail?: Readonly<Record<string, string | number | boolean>>;
}
