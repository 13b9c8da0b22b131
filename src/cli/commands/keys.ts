import type { Command } from 'commander';
import type { Config } from '../../config/schema.js';
import type { Keyring } from '../../crypto/keyring.js';
import { API_KEY_ID_LENGTH, API_KEY_PREFIX, generateApiKey } from '../../identity/api-key.js';
import type { Consumer, Credential, Store } from '../../store/types.js';
import {
  collect,
  listCredentials,
  output,
  parseDuration,
  parseExpiry,
  type StoreOptions,
  withServices,
  withStoreOptions,
} from '../store.js';
import { credentialStatus, credentialView, findConsumer } from './consumers.js';

const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/; // RFC 6749 scope-token characters
const KEY_ID = new RegExp(`^(?:${API_KEY_PREFIX})?([a-z2-7]{${API_KEY_ID_LENGTH}})$`);

/**
 * `rampart keys …`: API keys of consumers. A new key is printed exactly once, to stdout, and never logged; the store
 * keeps only its keyed hash. Revocation and expiry reach running gateways within their cache_ttl_ms (≤ 1 s).
 */
export function register(program: Command): void {
  const keys = program.command('keys').description('manage API keys (create prints the key once)');

  withStoreOptions(keys.command('create'))
    .description('create an API key for a consumer and print it (once)')
    .argument('<consumer>', 'consumer id or name')
    .option('--scope <scope>', 'a scope the key grants; repeatable', collect, [])
    .option('--route <route>', 'limit the key to this route name; repeatable (default: every route)', collect, [])
    .option('--expires <when>', 'a duration from now (90s, 24h, 30d) or an ISO-8601 time')
    .action(async (ref: string, o: StoreOptions & { scope: string[]; route: string[]; expires?: string }) => {
      const scopes = checkScopes(o.scope);
      const expires = o.expires === undefined ? null : future(parseExpiry(o.expires), '--expires');
      await withServices(o, async ({ store, keyring }, config) => {
        const consumer = await findConsumer(store, ref);
        warnUnknownRoutes(config, o.route);
        if (consumer.status !== 'active')
          warn(`consumer ${consumer.name} is disabled: the key works once it is enabled`);
        const { key, credential } = await issue(store, keyring, consumer.id, scopes, [...new Set(o.route)], expires);
        printNewKey(o, key, credential, consumer);
      });
    });

  withStoreOptions(keys.command('list'))
    .description('list API keys (never the keys themselves)')
    .option('--consumer <consumer>', 'only the keys of this consumer (id or name)')
    .action(async (o: StoreOptions & { consumer?: string }) => {
      await withServices(o, async ({ store }) => {
        const consumer = o.consumer === undefined ? null : await findConsumer(store, o.consumer);
        const { all, names } = await listCredentials(store, 'api-key', consumer?.id);
        output(
          o,
          all.map((k) => ({ ...credentialView(k), consumer: names.get(k.consumer_id) })),
          () =>
            all.length
              ? all.map(
                  (k) =>
                    `${k.id}  ${API_KEY_PREFIX}${k.key_id}…  ${names.get(k.consumer_id)}  ${credentialStatus(k)}` +
                    (k.expires_at ? `  expires ${k.expires_at}` : '') +
                    (k.scopes.length ? `  scopes: ${k.scopes.join(' ')}` : '') +
                    (k.routes.length ? `  routes: ${k.routes.join(',')}` : '') +
                    (k.last_used_at ? `  last used ${k.last_used_at}` : ''),
                )
              : ['no API keys'],
        );
      });
    });

  withStoreOptions(keys.command('rotate'))
    .description(
      'new key for the same consumer, scopes and routes; the old one keeps working for the grace period, then expires',
    )
    .argument('<id>', 'credential id or key id')
    .option('--grace <duration>', 'how long the old key keeps working (0s: stop now)', '24h')
    .option('--expires <when>', "the new key's expiry (default: the old key's lifetime again, from now)")
    .action(async (ref: string, o: StoreOptions & { grace: string; expires?: string }) => {
      const grace = parseDuration(o.grace);
      if (grace === null) throw new Error(`--grace "${o.grace}": a duration such as 90s, 15m, 24h, 7d`);
      await withServices(o, async ({ store, keyring }) => {
        const old = await findKey(store, ref);
        const status = credentialStatus(old);
        if (status !== 'active') throw new Error(`key ${old.id} is ${status}: create a new key instead`);
        const now = Date.now();
        let expires: Date | null = null;
        if (o.expires !== undefined) expires = future(parseExpiry(o.expires, now), '--expires');
        else if (old.expires_at !== null)
          expires = new Date(now + Date.parse(old.expires_at) - Date.parse(old.created_at));
        const { key, credential } = await issue(store, keyring, old.consumer_id, old.scopes, old.routes, expires);
        // The old key ends at now + grace, never later than it would have anyway.
        const graceEnd = Math.min(now + grace, old.expires_at === null ? Infinity : Date.parse(old.expires_at));
        const updated = await store.credentials.update(old.id, { expires_at: new Date(graceEnd) });
        if (!updated) throw new Error(`key ${old.id} was deleted meanwhile; the new key ${credential.id} stands`);
        const consumer = await store.consumers.get(old.consumer_id);
        printNewKey(o, key, credential, consumer, { id: old.id, expires_at: updated.expires_at });
      });
    });

  withStoreOptions(keys.command('revoke'))
    .description('refuse the key from now on (running gateways within 1 s); kept for the record')
    .argument('<id>', 'credential id or key id')
    .action(async (ref: string, o: StoreOptions) => {
      await withServices(o, async ({ store }) => {
        const k = await findKey(store, ref);
        const at = new Date();
        if (!(await store.credentials.revoke(k.id, at))) throw new Error(`key ${k.id} was already revoked`);
        output(o, { revoked: k.id, key_id: k.key_id, revoked_at: at.toISOString() }, () => [
          `revoked key ${k.id} (${API_KEY_PREFIX}${k.key_id}…) at ${at.toISOString()}`,
        ]);
      });
    });

  withStoreOptions(keys.command('delete'))
    .description('delete the key (refused from now on, like revoke, and gone from the store)')
    .argument('<id>', 'credential id or key id')
    .action(async (ref: string, o: StoreOptions) => {
      await withServices(o, async ({ store }) => {
        const k = await findKey(store, ref);
        await store.credentials.delete(k.id);
        output(o, { deleted: k.id, key_id: k.key_id }, () => [`deleted key ${k.id} (${API_KEY_PREFIX}${k.key_id}…)`]);
      });
    });
}

