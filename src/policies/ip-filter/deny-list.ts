import { parseIp } from '../../core/client-ip.js';
import type { SharedState } from '../../state/types.js';

/**
 * The dynamic deny list: entries `deny:ip:<address>` with an expiry in the shared state (memory, cluster primary or
 * Redis), so that every worker and node refuses an address another one added. Addresses are stored in one canonical
 * form (IPv4-mapped IPv6 folded to IPv4, IPv6 compressed) so "::ffff:10.0.0.1" and "10.0.0.1" are one entry.
 */
export const DENY_PREFIX = 'deny:ip:';

/** The state key for an address, or null if it is not an IP address. */
export function denyKey(ip: string): string | null {
  const a = parseIp(ip);
  return a ? DENY_PREFIX + a.toString() : null;
}

/**
 * Adds an address to the dynamic deny list for ttlMs (brute-force and anomaly detection call this). The reason is
 * kept as the entry's value for logs and the admin API. Throws on a value that is not an IP address or on a state
 * failure (the caller decides whether that matters).
 */
export async function denyAddress(state: SharedState, ip: string, reason: string, ttlMs: number): Promise<void> {
  const key = denyKey(ip);
  if (!key) throw new Error(`not an IP address: "${ip}"`);
  if (!(ttlMs > 0)) throw new Error('ttlMs must be positive');
  await state.set(key, reason || 'denied', ttlMs);
}

/** Removes an address from the dynamic deny list (admin API). */
export async function allowAddress(state: SharedState, ip: string): Promise<void> {
  const key = denyKey(ip);
  if (key) await state.delete(key);
}

/** The reason an address is on the dynamic deny list, or null when it is not (or its entry expired). */
export async function deniedReason(state: SharedState, ip: string): Promise<string | null> {
  const key = denyKey(ip);
  return key ? state.get(key) : null;
}
