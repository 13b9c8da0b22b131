import type { Command } from 'commander';
import { authServerSettings } from '../../authserver/settings.js';
import type { Config } from '../../config/schema.js';
import { output, type StoreOptions, withServices, withStoreOptions } from '../store.js';

/**
 * `rampart authserver …`: the built-in authorization server's signing keys, on the gateway's own store. Safe
 * while gateways run: they re-read the keys every few seconds, and a new key signs only once all have it.
 */
export function register(program: Command): void {
  const as = program.command('authserver').description('built-in authorization server (auth_server): signing keys');

  withStoreOptions(as.command('rotate-key'))
    .description('add a signing key: published at once, signing shortly after; the previous key retires later')
    .action(async (o: StoreOptions) => {
      const { ACTIVATION_DELAY_MS, createSigningKey, KEY_REFRESH_MS, planKeys } = await import(
        '../../authserver/keys.js'
      );
      await withServices(o, async ({ store }, config) => {
        const s = settingsOf(config, o);
        const key = await createSigningKey(store, s.signingAlg);
        const plan = planKeys(await store.signingKeys.list({ status: 'active', limit: 1000 }), Date.now(), {
          activationDelayMs: ACTIVATION_DELAY_MS,
          overlapMs: s.overlapS * 1000,
        });
        const signsFrom = new Date(plan?.signsFrom.get(key.kid) ?? Date.parse(key.created_at));
        output(o, { kid: key.kid, alg: key.alg, signs_from: signsFrom.toISOString() }, () => [
          `new signing key ${key.kid} (${key.alg}), published now`,
          `  running gateways load it within ${KEY_REFRESH_MS / 1000} s and sign with it from ${signsFrom.toISOString()}`,
          `  the previous key stays published ${s.overlapS} s after that (key_rotation_overlap_s), then retires`,
        ]);
      });
    });

  withStoreOptions(as.command('keys'))
    .description('list the signing keys: signing, published, retired')
    .action(async (o: StoreOptions) => {
      const { ACTIVATION_DELAY_MS, planKeys } = await import('../../authserver/keys.js');
      await withServices(o, async ({ store }, config) => {
        const s = settingsOf(config, o);
        const keys = await store.signingKeys.list({ limit: 1000 });
        const plan = planKeys(keys, Date.now(), {
          activationDelayMs: ACTIVATION_DELAY_MS,
          overlapMs: s.overlapS * 1000,
        });
        const published = new Set(plan?.published.map((k) => k.kid));
        const rows = keys.map((k) => ({
          kid: k.kid,
          alg: k.alg,
          state:
            k.kid === plan?.signing.kid
              ? 'signing'
              : published.has(k.kid)
                ? (plan?.signsFrom.get(k.kid) ?? 0) > Date.now()
                  ? 'published (signs soon)'
                  : 'published (previous)'
                : 'retired',
          created_at: k.created_at,
        }));
        output(o, rows, () =>
          rows.length ? rows.map((r) => `${r.kid}  ${r.alg}  ${r.state}  created ${r.created_at}`) : ['no keys yet'],
        );
      });
    });
}

function settingsOf(config: Config, o: StoreOptions) {
  const s = authServerSettings(config);
  if (!s) throw new Error(`${o.config} does not enable auth_server`);
  return s;
}
