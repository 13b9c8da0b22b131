import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { AuditEvent } from '../types.js';

/** Enterprise number used for the structured-data id (RFC 5424 §7.2.2: name@<PEN>; 32473 is the example PEN). */
const SD_ID = 'rampart@32473';

const SEVERITY_SYSLOG: Record<string, number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };
const SEVERITY_CEF: Record<string, number> = { critical: 10, high: 8, medium: 5, low: 3, info: 1 };
const SEVERITY_RANK: Record<string, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

export function severityRank(s: AuditEvent['severity']): number {
  return SEVERITY_RANK[s ?? 'info'] ?? 0;
}

/** RFC 5424 §6.2.5 header fields: printable US-ASCII, no spaces, bounded; "-" when empty. */
function headerField(v: string | undefined, max: number): string {
  if (!v) return '-';
  const s = v.replace(/[^!-~]/g, '_').slice(0, max);
  return s || '-';
}

/** RFC 5424 §6.3.3 PARAM-VALUE: escape '"', '\' and ']'. */
function sdValue(v: string): string {
  return v.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

export interface SyslogOptions {
  facility: number;
  appName: string;
  host?: string;
  procId?: string;
}

const HOST = hostname();

/** The structured-data element: kind, type, request id, client, consumer, route, status (what SIEMs index). */
function structuredData(e: AuditEvent): string {
  const p: [string, string | number | undefined][] = [
    ['kind', e.kind],
    ['type', e.type],
    ['request_id', e.request_id],
    ['client_ip', e.actor?.client_ip],
    ['consumer', e.actor?.consumer],
    ['route', e.route],
    ['status', e.status],
    ['code', e.code],
    ['severity', e.severity],
  ];
  let out = `[${SD_ID}`;
  for (const [k, v] of p) if (v !== undefined && v !== '') out += ` ${k}="${sdValue(String(v))}"`;
  return `${out}]`;
}

/**
 * One RFC 5424 line (without framing): `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`. The MSG is the event as
 * JSON (format "rfc5424") or a CEF record (format "cef"); a UTF-8 BOM marks it as UTF-8 (§6.4).
 */
export function syslogLine(e: AuditEvent, o: SyslogOptions, msg: string): string {
  const sev = SEVERITY_SYSLOG[e.severity ?? (e.kind === 'security' ? 'medium' : 'info')] ?? 6;
  const pri = o.facility * 8 + sev;
  const host = headerField(e.node ?? o.host ?? HOST, 255);
  return `<${pri}>1 ${headerField(e.time, 64)} ${host} ${headerField(o.appName, 48)} ${headerField(o.procId ?? String(process.pid), 128)} ${headerField(e.type, 32)} ${structuredData(e)} \uFEFF${msg}`;
}

/** CEF header fields escape '\' and '|' (CEF spec "Character Encoding"); no newlines anywhere. */
function cefHeader(v: string): string {
  return v.replace(/[\\|]/g, (c) => `\\${c}`).replace(/[\r\n]+/g, ' ');
}

/** CEF extension values escape '\' and '=', and encode newlines as \n / \r. */
function cefExt(v: string): string {
  return v
    .replace(/[\\=]/g, (c) => `\\${c}`)
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n');
}

/** `CEF:0|Rampart|Rampart|version|signature id|name|severity|extension`, with ArcSight dictionary keys. */
export function cefRecord(e: AuditEvent, version: string): string {
  const sev = SEVERITY_CEF[e.severity ?? (e.kind === 'security' ? 'medium' : 'info')] ?? 1;
  const ext: [string, string | number | undefined][] = [
    ['rt', Date.parse(e.time) || undefined],
    ['cat', e.kind],
    ['src', e.actor?.client_ip],
    ['suser', e.actor?.consumer ?? e.actor?.operator],
    ['suid', e.actor?.credential],
    ['requestMethod', e.method],
    ['request', e.path],
    ['cs1Label', e.route === undefined ? undefined : 'route'],
    ['cs1', e.route],
    ['cs2Label', e.code === undefined ? undefined : 'code'],
    ['cs2', e.code],
    ['cs3Label', e.decision === undefined ? undefined : 'decision'],
    ['cs3', e.decision ? `${e.decision.effect} ${e.decision.policy}/${e.decision.rule}` : undefined],
    ['cn1Label', e.status === undefined ? undefined : 'status'],
    ['cn1', e.status],
    ['externalId', e.request_id],
    ['dvchost', e.node],
    ['in', e.bytes_in],
    ['out', e.bytes_out],
    ['msg', e.events?.length ? e.events.map((s) => s.type).join(',') : undefined],
  ];
  const parts: string[] = [];
  for (const [k, v] of ext) if (v !== undefined && v !== '') parts.push(`${k}=${cefExt(String(v))}`);
  if (e.detail) {
    for (const [k, v] of Object.entries(e.detail)) {
      if (/^[A-Za-z0-9_]{1,40}$/.test(k)) parts.push(`rampart_${k}=${cefExt(String(v))}`);
    }
  }
  return `CEF:0|Rampart|Rampart|${cefHeader(version)}|${cefHeader(e.type)}|${cefHeader(cefName(e))}|${sev}|${parts.join(' ')}`;
}

function cefName(e: AuditEvent): string {
  if (e.kind === 'request') return `${e.method ?? ''} ${e.route ?? '-'} ${e.status ?? ''}`.trim();
  return e.type;
}

/** Truncates a string to at most `max` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let b = Buffer.from(s).subarray(0, max);
  // Drop a trailing partial multi-byte sequence.
  let i = b.length - 1;
  while (i >= 0 && (b[i]! & 0xc0) === 0x80) i--;
  if (i >= 0 && b[i]! >= 0xc0) {
    const need = b[i]! >= 0xf0 ? 4 : b[i]! >= 0xe0 ? 3 : 2;
    if (b.length - i < need) b = b.subarray(0, i);
  }
  return b.toString('utf8');
}

export interface HecOptions {
  source: string;
  sourcetype: string;
  index?: string;
  host?: string;
}

/** One Splunk HEC event object (the body is these concatenated, one per line). */
export function hecEvent(line: string, e: AuditEvent, o: HecOptions): string {
  const t = Date.parse(e.time);
  const time = Number.isFinite(t) ? t / 1000 : Date.now() / 1000;
  const idx = o.index ? `,"index":${JSON.stringify(o.index)}` : '';
  return `{"time":${time},"host":${JSON.stringify(e.node ?? o.host ?? HOST)},"source":${JSON.stringify(o.source)},"sourcetype":${JSON.stringify(o.sourcetype)}${idx},"event":${line}}\n`;
}

/**
 * One Elasticsearch _bulk item: the index action, then the document. The _id is a digest of the event line, so a
 * batch sent again after a lost answer overwrites instead of duplicating.
 */
export function bulkItem(line: string, index: string): string {
  const id = createHash('sha256').update(line).digest('hex').slice(0, 32);
  return `{"index":{"_index":${JSON.stringify(index)},"_id":"${id}"}}\n${line}\n`;
}
