import { generateKeyPair as generateKeyPairCb, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Logger } from 'pino';
import type { JsonObject, SigningKey, Store } from '../store/types.js';
import type { SigningAlg } from './schema.js';

const generateKeyPair = promisify(generateKeyPairCb) as (
  type: string,
  options: object,
) => Promise<{ publicKey: KeyObject; privateKey: KeyObject }>;

/**
 * Signing keys of the built-in authorization server, in the store's `signing_keys` table (private JWK encrypted
 * under the keyring), shared by every worker and node. Rotation, all derived from `created_at`, so every process
 * reaches the same answer without coordinating:
 *
 *   created ──(activation delay)──▶ signs ──(successor signs)──▶ still published ──(overlap)──▶ retired
 *
 * A new key is published at once but signs only after the activation delay, by which time every process has
 * loaded it (they re-read the table every KEY_REFRESH_MS): a token it signs never reaches a process that cannot
 * verify it. The previous key stays published for the overlap after its successor starts signing, at least the
 * token lifetime, so tokens it signed keep verifying until they expire.
 */
export const KEY_REFRESH_MS = 5_000;
export const ACTIVATION_DELAY_MS = 2 * KEY_REFRESH_MS;

export interface KeyTiming {
  activationDelayMs: number;
  overlapMs: number;
}

export interface KeyPlan {
  /** The key that signs now. */
  signing: SigningKey;
  /** The JWKS: the signing key, older keys within their overlap, and newer keys not yet signing. */
  published: SigningKey[];
  /** Older keys past their overlap. */
  retire: SigningKey[];
  /** When each published key starts (or started) signing, epoch ms. */
  signsFrom: ReadonlyMap<string, number>;
}

const byAge = (a: SigningKey, b: SigningKey) =>
  a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0;

/** Which key signs, which are published, which retire, at `now`. Null when there is no active key. */
export function planKeys(keys: readonly SigningKey[], now: number, t: KeyTiming): KeyPlan | null {
  const active = keys.filter((k) => k.status === 'active').sort(byAge);
  if (!active.length) return null;
  // The oldest active key needs no delay: it is the first key ever, or it was published long ago.
  const signsFrom = new Map(
    active.map((k, i) => [k.kid, Date.parse(k.created_at) + (i === 0 ? 0 : t.activationDelayMs)] as const),
  );
  let s = 0;
  for (let i = active.length - 1; i > 0; i--) {
    if ((signsFrom.get(active[i]!.kid) ?? Infinity) <= now) {
      s = i;
      break;
    }
  }
  const signing = active[s]!;
  const pastOverlap = now >= (signsFrom.get(signing.kid) ?? now) + t.overlapMs;
  const retire = pastOverlap ? active.slice(0, s) : [];
  return { signing, published: pastOverlap ? active.slice(s) : active, retire, signsFrom };
}

/** A new key pair for `alg`; its kid is the RFC 7638 thumbprint of the public key. */
export async function generateSigningKey(
  alg: SigningAlg,
): Promise<{ kid: string; alg: SigningAlg; public_jwk: JsonObject; private_jwk: JsonObject }> {
  const pair =
    alg === 'ES256'
      ? await generateKeyPair('ec', { namedCurve: 'P-256' })
      : alg === 'EdDSA'
        ? await generateKeyPair('ed25519', {})
        : await generateKeyPair('rsa', { modulusLength: 2048 });
  const pub = pair.publicKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(pub, 'sha256');
  const meta = { kid, alg, use: 'sig' };
  return {
    kid,
    alg,
    public_jwk: { ...pub, ...meta },
    private_jwk: { ...(pair.privateKey.export({ format: 'jwk' }) as JsonObject), ...meta },
  };
}

/** Stores a new key; it is published at once and signs after the activation delay. */
export async function createSigningKey(store: Store, alg: SigningAlg): Promise<SigningKey> {
  return store.signingKeys.create(await generateSigningKey(alg));
}

/**
 * At start: a first key when there is none, or a rotation when `signing_alg` changed (the newest key has another
 * algorithm). Run by the primary before it forks, so workers do not race to create the first key.
 */
