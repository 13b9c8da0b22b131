import ipaddr from 'ipaddr.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Parses an address, folding IPv4-mapped IPv6 (::ffff:1.2.3.4) to IPv4 so one CIDR list covers both. */
export function parseIp(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    return ipaddr.process(ip.startsWith('[') ? ip.slice(1, ip.indexOf(']')) : ip);
  } catch {
    return null;
  }
}

/** An X-Forwarded-For entry: also "[2001:db8::1]:443" and "203.0.113.7:4711" (proxies that append the port). */
function parseHop(hop: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (hop.startsWith('[')) return parseIp(hop);
  const colon = hop.indexOf(':');
  return parseIp(colon !== -1 && hop.indexOf(':', colon + 1) === -1 ? hop.slice(0, colon) : hop);
}

/** Compiles a CIDR (or single address) list once; the matcher is what runs per request. */
export function compileCidrs(cidrs: readonly string[]): (ip: string) => boolean {
  const ranges: Range[] = cidrs.map((c) => {
    if (c.includes('/')) {
      const [addr, bits] = ipaddr.parseCIDR(c);
      return [
        addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()
          ? (addr as ipaddr.IPv6).toIPv4Address()
          : addr,
        addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? bits - 96 : bits,
      ];
    }
    const a = ipaddr.process(c);
    return [a, a.kind() === 'ipv4' ? 32 : 128];
  });
  if (!ranges.length) return () => false;
  return (ip) => {
    const a = parseIp(ip);
    if (!a) return false;
    // ipaddr's match() throws across kinds, so compare kinds first.
    return ranges.some(([net, bits]) => net.kind() === a.kind() && a.match(net as never, bits));
  };
}

/** Validates a CIDR list for the config, returning the index and message of each bad entry. */
export function cidrErrors(cidrs: readonly string[]): { index: number; message: string }[] {
  const out: { index: number; message: string }[] = [];
  cidrs.forEach((c, index) => {
    try {
      if (c.includes('/')) ipaddr.parseCIDR(c);
      else ipaddr.process(c);
    } catch {
      out.push({ index, message: `"${c}" is not an IP address or CIDR` });
    }
  });
  return out;
}

/**
 * The client address: the peer, unless the peer is a trusted proxy; then X-Forwarded-For is walked from the
 * right, skipping trusted hops, and the first untrusted address is the client. Headers from an untrusted peer
 * are never read, so a spoofed X-Forwarded-For changes nothing.
 */
export function clientIpOf(peer: string, xff: string | string[] | undefined, trusted: (ip: string) => boolean): string {
  if (!xff || !trusted(peer)) return peer;
  const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const ip = parseHop((hops[i] as string).trim());
    if (!ip) break;
    // The parsed form: "[2001:db8::1]:443", "2001:DB8::1" and "0177.0.0.1" would each be a different client.
    client = ip.toString();
    if (!trusted(client)) break;
  }
  return normalizeIp(client);
}

/** Folds ::ffff:1.2.3.4 to 1.2.3.4 so logs and limits see one form. */
export function normalizeIp(ip: string): string {
  if (ip.startsWith('::ffff:') && ip.includes('.')) return ip.slice(7);
  return ip;
}
