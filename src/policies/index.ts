import type { PolicyDefinition } from '../core/policy.js';
import apiKey from './api-key/policy.js';
import audit from './audit/policy.js';
import authorize from './authorize/policy.js';
import bruteForce from './brute-force/policy.js';
import concurrencyLimit from './concurrency-limit/policy.js';
import cors from './cors/policy.js';
import decisionDebug from './decision-debug/policy.js';
import externalAuthz from './external-authz/policy.js';
import fieldEncryption from './field-encryption/policy.js';
import headers from './headers/policy.js';
import introspection from './introspection/policy.js';
import ipFilter from './ip-filter/policy.js';
import jsonLimits from './json-limits/policy.js';
import jwt from './jwt/policy.js';
import loadShed from './load-shed/policy.js';
import mtlsIdentity from './mtls-identity/policy.js';
import objectAccess from './object-access/policy.js';
import quota from './quota/policy.js';
import rateLimit from './rate-limit/policy.js';
import redact from './redact/policy.js';
import requestId from './request-id/policy.js';
import requestLimits from './request-limits/policy.js';
import requestValidation from './request-validation/policy.js';
import responseFilter from './response-filter/policy.js';
import securityHeaders from './security-headers/policy.js';
import threatDetection from './threat-detection/policy.js';
import tokenize from './tokenize/policy.js';

/**
 * The one ordered list of policies with their implementations (the pipeline builds from it). Request phases run in
 * this order. Each policy takes its name, order and description from its schema.ts (`meta`); policies/schemas.ts
 * lists the same policies without implementations for the config schema, `rampart policies` and the docs, and
 * policies/schemas.test.ts fails if the two lists differ: add a policy to both.
 */
export const POLICIES: readonly PolicyDefinition[] = [
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
].sort((a, b) => a.order - b.order);

export const POLICY_BY_NAME: ReadonlyMap<string, PolicyDefinition> = new Map(POLICIES.map((p) => [p.name, p]));
