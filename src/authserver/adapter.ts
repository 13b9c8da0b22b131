import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { OAuthPayload, Store } from '../store/types.js';
import { clientMetadata } from './clients.js';

/**
 * oidc-provider's storage on the Rampart store, so that every worker and node shares issued tokens, revocations
 * and replay detection: models live in `oauth_payloads`, clients come from `oauth_clients`.
 */
export function storeAdapter(store: Store): (model: string) => Adapter {
  return (model) => (model === 'Client' ? new ClientAdapter(store) : new PayloadAdapter(store, model));
}

const REPLAY_DETECTION = 'ReplayDetection';
/** How long a replay-detection claim holds before the provider's save() gives it the assertion's expiry. */
const CLAIM_HOLD_S = 3600;

class PayloadAdapter implements Adapter {
  constructor(
    private readonly store: Store,
    private readonly model: string,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    await this.store.oauthPayloads.upsert({
      model: this.model,
      id,
      payload: payload as Record<string, unknown>,
      grant_id: payload.grantId ?? null,
      user_code: payload.userCode ?? null,
      uid: payload.uid ?? null,
      expires_at: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
    });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    // oidc-provider checks a client assertion's jti with find-then-save, two steps that two workers could both
    // pass with the same assertion. Here find() claims the id atomically instead: the first caller finds nothing
    // (and so accepts the assertion), every later one finds the claim (and refuses it as replayed).
    if (this.model === REPLAY_DETECTION) {
      const now = Math.floor(Date.now() / 1000);
      const held = { jti: id, kind: REPLAY_DETECTION, iat: now, exp: now + CLAIM_HOLD_S };
      const claimed = await this.store.oauthPayloads.claim({
        model: this.model,
        id,
        payload: held,
        expires_at: new Date((now + CLAIM_HOLD_S) * 1000),
      });
      if (claimed) return undefined;
      return (await this.get(id)) ?? held;
    }
    return this.get(id);
  }

  private async get(id: string): Promise<AdapterPayload | undefined> {
    return payloadOf(await this.store.oauthPayloads.get(this.model, id));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return payloadOf(await this.store.oauthPayloads.getByUserCode(this.model, userCode));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return payloadOf(await this.store.oauthPayloads.getByUid(this.model, uid));
  }

  async consume(id: string): Promise<void> {
    await this.store.oauthPayloads.consume(this.model, id);
  }

  async destroy(id: string): Promise<void> {
    await this.store.oauthPayloads.delete(this.model, id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.store.oauthPayloads.deleteByGrantId(grantId);
  }
}

function payloadOf(r: OAuthPayload | null): AdapterPayload | undefined {
  if (!r) return undefined;
  const p = r.payload as AdapterPayload;
  return r.consumed_at ? { ...p, consumed: Math.floor(Date.parse(r.consumed_at) / 1000) } : p;
}

/** Clients are managed with `rampart clients` (dynamic registration is off): read-only here. */
class ClientAdapter implements Adapter {
  constructor(private readonly store: Store) {}

  async find(id: string): Promise<AdapterPayload | undefined> {
    const client = await this.store.clients.get(id);
    if (!client) return undefined;
    // A disabled consumer's clients get no tokens.
    const consumer = await this.store.consumers.get(client.consumer_id);
    if (consumer?.status !== 'active') return undefined;
    return clientMetadata(client) as AdapterPayload | undefined;
  }

  async upsert(): Promise<void> {
    throw new Error('clients are managed with `rampart clients`, not through the provider');
  }

  async destroy(): Promise<void> {
    throw new Error('clients are managed with `rampart clients`, not through the provider');
  }

  async findByUserCode(): Promise<undefined> {
    return undefined;
  }

  async findByUid(): Promise<undefined> {
    return undefined;
  }

  async consume(): Promise<void> {}

  async revokeByGrantId(): Promise<void> {}
}
