import { z } from 'zod';
import { bool, httpMethod } from '../../config/types.js';
import type { PolicyMeta } from '../../core/policy.js';
import { compileCondition } from './cel.js';

const names = z.array(z.string().min(1).max(128)).min(1);

/** `[a, b]` (any of them), `{ any: [...] }`, `{ all: [...] }`, or both keys (both must hold). */
const nameSet = (what: string) =>
  z.union([
    names,
    z
      .object({
        any: names.optional().describe(`At least one of these ${what}.`),
        all: names.optional().describe(`Every one of these ${what}.`),
      })
      .strict()
      .refine((v) => v.any !== undefined || v.all !== undefined, { message: 'give any: [...] or all: [...]' }),
  ]);

const ruleName = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'a rule name: 1-64 letters, digits, "_", ".", ":" or "-"');

const rule = z
  .object({
    name: ruleName
      .optional()
      .describe('Names the rule in decisions, the audit log and the debug header (default: its place, "rules[i]").'),
    effect: z.enum(['allow', 'deny']).default('allow'),
    methods: z.array(httpMethod).min(1).optional().describe('The rule applies to these methods only.'),
    roles: nameSet('roles')
      .optional()
      .describe('Roles the caller must have (consumer groups, or roles mapped from token claims).'),
    scopes: nameSet('scopes').optional().describe('Scopes the credential must carry.'),
    when: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(
        'A CEL condition over `request` {method, path, params, query, headers, ip, time}, `identity` {kind, id, subject, roles, scopes, attributes, client_id} and `claims`; checked against these types at load.',
      ),
  })
  .strict();

export const schema = z
  .object({
    roles: nameSet('roles')
      .optional()
      .describe('Shorthand for one allow rule: callers with any of these roles (or { all: [...] }).'),
    scopes: nameSet('scopes').optional().describe('Shorthand for one allow rule: credentials with these scopes.'),
    rules: z
      .array(rule)
      .min(1)
      .max(256)
      .optional()
      .describe(
        'A rule matches when all its conditions hold. Any matching deny rule denies; else any matching allow rule allows; else the request is denied (rule "default").',
      ),
    anonymous: bool()
      .default(false)
      .describe(
        'On public routes: whether rules may allow a request with no identity (it then has no roles or scopes, and identity.kind is "anonymous"). Off: such requests are denied.',
      ),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const short = cfg.roles !== undefined || cfg.scopes !== undefined;
    if (short && cfg.rules)
      ctx.addIssue({
        code: 'custom',
        path: ['rules'],
        message: 'give either the shorthand (roles:/scopes:) or rules:, not both (write the shorthand as a rule)',
      });
    if (!short && !cfg.rules)
      ctx.addIssue({ code: 'custom', path: [], message: 'give roles:, scopes: or rules: (nothing would be allowed)' });
    const seen = new Set<string>();
    cfg.rules?.forEach((r, i) => {
      if (r.name !== undefined) {
        if (seen.has(r.name))
          ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `rule name "${r.name}" used twice` });
        seen.add(r.name);
      }
      if (r.when !== undefined) {
        const c = compileCondition(r.when);
        if (!c.ok) ctx.addIssue({ code: 'custom', path: ['rules', i, 'when'], message: c.message });
      }
    });
  });

export type AuthorizeConfig = z.output<typeof schema>;
export type NameSet = z.output<ReturnType<typeof nameSet>>;

/** Name, position and description in the one ordered list (registered in policies/schemas.ts). */
export const meta = {
  name: 'authorize',
  order: 2100,
  description:
    'Role, scope and method rules with CEL conditions over the request, the identity and token claims; deny rules win, no matching rule denies. Every decision is recorded with its rule.',
} as const satisfies PolicyMeta;
