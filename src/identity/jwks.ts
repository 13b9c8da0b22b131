import { createHash, type webcrypto } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import type { LocalIssuer } from '../core/identity.js';
import { allowedKeyUrl, checkJwk } from './jwk.js';

// The key checks the config schema uses live in jwk.ts (no jose or undici at load); re-exported for callers here.
export { ASYMMETRIC_ALGS, allowedKeyUrl, checkJwk, type JwsAlg, pemToJwk, SYMMETRIC_ALGS } from './jwk.js';

type CryptoKey = webcrypto.CryptoKey;

/**
 * Where the jwt policy gets verification keys: a remote JWKS (by URL or OIDC discovery), static keys from the
 * config, or the built-in authorization server. Keys are selected by the token's `kid` (an opaque string, only
 * ever a map key) and `alg`; nothing in the token can name another key source (`jku`, `x5u`, `jwk`, `x5c`).
 */

/** No key can be had (IdP unreachable past the stale window, or never fetched): 503, not 401. */
export class KeysUnavailableError extends Error {
  override readonly name = 'KeysUnavailableError';
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}

/** One verification key. Its identity is the RFC 7638 thumbprint, so a kid re-used for new material is a new key. */
export class KeyEntry {
  readonly #imported = new Map<string, Promise<CryptoKey>>();
  constructor(
    readonly jwk: Readonly<JWK>,
    readonly thumbprint: string,
  ) {}

  get kid(): string | undefined {
    return this.jwk.kid;
  }

  /** Whether this key may verify a signature made with `alg` (key type, curve, and the key's own alg/use). */
  fits(alg: string): boolean {
    const k = this.jwk;
    if (k.use !== undefined && k.use !== 'sig') return false;
    if (Array.isArray(k.key_ops) && !k.key_ops.includes('verify')) return false;
    if (k.alg !== undefined && k.alg !== alg && !(isEdDsa(k.alg) && isEdDsa(alg))) return false;
    switch (alg.slice(0, 2)) {
      case 'RS':
      case 'PS':
        return k.kty === 'RSA';
      case 'ES':
        return k.kty === 'EC' && k.crv === EC_CURVE[alg];
      case 'HS':
        return k.kty === 'oct';
      default:
        return isEdDsa(alg) && k.kty === 'OKP' && k.crv === 'Ed25519';
    }
  }

  /** The key imported for one algorithm (WebCrypto binds the algorithm to the key), once. */
  cryptoKey(alg: string): Promise<CryptoKey> {
    let p = this.#imported.get(alg);
    if (!p) {
      p = importJWK({ ...this.jwk, ext: false }, alg) as Promise<CryptoKey>;
      this.#imported.set(alg, p);
      p.catch(() => this.#imported.delete(alg));
    }
    return p;
  }
}

const EC_CURVE: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };
const isEdDsa = (a: string) => a === 'EdDSA' || a === 'Ed25519';

/** RFC 7638 thumbprint (SHA-256, base64url) over the required members of the key type. */
export function jwkThumbprint(jwk: JWK): string {
  const req: Record<string, string[]> = {
    RSA: ['e', 'kty', 'n'],
    EC: ['crv', 'kty', 'x', 'y'],
    OKP: ['crv', 'kty', 'x'],
    oct: ['k', 'kty'],
  };
  const members = req[jwk.kty ?? ''] ?? [];
  const canon = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify((jwk as Record<string, unknown>)[m])}`).join(',')}}`;
  return createHash('sha256').update(canon).digest('base64url');
}

/** The keys one issuer's tokens may be verified with. */
export interface KeySource {
  /** Candidate keys for a token header; [] when none fits (an unknown kid: 401). Throws KeysUnavailableError. */
  keysFor(alg: string, kid: string | undefined): Promise<readonly KeyEntry[]>;
  /**
   * For a cached verification: is the key it used still in the current set, and is the set usable? Synchronous,
   * so a cache hit costs no await. 'unavailable' when the set is past its stale window.
   */
  check(thumbprint: string): 'ok' | 'gone' | 'unavailable';
}

/** Indexes a list of keys by kid. */
class KeyIndex {
  readonly byKid = new Map<string, KeyEntry[]>();
  readonly thumbprints = new Set<string>();
  constructor(readonly all: readonly KeyEntry[]) {
    for (const e of all) {
      this.thumbprints.add(e.thumbprint);
      if (e.kid === undefined) continue;
      const list = this.byKid.get(e.kid);
      if (list) list.push(e);
      else this.byKid.set(e.kid, [e]);
    }
  }

