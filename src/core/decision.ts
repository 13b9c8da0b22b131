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
