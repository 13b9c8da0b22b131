/**
 * The update times of a CRL, read from its DER without a full X.509 parser (the ASN.1 library costs ~0.4 s to
 * import, too much for every start). CertificateList ::= SEQUENCE { tbsCertList SEQUENCE { version INTEGER
 * OPTIONAL, signature SEQUENCE, issuer SEQUENCE, thisUpdate Time, nextUpdate Time OPTIONAL, ... }, ... }.
 */
export function crlUpdateTimes(data: Buffer): { thisUpdate: Date; nextUpdate: Date | null } | null {
  const der = toDer(data);
  if (!der) return null;
  const outer = tlv(der, 0);
  if (outer?.tag !== 0x30) return null;
  const tbs = tlv(der, outer.start);
  if (tbs?.tag !== 0x30) return null;
  let at = tbs.start;
  let field = tlv(der, at);
  if (field?.tag === 0x02) {
    at = field.end;
    field = tlv(der, at);
  }
  // signature, then issuer
  for (let n = 0; n < 2; n++) {
    if (field?.tag !== 0x30) return null;
    at = field.end;
    field = tlv(der, at);
  }
  const thisUpdate = field && time(der, field);
  if (!field || !thisUpdate) return null;
  const next = tlv(der, field.end);
  const nextUpdate = next && next.end <= tbs.end ? time(der, next) : null;
  return { thisUpdate, nextUpdate };
}

function toDer(data: Buffer): Buffer | null {
  const text = data.toString('latin1');
  const m = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/.exec(text);
  if (m) return Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64');
  return data[0] === 0x30 ? data : null;
}

interface Tlv {
  tag: number;
  /** Offset of the value. */
  start: number;
  end: number;
}

function tlv(b: Buffer, at: number): Tlv | null {
  if (at + 2 > b.length) return null;
  const tag = b[at] ?? 0;
  let len = b[at + 1] ?? 0;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4 || start + n > b.length) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (b[start + i] ?? 0);
    start += n;
  }
  const end = start + len;
  return end > b.length ? null : { tag, start, end };
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ). */
function time(b: Buffer, t: Tlv): Date | null {
  const s = b.toString('latin1', t.start, t.end);
  const m =
    t.tag === 0x17
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
      : t.tag === 0x18
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
        : null;
  if (!m) return null;
  let year = Number(m[1]);
  if (t.tag === 0x17) year += year < 50 ? 2000 : 1900;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}
