import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { OAuthClient } from '../../store/types.js';
import { collect, output, type StoreOptions, withServices, withStoreOptions } from '../store.js';
import { findConsumer } from './consumers.js';

/**
 * `rampart clients …`: OAuth clients of the built-in authorization server (client credentials), on the gateway's
 * own store (--config). A secret is printed once and never stored: the store keeps a keyed hash of it.
 */
export function register(program: Command): void {
  const clients = program
    .command('clients')
    .description('manage OAuth clients of the built-in authorization server (auth_server)');

  withStoreOptions(clients.command('create'))
    .description('register a client_credentials client for a consumer; prints its secret once')
    .argument('<consumer>', 'consumer id or name')
    .option('--scope <scope>', 'a scope the client may request; repeatable', collect, [])
    .option('--jwks-file <file>', 'public JWKS of the client: it authenticates with private_key_jwt, no secret')
    .action(async (ref: string, o: StoreOptions & { scope: string[]; jwksFile?: string }) => {
      const jwks = o.jwksFile === undefined ? undefined : readJwks(o.jwksFile);
      const { registerClient } = await import('../../authserver/clients.js');
      await withServices(o, async ({ store, keyring }) => {
        const consumer = await findConsumer(store, ref);
        const { client, secret } = await registerClient(store, keyring, {
          consumer_id: consumer.id,
          scopes: o.scope,
          ...(jwks !== undefined && { jwks }),
        });
        output(o, { ...view(client), ...(secret && { client_secret: secret }) }, () => [
          `created client ${client.client_id} for consumer ${consumer.name}`,
          `  auth: ${authOf(client)}; scopes: ${client.scopes.join(' ') || '(none)'}`,
          ...(secret
            ? [
                `  client_secret: ${secret}`,
                '  Shown once: Rampart keeps only a keyed hash of it. Store it in your secret manager now.',
              ]
            : []),
        ]);
      });
    });

  withStoreOptions(clients.command('list'))
    .description('list clients (never their secrets)')
    .option('--consumer <consumer>', 'only the clients of this consumer (id or name)')
    .action(async (o: StoreOptions & { consumer?: string }) => {
      await withServices(o, async ({ store }) => {
        const consumerId = o.consumer === undefined ? undefined : (await findConsumer(store, o.consumer)).id;
        const all: OAuthClient[] = [];
        for (let after: string | undefined; ; ) {
          const page = await store.clients.list({
            limit: 1000,
            ...(after && { after }),
            ...(consumerId && { consumer_id: consumerId }),
          });
          all.push(...page);
          if (page.length < 1000) break;
          after = page[page.length - 1]?.client_id;
        }
        output(o, all.map(view), () =>
          all.length
            ? all.map(
                (c) =>
                  `${c.client_id}  consumer ${c.consumer_id}  ${authOf(c)}  scopes: ${c.scopes.join(' ') || '(none)'}`,
              )
            : ['no clients'],
        );
      });
    });

  withStoreOptions(clients.command('delete'))
    .description('delete a client: it gets no more tokens (issued ones expire within auth_server.access_token_ttl_s)')
    .argument('<client-id>')
    .action(async (id: string, o: StoreOptions) => {
      await withServices(o, async ({ store }) => {
        if (!(await store.clients.delete(id))) throw new Error(`no client "${id}"`);
        output(o, { deleted: id }, () => [`deleted client ${id}`]);
      });
    });
}

function readJwks(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (e) {
    throw new Error(`--jwks-file ${file}: ${(e as Error).message}`);
  }
}

function authOf(c: OAuthClient): string {
  return c.jwks ? 'private_key_jwt' : c.secret_hash ? 'client_secret_basic/post' : 'none (unusable)';
}

/** A client as the CLI shows it: never its secret hash. */
function view(c: OAuthClient): Record<string, unknown> {
  return {
    client_id: c.client_id,
    consumer_id: c.consumer_id,
    auth: authOf(c),
    scopes: c.scopes,
    grant_types: c.grant_types,
    ...(c.jwks && { jwks: c.jwks }),
    created_at: c.created_at,
  };
}
