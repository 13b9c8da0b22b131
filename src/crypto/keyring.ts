import { createHmac, createSecretKey, hkdfSync, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { KEY_BYTES, seal, unseal } from './aes-gcm.js';
import { decodeBase64 } from './base64.js';
import { formatCiphertext, gcmAad, parseCiphertext } from './ciphertext.js';
import { KeyringError } from './errors.js';
import type { FieldCipher, KeySource, KeyStateStore, WrappedDataKey } from './types.js';
import { checkPurpose, parseWrappedDataKeys } from './wrapped-data-key.js';

export interface KeyringOptions {
  source: KeySource;
  state: KeyStateStore;
  /** Purposes that get a data key at open when they have none yet (encrypt never creates one: see ensurePurposes). */
  purposes?: readonly string[];
}

export interface DataKeyRotation {
  purpose: string;
  version: number;
  /** The version that was newest before, null when the purpose is new. */
  previous: number | null;
}

export interface MasterRewrap {
  /** The master version every data key is now wrapped under. */
  masterVersion: number;
  /** The source's newest version before the rotation (rotateMaster only). */
  previousMasterVersion?: number;
  rewrapped: { purpose: string; version: number; fromMasterVersion: number }[];
}

export interface KeyringStatus {
  purposes: {
    purpose: string;
    newest: number;
    keys: { version: number; masterVersion: number; createdAt: string }[];
  }[];
}

/** A data key in memory: unwrapped (as a KeyObject, kept out of the JS heap and out of logs) plus how it is stored. */
interface DataKey extends WrappedDataKey {
  key: KeyObject;
}
type KeySet = Map<string, Map<number, DataKey>>;

const STATE = 'key state';
/** The state kept changing between our save and our read-back this many times: give up rather than spin. */
const MAX_ATTEMPTS = 3;

/**
 * Envelope encryption: per purpose, versioned AES-256-GCM data keys, each wrapped by a master key from a KeySource
 * and stored wrapped in a KeyStateStore. encrypt/decrypt are synchronous and use only keys in memory, so rotations
 * (async, serialised per instance) never stall or fail them: the new key set is swapped in whole once it is saved.
 */
export class Keyring implements FieldCipher {
  readonly #source: KeySource;
  readonly #state: KeyStateStore;
  #keys: KeySet = new Map();
  #newest = new Map<string, DataKey>();
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(source: KeySource, state: KeyStateStore) {
    this.#source = source;
    this.#state = state;
  }

  /** Loads and unwraps every data key, then creates the missing ones among `purposes` (saved before it returns). */
  static async open(options: KeyringOptions): Promise<Keyring> {
    const keyring = new Keyring(options.source, options.state);
    await keyring.reload();
    if (options.purposes?.length) await keyring.ensurePurposes(options.purposes);
    return keyring;
  }

  encrypt(purpose: string, plaintext: Buffer | string, aad: string): string {
    const key = this.#newestKey(purpose);
    const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    return formatCiphertext(key.version, seal(key.key, data, gcmAad(purpose, key.version, aad)));
  }

  decrypt(purpose: string, ciphertext: string, aad: string): Buffer {
    const { version, sealed } = parseCiphertext(ciphertext);
    const key = this.#keys.get(purpose)?.get(version);
    if (!key) {
      if (!this.#keys.has(purpose)) throw unknownPurpose(purpose);
      throw new KeyringError(
        'UNKNOWN_KEY_VERSION',
        `no data key version ${version} for purpose "${purpose}" (newest here: ${this.#newest.get(purpose)?.version}; reload() if another node rotated it)`,
      );
    }
    const plaintext = unseal(key.key, sealed, gcmAad(purpose, version, aad));
    if (!plaintext) {
      throw new KeyringError(
        'DECRYPT_FAILED',
        `a "${purpose}" ciphertext (data key version ${version}) failed authentication: altered, truncated, or moved from another row, column or purpose`,
      );
    }
    return plaintext;
  }

  /**
   * A keyed hash (HMAC-SHA256) under the newest data key of `purpose`, as "v<version>.<base64url>": what the store
   * keeps instead of a secret it only needs to recognise (API keys). The MAC key is derived from the data key with
   * HKDF so one key never serves two algorithms; the version travels with the hash, so hashes made before a
   * rotation keep verifying with `verifyMac`.
   */
  mac(purpose: string, data: Buffer | string): string {
    const key = this.#newestKey(purpose);
    return `v${key.version}.${createHmac('sha256', this.#macKey(key)).update(data).digest('base64url')}`;
  }

  /** Constant-time check of `data` against a `mac()` result; false for an unknown version or a malformed hash. */
  verifyMac(purpose: string, data: Buffer | string, expected: string): boolean {
    const m = /^v(\d{1,9})\.([A-Za-z0-9_-]{43})$/.exec(expected);
    const key = m ? this.#keys.get(purpose)?.get(Number(m[1])) : undefined;
    if (!m || !key) return false;
    const got = createHmac('sha256', this.#macKey(key)).update(data).digest();
    const want = Buffer.from(m[2] as string, 'base64url');
    return got.length === want.length && timingSafeEqual(got, want);
  }

  /**
   * Loads the data key a `mac()` result names when this process does not hold it yet: a hash made after another
   * process (the CLI, another worker or node) rotated the purpose's data key would otherwise fail verifyMac until a
   * restart. Re-reads the key state at most once per second, whatever the callers present; never throws (a failed
   * reload leaves verifyMac to refuse, as before).
   */
  async ensureMacKey(purpose: string, expected: string): Promise<void> {
    const m = /^v(\d{1,9})\./.exec(expected);
    if (!m || this.#keys.get(purpose)?.has(Number(m[1]))) return;
    if (this.#macReload) return this.#macReload;
    if (Date.now() - this.#macReloadAt < 1000) return;
    this.#macReloadAt = Date.now();
    this.#macReload = this.reload()
      .catch(() => {})
      .finally(() => {
        this.#macReload = null;
      });
    return this.#macReload;
  }
  #macReload: Promise<void> | null = null;
  #macReloadAt = 0;

  readonly #macKeys = new WeakMap<DataKey, Buffer>();
  #macKey(key: DataKey): Buffer {
    let k = this.#macKeys.get(key);
    if (!k) {
      const raw = key.key.export();
      k = Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), `rampart mac ${key.purpose} v${key.version}`, 32));
      raw.fill(0);
      this.#macKeys.set(key, k);
    }
    return k;
  }

  /** True when older than the newest data key; a version newer than ours (another node rotated) is not stale. */
  isStale(purpose: string, ciphertext: string): boolean {
    return parseCiphertext(ciphertext).version < this.#newestKey(purpose).version;
  }

  /** The same text when already current; otherwise decrypts (verifying the aad) and encrypts under the newest key. */
  reencrypt(purpose: string, ciphertext: string, aad: string): string {
    if (!this.isStale(purpose, ciphertext)) return ciphertext;
    const plaintext = this.decrypt(purpose, ciphertext, aad);
    try {
      return this.encrypt(purpose, plaintext, aad);
    } finally {
      plaintext.fill(0);
    }
  }

  /** Purposes with a data key, sorted. */
  get purposes(): string[] {
    return [...this.#keys.keys()].sort();
  }

  /** Versions and dates only: nothing here is secret. */
  status(): KeyringStatus {
    return {
      purposes: this.purposes.map((purpose) => {
        const keys = [...(this.#keys.get(purpose)?.values() ?? [])].sort((a, b) => b.version - a.version);
        return {
          purpose,
          newest: keys[0]?.version ?? 0,
          keys: keys.map((k) => ({ version: k.version, masterVersion: k.masterVersion, createdAt: k.createdAt })),
        };
      }),
    };
  }

  /**
   * Creates version 1 for each purpose that has no data key. This is the only way a purpose starts: encrypt is
   * synchronous, and a ciphertext under a key not yet saved would be lost data if the save then failed or another
   * node saved its own version 1 first.
   */
  async ensurePurposes(purposes: readonly string[]): Promise<DataKeyRotation[]> {
    for (const p of purposes) checkPurpose(p);
    return this.#serial(() =>
      this.#mutate(async (set) => {
        const created: DataKeyRotation[] = [];
        for (const purpose of new Set(purposes)) {
          if (set.has(purpose)) continue;
          await this.#addDataKey(set, purpose, 1);
          created.push({ purpose, version: 1, previous: null });
        }
        return { changed: created.length > 0, result: created };
      }),
    );
  }

  /** A new data key version; older versions stay and still decrypt. New ciphertexts use the new one. */
  async rotateDataKey(purpose: string): Promise<DataKeyRotation> {
    checkPurpose(purpose);
    return this.#serial(() =>
      this.#mutate(async (set) => {
        const previous = Math.max(0, ...(set.get(purpose)?.keys() ?? []));
        await this.#addDataKey(set, purpose, previous + 1);
        return { changed: true, result: { purpose, version: previous + 1, previous: previous || null } };
      }),
    );
  }

  /**
   * source.rotate() (a new master version), then re-wraps every data key under it and saves. Data keys themselves do
   * not change, so no ciphertext becomes stale and encrypt/decrypt go on throughout.
   */
  rotateMaster(): Promise<MasterRewrap> {
    return this.#serial(async () => {
      if (!this.#source.rotate) {
        throw new KeyringError(
          'ROTATE_UNSUPPORTED',
          `the ${this.#source.kind} key source cannot create master versions: add a new version to it, then rewrap()`,
        );
      }
      const previousMasterVersion = await this.#newestMaster();
      const masterVersion = await this.#source.rotate();
      return { ...(await this.#rewrapTo(masterVersion)), previousMasterVersion };
    });
  }

  /** Re-wraps every data key under the source's newest master version (after one was added outside the keyring). */
  rewrap(): Promise<MasterRewrap> {
    return this.#serial(async () => this.#rewrapTo(await this.#newestMaster()));
  }

  /** Re-reads the state and unwraps what is new, so rotations made by another node or the CLI take effect here. */
  reload(): Promise<void> {
    return this.#serial(async () => {
      this.#install(await this.#merge(await this.#load(), this.#keys));
    });
  }

  #newestKey(purpose: string): DataKey {
    const key = this.#newest.get(purpose);
    if (!key) throw unknownPurpose(purpose);
    return key;
  }

  /** One mutation at a time per instance; a failed one does not block the next. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Load, merge with memory, change, save, read back. The store only offers load/save of the whole set, so a
   * concurrent writer (another node, the CLI) could overwrite ours: the read-back catches that and the whole step
   * runs again on the newer state. The new set goes live only once it is known to be saved.
   */
  async #mutate<T>(change: (set: KeySet) => Promise<{ changed: boolean; result: T }>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const set = await this.#merge(await this.#load(), this.#keys);
      const { changed, result } = await change(set);
      if (!changed) {
        this.#install(set);
        return result;
      }
      const saved = toList(set);
      await this.#state.save(saved);
      const after = new Map((await this.#load()).map((w) => [`${w.purpose}\u0000${w.version}`, w.wrapped]));
      if (saved.every((w) => after.get(`${w.purpose}\u0000${w.version}`) === w.wrapped)) {
        this.#install(set);
        return result;
      }
      if (attempt === MAX_ATTEMPTS) {
        throw new KeyringError('STATE_CONFLICT', `${STATE} kept changing during a keyring update; try again`);
      }
    }
  }

  async #load(): Promise<WrappedDataKey[]> {
    return parseWrappedDataKeys(await this.#state.load(), STATE);
  }

  /**
   * Memory plus what the state holds. Keys only in memory are kept (written back on the next save) so nothing this
   * node encrypted with becomes unreadable; a different key under a known purpose and version is refused.
   */
  async #merge(loaded: WrappedDataKey[], base: KeySet): Promise<KeySet> {
    const set: KeySet = new Map([...base].map(([p, m]) => [p, new Map(m)]));
    for (const w of loaded) {
      const have = set.get(w.purpose)?.get(w.version);
      if (have && have.wrapped === w.wrapped && have.masterVersion === w.masterVersion) continue;
      const key = await this.#unwrap(w);
      if (have && !sameKey(have.key, key)) {
        throw new KeyringError(
          'STATE_CONFLICT',
          `${STATE} holds another data key for purpose "${w.purpose}" version ${w.version} than the one in use here (the state was replaced or restored from elsewhere)`,
        );
      }
      // Same key re-wrapped elsewhere (a master rotation): take the stored wrapping, keep our KeyObject.
      put(set, { ...w, key: have?.key ?? key });
    }
    return set;
  }

  #install(set: KeySet): void {
    const newest = new Map<string, DataKey>();
    for (const [purpose, versions] of set) {
      let top: DataKey | undefined;
      for (const k of versions.values()) if (!top || k.version > top.version) top = k;
      if (top) newest.set(purpose, top);
    }
    // Two assignments with no await between them: encrypt/decrypt never see half a swap.
    this.#keys = set;
    this.#newest = newest;
  }

  async #addDataKey(set: KeySet, purpose: string, version: number): Promise<void> {
    const masterVersion = await this.#newestMaster();
    const raw = randomBytes(KEY_BYTES);
    try {
      const wrapped = await this.#source.wrap(masterVersion, raw, dataKeyAad(purpose, version));
      const createdAt = new Date().toISOString();
      put(set, {
        purpose,
        version,
        masterVersion,
        wrapped: wrapped.toString('base64'),
        createdAt,
        key: createSecretKey(raw),
      });
    } finally {
      raw.fill(0);
    }
  }

  async #rewrapTo(masterVersion: number): Promise<MasterRewrap> {
    return this.#mutate(async (set) => {
      const rewrapped: MasterRewrap['rewrapped'] = [];
      for (const versions of set.values()) {
        for (const k of versions.values()) {
          // Only upward: a key another node already wrapped under a newer master stays as it is.
          if (k.masterVersion >= masterVersion) continue;
          const raw = k.key.export();
          try {
            const wrapped = await this.#source.wrap(masterVersion, raw, dataKeyAad(k.purpose, k.version));
            put(set, { ...k, masterVersion, wrapped: wrapped.toString('base64') });
          } finally {
            raw.fill(0);
          }
          rewrapped.push({ purpose: k.purpose, version: k.version, fromMasterVersion: k.masterVersion });
        }
      }
      return { changed: rewrapped.length > 0, result: { masterVersion, rewrapped } };
    });
  }

  async #unwrap(w: WrappedDataKey): Promise<KeyObject> {
    const wrapped = decodeBase64(w.wrapped);
    const raw = wrapped && (await this.#source.unwrap(w.masterVersion, wrapped, dataKeyAad(w.purpose, w.version)));
    if (!raw || raw.length !== KEY_BYTES) {
      raw?.fill(0);
      throw new KeyringError(
        'UNWRAP_FAILED',
        `data key "${w.purpose}" version ${w.version} did not unwrap to a ${KEY_BYTES}-byte key under master version ${w.masterVersion}`,
      );
    }
    const key = createSecretKey(raw);
    raw.fill(0);
    return key;
  }

  async #newestMaster(): Promise<number> {
    const version = (await this.#source.versions())[0];
    if (version === undefined)
      throw new KeyringError('NO_MASTER_KEY', `the ${this.#source.kind} key source has no master key`);
    return version;
  }
}

