/**
 * The attack detection engine's public shapes (src/detect). The threat-detection policy, `rampart inspect` and the
 * corpus evaluation (test/corpus, `npm run corpus:eval`) all go through `inspectRequest` (src/detect/engine.ts).
 */
export type AttackClass =
  | 'sqli'
  | 'nosqli'
  | 'xss'
  | 'cmdi'
  | 'traversal'
  | 'ssrf'
  | 'xxe'
  | 'jndi'
  | 'ssti'
  | 'ldap'
  | 'proto';

export const ATTACK_CLASSES: readonly AttackClass[] = [
  'sqli',
  'nosqli',
  'xss',
  'cmdi',
  'traversal',
  'ssrf',
  'xxe',
  'jndi',
  'ssti',
  'ldap',
  'proto',
];

/** A request as the engine sees it: what the gateway has before it proxies. */
export interface InspectRequest {
  readonly method: string;
  /** The raw path without the query, as received (still percent-encoded). */
  readonly path: string;
  /** The raw query string, without the leading "?" ("" when none). */
  readonly query: string;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The body when there is one (JSON, form, multipart, XML, text); the engine reads it by content type. */
  readonly body?: Buffer | string;
}

export interface Finding {
  /** Stable rule id, "<class>.<name>": "sqli.tautology", "ssrf.metadata", "nosqli.operator". */
  readonly rule: string;
  readonly class: AttackClass;
  /** Contribution to the request's anomaly score. */
  readonly score: number;
  /** Where: "path", "query.<name>", "header.<name>", "cookie.<name>", "body.<json pointer or field>". */
  readonly location: string;
  /** A truncated (<= 64 chars), redacted fragment of the decoded value around the match. */
  readonly fragment: string;
}

export interface InspectReport {
  /** Sum of the findings' scores (per location capped as the engine decides). */
  readonly score: number;
  /** score >= threshold. */
  readonly attack: boolean;
  readonly findings: readonly Finding[];
}
