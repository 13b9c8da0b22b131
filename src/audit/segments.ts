import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip } from 'node:zlib';
import type { Keyring } from '../crypto/keyring.js';
import type { AuditRecord } from './chain.js';
import { AUDIT_PURPOSE } from './signer.js';

const gunzipAsync = promisify(gunzip);
const brotliDecompressAsync = promisify(brotliDecompress);

/**
 * A chain's folder: `seg-<first seq>.jsonl` (the active segment, or a closed one not yet archived),
 * `seg-<first seq>.jsonl.br.enc` (closed: Brotli, then AES-256-GCM under the keyring's audit data key; archives
 * written before Brotli are `.jsonl.gz.enc`, gzip, and still read),
 * `seg-<first seq>.meta.json` (closed: first/last times per type for retention, and the signed close record, so the
 * chain verifies across an archive without decrypting it), HEAD.json (the newest signed state), LOCK.
 */
export interface SegmentFile {
  readonly first: number;
  readonly name: string;
  readonly archived: boolean;
}

/** Written when a segment is closed: what retention and a verification without the keyring need. */
export interface SegmentMeta {
  readonly chain: string;
  readonly first_seq: number;
  readonly first_prev: string;
  readonly first_time: string;
  readonly last_time: string;
  /** Newest event time per event type (retention is by type, else kind). */
  readonly last_by_type: Record<string, { kind: string; time: string }>;
  /** The signed `audit.segment.close` record that ends the segment, and its line as written (its hash covers it). */
  readonly close: AuditRecord;
  readonly close_line: string;
}

/** The newest signed state of a chain: truncation before it is detected (HEAD.json). */
export interface ChainHead {
  readonly chain: string;
  readonly seq: number;
  readonly hash: string;
  readonly key_id: string;
  readonly sig: string;
}

const SEG = /^seg-(\d{12})\.jsonl(\.(?:br|gz)\.enc)?$/;

/** What an archive's name adds to its segment's: Brotli, then encryption. */
export const ARCHIVE_SUFFIX = '.br.enc';
/** The suffix of archives written before Brotli (gzip): read, and deleted by retention, like the others. */
export const GZIP_ARCHIVE_SUFFIX = '.gz.enc';

export function segmentName(first: number): string {
  return `seg-${String(first).padStart(12, '0')}.jsonl`;
}

export function metaName(first: number): string {
  return `seg-${String(first).padStart(12, '0')}.meta.json`;
}

export async function listSegments(chainDir: string): Promise<SegmentFile[]> {
  const out: SegmentFile[] = [];
  for (const name of await readdir(chainDir).catch(() => [] as string[])) {
    const m = SEG.exec(name);
    if (m) out.push({ first: Number(m[1]), name, archived: Boolean(m[2]) });
  }
  return out.sort((a, b) => a.first - b.first || Number(a.archived) - Number(b.archived));
}

/** Chains in an audit folder: every sub-folder holding a HEAD.json or a segment. */
export async function listChains(auditDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(auditDir, { withFileTypes: true }).catch(() => [])) {
    if (!d.isDirectory()) continue;
    const files = await readdir(join(auditDir, d.name)).catch(() => [] as string[]);
    if (files.some((f) => f === 'HEAD.json' || SEG.test(f))) out.push(d.name);
  }
  return out.sort();
}

export function archiveAad(chain: string, first: number): string {
  return `audit-segment:${chain}:${first}`;
}

/** A segment's text: plain, or decrypted and decompressed (needs the keyring); null when archived and no keyring. */
export async function readSegmentText(
  chainDir: string,
  chain: string,
  seg: SegmentFile,
  keyring: Keyring | null,
): Promise<string | null> {
  if (!seg.archived) return readFile(join(chainDir, seg.name), 'utf8');
  if (!keyring) return null;
  const sealed = await readFile(join(chainDir, seg.name), 'utf8');
  const packed = keyring.decrypt(AUDIT_PURPOSE, sealed.trim(), archiveAad(chain, seg.first));
  const text = seg.name.endsWith(GZIP_ARCHIVE_SUFFIX) ? gunzipAsync(packed) : brotliDecompressAsync(packed);
  return (await text).toString('utf8');
}

export async function readMeta(chainDir: string, first: number): Promise<SegmentMeta | null> {
  try {
    return JSON.parse(await readFile(join(chainDir, metaName(first)), 'utf8')) as SegmentMeta;
  } catch {
    return null;
  }
}

export async function readHead(chainDir: string): Promise<ChainHead | null> {
  try {
    return JSON.parse(await readFile(join(chainDir, 'HEAD.json'), 'utf8')) as ChainHead;
  } catch {
    return null;
  }
}
