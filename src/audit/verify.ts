import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { Keyring } from '../crypto/keyring.js';
import { type AuditRecord, GENESIS, parseLine, SIGNED_TYPES, signedMessage } from './chain.js';
import { listChains, listSegments, readHead, readMeta, readSegmentText, type SegmentFile } from './segments.js';
import { keyIdOf, verifySignature } from './signer.js';

export type ProblemKind = 'altered' | 'removed' | 'inserted' | 'reordered' | 'truncated' | 'malformed' | 'signature';

export interface VerifyProblem {
  readonly kind: ProblemKind;
  /** The first record that is wrong (or missing), when it can be named. */
  readonly seq: number | null;
  readonly segment: string;
  readonly message: string;
}

export interface ChainReport {
  readonly chain: string;
  readonly ok: boolean;
  readonly records: number;
  readonly first_seq: number;
  readonly last_seq: number;
  /** The newest record a valid signature covers (checkpoints, HEAD.json). */
  readonly signed_upto: number;
  /** Records after the newest signed one: chained, but their removal from the end is undetectable until signed. */
  readonly unsigned_tail: number;
  /** Bytes of an incomplete last line (a crash during a write; the writer cuts it off at its next start). */
  readonly torn_bytes: number;
  /** Archived segments checked only by their signed close record (no keyring to decrypt them). */
  readonly archived_unchecked: readonly string[];
  readonly problem: VerifyProblem | null;
  readonly warnings: readonly string[];
}

export interface VerifyOptions {
  /** Trusted public keys (Ed25519); a signature by any other key fails. */
  readonly publicKeys: readonly KeyObject[];
  /** Decrypts archived segments; without it they are checked by their signed close record only. */
  readonly keyring?: Keyring | null;
  /** Only this chain. */
  readonly chain?: string;
}

export async function verifyAuditDir(dir: string, o: VerifyOptions): Promise<ChainReport[]> {
  const chains = o.chain ? [o.chain] : await listChains(dir);
  const out: ChainReport[] = [];
  for (const c of chains) out.push(await verifyChain(join(dir, c), c, o));
  return out;
}

class Stop extends Error {
  constructor(readonly problem: VerifyProblem) {
    super(problem.message);
  }
}

/**
 * Walks a chain from its oldest segment: every record's hash, its link to the one before, consecutive sequence
 * numbers, every signed record's signature over the state before it, then HEAD.json against the end (truncation), and a
 * retention record covering a deleted start. Stops at the first problem and names that record.
 */
