import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { eventJson, quote } from '../../audit/event-json.js';
import type { AuditEvent } from '../../audit/types.js';
import { RequestContext } from '../../core/context.js';
import { GatewayError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { generator } from '../../detect/testing.js';
import { onlyRequestEvent, requestEvents, requestJson } from './events.js';

/** Values JSON must escape, or that are not ASCII, or that are plain. */
const AWKWARD = [
  '',
  'plain',
  'say "hi"',
  'back\\slash',
  'tab\t',
  '\u0000\u001f\u007f',
  'caf\u00e9',
  '\u{1f600}',
  'lone \ud800',
  '\u2028',
];

/** A request as the server and the policies would leave it, drawn with `r`; its latency is fixed (elapsed() moves). */
function randomContext(r: () => number): RequestContext {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)] as T;
  const req = { method: pick(['GET', 'POST', 'DELETE']), headers: { host: 'api.test' } } as unknown as IncomingMessage;
  const path = r() < 0.1 ? `/${'x'.repeat(3000)}` : `/users/${pick(AWKWARD)}`;
  const ctx = new RequestContext(req, null, {
    path,
    query: '?token=secret',
    clientIp: pick(['127.0.0.1', '::1', '203.0.113.7']),
    peerIp: '127.0.0.1',
    secure: false,
    websocket: false,
  });
  const latency = pick([0, 0.01, 1.23, 1.2, 17, 2500.5, r() * 100]);
  ctx.elapsed = () => latency;
  if (r() < 0.8) ctx.id = pick(['01JDZABCDEFGHJKMNPQRSTVWXY', 'client "id"', pick(AWKWARD)]);
  if (r() < 0.8) ctx.route = { name: pick(['users', 'all', pick(AWKWARD)]), public: true } as RequestContext['route'];
  if (r() < 0.6) {
    const identity: Identity = {
      kind: 'api_key',
      consumerId: r() < 0.7 ? pick(['c_1', pick(AWKWARD)]) : null,
      subject: pick(['alice', pick(AWKWARD)]),
      credentialId: r() < 0.7 ? 'key_01' : null,
      roles: [],
      scopes: [],
      attributes: {},
      claims: null,
    } as unknown as Identity;
    ctx.identity = identity;
  } else if (r() < 0.5) ctx.authAttempt = pick(['key_01', 'd'.repeat(64), pick(AWKWARD)]);
  if (r() < 0.3) ctx.error = new GatewayError(pick(['ROUTE_NOT_FOUND', 'UPSTREAM_TIMEOUT', 'PAYLOAD_TOO_LARGE']));
  if (r() < 0.4) {
    for (let i = 0, n = 1 + Math.floor(r() * 3); i < n; i++)
      ctx.decide({
        effect: pick(['allow', 'deny'] as const),
        policy: 'authorize',
        rule: pick(['default', pick(AWKWARD)]),
      });
  }
  if (r() < 0.7) ctx.target = { host: pick(['127.0.0.1:3001', pick(AWKWARD)]) } as RequestContext['target'];
  ctx.bytesIn = pick([0, 17, 1_048_576]);
  ctx.bytesOut = pick([0, 92, 10_240]);
  return ctx;
}

describe('requestJson', () => {
  it('writes exactly what eventJson writes for requestEvents’ event, on 3,000 generated requests', () => {
    const r = generator(11);
    let checked = 0;
    for (let i = 0; i < 3000; i++) {
      const ctx = randomContext(r);
      expect(onlyRequestEvent(ctx)).toBe(true);
      const node = i % 2 ? 'gw-1' : 'node "a"';
      const status = [200, 404, 502, 0][i % 4] as number;
      const events: AuditEvent[] = [];
      requestEvents(ctx, node, status, true, (e) => events.push(e));
      expect(events).toHaveLength(1);
      const json = requestJson(ctx, quote(node), status);
      expect(json).toBe(eventJson(events[0] as AuditEvent));
      // Never the query, and the path capped.
      expect(json).not.toContain('secret');
      expect((JSON.parse(json) as AuditEvent).path?.length).toBeLessThanOrEqual(2048);
      checked++;
    }
    expect(checked).toBe(3000);
  });

  it('is not used when a request has security events, recorded or implied by its error', () => {
    const r = generator(12);
    const withEvent = randomContext(r);
    withEvent.securityEvent({ type: 'detection.sqli', policy: 'threat-detection', action: 'block' });
    expect(onlyRequestEvent(withEvent)).toBe(false);
    const refused = randomContext(r);
    refused.error = new GatewayError('FORBIDDEN');
    expect(onlyRequestEvent(refused)).toBe(false);
    const failed = randomContext(r);
    failed.error = new GatewayError('UPSTREAM_TIMEOUT');
    expect(onlyRequestEvent(failed)).toBe(true);
  });
});
