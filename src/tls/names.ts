/**
 * Splits node's subjectAltName text ("DNS:a.example, IP Address:127.0.0.1, URI:\"x,y\"") into entries. Node
 * quotes a value holding a comma or a quote as a JSON string (since the 2022 SAN fix), so a plain split on ", "
 * could be fooled by a crafted name; this honours the quotes.
 */
export function splitAltNames(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon === -1) break;
    const kind = text.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      // A JSON string: find its closing quote, skipping escaped characters.
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(j, k + 1)) as string;
      } catch {
        value = text.slice(j + 1, k);
      }
      j = k + 1;
    } else {
      const end = text.indexOf(', ', j);
      value = text.slice(j, end === -1 ? text.length : end);
      j = end === -1 ? text.length : end;
    }
    out.push(`${kind}:${value}`);
    i = j;
    if (text.startsWith(', ', i)) i += 2;
  }
  return out;
}

/** The DNS names of a certificate (lower case), the names SNI can select it by. */
export function dnsNames(subjectAltName: string | undefined): string[] {
  return splitAltNames(subjectAltName)
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4).toLowerCase());
}

/** A host name as SNI sends it, compared case-insensitively and without a trailing dot. */
export function normalizeServername(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/**
 * Finds the entry for an SNI name: an exact name first, then a wildcard one label deep ("*.example.com" covers
 * "api.example.com", not "example.com" nor "a.b.example.com", as RFC 6125 6.4.3 has it).
 */
export function lookupHost<T>(map: ReadonlyMap<string, T>, servername: string): T | undefined {
  const name = normalizeServername(servername);
  const exact = map.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  return dot > 0 ? map.get(`*${name.slice(dot)}`) : undefined;
}
