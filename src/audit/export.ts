import { join } from 'node:path';
import type { Keyring } from '../crypto/keyring.js';
import type { AuditRecord } from './chain.js';
import { listChains, listSegments, readSegmentText } from './segments.js';
import { cefRecord } from './sinks/format.js';
import type { AuditEvent } from './types.js';

/** What `audit export` and `audit search` select; every given field must match. */
export interface AuditFilter {
  readonly from?: number;
  readonly to?: number;
  /** Event types; "auth." matches every type that starts with it. */
  readonly types?: readonly string[];
  readonly kinds?: readonly string[];
  readonly consumer?: string;
  readonly ip?: string;
  readonly route?: string;
  readonly status?: number;
  /** Case-insensitive substring of the event's JSON. */
  readonly text?: string;
}

export function matches(e: AuditEvent, f: AuditFilter): boolean {
  const t = Date.parse(e.time);
  if (f.from !== undefined && !(t >= f.from)) return false;
  if (f.to !== undefined && !(t < f.to)) return false;
  if (f.kinds?.length && !f.kinds.includes(e.kind)) return false;
  if (f.types?.length && !f.types.some((x) => (x.endsWith('.') ? e.type.startsWith(x) : e.type === x))) return false;
  if (f.consumer !== undefined && e.actor?.consumer !== f.consumer && e.actor?.subject !== f.consumer) return false;
  if (f.ip !== undefined && e.actor?.client_ip !== f.ip) return false;
  if (f.route !== undefined && e.route !== f.route) return false;
  if (f.status !== undefined && e.status !== f.status) return false;
  if (f.text !== undefined && !JSON.stringify(e).toLowerCase().includes(f.text.toLowerCase())) return false;
  return true;
}

/**
 * Every record of every chain in the folder, oldest segment first per chain (chains one after the other). Archived
 * segments need the keyring; without it they are skipped and counted in `skipped`.
 */
export async function* readRecords(
  dir: string,
  keyring: Keyring | null,
  skipped: string[] = [],
): AsyncGenerator<{ chain: string; record: AuditRecord }> {
  for (const chain of await listChains(dir)) {
    const chainDir = join(dir, chain);
    let last = 0;
    for (const seg of await listSegments(chainDir)) {
      if (seg.first === last) continue; // a plain and an archived copy
      last = seg.first;
      const text = await readSegmentText(chainDir, chain, seg, keyring);
      if (text === null) {
        skipped.push(`${chain}/${seg.name}`);
        continue;
      }
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          yield { chain, record: JSON.parse(line) as AuditRecord };
        } catch {
          // a torn last line: `audit verify` reports it
        }
      }
    }
  }
}

export type ExportFormat = 'jsonl' | 'cef' | 'ocsf';

/** One output line for an event in the chosen format (JSON Lines keep chain, seq and hash for cross-checking). */
export function formatEvent(chain: string, r: AuditRecord, format: ExportFormat, version: string): string {
  if (format === 'cef') return cefRecord(r.event, version);
  if (format === 'ocsf') return JSON.stringify(ocsf(r.event, chain, r, version));
  return JSON.stringify({ chain, seq: r.seq, hash: r.hash, ...r.event });
}

const OCSF_SEVERITY: Record<string, number> = { info: 1, low: 2, medium: 3, high: 4, critical: 5 };

/**
 * OCSF 1.1: requests as API Activity (6003), authentication failures and lockouts as Authentication (3002), other
 * security events as Detection Finding (2004), changes and system records as Entity Management (3004) — each with
 * the event kept whole under `unmapped`, so nothing is lost in the mapping.
 */
function ocsf(e: AuditEvent, chain: string, r: AuditRecord, version: string): Record<string, unknown> {
  const cls =
    e.kind === 'request'
      ? { class_uid: 6003, category_uid: 6, class_name: 'API Activity' }
      : e.type.startsWith('auth.')
        ? { class_uid: 3002, category_uid: 3, class_name: 'Authentication' }
        : e.kind === 'security'
          ? { class_uid: 2004, category_uid: 2, class_name: 'Detection Finding' }
          : { class_uid: 3004, category_uid: 3, class_name: 'Entity Management' };
  const activity = e.kind === 'request' ? 99 : e.kind === 'security' ? 1 : 3;
  const denied = (e.status ?? 0) >= 400 || e.decision?.effect === 'deny';
  return {
    ...cls,
    activity_id: activity,
    type_uid: cls.class_uid * 100 + activity,
    time: Date.parse(e.time),
    severity_id: OCSF_SEVERITY[e.severity ?? 'info'] ?? 1,
    status_id: e.kind === 'request' || e.kind === 'security' ? (denied ? 2 : 1) : 1,
    ...(e.status !== undefined && { status_code: String(e.status) }),
    message: e.type,
    metadata: {
      version: '1.1.0',
      product: { name: 'Rampart', vendor_name: 'Rampart', version },
      uid: `${chain}:${r.seq}`,
      ...(e.request_id && { correlation_uid: e.request_id }),
      log_name: 'rampart-audit',
    },
    ...(e.actor && {
      actor: {
        user: { uid: e.actor.consumer ?? e.actor.operator, name: e.actor.subject ?? e.actor.operator },
        ...(e.actor.credential && { authorizations: [{ policy: { uid: e.actor.credential } }] }),
      },
      src_endpoint: { ip: e.actor.client_ip },
    }),
    ...(e.method && {
      http_request: { http_method: e.method, url: { path: e.path } },
      api: { operation: `${e.method} ${e.route ?? ''}`.trim(), service: { name: e.route } },
    }),
    ...(e.status !== undefined && { http_response: { code: e.status } }),
    ...(e.upstream && { dst_endpoint: { hostname: e.upstream } }),
    ...(e.latency_ms !== undefined && { duration: e.latency_ms }),
    ...(e.node && { device: { hostname: e.node } }),
    unmapped: e,
  };
}
