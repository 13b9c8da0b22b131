import type { Logger } from 'pino';
import type { z } from 'zod';
import type { RequestContext } from './context.js';

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
  /** Called when the config generation that created this instance is retired (timers, pools). */
  close?: () => void | Promise<void>;
}

export interface PolicyEnv {
  logger: Logger;
  /** Where this instance applies: "global", "upstream:<name>" or "route:<name>". */
  scope: string;
}

// biome-ignore lint/suspicious/noExplicitAny: a policy's config schema is any zod object
export type AnyObjectSchema = z.ZodObject<any>;

export interface PolicyDefinition<S extends AnyObjectSchema = AnyObjectSchema> {
  /** The key under `policies:` in rampart.yaml. */
  readonly name: string;
  /** Position in the one ordered list (lower runs first in the request phase). Leave gaps of 100. */
  readonly order: number;
  readonly description: string;
  readonly config: S;
  /** Runs once per config load: compile matchers and values here, never per request. */
  create(config: z.output<S>, env: PolicyEnv): PolicyInstance;
}

export function definePolicy<S extends AnyObjectSchema>(def: PolicyDefinition<S>): PolicyDefinition<S> {
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new Error(`policy name "${def.name}" must be kebab-case`);
  return def;
}