/** Creates a key and its credential; only the keyed hash is stored. */
async function issue(
  store: Store,
  keyring: Keyring,
  consumerId: string,
  scopes: string[],
  routes: string[],
  expires: Date | null,
): Promise<{ key: string; credential: Credential }> {
  // Already loaded by withServices; imported here rather than at the top, which runs at every CLI start.
  const { CREDENTIAL_MAC_PURPOSE } = await import('../../services.js');
  const { key, keyId } = generateApiKey();
  const credential = await store.credentials.create({
    consumer_id: consumerId,
    kind: 'api-key',
    key_id: keyId,
    secret_hash: keyring.mac(CREDENTIAL_MAC_PURPOSE, key),
    scopes,
    routes,
    expires_at: expires,
  });
  return { key, credential };
}

/** The one place a key is shown: stdout, once. */
function printNewKey(
  o: StoreOptions,
  key: string,
  credential: Credential,
  consumer: Consumer | null,
  rotated?: { id: string; expires_at: string | null },
): void {
  output(
    o,
    { key, credential: credentialView(credential), consumer: consumer?.name, ...(rotated && { rotated }) },
    () => [
      `${rotated ? 'rotated' : 'created'} API key ${credential.id} for consumer ${consumer?.name ?? credential.consumer_id}` +
        (credential.expires_at ? ` (expires ${credential.expires_at})` : ''),
      ...(rotated ? [`old key ${rotated.id} keeps working until ${rotated.expires_at}`] : []),
      '',
      key,
      '',
      'This is the only time the key is shown: store it now (the gateway keeps only a keyed hash).',
    ],
  );
}

async function findKey(store: Store, ref: string): Promise<Credential> {
  const m = KEY_ID.exec(ref);
  const k = m ? await store.credentials.getByKeyId(m[1] as string) : await store.credentials.get(ref);
  if (k?.kind !== 'api-key') throw new Error(`no API key with id or key id "${ref}"`);
  return k;
}

function checkScopes(scopes: string[]): string[] {
  for (const s of scopes) if (!SCOPE.test(s)) throw new Error(`"${s}" is not a valid scope (RFC 6749 scope token)`);
  return [...new Set(scopes)];
}

function future(d: Date, what: string): Date {
  if (d.getTime() <= Date.now()) throw new Error(`${what} is in the past: ${d.toISOString()}`);
  return d;
}

function warnUnknownRoutes(config: Config, routes: string[]): void {
  const known = new Set(config.routes.map((r) => r.name));
  for (const r of routes)
    if (!known.has(r)) warn(`no route named "${r}" in the config (yet): the key works on it only once it exists`);
}

function warn(msg: string): void {
  process.stderr.write(`rampart: warning: ${msg}\n`);
}
