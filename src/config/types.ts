import { z } from 'zod';

/**
 * Schema helpers shared by the config schema and policy schemas.
 * Numbers also accept digit strings because `${env:PORT}` resolves to text.
 */
export function int(min = 0, max = Number.MAX_SAFE_INTEGER) {
  // Bounds on the number branch too, so that the JSON Schema (editors) knows them.
  const bounded = () =>
    z
      .number({ error: 'expected an integer' })
      .int('expected an integer')
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`);
  return z.union([bounded(), z.string().regex(/^\d+$/, 'expected an integer').transform(Number)]).pipe(bounded());
}

export function ratio() {
  return z
    .union([
      z.number({ error: 'expected a number from 0 to 1' }).min(0, 'must be 0 to 1').max(1, 'must be 0 to 1'),
      z
        .string()
        .regex(/^\d*\.?\d+$/, 'expected a number from 0 to 1')
        .transform(Number),
    ])
    .pipe(z.number().min(0, 'must be 0 to 1').max(1, 'must be 0 to 1'));
}

export function bool() {
  return z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);
}

/** Marks a string as a secret: redacted in logs, and refused (production) or warned about (development) inline. */
export function secret() {
  return z.string().min(1).meta({ secret: true, description: 'A secret: give it as ${env:NAME} or ${file:PATH}.' });
}

/** A record whose values are secrets when their key matches (e.g. header maps that may carry credentials). */
export const SENSITIVE_HEADER = /^(authorization|proxy-authorization|cookie|x-api-key|api-key|x-auth-token)$/i;

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'] as const;

/**
 * GET implies HEAD, as routes treat it (config/compile.ts): a rule written for GET must also hold for HEAD, or a HEAD
 * request would skip a GET-only deny or binding and still reach the upstream (which answers it as a GET).
 */
export function withHead<T extends string>(methods: readonly T[]): readonly T[] {
  return methods.includes('GET' as T) && !methods.includes('HEAD' as T) ? [...methods, 'HEAD' as T] : methods;
}
export const httpMethod = z
  .string()
  .transform((m) => m.toUpperCase())
  .pipe(z.enum(HTTP_METHODS));

export const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a valid HTTP header name')
  .transform((h) => h.toLowerCase());
