/** The engine's defaults, without the engine: the policy's config schema reads them (schemas stay light). */

/** One critical finding (score 5) reaches it alone; two warnings (3 + 3) together. */
export const DEFAULT_THRESHOLD = 5;
/** Most body bytes inspected by default; the rest of a larger body is not read by the engine. */
export const DEFAULT_MAX_INSPECT_BYTES = 64 * 1024;
/** Headers inspected with every detector by default (all headers are checked for JNDI lookups). */
export const DEFAULT_HEADERS: readonly string[] = [
  'user-agent',
  'referer',
  'origin',
  'x-forwarded-host',
  'x-forwarded-for',
  'x-real-ip',
  'x-client-ip',
  'x-original-url',
  'x-rewrite-url',
  'x-host',
  'x-api-version',
  'true-client-ip',
  'forwarded',
];
/** Rule ids are "<class>.<name>". */
export const RULE_ID = /^[a-z]+\.[a-z_]+$/;
