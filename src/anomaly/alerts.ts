import { createHmac, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, type Registry, register } from 'prom-client';
import { Agent, request } from 'undici';
import type { AuditEvent } from '../audit/types.js';
import { denyAddress } from '../policies/ip-filter/deny-list.js';
import type { SharedState } from '../state/types.js';
import type { Alert } from './detector.js';
import type { AnomalyConfig } from './schema.js';
import { LruMap } from './window.js';

export interface AlertDeps {
  logger: Logger;
  /** Writes the alert into the audit log (it then reaches the sinks too). */
  record?: (e: AuditEvent) => void;
  /** For the deny-list action. */
  state?: SharedState;
  metrics?: Registry;
  node?: string;
}

interface AnomalyMetrics {
  alerts: Counter<'detector'>;
  webhookFailed: Counter<never>;
}
const metricCache = new WeakMap<Registry, AnomalyMetrics>();
function anomalyMetrics(r: Registry): AnomalyMetrics {
  let m = metricCache.get(r);
  if (m) return m;
  m = {
    alerts:
      (r.getSingleMetric('rampart_anomaly_alerts_total') as Counter<'detector'> | undefined) ??
      new Counter({
        name: 'rampart_anomaly_alerts_total',
        help: 'Anomaly alerts raised (after the cooldown), by detector',
        labelNames: ['detector'] as const,
        registers: [r],
      }),
    webhookFailed:
      (r.getSingleMetric('rampart_anomaly_webhook_failed_total') as Counter<never> | undefined) ??
      new Counter({
        name: 'rampart_anomaly_webhook_failed_total',
        help: 'Anomaly alerts the webhook never accepted (retries exhausted, refused, or queue overflow)',
        registers: [r],
      }),
  };
  metricCache.set(r, m);
  return m;
}

/** The signature header value: sha256=hex(HMAC-SHA256(secret, timestamp + "." + body)). */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Turns detector reports into alerts: one per (detector, key) per cooldown, written to the audit log as a security
 * event "anomaly.<detector>", POSTed to the webhook (signed, retried, from a bounded queue) and, when the detector
 * says so, the client address put on the dynamic deny list for a while.
 */
export class Alerter {
  private readonly cooldown: LruMap<string, { until: number }>;
  private readonly queue: { id: string; body: string }[] = [];
  private sending = false;
  private closed = false;
  private readonly agent: Agent | null;
  private readonly metrics: AnomalyMetrics;

  constructor(
    private readonly c: AnomalyConfig,
    private readonly deps: AlertDeps,
  ) {
    this.cooldown = new LruMap(c.max_keys, Math.max(1, c.cooldown_s) * 1000);
    this.agent = c.webhook ? new Agent({ connections: 2, connect: { timeout: c.webhook.timeout_ms } }) : null;
    this.metrics = anomalyMetrics(deps.metrics ?? register);
  }

  raise(a: Alert, t: number): void {
    const key = `${a.detector}\u0000${a.key}`;
    const cd = this.cooldown.touch(key, t, () => ({ until: 0 }));
    if (t < cd.until) return;
    cd.until = t + this.c.cooldown_s * 1000;
    const state = this.deps.state;
    if (!state || this.c.cooldown_s === 0) {
      this.fire(a);
      return;
    }
    // The cooldown also holds across workers and nodes: the first to take the slot alerts. A state failure alerts
    // anyway (a duplicate alert is better than none).
    state
      .consume({
        key: `anomaly:cd:${a.detector}:${a.key}`,
        algorithm: 'sliding-window',
        limit: 1,
        windowMs: this.c.cooldown_s * 1000,
      })
      .then(
        (r) => r.allowed && this.fire(a),
        () => this.fire(a),
      );
  }

  private fire(a: Alert): void {
    const dc = this.c.detectors[a.detector];
    const denyFor = 'deny_for_s' in dc ? dc.deny_for_s : undefined;
    const deny = denyFor !== undefined && a.client_ip !== undefined && this.deps.state !== undefined;
    const detail: Record<string, string | number | boolean> = { ...a.detail, key: a.key };
    if (deny) detail.deny_for_s = denyFor!;
    const time = new Date().toISOString();
    const event: AuditEvent = {
      time,
      kind: 'security',
      type: `anomaly.${a.detector}`,
      ...(this.deps.node && { node: this.deps.node }),
      severity: dc.severity,
      ...((a.client_ip || a.consumer) && {
        actor: { ...(a.consumer && { consumer: a.consumer }), ...(a.client_ip && { client_ip: a.client_ip }) },
      }),
      ...(a.route && { route: a.route }),
      ...(a.path && { path: a.path }),
      detail,
    };
    this.metrics.alerts.inc({ detector: a.detector });
    this.deps.logger.warn({ anomaly: a.detector, key: a.key, detail: a.detail }, 'anomaly detected');
    try {
      this.deps.record?.(event);
    } catch (err) {
      this.deps.logger.error({ err: (err as Error).message }, 'anomaly: could not record the alert in the audit log');
    }
    if (deny) {
      denyAddress(this.deps.state!, a.client_ip!, `anomaly.${a.detector}`, denyFor! * 1000).catch((err) =>
        this.deps.logger.error(
          { err: (err as Error).message, anomaly: a.detector },
          'anomaly: deny-list action failed',
        ),
      );
    }
    if (this.c.webhook && !this.closed) {
      if (this.queue.length >= this.c.webhook.max_queue) {
        this.queue.shift();
        this.metrics.webhookFailed.inc();
        this.deps.logger.error('anomaly: webhook queue full, oldest alert dropped (it is still in the audit log)');
      }
      this.queue.push({ id: randomUUID(), body: JSON.stringify(event) });
      void this.pump();
    }
  }

  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const item = this.queue[0]!;
        await this.deliver(item.id, item.body);
        this.queue.shift();
      }
    } finally {
      this.sending = false;
    }
  }

  private async deliver(id: string, body: string): Promise<void> {
    const w = this.c.webhook!;
    for (let attempt = 0; attempt <= w.retries && !this.closed; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(30_000, 250 * 2 ** attempt)));
      const ts = String(Math.floor(Date.now() / 1000));
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'x-rampart-delivery': id,
        'x-rampart-timestamp': ts,
      };
      if (w.secret) headers['x-rampart-signature'] = signWebhook(w.secret, ts, body);
      let status = 0;
      try {
        const res = await request(w.url, {
          method: 'POST',
          headers,
          body,
          dispatcher: this.agent!,
          signal: AbortSignal.timeout(w.timeout_ms),
        });
        status = res.statusCode;
        await res.body.dump();
      } catch {
        status = 0; // connection error or timeout: retry
      }
      if (status >= 200 && status < 300) return;
      if (status >= 400 && status < 500 && status !== 429) break; // refused: retrying will not help
    }
    this.metrics.webhookFailed.inc();
    this.deps.logger.error(
      { delivery: id },
      'anomaly: webhook did not accept the alert (it is still in the audit log)',
    );
  }

  async close(): Promise<void> {
    // Give queued alerts a moment to go out, then stop.
    const end = Date.now() + 2_000;
    while ((this.sending || this.queue.length > 0) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    await this.agent?.close();
  }
}
