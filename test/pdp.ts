import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small real policy decision point on 127.0.0.1 for tests: OPA's data API (`POST /v1/data/<path>` with
 * `{input}`) and the OpenID AuthZEN evaluation (`POST /access/v1/evaluation`), both answering from one tiny rule
 * table. It records every call, and can be told to stall, fail or answer garbage.
 */

/** One row of the rule table; the first row whose set fields all match decides. */
export interface Rule {
  subject?: string | null;
  role?: string;
  method?: string;
  route?: string;
  /** The resource id (AuthZEN) or the path parameter `id` (OPA). */
  resource?: string;
  allow: boolean;
  reason?: string;
}

export type PdpMode =
  | 'normal'
  /** Never answers (the gateway's timeout decides). */
  | 'stall'
  /** Answers after `delayMs` (to hold concurrent identical calls in flight). */
  | 'delay'
  | 'status500'
  | 'not-json'
  /** A 200 with a body of 100 KiB. */
  | 'huge'
  /** OPA: `{"result": "yes"}`; AuthZEN: `{"decision": "yes"}`. */
  | 'malformed'
  /** OPA: `{}` (an undefined document). */
  | 'undefined';

export interface PdpCall {
  url: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** What both protocols' questions reduce to, for the rule table. */
interface Asked {
  subject: string | null;
  roles: readonly string[];
  method: string;
  route: string | null;
  resource: string | undefined;
}

export interface TestPdp {
  url: string;
  port: number;
  calls: PdpCall[];
  rules: Rule[];
  mode: PdpMode;
  delayMs: number;
  /** Calls to one protocol's endpoint since the last reset. */
  count(kind?: 'opa' | 'authzen'): number;
  reset(): void;
  close(): Promise<void>;
}

function decide(rules: readonly Rule[], q: Asked): { allow: boolean; reason: string } {
  for (const r of rules) {
    if (r.subject !== undefined && r.subject !== q.subject) continue;
    if (r.role !== undefined && !q.roles.includes(r.role)) continue;
    if (r.method !== undefined && r.method !== q.method) continue;
    if (r.route !== undefined && r.route !== q.route) continue;
    if (r.resource !== undefined && r.resource !== q.resource) continue;
    return { allow: r.allow, reason: r.reason ?? (r.allow ? 'rule matched' : 'rule denied') };
  }
  return { allow: false, reason: 'no rule' };
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null ? (v as Obj) : {});

function fromOpa(body: Obj): Asked {
  const input = obj(body.input);
  const req = obj(input.request);
  const who = input.identity === null ? null : obj(input.identity);
  return {
    subject: who ? String(who.subject) : null,
    roles: who && Array.isArray(who.roles) ? (who.roles as string[]) : [],
    method: String(req.method),
    route: (req.route as string | null) ?? null,
    resource: obj(req.params).id as string | undefined,
  };
}

function fromAuthzen(body: Obj): Asked {
  const subject = obj(body.subject);
  const props = obj(subject.properties);
  const resource = obj(body.resource);
  return {
    subject: subject.type === 'anonymous' ? null : String(subject.id),
    roles: Array.isArray(props.roles) ? (props.roles as string[]) : [],
    method: String(obj(obj(body.action).properties).method),
    route: (obj(resource.properties).route as string | null) ?? null,
    resource: resource.id as string | undefined,
  };
}

export async function startPdp(rules: Rule[] = [], port = 0): Promise<TestPdp> {
  const pdp: TestPdp = {
    url: '',
    port: 0,
    calls: [],
    rules,
    mode: 'normal',
    delayMs: 50,
    count: (kind) =>
      pdp.calls.filter((c) =>
        kind === undefined ? true : kind === 'opa' ? c.url.includes('/v1/data/') : c.url.endsWith('/evaluation'),
      ).length,
    reset() {
      pdp.calls.length = 0;
      pdp.mode = 'normal';
    },
    close: () => Promise.resolve(),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      const opa = /\/v1\/data\//.test(url);
      const authzen = url.endsWith('/access/v1/evaluation');
      if (req.method !== 'POST' || !(opa || authzen)) {
        res.writeHead(404).end();
        return;
      }
      let body: Obj;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString()) as Obj;
      } catch {
        res.writeHead(400).end();
        return;
      }
      pdp.calls.push({ url, headers: req.headers, body });
      const json = (status: number, v: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(typeof v === 'string' ? v : JSON.stringify(v));
      };
      const answer = () => {
        const d = decide(pdp.rules, opa ? fromOpa(body) : fromAuthzen(body));
        switch (pdp.mode) {
          case 'status500':
            return json(500, { error: 'boom' });
          case 'not-json':
            return json(200, '<html>oops</html>');
          case 'huge':
            return json(200, { result: true, padding: 'x'.repeat(100 * 1024) });
          case 'malformed':
            return json(200, opa ? { result: 'yes' } : { decision: 'yes' });
          case 'undefined':
            return json(200, {});
        }
        if (!opa) return json(200, { decision: d.allow, context: { reason: d.reason } });
        // A path ending in /allow evaluates the boolean rule itself; else the package's object.
        return json(
          200,
          url.endsWith('/allow') ? { result: d.allow } : { result: { allow: d.allow, reason: d.reason } },
        );
      };
      if (pdp.mode === 'stall') return;
      if (pdp.mode === 'delay') setTimeout(answer, pdp.delayMs);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  pdp.port = (server.address() as AddressInfo).port;
  pdp.url = `http://127.0.0.1:${pdp.port}`;
  pdp.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return pdp;
}
