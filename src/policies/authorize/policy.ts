import { withHead } from '../../config/types.js';
import type { RequestContext } from '../../core/context.js';
import type { Effect } from '../../core/decision.js';
import { GatewayError } from '../../core/errors.js';
import { definePolicy } from '../../core/policy.js';
import { Activation, type Condition, compileCondition } from './cel.js';
import { type AuthorizeConfig, meta, type NameSet, schema } from './schema.js';

/** A failing condition is logged at most this often per policy instance, with how many were not logged. */
const EVAL_ERROR_LOG_MS = 5_000;

/** A rule compiled at load: its cheap checks (method, roles, scopes) run before its condition. */
interface Rule {
  readonly name: string;
  readonly effect: Effect;
  readonly methods: ReadonlySet<string> | null;
  readonly roles: Names | null;
  readonly scopes: Names | null;
  readonly when: Condition | null;
}

interface Names {
  readonly any: readonly string[] | null;
  readonly all: readonly string[] | null;
}

const FORBIDDEN = () => new GatewayError('FORBIDDEN');

export default definePolicy({
  ...meta,
  config: schema,
  create(cfg, env) {
    const rules = compileRules(cfg);
    const deny = rules.filter((r) => r.effect === 'deny');
    const allow = rules.filter((r) => r.effect === 'allow');
    const anonymous = cfg.anonymous;
    for (const r of rules)
      if (r.when?.usesTimeZone)
        env.logger.warn(
          { scope: env.scope, rule: r.name },
          'authorize: a time-zone argument (e.g. getHours("Europe/Paris")) costs about 0.3 ms per evaluation; getHours() without one is UTC and fast',
        );

    let lastLog = 0;
    let unlogged = 0;
    const evalFailed = (ctx: RequestContext, r: Rule, e: unknown) => {
      const now = Date.now();
      if (now - lastLog < EVAL_ERROR_LOG_MS) {
        unlogged++;
        return;
      }
      lastLog = now;
      const err = e as { code?: string; summary?: string; message?: string };
      env.logger.warn(
        {
          scope: env.scope,
          rule: r.name,
          effect: r.effect,
          request_id: ctx.id,
          error: err?.summary ?? String(err?.message ?? e).split('\n')[0],
          ...(err?.code && { code: err.code }),
          not_logged_since: unlogged,
        },
        r.effect === 'deny'
          ? 'authorize: a deny condition failed to evaluate; counted as a match (fail closed)'
          : 'authorize: an allow condition failed to evaluate; counted as no match',
      );
      unlogged = 0;
    };

    /** The rule's method, role and scope checks: no allocation, no CEL. */
    const cheap = (ctx: RequestContext, r: Rule): boolean => {
      if (r.methods && !r.methods.has(ctx.method)) return false;
      const id = ctx.identity;
      if (r.roles && !holds(r.roles, id?.roles)) return false;
      if (r.scopes && !holds(r.scopes, id?.scopes)) return false;
      return true;
    };
    /** The rule's condition; `act` holds the CEL variables, made for the first condition of the request. */
    const condition = (ctx: RequestContext, r: Rule, when: Condition, act: Activation): boolean => {
      try {
        return when.test(act);
      } catch (e) {
        evalFailed(ctx, r, e);
        // An error in a deny rule's condition must not open the door: it counts as a match.
        return r.effect === 'deny';
      }
    };

    return {
      request(ctx) {
        if (!ctx.identity && !anonymous) {
          ctx.decide({ effect: 'deny', policy: 'authorize', rule: 'default', reason: 'anonymous' });
          throw FORBIDDEN();
        }
        let act: Activation | null = null;
        for (const r of deny) {
          if (!cheap(ctx, r)) continue;
          if (r.when) {
            act ??= new Activation(ctx);
            if (!condition(ctx, r, r.when, act)) continue;
          }
          ctx.decide({ effect: 'deny', policy: 'authorize', rule: r.name, reason: 'deny rule' });
          throw FORBIDDEN();
        }
        for (const r of allow) {
          if (!cheap(ctx, r)) continue;
          if (r.when) {
            act ??= new Activation(ctx);
            if (!condition(ctx, r, r.when, act)) continue;
          }
          ctx.decide({ effect: 'allow', policy: 'authorize', rule: r.name });
          return;
        }
        ctx.decide({ effect: 'deny', policy: 'authorize', rule: 'default', reason: 'no rule matched' });
        throw FORBIDDEN();
      },
    };
  },
});

/** The shorthand becomes one allow rule named after what it checks; rules keep their names or places. */
function compileRules(cfg: AuthorizeConfig): Rule[] {
  if (!cfg.rules) {
    const name = [cfg.roles && 'roles', cfg.scopes && 'scopes'].filter(Boolean).join('+');
    return [{ name, effect: 'allow', methods: null, roles: names(cfg.roles), scopes: names(cfg.scopes), when: null }];
  }
  return cfg.rules.map((r, i) => {
    let when: Condition | null = null;
    if (r.when !== undefined) {
      const c = compileCondition(r.when);
      // The schema already refused it with its field; this guards create() called on an unvalidated config.
      if (!c.ok) throw new Error(`authorize rules[${i}].when: ${c.message}`);
      when = c.condition;
    }
    return {
      name: r.name ?? `rules[${i}]`,
      effect: r.effect,
      methods: r.methods ? new Set(withHead(r.methods)) : null,
      roles: names(r.roles),
      scopes: names(r.scopes),
      when,
    };
  });
}

function names(s: NameSet | undefined): Names | null {
  if (s === undefined) return null;
  if (Array.isArray(s)) return { any: s, all: null };
  return { any: s.any ?? null, all: s.all ?? null };
}

/** Lists are a handful of names, so includes() beats building sets per request. */
function holds(want: Names, have: readonly string[] | undefined): boolean {
  if (!have) return false;
  if (want.any && !want.any.some((n) => have.includes(n))) return false;
  if (want.all && !want.all.every((n) => have.includes(n))) return false;
  return true;
}
