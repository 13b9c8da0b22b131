import type { AnyObjectSchema, PolicyMeta } from '../core/policy.js';
import * as apiKey from './api-key/schema.js';
import * as audit from './audit/schema.js';
import * as authorize from './authorize/schema.js';
import * as bruteForce from './brute-force/schema.js';
import * as concurrencyLimit from './concurrency-limit/schema.js';
import * as cors from './cors/schema.js';
import * as decisionDebug from './decision-debug/schema.js';
import * as externalAuthz from './external-authz/schema.js';
import * as fieldEncryption from './field-encryption/schema.js';
import * as headers from './headers/schema.js';
import * as introspection from './introspection/schema.js';
import * as ipFilter from './ip-filter/schema.js';
import * as jsonLimits from './json-limits/schema.js';
import * as jwt from './jwt/schema.js';
import * as loadShed from './load-shed/schema.js';
import * as mtlsIdentity from './mtls-identity/schema.js';
import * as objectAccess from './object-access/schema.js';
import * as quota from './quota/schema.js';
import * as rateLimit from './rate-limit/schema.js';
import * as redact from './redact/schema.js';
import * as requestId from './request-id/schema.js';
import * as requestLimits from './request-limits/schema.js';
import * as requestValidation from './request-validation/schema.js';
import * as responseFilter from './response-filter/schema.js';
import * as securityHeaders from './security-headers/schema.js';
import * as threatDetection from './threat-detection/schema.js';
import * as tokenize from './tokenize/schema.js';

/** A policy as the config schema, `rampart policies` and the docs see it: no implementation loaded. */
export interface PolicySchemaEntry extends PolicyMeta {
  readonly schema: AnyObjectSchema;
}

/**
 * Every policy's name, order, description and config schema, sorted by `order`, from each policy's schema.ts only.
 * The config schema (config/schema.ts) is built from this list so that loading or validating a config never loads
 * the policies' implementations (jose, undici, caches, the store). policies/index.ts lists the same policies with
 * their implementations, which spread the same `meta`; policies/schemas.test.ts fails if the two lists differ.
 * Keep the schema modules light: zod, config/types and pure helpers, never a client, cache or store.
 */
export const POLICY_SCHEMAS: readonly PolicySchemaEntry[] = [
  requestId,
  ipFilter,
  requestLimits,
  cors,
  securityHeaders,
  headers,
  introspection,
  bruteForce,
  apiKey,
  jwt,
  mtlsIdentity,
  authorize,
  decisionDebug,
  objectAccess,
  externalAuthz,
  rateLimit,
  // list: traffic control (issue 6)
  loadShed,
  quota,
  concurrencyLimit,
  // list: protocol limits (issue 6/7)
  // list: request validation (issue 7)
  jsonLimits,
  requestValidation,
  // list: attack detection (issue 7)
  threatDetection,
  // list: audit (issue 8)
  audit,
  // list: response protection (issue 9)
  responseFilter,
  redact,
  fieldEncryption,
  tokenize,
]
  .map((m): PolicySchemaEntry => ({ ...m.meta, schema: m.schema }))
  .sort((a, b) => a.order - b.order);