export async function verifyChain(chainDir: string, chain: string, o: VerifyOptions): Promise<ChainReport> {
  const keys = new Map(o.publicKeys.map((k) => [keyIdOf(k), k]));
  const warnings: string[] = [];
  const archivedUnchecked: string[] = [];
  let expected = 0;
  let prev = GENESIS;
  let records = 0;
  let firstSeq = 0;
  let signedUpto = 0;
  let torn = 0;
  const retention = new Map<number, string>(); // deleted_last_seq → deleted_last_hash (signed)
  const head = await readHead(chainDir);
  let headSeen = false;
  let segName = '';

  const stop = (kind: ProblemKind, seq: number | null, message: string): never => {
    throw new Stop({ kind, seq, segment: segName, message });
  };

  const checkSigned = (r: AuditRecord) => {
    const d = r.event.detail ?? {};
    const sig = String(d.sig ?? '');
    const key = keys.get(String(d.key_id ?? ''));
    if (d.upto_seq !== r.seq - 1 || d.upto_hash !== r.prev || d.chain !== chain)
      stop('altered', r.seq, `signed record seq ${r.seq} does not sign the state before it`);
    if (!key) stop('signature', r.seq, `signed record seq ${r.seq} is signed by an unknown key ${String(d.key_id)}`);
    if (!verifySignature(key as KeyObject, signedMessage(chain, r.seq - 1, r.prev), sig))
      stop(
        'signature',
        r.seq,
        `bad signature on record seq ${r.seq}: records after seq ${signedUpto} (the previous signed state) were altered, inserted, removed or reordered`,
      );
    signedUpto = r.seq - 1;
    if (r.event.type === 'audit.retention.delete')
      retention.set(Number(d.deleted_last_seq), String(d.deleted_last_hash));
  };

  const take = (r: AuditRecord, hashOk: boolean, lines: readonly AuditRecord[], at: number) => {
    if (expected === 0) {
      // The chain's start: seq 1 after GENESIS, or a later seq after a retention deletion (checked at the end).
      expected = r.seq;
      prev = r.seq === 1 ? GENESIS : r.prev;
      firstSeq = r.seq;
    }
    if (!hashOk) stop('altered', r.seq, `record seq ${r.seq} was altered (its hash does not match its content)`);
    if (r.seq > expected) {
      const later = lines.slice(at + 1).some((x) => x.seq === expected);
      stop(
        later ? 'reordered' : 'removed',
        expected,
        later
          ? `records were reordered: seq ${r.seq} stands where seq ${expected} belongs`
          : `record seq ${expected}${r.seq - expected > 1 ? ` to ${r.seq - 1}` : ''} removed`,
      );
    }
    if (r.seq < expected)
      stop(
        r.seq === expected - 1 ? 'inserted' : 'reordered',
        r.seq,
        r.seq === expected - 1
          ? `record seq ${r.seq} appears twice: a record was inserted at seq ${r.seq}`
          : `record seq ${r.seq} appears after seq ${expected - 1}: records were reordered or inserted`,
      );
    if (r.prev !== prev)
      stop(
        'altered',
        r.seq - 1,
        `record seq ${r.seq} does not link to seq ${r.seq - 1}: seq ${r.seq - 1} was replaced, or seq ${r.seq} inserted`,
      );
    if (SIGNED_TYPES.has(r.event.type)) checkSigned(r);
    if (head && r.seq === head.seq) {
      if (r.hash !== head.hash) stop('altered', r.seq, `record seq ${r.seq} differs from the signed head`);
      headSeen = true;
      signedUpto = Math.max(signedUpto, r.seq);
    }
    prev = r.hash;
    expected = r.seq + 1;
    records++;
  };

  const segs = dedupe(await listSegments(chainDir));
  try {
    if (head) {
      const key = keys.get(head.key_id);
      if (!key || !verifySignature(key, signedMessage(chain, head.seq, head.hash), head.sig))
        stop('signature', head.seq, 'HEAD.json is not signed by a trusted key');
    } else if (segs.length) {
      stop('truncated', null, 'HEAD.json (the newest signed state) is missing: the chain end cannot be checked');
    }
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i] as SegmentFile;
      segName = seg.name;
      const text = await readSegmentText(chainDir, chain, seg, o.keyring ?? null).catch((e: unknown) =>
        stop('altered', seg.first, `${seg.name} cannot be opened: ${(e as Error).message}`),
      );
      if (text === null) {
        const meta = await readMeta(chainDir, seg.first);
        if (!meta) stop('removed', seg.first, `${seg.name} has no meta file`);
        const parsedClose = parseLine(String(meta?.close_line ?? ''));
        if (!parsedClose) stop('altered', null, `${seg.name}: its meta file holds no close record`);
        const { record: close, hashOk } = parsedClose as NonNullable<typeof parsedClose>;
        if (expected !== 0 && (meta?.first_seq !== expected || meta.first_prev !== prev))
          stop('removed', expected, `${seg.name} does not continue the chain at seq ${expected}`);
        if (expected === 0) {
          expected = meta?.first_seq ?? 0;
          firstSeq = expected;
          prev = meta?.first_prev ?? GENESIS;
        }
        // Not decrypted: jump to its signed close record (AES-GCM protects the content from change).
        expected = close.seq;
        prev = close.prev;
        records += close.seq - (meta?.first_seq ?? close.seq);
        take(close, hashOk, [], 0);
        archivedUnchecked.push(seg.name);
        continue;
      }
      const parts = text.split('\n');
      const tail = parts.pop() ?? '';
      if (tail) {
        if (i !== segs.length - 1) stop('malformed', expected || null, `${seg.name} ends in an incomplete line`);
        torn = Buffer.byteLength(tail);
      }
      const lines: AuditRecord[] = [];
      const ok: boolean[] = [];
      for (const line of parts) {
        const p = parseLine(line);
        if (!p) stop('altered', expected || null, `${seg.name}: the line after seq ${expected - 1} is not a record`);
        lines.push((p as NonNullable<typeof p>).record);
        ok.push((p as NonNullable<typeof p>).hashOk);
      }
      for (let k = 0; k < lines.length; k++) take(lines[k] as AuditRecord, ok[k] as boolean, lines, k);
    }
    if (firstSeq > 1) {
      const h = retention.get(firstSeq - 1);
      if (h === undefined)
        stop(
          'removed',
          1,
          `records 1 to ${firstSeq - 1} are missing and no signed retention record names their deletion`,
        );
      // The first remaining record links to the deleted range's last hash, which the retention record signed.
      const firstPrev = await firstPrevOf(chainDir, chain, segs, o.keyring ?? null);
      if (h !== firstPrev)
        stop('altered', firstSeq, `seq ${firstSeq} does not link to the deleted range the retention record names`);
    }
    if (head && !headSeen) {
      const last = expected - 1;
      if (head.seq > last)
        stop(
          'truncated',
          last + 1,
          `truncated: records after seq ${last} are missing (the signed head names seq ${head.seq})`,
        );
    }
    if (torn) warnings.push(`incomplete last line of ${torn} bytes (a crash during a write)`);
    if (archivedUnchecked.length)
      warnings.push(
        `${archivedUnchecked.length} archived segment(s) checked by their signed close record only (pass --config to decrypt)`,
      );
    const last = expected - 1;
    return {
      chain,
      ok: true,
      records,
      first_seq: firstSeq,
      last_seq: last,
      signed_upto: signedUpto,
      unsigned_tail: Math.max(0, last - signedUpto),
      torn_bytes: torn,
      archived_unchecked: archivedUnchecked,
      problem: null,
      warnings,
    };
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    return {
      chain,
      ok: false,
      records,
      first_seq: firstSeq,
      last_seq: expected - 1,
      signed_upto: signedUpto,
      unsigned_tail: 0,
      torn_bytes: torn,
      archived_unchecked: archivedUnchecked,
      problem: e.problem,
      warnings,
    };
  }
}

/** A plain and an archived copy of one segment (an archive interrupted before the plain file was removed): use the plain. */
function dedupe(segs: SegmentFile[]): SegmentFile[] {
  const out: SegmentFile[] = [];
  for (const s of segs) if (out[out.length - 1]?.first !== s.first) out.push(s);
  return out;
}

async function firstPrevOf(dir: string, chain: string, segs: SegmentFile[], keyring: Keyring | null): Promise<string> {
  const s = segs[0];
  if (!s) return '';
  const text = await readSegmentText(dir, chain, s, keyring);
  if (text === null) return (await readMeta(dir, s.first))?.first_prev ?? '';
  const nl = text.indexOf('\n');
  return (JSON.parse(nl < 0 ? text : text.slice(0, nl)) as AuditRecord).prev;
}
