import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import pino, { type Logger } from 'pino';
import type { z } from 'zod';
import { type HeaderMap, RequestContext } from '../src/core/context.js';
import type { AnyObjectSchema, PolicyDefinition, PolicyEnv, PolicyInstance } from '../src/core/policy.js';
import { ServiceRegistry } from '../src/core/shared.js';

/** Shared builders for in-process unit tests (no sockets). */

export interface FakeRequest {
  method?: string;
  url?: string;
  /** Lower-case names, as node gives them in `req.headers`. */
  headers?: IncomingHttpHeaders;
  /** Defaults to the headers flattened into [name, value, ...]. */
  rawHeaders?: string[];
}

/** A minimal IncomingMessage: what policies read (method, url, headers, rawHeaders, socket). */
export function fakeReq(r: FakeRequest = {}): IncomingMessage {
  const headers = r.headers ?? {};
  const rawHeaders =
    r.rawHeaders ??
    Object.entries(headers).flatMap(([k, v]) =>
      v === undefined ? [] : Array.isArray(v) ? v.flatMap((x) => [k, x]) : [k, v],
    );
  return {
    method: r.method ?? 'GET',
    url: r.url ?? '/',
    headers,
    rawHeaders,
    socket: {},
  } as unknown as IncomingMessage;
}

export interface FakeContext extends FakeRequest {
  secure?: boolean;
  clientIp?: string;
  peerIp?: string;
}

/** A RequestContext over a fake request; path and query come from the url. */
export function makeCtx(o: FakeContext = {}): RequestContext {
  const url = o.url ?? '/';
  const q = url.indexOf('?');
  const peerIp = o.peerIp ?? '192.0.2.1';
  return new RequestContext(fakeReq(o), null, {
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? '' : url.slice(q),
    clientIp: o.clientIp ?? peerIp,
    peerIp,
    secure: o.secure ?? false,
    websocket: false,
  });
}

/** Sets a local response on the context, as the terminal (proxy) would before the response phase. */
export function withResponse(ctx: RequestContext, status = 200, headers: HeaderMap = {}): RequestContext {
  ctx.response = { status, headers, body: null };
  return ctx;
}

export const silentLogger: Logger = pino({ level: 'silent' });

export function policyEnv(scope = 'global'): PolicyEnv {
  return { logger: silentLogger, scope, services: new ServiceRegistry() };
}

/** `create(schema.parse(cfg), env)`: a policy instance from raw (YAML-like) config. */
export function instantiate<S extends AnyObjectSchema>(
  def: PolicyDefinition<S>,
  cfg: z.input<S>,
  scope = 'global',
): PolicyInstance {
  return def.create(def.config.parse(cfg), policyEnv(scope));
}

/** Runs one phase if the instance has it; returns the thrown error (or undefined). */
export async function runPhase(
  inst: PolicyInstance,
  phase: 'connect' | 'request' | 'response',
  ctx: RequestContext,
): Promise<unknown> {
  try {
    await inst[phase]?.(ctx);
    return undefined;
  } catch (e) {
    return e;
  }
}