  find(alg: string, kid: string | undefined): KeyEntry[] {
    const pool = kid === undefined ? this.all : (this.byKid.get(kid) ?? []);
    return pool.filter((e) => e.fits(alg));
  }
}

function entriesOf(jwks: readonly JWK[], previous?: KeyIndex): KeyEntry[] {
  // Entries (and their imported CryptoKeys) are kept across refreshes when the key is the same.
  const old = new Map(previous?.all.map((e) => [`${e.thumbprint}|${e.kid ?? ''}|${e.jwk.alg ?? ''}`, e]));
  return jwks.map((j) => {
    const tp = jwkThumbprint(j);
    return old.get(`${tp}|${j.kid ?? ''}|${j.alg ?? ''}`) ?? new KeyEntry(Object.freeze({ ...j }), tp);
  });
}

/** Keys written in the config (JWKs, PEM, or symmetric secrets): never change, never unavailable. */
export class StaticKeySet implements KeySource {
  readonly #index: KeyIndex;
  constructor(keys: readonly JWK[]) {
    this.#index = new KeyIndex(entriesOf(keys));
  }
  get symmetric(): boolean {
    return this.#index.all.some((e) => e.jwk.kty === 'oct');
  }
  async keysFor(alg: string, kid: string | undefined): Promise<readonly KeyEntry[]> {
    return this.#index.find(alg, kid);
  }
  check(thumbprint: string): 'ok' | 'gone' {
    return this.#index.thumbprints.has(thumbprint) ? 'ok' : 'gone';
  }
}

/** The built-in authorization server's published keys, re-read on every use (it rotates them in process). */
export class LocalIssuerKeySet implements KeySource {
  #last: { keys: Record<string, unknown>[] } | null = null;
  #lastJson = '';
  #index = new KeyIndex([]);
  constructor(
    readonly issuer: LocalIssuer,
    private readonly logger: Logger,
  ) {}

  #current(): KeyIndex {
    const j = this.issuer.jwks();
    if (j === this.#last) return this.#index;
    const json = JSON.stringify(j.keys);
    this.#last = j;
    if (json === this.#lastJson) return this.#index;
    this.#lastJson = json;
    const keys: JWK[] = [];
    for (const raw of j.keys) {
      const k = checkJwk(raw);
      if (typeof k === 'string')
        this.logger.warn({ issuer: this.issuer.issuer, reason: k }, 'built-in issuer key skipped');
      else keys.push(k);
    }
    this.#index = new KeyIndex(entriesOf(keys, this.#index));
    return this.#index;
  }

  async keysFor(alg: string, kid: string | undefined): Promise<readonly KeyEntry[]> {
    return this.#current().find(alg, kid);
  }
  check(thumbprint: string): 'ok' | 'gone' {
    return this.#current().thumbprints.has(thumbprint) ? 'ok' : 'gone';
  }
}

export interface RemoteKeySetOptions {
  /** The JWKS URL, or null with `discovery` set. */
  jwksUri: string | null;
  /** OIDC discovery document URL and the issuer it must name. */
  discovery: { url: string; issuer: string } | null;
  refreshS: number;
  cooldownS: number;
  maxStaleS: number;
  timeoutMs: number;
  maxBytes: number;
  /** Pooled connections for key fetches (shared by the process). */
  dispatcher: Agent;
  logger: Logger;
  /** Epoch ms; tests move it to cross cool-downs and stale windows without sleeping. */
  clock?: () => number;
}

/** Most keys a JWKS may hold; more is a broken or hostile document. */
const MAX_KEYS = 100;
/** How often the discovery document itself is re-read (jwks_uri rarely moves). */
const DISCOVERY_REFRESH_MS = 3_600_000;

/**
 * A remote JWKS, cached process-wide (one per URL and timing settings). Refreshed in the background every
 * `refreshS`; an unknown kid triggers at most one refetch per `cooldownS`; while the IdP is down the last good keys
 * are served for up to `maxStaleS` after the last successful fetch, then KeysUnavailableError (503).
 */
export class RemoteKeySet implements KeySource {
  #index = new KeyIndex([]);
  /** Epoch ms of the last successful fetch; 0 = never. */
  #lastGood = 0;
  /** Epoch ms of the last fetch attempt; 0 = never. */
  #lastAttempt = 0;
  #failures = 0;
  #inflight: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #users = 0;
  #jwksUri: string | null;
  #discoveredAt = 0;
  #staleLogged = false;
  #closed = false;

