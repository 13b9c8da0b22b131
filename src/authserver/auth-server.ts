import type { IncomingMessage, ServerResponse } from 'node:http';
import { LRUCache } from 'lru-cache';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { LocalIssuer } from '../core/identity.js';
import type { Keyring } from '../crypto/keyring.js';
import type { SigningKey, Store } from '../store/types.js';
import { ACTIVATION_DELAY_MS, ensureSigningKey, KEY_REFRESH_MS, SigningKeys } from './keys.js';
import { buildProvider } from './provider.js';
import type { AuthServerSettings } from './settings.js';
import { tokenRecordActive } from './tokens.js';

/** Timings; the defaults are what runs. Tests shorten them to watch rotation and expiry happen. */
export interface AuthServerTuning {
  keyRefreshMs: number;
  activationDelayMs: number;
  /** How often expired rows are deleted from `oauth_payloads`. */
  cleanupMs: number;
  /** How long an isActive answer is reused: a revocation is seen everywhere within this (plus one store read). */
  activeCacheMs: number;
}

export const DEFAULT_TUNING: AuthServerTuning = {
  keyRefreshMs: KEY_REFRESH_MS,
  activationDelayMs: ACTIVATION_DELAY_MS,
  cleanupMs: 60_000,
  activeCacheMs: 500,
};

export interface AuthServerOptions {
  settings: AuthServerSettings;
  store: Store;
  keyring: Keyring;
  logger: Logger;
  tuning?: Partial<AuthServerTuning>;
}

/**
 * The built-in authorization server of one process: an oidc-provider on the shared store, mounted on the gateway's
 * listeners at `settings.path`, and the LocalIssuer through which the jwt policy trusts its tokens.
 */
export class AuthServer implements LocalIssuer {
  readonly issuer: string;
  readonly audience: string;
  readonly path: string;
  readonly #opts: AuthServerOptions;
  readonly #tuning: AuthServerTuning;
  readonly #keys: SigningKeys;
  readonly #logger: Logger;
  #provider: Provider;
  /** The published kids the provider's keystore was built with. */
  #builtFor = '';
  #callback: (req: IncomingMessage, res: ServerResponse) => unknown;
  readonly #active: LRUCache<string, boolean>;
  readonly #timers: NodeJS.Timeout[] = [];

  private constructor(opts: AuthServerOptions, tuning: AuthServerTuning, keys: SigningKeys) {
    this.#opts = opts;
    this.#tuning = tuning;
    this.#keys = keys;
    this.#logger = opts.logger;
    this.issuer = opts.settings.issuer;
    this.audience = opts.settings.audience;
    this.path = opts.settings.path;
    this.#provider = this.#build();
    this.#callback = this.#provider.callback();
    this.#active = new LRUCache<string, boolean>({
      max: 100_000,
      ttl: tuning.activeCacheMs,
      // Concurrent checks of one token share one store read; a failed read is not cached (fail closed: it throws).
      fetchMethod: (jti) => tokenRecordActive(opts.store, jti),
    });
  }

  /** Loads (on first start: creates) the signing keys, builds the provider, starts key refresh and cleanup. */
  static async start(opts: AuthServerOptions): Promise<AuthServer> {
    const tuning = { ...DEFAULT_TUNING, ...opts.tuning };
    const { settings, store, logger } = opts;
    await ensureSigningKey(store, settings.signingAlg, logger);
    const keys = new SigningKeys(
      store,
      settings.signingAlg,
      { activationDelayMs: tuning.activationDelayMs, overlapMs: settings.overlapS * 1000 },
      logger,
    );
    await keys.refresh();
    const server = new AuthServer(opts, tuning, keys);
    server.#every(tuning.keyRefreshMs, () => server.refreshKeys());
    // Every process cleans up (an idempotent delete); the jitter keeps them from all doing it at once.
    server.#every(tuning.cleanupMs * (0.75 + Math.random() / 2), async () => {
      const n = await store.oauthPayloads.deleteExpired();
      if (n) logger.debug({ rows: n }, 'deleted expired authorization server records');
    });
    logger.info(
      { issuer: server.issuer, path: server.path, audience: server.audience, kid: keys.state.signingKid },
      'authorization server ready',
    );
    return server;
  }

  #build(): Provider {
    const { settings, store, keyring, logger } = this.#opts;
    this.#builtFor = this.#keys.state.publishedKids;
    return buildProvider({ settings, store, keyring, logger, keys: () => this.#keys.state });
  }

  #every(ms: number, fn: () => Promise<unknown>): void {
    const t = setInterval(() => {
      fn().catch((e: unknown) =>
        this.#logger.error({ err: { message: (e as Error).message } }, 'authorization server maintenance failed'),
      );
    }, ms);
    t.unref();
    this.#timers.push(t);
  }

  /** The gateway's handler for requests under `path`: the provider sees paths relative to it. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    // oidc-provider derives its endpoint URLs' mount path from originalUrl (as under Express's app.use(path)).
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = url;
    const rest = url.slice(this.path.length);
    req.url = rest.startsWith('/') ? rest : `/${rest}`;
    void this.#callback(req, res);
  };

  jwks(): { keys: Record<string, unknown>[] } {
    return this.#keys.state.jwks;
  }

  async isActive(jti: string): Promise<boolean> {
    if (!jti) return false;
    return (await this.#active.fetch(jti)) === true;
  }

  /** Re-reads the signing keys; rebuilds the provider when the published set changed. */
  async refreshKeys(): Promise<void> {
    await this.#keys.refresh();
    if (this.#keys.state.publishedKids !== this.#builtFor) {
      this.#provider = this.#build();
      this.#callback = this.#provider.callback();
    }
  }

  /** A new signing key: published now, signing after the activation delay (`rampart authserver rotate-key`). */
  async rotateKey(): Promise<{ key: SigningKey; signsFrom: Date }> {
    const r = await this.#keys.rotate();
    await this.refreshKeys();
    return r;
  }

  /** The kid that signs new tokens now. */
  get signingKid(): string {
    return this.#keys.state.signingKid;
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.length = 0;
    this.#active.clear();
  }
}