/** Binds a wrapped data key to its purpose and version: a wrapped key copied to another slot fails to unwrap. */
function dataKeyAad(purpose: string, version: number): string {
  return `rampart-dek\u0000${purpose}\u0000${version}`;
}

function put(set: KeySet, key: DataKey): void {
  const versions = set.get(key.purpose) ?? new Map<number, DataKey>();
  versions.set(key.version, key);
  set.set(key.purpose, versions);
}

function toList(set: KeySet): WrappedDataKey[] {
  const out: WrappedDataKey[] = [];
  for (const versions of set.values()) {
    for (const { purpose, version, masterVersion, wrapped, createdAt } of versions.values()) {
      out.push({ purpose, version, masterVersion, wrapped, createdAt });
    }
  }
  return out;
}

function sameKey(a: KeyObject, b: KeyObject): boolean {
  const x = a.export();
  const y = b.export();
  try {
    return x.length === y.length && timingSafeEqual(x, y);
  } finally {
    x.fill(0);
    y.fill(0);
  }
}

function unknownPurpose(purpose: string): KeyringError {
  return new KeyringError(
    'UNKNOWN_PURPOSE',
    `no data key for purpose ${JSON.stringify(purpose.slice(0, 80))}: list it in Keyring.open({ purposes }) or call ensurePurposes() first`,
  );
}
