import { z } from 'zod';
import { bool, int } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';
import { DEFAULT_HEADERS, DEFAULT_MAX_INSPECT_BYTES, DEFAULT_THRESHOLD, RULE_ID } from '../../detect/defaults.js';
import { ATTACK_CLASSES, type AttackClass } from '../../detect/types.js';

const attackClass = z.enum(ATTACK_CLASSES as [AttackClass, ...AttackClass[]]);

const exclusion = z
  .object({
    rule: z
      .string()
      .refine((r) => (ATTACK_CLASSES as readonly string[]).includes(r) || RULE_ID.test(r), {
        message: `expected an attack class (${ATTACK_CLASSES.join(', ')}) or a rule id such as "sqli.tautology"`,
      })
      .optional()
      .describe('The rule id ("sqli.tautology") or attack class ("sqli") to ignore. Absent: every rule.'),
    location: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .describe(
        'Where to ignore it, as a glob on the finding\'s location: "query.q", "body./comments/*/text", "header.user-agent", "cookie.*", "path". Absent: everywhere.',
      ),
    routes: z
      .array(z.string().min(1))
      .optional()
      .describe('Only on these routes (by name). Absent: on every route this policy applies to.'),
  })
  .strict()
  .refine((e) => e.rule !== undefined || e.location !== undefined, {
    message: 'an exclusion needs a rule, a location or both',
  });

export const schema = z
  .object({
    mode: z
      .enum(['off', 'monitor', 'block'])
      .default('block')
      .describe(
        'block: refuse a request whose anomaly score reaches the threshold with 403 ATTACK_DETECTED; monitor: let it through and record the findings as security events; off: inspect nothing.',
      ),
    threshold: int(1, 1000)
      .default(DEFAULT_THRESHOLD)
      .describe(
        'Anomaly score at which a request is an attack. A confident finding scores 5, a likely one 4, a weak one 3 or 2; scores add up across locations.',
      ),
    classes: z
      .array(attackClass)
      .min(1)
      .default([...ATTACK_CLASSES])
      .describe('Attack classes to detect.'),
    locations: z
      .object({
        path: bool().default(true).describe('Inspect the path.'),
        query: bool().default(true).describe('Inspect query parameter names and values.'),
        headers: z
          .array(z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/i, 'expected a header name'))
          .default([...DEFAULT_HEADERS])
          .describe('Headers inspected with every detector (every header is still checked for JNDI lookups).'),
        cookies: bool().default(true).describe('Inspect cookie values.'),
        body: bool()
          .default(true)
          .describe('Inspect JSON, form, multipart, XML and text bodies (buffered up to the route body cap).'),
      })
      .strict()
      .default({ path: true, query: true, headers: [...DEFAULT_HEADERS], cookies: true, body: true })
      .describe('Which parts of the request are inspected.'),
    exclusions: z
      .array(exclusion)
      .default([])
      .describe('False positives to ignore, by rule or class, location and route.'),
    max_inspect_bytes: int(1024, 8 * 1024 * 1024)
      .default(DEFAULT_MAX_INSPECT_BYTES)
      .describe(
        'Body bytes the engine reads at most (the body is still buffered up to the route body cap and sent whole).',
      ),
    oversize: z
      .enum(['block', 'pass'])
      .default('block')
      .describe(
        'A body longer than max_inspect_bytes: block refuses it with 413 BODY_NOT_INSPECTED (what the engine did not read could carry an attack; in monitor mode it is recorded, not refused); pass inspects its first max_inspect_bytes and sends the rest unread.',
      ),
  })
  .strict();

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'threat-detection',
  order: 2700,
  description:
    'Attack detection on decoded path, query, selected headers, cookies and bodies (SQLi by tokenising, NoSQLi, XSS, command injection, traversal, SSRF, XXE, JNDI, SSTI, LDAP, prototype pollution) with anomaly scoring; block or monitor per route, exclusions per rule, location and route.',
} as const satisfies PolicyMeta;