export async function ensureSigningKey(store: Store, alg: SigningAlg, logger: Logger): Promise<SigningKey | null> {
  const active = (await store.signingKeys.list({ status: 'active' })).sort(byAge);
  const newest = active.at(-1);
  if (newest?.alg === alg) return null;
  const created = await createSigningKey(store, alg);
  logger.info(
    { kid: created.kid, alg, previous: newest ? { kid: newest.kid, alg: newest.alg } : undefined },
    newest ? 'auth_server.signing_alg changed: rotating the signing key' : 'generated the first token signing key',
  );
  return created;
}

/** What the provider needs of the current plan. */
export interface KeyState {
  readonly signingKid: string;
  readonly signingAlg: string;
  /** Public keys (the JWKS endpoint and LocalIssuer.jwks()). */
  readonly jwks: { keys: JsonObject[] };
  /** Private JWKs of the published keys: the provider's keystore. */
  readonly privateJwks: readonly JsonObject[];
  /** Changes whenever the published set does (the provider's keystore is then rebuilt). */
  readonly publishedKids: string;
}

/** This process's view of the signing keys, re-read from the store on refresh(). */
export class SigningKeys {
  #state: KeyState | null = null;
  #signsFrom: ReadonlyMap<string, number> = new Map();
  /** Decrypted private JWKs by kid, kept while published. */
  readonly #private = new Map<string, JsonObject>();

  constructor(
    private readonly store: Store,
    private readonly alg: SigningAlg,
    private readonly timing: KeyTiming,
    private readonly logger: Logger,
  ) {}

  get state(): KeyState {
    if (!this.#state) throw new Error('signing keys not loaded');
    return this.#state;
  }

  /** Re-reads the table, retires keys past their overlap; true when the signing key or the published set changed. */
  async refresh(now = Date.now()): Promise<boolean> {
    let rows = await this.store.signingKeys.list({ status: 'active', limit: 1000 });
    if (!rows.length) {
      // Every key retired by hand (a suspected compromise): a fresh one signs at once.
      const k = await createSigningKey(this.store, this.alg);
      this.logger.warn({ kid: k.kid }, 'no active signing key: generated one');
      rows = [k];
    }
    const plan = planKeys(rows, now, this.timing);
    if (!plan) return false;
    this.#signsFrom = plan.signsFrom;
    for (const k of plan.retire) {
      // Idempotent: every process may reach the same conclusion at once.
      await this.store.signingKeys.setStatus(k.kid, 'retired');
      this.logger.info({ kid: k.kid }, 'signing key retired: its overlap is over');
    }
    const kids = plan.published.map((k) => k.kid);
    for (const kid of kids) {
      if (this.#private.has(kid)) continue;
      const jwk = await this.store.signingKeys.getPrivateJwk(kid);
      if (jwk) this.#private.set(kid, jwk);
    }
    for (const kid of [...this.#private.keys()]) if (!kids.includes(kid)) this.#private.delete(kid);
    const published = plan.published.filter((k) => this.#private.has(k.kid));
    const next: KeyState = {
      signingKid: plan.signing.kid,
      signingAlg: plan.signing.alg,
      jwks: { keys: published.map((k) => ({ ...k.public_jwk, kid: k.kid, alg: k.alg, use: 'sig' })) },
      privateJwks: published.map((k) => ({ ...this.#private.get(k.kid), kid: k.kid, alg: k.alg, use: 'sig' })),
      publishedKids: published.map((k) => k.kid).join(' '),
    };
    const prev = this.#state;
    const changed = !prev || prev.signingKid !== next.signingKid || prev.publishedKids !== next.publishedKids;
    if (changed) this.#state = next;
    if (changed && prev && prev.signingKid !== next.signingKid)
      this.logger.info({ kid: next.signingKid, previous: prev.signingKid }, 'new token signing key in use');
    return changed;
  }

  /** Adds a key (published now, signing after the activation delay) and reloads. */
  async rotate(): Promise<{ key: SigningKey; signsFrom: Date }> {
    const key = await createSigningKey(this.store, this.alg);
    await this.refresh();
    return { key, signsFrom: new Date(this.#signsFrom.get(key.kid) ?? Date.parse(key.created_at)) };
  }
}
