import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../types.js';
import { createSinks, type Sink } from './index.js';
import { sinksSchema } from './schema.js';

/**
 * A local SIEM collector on node:http speaking Splunk HEC (/services/collector/event) and Elasticsearch _bulk, that
 * can be stopped (connections refused) and started again on the same port.
 */
class Collector {
  server: Server | null = null;
  port = 0;
  /** request_id → times received (HEC), or stored documents by _id (bulk). */
  readonly hec = new Map<string, number>();
  readonly docs = new Map<string, AuditEvent>();
  readonly auth: string[] = [];
  hecShape: unknown = null;
  requests = 0;
  /** Bulk: _ids answered 429 once (then accepted), and request ids refused with a mapping error. */
  readonly throttleOnce = new Set<string>();
  readonly mappingError = new Set<string>();
  private readonly throttled = new Set<string>();
  status: number | null = null;
  /** Bodies larger than this are answered 413 (as a HEC with max_content_length, or Elasticsearch's http.max_content_length). */
  maxBody = Number.POSITIVE_INFINITY;

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    const s = this.server!;
    this.server = null;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      this.requests++;
      this.auth.push(String(req.headers.authorization));
      if (this.status) {
        res.writeHead(this.status).end('{}');
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      if (body.length > this.maxBody) {
        res.writeHead(413).end('{"text":"Content too large","code":27}');
        return;
      }
      const lines = body.split('\n').filter(Boolean);
      if (req.url === '/services/collector/event') {
        for (const l of lines) {
          const o = JSON.parse(l) as { event: AuditEvent };
          this.hecShape ??= o;
          this.hec.set(o.event.request_id!, (this.hec.get(o.event.request_id!) ?? 0) + 1);
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
        return;
      }
      if (req.url === '/_bulk') {
        const items: unknown[] = [];
        let errors = false;
        for (let i = 0; i < lines.length; i += 2) {
          const action = JSON.parse(lines[i]!) as { index: { _index: string; _id: string } };
          const doc = JSON.parse(lines[i + 1]!) as AuditEvent;
          const id = action.index._id;
          if (this.throttleOnce.has(doc.request_id!) && !this.throttled.has(id)) {
            this.throttled.add(id);
            errors = true;
            items.push({ index: { _id: id, status: 429, error: { type: 'es_rejected_execution_exception' } } });
          } else if (this.mappingError.has(doc.request_id!)) {
            errors = true;
            items.push({ index: { _id: id, status: 400, error: { type: 'mapper_parsing_exception' } } });
          } else {
            const existed = this.docs.has(id);
            this.docs.set(id, doc);
            items.push({ index: { _id: id, status: existed ? 200 : 201, result: existed ? 'updated' : 'created' } });
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ took: 1, errors, items }));
        return;
      }
      res.writeHead(404).end();
    });
  }
}

const logger = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(25);
  }
}
async function metric(r: Registry, name: string, sink: string): Promise<number> {
  const m = await r.getSingleMetric(name)?.get();
  return m?.values.find((v) => v.labels.sink === sink)?.value ?? 0;
}

let seq = 0;
function events(n: number, tag: string): AuditEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    time: new Date().toISOString(),
    kind: 'request',
    type: 'request',
    request_id: `${tag}-${seq++}`,
    actor: { client_ip: '192.0.2.9', consumer: `c${i % 7}` },
    route: 'orders',
    method: 'GET',
    path: `/orders/${i}`,
    status: 200,
  }));
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

function sinkOf(cfg: unknown, dataDir: string, registry: Registry): Sink {
  const [s] = createSinks(sinksSchema.parse([cfg]), { logger, dataDir, metrics: registry });
  return s!;
}