  readonly #now: () => number;

  constructor(private readonly o: RemoteKeySetOptions) {
    this.#jwksUri = o.jwksUri;
    this.#now = o.clock ?? Date.now;
  }

  /** For logs: which key set this is. */
  get source(): string {
    return this.o.discovery?.url ?? this.o.jwksUri ?? '';
  }

  /** A policy instance starts using the set: the first one starts the fetch and the background refresh. */
  acquire(): void {
    this.#users++;
    if (this.#users === 1 && !this.#closed) {
      if (this.#lastGood === 0 && !this.#inflight) this.#refresh().catch(() => {});
      else this.#schedule();
    }
  }

  /** The last user is gone (its config generation retired): stop the timer, keep the keys for a later reuse. */
  release(): void {
    this.#users = Math.max(0, this.#users - 1);
    if (this.#users === 0 && this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** The current keys' kids (for tests and status). */
  get kids(): string[] {
    return this.#index.all.map((e) => e.kid ?? `(thumbprint ${e.thumbprint.slice(0, 8)})`);
  }

  #usable(now: number): boolean {
    return this.#lastGood !== 0 && now - this.#lastGood <= this.o.maxStaleS * 1000;
  }

  #retryAfter(now: number): number {
    const wait = Math.ceil((this.#lastAttempt + this.o.cooldownS * 1000 - now) / 1000);
    return Math.max(1, Math.min(wait, this.o.cooldownS));
  }

  #unavailable(now: number): KeysUnavailableError {
    return new KeysUnavailableError(
      this.#lastGood === 0 ? 'no signing key fetched yet' : 'signing keys are past their stale window',
      this.#retryAfter(now),
    );
  }

  /** Fetches now unless a fetch ran within the cool-down; waits for the one in flight. */
  async #refetchAllowed(now: number): Promise<void> {
    if (!this.#inflight && now - this.#lastAttempt >= this.o.cooldownS * 1000) this.#refresh().catch(() => {});
    if (this.#inflight) await this.#inflight;
  }

  async keysFor(alg: string, kid: string | undefined): Promise<readonly KeyEntry[]> {
    let now = this.#now();
    if (!this.#usable(now)) {
      await this.#refetchAllowed(now);
      now = this.#now();
      if (!this.#usable(now)) throw this.#unavailable(now);
    }
    const found = this.#index.find(alg, kid);
    if (found.length > 0 || kid === undefined) return found;
    // Unknown kid: the IdP may have rotated. One refetch per cool-down, however many tokens ask.
    if (!this.#inflight && now - this.#lastAttempt >= this.o.cooldownS * 1000)
      this.o.logger.info(
        { jwks: this.#jwksUri ?? this.source, kid: kid.slice(0, 64) },
        'unknown kid: refetching the JWKS',
      );
    await this.#refetchAllowed(now);
    return this.#index.find(alg, kid);
  }

  check(thumbprint: string): 'ok' | 'gone' | 'unavailable' {
    if (!this.#usable(this.#now())) return 'unavailable';
    return this.#index.thumbprints.has(thumbprint) ? 'ok' : 'gone';
  }

  /** Fetches the key set now (single flight). Resolves whether or not it worked; the result is in the state. */
  refresh(): Promise<void> {
    return this.#inflight ?? this.#refresh();
  }

  #refresh(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#lastAttempt = this.#now();
    const p = this.#fetch()
      .then(
        (keys) => this.#install(keys),
        (e: unknown) => this.#failed(e),
      )
      .finally(() => {
        this.#inflight = null;
        this.#schedule();
      });
    this.#inflight = p;
    return p;
  }

  #schedule(): void {
    if (this.#closed || this.#users === 0 || this.#timer || this.#inflight) return;
    // After a failure retry sooner (backing off from the cool-down up to the refresh period).
    const s =
      this.#failures === 0
        ? this.o.refreshS
        : Math.min(this.o.refreshS, this.o.cooldownS * 2 ** Math.min(this.#failures - 1, 10));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#refresh().catch(() => {});
    }, s * 1000);
    this.#timer.unref();
  }

  async #fetch(): Promise<JWK[]> {
    const d = this.o.discovery;
    if (d && (!this.#jwksUri || this.#failures > 0 || this.#now() - this.#discoveredAt > DISCOVERY_REFRESH_MS)) {
      const doc = await fetchJson(d.url, this.o);
      if (typeof doc !== 'object' || doc === null) throw new Error('discovery document is not a JSON object');
      const { issuer, jwks_uri } = doc as { issuer?: unknown; jwks_uri?: unknown };
      // OIDC Discovery 1.0 §4.3: the document must name exactly the issuer it was fetched for.
      if (issuer !== d.issuer) throw new Error('discovery document names another issuer');
      if (typeof jwks_uri !== 'string' || !allowedKeyUrl(jwks_uri))
        throw new Error('discovery document has no usable jwks_uri (https, or http on loopback)');
      this.#jwksUri = jwks_uri;
      this.#discoveredAt = this.#now();
    }
    if (!this.#jwksUri) throw new Error('no jwks_uri');
    const doc = await fetchJson(this.#jwksUri, this.o);
    const keys = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new Error('the JWKS has no "keys" array');
    if (keys.length > MAX_KEYS) throw new Error(`the JWKS holds more than ${MAX_KEYS} keys`);
    const out: JWK[] = [];
    for (const raw of keys) {
      const k = checkJwk(raw);
      if (typeof k === 'string') {
        const kid = (raw as { kid?: unknown } | null)?.kid;
        this.o.logger.warn(
          { jwks: this.#jwksUri, kid: typeof kid === 'string' ? kid : undefined, reason: k },
          'JWKS key skipped',
        );
      } else out.push(k);
    }
    // An empty set is treated as a failed fetch: the last good keys stay (within the stale window).
    if (out.length === 0) throw new Error('the JWKS holds no usable key');
    return out;
  }

  #install(keys: JWK[]): void {
    const before = new Set(this.#index.all.map(label));
    const next = new KeyIndex(entriesOf(keys, this.#index));
    const after = new Set(next.all.map(label));
    const added = [...after].filter((k) => !before.has(k));
    const removed = [...before].filter((k) => !after.has(k));
    this.#index = next;
    this.#lastGood = this.#now();
    if (this.#failures > 0 || this.#staleLogged)
      this.o.logger.info({ jwks: this.#jwksUri, after_failures: this.#failures }, 'JWKS reachable again');
    this.#failures = 0;
    this.#staleLogged = false;
    if (added.length || removed.length)
      this.o.logger.info({ jwks: this.#jwksUri, added, removed, keys: next.all.length }, 'JWKS keys changed');
  }

  #failed(e: unknown): void {
    this.#failures++;
    const now = this.#now();
    const fields = {
      jwks: this.#jwksUri ?? this.o.discovery?.url,
      err: (e as Error)?.message ?? String(e),
      failures: this.#failures,
      ...(this.#lastGood ? { stale_s: Math.round((now - this.#lastGood) / 1000) } : {}),
    };
    if (!this.#usable(now)) {
      if (!this.#staleLogged) this.o.logger.error(fields, 'JWKS unreachable and no usable keys: tokens answered 503');
      this.#staleLogged = true;
    } else this.o.logger.warn(fields, 'JWKS fetch failed; serving the last good keys');
  }
}

/** kid for logs; a key without kid by a short thumbprint (public keys only: never material). */
const label = (e: KeyEntry) => e.kid ?? `thumbprint:${e.thumbprint.slice(0, 12)}`;

/** GET a JSON document: bounded in time and size, no redirects (undici's request does not follow them). */
async function fetchJson(url: string, o: { timeoutMs: number; maxBytes: number; dispatcher: Agent }): Promise<unknown> {
  const res = await request(url, {
    method: 'GET',
    dispatcher: o.dispatcher,
    headers: { accept: 'application/json, application/jwk-set+json' },
    signal: AbortSignal.timeout(o.timeoutMs),
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
  });
  // Destroying an undici body emits an abort error: here it is the intended end, not a failure.
  const drop = () => {
    res.body.on('error', () => {});
    res.body.destroy();
  };
  if (res.statusCode !== 200) {
    drop();
    throw new Error(`HTTP ${res.statusCode}`);
  }
  if (Number(res.headers['content-length'] ?? 0) > o.maxBytes) {
    drop();
    throw new Error(`larger than ${o.maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > o.maxBytes) {
      drop();
      throw new Error(`larger than ${o.maxBytes} bytes`);
    }
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks, n).toString('utf8'));
  } catch {
    throw new Error('not JSON');
  }
}

/** The process's connection pool for key fetches (closed with the shared services at shutdown). */
export function keyFetchAgent(timeoutMs: number): Agent {
  return new Agent({ connect: { timeout: timeoutMs }, keepAliveTimeout: 10_000, connections: 4 });
}
