import type { AuditLog } from '../audit/log.js';
import type { Keyring } from '../crypto/keyring.js';
import type { SharedState } from '../state/types.js';
import type { Store } from '../store/types.js';
import type { LocalIssuer } from './identity.js';
import type { PolicyServices } from './policy.js';

/** The process's PolicyServices: store, keyring, and objects shared across config generations. */
export class ServiceRegistry implements PolicyServices {
  readonly #objects = new Map<string, unknown>();
  /** The audit log (src/audit); set by the runtime when `audit:` is enabled. */
  audit: AuditLog | null = null;

  constructor(
    readonly store: Store | null = null,
    readonly keyring: Keyring | null = null,
    /** Set by the runtime once the built-in authorization server is up. */
    public authServer: LocalIssuer | null = null,
    /** Shared counters (src/state); set by the runtime. */
    public state: SharedState | null = null,
  ) {}

  shared<T>(key: string, make: () => T): T {
    if (this.#objects.has(key)) return this.#objects.get(key) as T;
    const o = make();
    this.#objects.set(key, o);
    return o;
  }

  /** Closes every shared object that can be closed (at shutdown). */
  async close(): Promise<void> {
    const all = [...this.#objects.values()];
    this.#objects.clear();
    await Promise.allSettled(
      all.map((o) => (o as { close?: () => unknown } | null)?.close?.call(o)).filter((p) => p !== undefined),
    );
  }
}