describe('HTTP sinks against a local collector', () => {
  it('Splunk HEC: the collector is down for a while mid-stream and nothing is lost', async () => {
    const col = new Collector();
    await col.start();
    const r = new Registry();
    const s = sinkOf(
      {
        name: 'splunk',
        type: 'http',
        format: 'splunk_hec',
        url: `http://127.0.0.1:${col.port}/services/collector/event`,
        token: 'hec-token-1',
        index: 'sec',
        batch_events: 100,
        retry: { base_ms: 50, max_ms: 400 },
      },
      mkdtempSync(join(tmpdir(), 'rampart-data-')),
      r,
    );
    cleanup.push(() => s.close());
    const sent = events(3000, 'hec');
    let stoppedAt = -1;
    for (let i = 0; i < sent.length; i += 50) {
      if (i === 1000) {
        await col.stop();
        stoppedAt = col.hec.size;
      }
      if (i === 2000) await col.start(); // same port
      s.handle(sent.slice(i, i + 50));
      await sleep(i >= 1000 && i < 2000 ? 150 : 5);
    }
    // While down, events piled up in the spool and sends were retried.
    expect(stoppedAt).toBeLessThan(sent.length);
    expect(await metric(r, 'rampart_audit_sink_retries_total', 'splunk')).toBeGreaterThan(0);
    await waitFor(() => col.hec.size >= sent.length);
    for (const e of sent) expect(col.hec.get(e.request_id!)).toBeGreaterThanOrEqual(1);
    expect(await metric(r, 'rampart_audit_sink_dropped_total', 'splunk')).toBe(0);
    await waitFor(() => s.pending === 0);
    expect(await metric(r, 'rampart_audit_sink_buffered', 'splunk')).toBe(0);
    expect(col.auth.every((a) => a === 'Splunk hec-token-1')).toBe(true);
    expect(col.hecShape).toMatchObject({
      host: expect.any(String),
      source: 'rampart',
      sourcetype: 'rampart:audit',
      index: 'sec',
    });
    expect(typeof (col.hecShape as { time: unknown }).time).toBe('number');
    await col.stop();
  }, 60_000);

  it('Elasticsearch _bulk: per-item 429s are sent again, mapping errors are counted as rejected', async () => {
    const col = new Collector();
    await col.start();
    cleanup.push(() => col.stop());
    const r = new Registry();
    const s = sinkOf(
      {
        name: 'es',
        type: 'http',
        format: 'elasticsearch_bulk',
        url: `http://127.0.0.1:${col.port}/_bulk`,
        index: 'audit-x',
        batch_events: 40,
        retry: { base_ms: 10, max_ms: 50 },
      },
      mkdtempSync(join(tmpdir(), 'rampart-data-')),
      r,
    );
    cleanup.push(() => s.close());
    const sent = events(400, 'es');
    for (const e of sent.filter((_, i) => i % 25 === 0)) col.throttleOnce.add(e.request_id!);
    const bad = sent[399]!.request_id!;
    col.mappingError.add(bad);
    s.handle(sent);
    await waitFor(() => s.pending === 0);
    const stored = new Set([...col.docs.values()].map((d) => d.request_id));
    expect(stored.size).toBe(399);
    for (const e of sent) if (e.request_id !== bad) expect(stored.has(e.request_id)).toBe(true);
    // Resent batches overwrote by _id instead of duplicating.
    expect(col.docs.size).toBe(399);
    expect(await metric(r, 'rampart_audit_sink_rejected_total', 'es')).toBe(1);
    expect(await metric(r, 'rampart_audit_sink_sent_total', 'es')).toBe(399);
    expect(await metric(r, 'rampart_audit_sink_retries_total', 'es')).toBeGreaterThan(0);
    expect(await metric(r, 'rampart_audit_sink_dropped_total', 'es')).toBe(0);
  });

  it('a restart with a non-empty spool sends what the previous run could not', async () => {
    const col = new Collector();
    await col.start();
    const port = col.port;
    await col.stop();
    const data = mkdtempSync(join(tmpdir(), 'rampart-data-'));
    const cfg = {
      name: 'restart',
      type: 'http',
      format: 'splunk_hec',
      url: `http://127.0.0.1:${port}/services/collector/event`,
      token: 't',
      retry: { base_ms: 20, max_ms: 100 },
    };
    const r1 = new Registry();
    const s1 = sinkOf(cfg, data, r1);
    const sent = events(500, 'rs');
    s1.handle(sent);
    await sleep(200);
    expect(s1.pending).toBe(500);
    await s1.close();

    await col.start();
    cleanup.push(() => col.stop());
    const r2 = new Registry();
    const s2 = sinkOf(cfg, data, r2);
    cleanup.push(() => s2.close());
    expect(await metric(r2, 'rampart_audit_sink_buffered', 'restart')).toBe(500);
    await waitFor(() => col.hec.size >= sent.length);
    for (const e of sent) expect(col.hec.get(e.request_id!)).toBe(1);
    await waitFor(() => s2.pending === 0);
  });

  it('413: the batch is sent again in halves; an event too large on its own is rejected, not retried forever', async () => {
    const col = new Collector();
    await col.start();
    cleanup.push(() => col.stop());
    // About 10 events fit in a body.
    col.maxBody = 3000;
    const r = new Registry();
    const s = sinkOf(
      {
        name: 'small',
        type: 'http',
        format: 'splunk_hec',
        url: `http://127.0.0.1:${col.port}/services/collector/event`,
        token: 't',
        batch_events: 100,
        retry: { base_ms: 10, max_ms: 60_000 },
      },
      mkdtempSync(join(tmpdir(), 'rampart-data-')),
      r,
    );
    cleanup.push(() => s.close());
    const sent = events(300, 'big');
    const huge: AuditEvent = { ...sent[150]!, detail: { note: 'x'.repeat(4000) } };
    sent[150] = huge;
    s.handle(sent);
    // With retry.max_ms at a minute, only sending again at once (not a backoff) delivers within the wait.
    await waitFor(() => s.pending === 0, 15_000);
    expect(col.hec.size).toBe(299);
    for (const e of sent) if (e !== huge) expect(col.hec.get(e.request_id!)).toBe(1);
    expect(col.hec.has(huge.request_id!)).toBe(false);
    expect(await metric(r, 'rampart_audit_sink_rejected_total', 'small')).toBe(1);
    expect(await metric(r, 'rampart_audit_sink_sent_total', 'small')).toBe(299);
    expect(await metric(r, 'rampart_audit_sink_dropped_total', 'small')).toBe(0);
  });

  it('a refused token keeps events spooled (no loss), and a full spool drops and counts', async () => {
    const col = new Collector();
    await col.start();
    cleanup.push(() => col.stop());
    col.status = 403;
    const r = new Registry();
    const s = sinkOf(
      {
        name: 'full',
        type: 'http',
        format: 'splunk_hec',
        url: `http://127.0.0.1:${col.port}/services/collector/event`,
        token: 'wrong',
        retry: { base_ms: 10, max_ms: 100 },
        buffer: { max_bytes: 65_536 },
      },
      mkdtempSync(join(tmpdir(), 'rampart-data-')),
      r,
    );
    cleanup.push(() => s.close());
    const evs = events(400, 'full');
    let fit = 0;
    for (let bytes = 0; fit < evs.length; fit++) {
      bytes += Buffer.byteLength(JSON.stringify(evs[fit])) + 1;
      if (bytes > 65_536) break;
    }
    expect(fit).toBeLessThan(400);
    s.handle(evs);
    await waitFor(() => col.requests > 0);
    expect(s.pending).toBe(fit);
    expect(await metric(r, 'rampart_audit_sink_dropped_total', 'full')).toBe(400 - fit);
    col.status = null;
    await waitFor(() => s.pending === 0);
    expect(col.hec.size).toBe(fit);
  });
});
