import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Credential, Store } from '../../store/types.js';
import { fingerprintOfPem, normalizeFingerprint } from '../../tls/fingerprint.js';
import {
  collect,
  listCredentials,
  output,
  parseExpiry,
  type StoreOptions,
  withServices,
  withStoreOptions,
} from '../store.js';
import { credentialStatus, credentialView, findConsumer } from './consumers.js';

const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/; // RFC 6749 scope-token characters

/**
 * `rampart certs bind | unbind | bindings`: pins client certificates to consumers for the mtls-identity policy. The
 * store holds an "mtls" credential whose key_id is the certificate's SHA-256 fingerprint (64 lower-case hex digits);
 * running gateways see a new or revoked binding within the policy's cache_ttl_ms (≤ 1 s).
 */
export function register(program: Command): void {
  const certs =
    program.commands.find((c) => c.name() === 'certs') ?? program.command('certs').description('client certificates');

  withStoreOptions(certs.command('bind'))
    .description('bind a client certificate (by its SHA-256 fingerprint) to a consumer, for mtls-identity')
    .argument('<consumer>', 'consumer id or name')
    .requiredOption('--cert <file>', 'the PEM certificate (its first certificate, the leaf, is bound)')
    .option('--scope <scope>', 'a scope the binding grants; repeatable', collect, [])
    .option(
      '--route <route>',
      'limit the certificate to this route name; repeatable (default: every route)',
      collect,
      [],
    )
    .option('--expires <when>', 'a duration from now (90s, 24h, 30d) or an ISO-8601 time')
    .action(
      async (ref: string, o: StoreOptions & { cert: string; scope: string[]; route: string[]; expires?: string }) => {
        const { fingerprint, cert } = fingerprintOfPem(readFileSync(o.cert));
        for (const s of o.scope)
          if (!SCOPE.test(s)) throw new Error(`"${s}" is not a valid scope (RFC 6749 scope token)`);
        const expires = o.expires === undefined ? null : parseExpiry(o.expires);
        if (expires && expires.getTime() <= Date.now())
          throw new Error(`--expires is in the past: ${expires.toISOString()}`);
        if (new Date(cert.validTo).getTime() <= Date.now()) warn(`the certificate expired on ${cert.validTo}`);
        await withServices(o, async ({ store }) => {
          const consumer = await findConsumer(store, ref);
          const existing = await store.credentials.getByKeyId(fingerprint);
          if (existing) {
            if (existing.kind !== 'mtls') throw new Error('another kind of credential already uses this key id');
            if (credentialStatus(existing) === 'active') {
              const owner = existing.consumer_id === consumer.id ? consumer.name : existing.consumer_id;
              throw new Error(
                `the certificate is already bound to ${owner} (credential ${existing.id}); unbind it first`,
              );
            }
            // A revoked or expired binding holds the (unique) fingerprint: a new binding replaces it.
            await store.credentials.delete(existing.id);
          }
          const credential = await store.credentials.create({
            consumer_id: consumer.id,
            kind: 'mtls',
            key_id: fingerprint,
            scopes: [...new Set(o.scope)],
            routes: [...new Set(o.route)],
            expires_at: expires,
          });
          if (consumer.status !== 'active')
            warn(`consumer ${consumer.name} is disabled: the binding works once it is enabled`);
          output(o, { ...credentialView(credential), consumer: consumer.name, subject: cert.subject }, () => [
            `bound certificate ${fingerprint}`,
            `  subject: ${cert.subject.replaceAll('\n', ', ')}`,
            `  valid until: ${new Date(cert.validTo).toISOString()}`,
            `to consumer ${consumer.name} (${consumer.id}) as credential ${credential.id}`,
          ]);
        });
      },
    );

  withStoreOptions(certs.command('unbind'))
    .description('revoke a certificate binding (refused by running gateways within a second)')
    .option('--cert <file>', 'the PEM certificate')
    .option('--fingerprint <sha256>', 'or its SHA-256 fingerprint (hex, with or without colons)')
    .action(async (o: StoreOptions & { cert?: string; fingerprint?: string }) => {
      const fingerprint = fingerprintOption(o);
      await withServices(o, async ({ store }) => {
        const c = await findBinding(store, fingerprint);
        if (credentialStatus(c) === 'revoked') throw new Error(`the binding ${c.id} is already revoked`);
        await store.credentials.revoke(c.id);
        const revoked = (await store.credentials.get(c.id)) ?? c;
        output(o, credentialView(revoked), () => [`revoked binding ${c.id} of certificate ${fingerprint}`]);
      });
    });

  withStoreOptions(certs.command('bindings'))
    .description('list certificate bindings')
    .option('--consumer <consumer>', 'only the bindings of this consumer (id or name)')
    .action(async (o: StoreOptions & { consumer?: string }) => {
      await withServices(o, async ({ store }) => {
        const consumer = o.consumer === undefined ? null : await findConsumer(store, o.consumer);
        const { all, names } = await listCredentials(store, 'mtls', consumer?.id);
        output(
          o,
          all.map((c) => ({ ...credentialView(c), consumer: names.get(c.consumer_id) })),
          () =>
            all.length
              ? all.map(
                  (c) =>
                    `${c.id}  ${c.key_id}  ${names.get(c.consumer_id)}  ${credentialStatus(c)}` +
                    (c.expires_at ? `  expires ${c.expires_at}` : '') +
                    (c.routes.length ? `  routes: ${c.routes.join(',')}` : ''),
                )
              : ['no certificate bindings'],
        );
      });
    });
}

function fingerprintOption(o: { cert?: string; fingerprint?: string }): string {
  if (!o.cert === !o.fingerprint) throw new Error('give one of --cert FILE or --fingerprint SHA256');
  if (o.cert) return fingerprintOfPem(readFileSync(o.cert)).fingerprint;
  const fp = normalizeFingerprint(o.fingerprint ?? '');
  if (!fp) throw new Error('--fingerprint must be 64 hexadecimal digits (colons allowed)');
  return fp;
}

async function findBinding(store: Store, fingerprint: string): Promise<Credential> {
  const c = await store.credentials.getByKeyId(fingerprint);
  if (c?.kind !== 'mtls') throw new Error(`no binding for certificate ${fingerprint}`);
  return c;
}

function warn(msg: string): void {
  process.stderr.write(`rampart: warning: ${msg}\n`);
}
