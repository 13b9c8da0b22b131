import type { Logger } from 'pino';
import type { z } from 'zod';
import type { AuditLog } from '../audit/log.js';
import type { Keyring } from '../crypto/keyring.js';
import type { SharedState } from '../state/types.js';
import type { Store } from '../store/types.js';
import type { RequestContext } from './context.js';
import type { IdentityPolicyInfo, LocalIssuer } from './identity.js';

/** What a phase may return: nothing to continue, or a promise of nothing. Throw a GatewayError to stop. */
export type PhaseResult = void | Promise<void>;
export type Phase = (ctx: RequestContext) => PhaseResult;

/** The phase functions one configured policy instance provides. All optional. */
export interface PolicyInstance {
  /** Before anything else: client address, TLS, request head. */
  connect?: Phase;
  /** The request phase: authentication, authorization, limits, validation. */
  request?: Phase;
  /** Before each attempt to an upstream target (after balancing): sign or decorate the upstream request. */
  upstream?: Phase;
  /** On every response, upstream or local error, in reverse order; may change status and headers. */
  response?: Phase;
  /** After the response finished, stopped or not. Must not throw or block: buffer and batch. */
  log?: (ctx: RequestContext) => void;
  /** Set by identity policies: the route's 401 names their challenges, and the gate knows one is configured. */
  identity?: IdentityPolicyInfo;
  /** Called when the config generation that created this instance is retired (timers, pools). */
  close?: () => void | Promise<void>;
  /**
   * Set by policies that read `ctx.securityEvents` (audit). On a pipeline with none, security events are dropped
   * (`ctx.securityEventsRead` is false) and policies may skip building them.
   */
  readsSecurityEvents?: boolean;
}

export interface PolicyEnv {
  logger: Logger;
  /** Where this instance applies: "global", "upstream:<name>" or "route:<name>". */
  scope: string;
  services: PolicyServices;
}

/** What the process offers policies beyond their config. */
export interface PolicyServices {
  /** The store and keyring when the config has `store:`; a policy that needs them throws at create without. */
  readonly store: Store | null;
  readonly keyring: Keyring | null;
  /**
   * Counters and expiring values exact across workers and nodes (src/state): memory in one process, the cluster
   * primary for workers of one machine, Redis for many nodes. Null until the runtime provides one.
   */
  readonly state: SharedState | null;
  /** The built-in authorization server when `auth_server` is enabled: the jwt policy trusts its tokens. */
  readonly authServer: LocalIssuer | null;
  /** The tamper-evident audit log when `audit:` is enabled (src/audit): record(event), subscribe(sub). */
  readonly audit: AuditLog | null;
  /**
   * One object per key for the whole process, made on first use and kept across config reloads (JWKS caches,
   * verified-token caches, lockout counters): a reload must not forget who is locked out or refetch every key.
   * Include in the key whatever config the object depends on. Objects with `close()` are closed at shutdown.
   */
  shared<T>(key: string, make: () => T): T;
}

// biome-ignore lint/suspicious/noExplicitAny: a policy's config schema is any zod object
export type AnyObjectSchema = z.ZodObject<any>;

/** What the one ordered list knows of a policy without its implementation (each policy's schema.ts exports it). */
export interface PolicyMeta {
  /** The key under `policies:` in rampart.yaml. */
  readonly name: string;
  /** Position in the one ordered list (lower runs first in the request phase). Leave gaps of 100. */
  readonly order: number;
  readonly description: string;
}

export interface PolicyDefinition<S extends AnyObjectSchema = AnyObjectSchema> extends PolicyMeta {
  readonly config: S;
  /** Runs once per config load: compile matchers and values here, never per request. */
  create(config: z.output<S>, env: PolicyEnv): PolicyInstance;
}

export function definePolicy<S extends AnyObjectSchema>(def: PolicyDefinition<S>): PolicyDefinition<S> {
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new Error(`policy name "${def.name}" must be kebab-case`);
  return def;
}
