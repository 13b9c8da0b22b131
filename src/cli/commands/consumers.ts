import type { Command } from 'commander';
import type { Consumer, Credential, JsonObject, Store } from '../../store/types.js';
import { collect, output, type StoreOptions, withServices, withStoreOptions } from '../store.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
const ATTR = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/**
 * `rampart consumers …`: who may call the API (name, groups used as roles, attributes for policies, status), on the
 * gateway's own store (--config). Changes reach running gateways within their api-key cache_ttl_ms (≤ 1 s).
 */
export function register(program: Command): void {
  const consumers = program.command('consumers').description('manage consumers (API callers) in the store');

  withStoreOptions(consumers.command('create'))
    .description('create a consumer')
    .argument('<name>', 'unique name (letters, digits, . _ @ + -)')
    .option('--group <group>', 'a group (its roles for authorization); repeatable', collect, [])
    .option('--attr <key=value>', 'an attribute for policies; repeatable', collect, [])
    .option('--disabled', 'create it disabled')
    .action(async (name: string, o: StoreOptions & { group: string[]; attr: string[]; disabled?: boolean }) => {
      checkName(name);
      await withServices(o, async ({ store }) => {
        const c = await store.consumers.create({
          name,
          groups: checkGroups(o.group),
          attributes: applyAttrs({}, o.attr, []),
          status: o.disabled ? 'disabled' : 'active',
        });
        output(o, c, () => [`created consumer ${c.name} (${c.id})`, ...describe(c)]);
      });
    });

  withStoreOptions(consumers.command('list'))
    .description('list consumers')
    .option('--group <group>', 'only members of this group')
    .option('--status <status>', 'active or disabled')
    .action(async (o: StoreOptions & { group?: string; status?: string }) => {
      if (o.status !== undefined && o.status !== 'active' && o.status !== 'disabled')
        throw new Error('--status is active or disabled');
      await withServices(o, async ({ store }) => {
        const all: Consumer[] = [];
        for (let after: string | undefined; ; ) {
          const page = await store.consumers.list({
            limit: 1000,
            ...(after && { after }),
            ...(o.group !== undefined && { group: o.group }),
            ...(o.status && { status: o.status as Consumer['status'] }),
          });
          all.push(...page);
          if (page.length < 1000) break;
          after = page[page.length - 1]?.id;
        }
        output(o, all, () =>
          all.length
            ? all.map(
                (c) => `${c.id}  ${c.name}  ${c.status}${c.groups.length ? `  groups: ${c.groups.join(',')}` : ''}`,
              )
            : ['no consumers'],
        );
      });
    });

  withStoreOptions(consumers.command('show'))
    .description('show a consumer and its credentials')
    .argument('<id-or-name>')
    .action(async (ref: string, o: StoreOptions) => {
      await withServices(o, async ({ store }) => {
        const c = await findConsumer(store, ref);
        const creds = await store.credentials.list({ consumer_id: c.id, limit: 1000 });
        output(o, { ...c, credentials: creds.map(credentialView) }, () => [
          `consumer ${c.name} (${c.id})`,
          ...describe(c),
          creds.length ? 'credentials:' : 'credentials: none',
          ...creds.map((k) => `  ${k.kind} ${k.key_id} (${k.id}) ${credentialStatus(k)}`),
        ]);
      });
    });

  withStoreOptions(consumers.command('update'))
    .description('rename, regroup or change attributes')
    .argument('<id-or-name>')
    .option('--name <name>', 'new name')
    .option('--group <group>', 'replace the groups with these; repeatable', collect, [])
    .option('--clear-groups', 'remove every group')
    .option('--attr <key=value>', 'set an attribute; repeatable', collect, [])
    .option('--unset-attr <key>', 'remove an attribute; repeatable', collect, [])
    .action(
      async (
        ref: string,
        o: StoreOptions & {
          name?: string;
          group: string[];
          clearGroups?: boolean;
          attr: string[];
          unsetAttr: string[];
        },
      ) => {
        if (o.name !== undefined) checkName(o.name);
        if (o.clearGroups && o.group.length) throw new Error('give --group or --clear-groups, not both');
        await withServices(o, async ({ store }) => {
          const c = await findConsumer(store, ref);
          const patch: Parameters<Store['consumers']['update']>[1] = {};
          if (o.name !== undefined) patch.name = o.name;
          if (o.group.length) patch.groups = checkGroups(o.group);
          if (o.clearGroups) patch.groups = [];
          if (o.attr.length || o.unsetAttr.length) patch.attributes = applyAttrs(c.attributes, o.attr, o.unsetAttr);
          if (Object.keys(patch).length === 0) throw new Error('nothing to change: give --name, --group, --attr ...');
          const u = await store.consumers.update(c.id, patch);
          if (!u) throw new Error(`consumer ${ref} was deleted meanwhile`);
          output(o, u, () => [`updated consumer ${u.name} (${u.id})`, ...describe(u)]);
        });
      },
    );

  for (const [verb, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    withStoreOptions(consumers.command(verb))
      .description(
        verb === 'disable'
          ? 'refuse every credential of the consumer (running gateways within 1 s); keeps them for enable'
          : 'accept the consumer again',
      )
      .argument('<id-or-name>')
      .action(async (ref: string, o: StoreOptions) => {
        await withServices(o, async ({ store }) => {
          const c = await findConsumer(store, ref);
          const u = (await store.consumers.update(c.id, { status })) ?? { ...c, status };
          output(o, u, () => [`consumer ${u.name} (${u.id}) is ${status}`]);
        });
      });
  }

  withStoreOptions(consumers.command('delete'))
    .description('delete a consumer with all its credentials and OAuth clients')
    .argument('<id-or-name>')
    .action(async (ref: string, o: StoreOptions) => {
      await withServices(o, async ({ store }) => {
        const c = await findConsumer(store, ref);
        const creds = await store.credentials.list({ consumer_id: c.id, limit: 1000 });
        await store.consumers.delete(c.id);
        output(o, { deleted: c.id, name: c.name, credentials: creds.length }, () => [
          `deleted consumer ${c.name} (${c.id}) and ${creds.length} credential(s)`,
        ]);
      });
    });
}

/** By id, else by name; an error naming the reference when neither exists. */
export async function findConsumer(store: Store, ref: string): Promise<Consumer> {
  const c = (await store.consumers.get(ref)) ?? (await store.consumers.getByName(ref));
  if (!c) throw new Error(`no consumer with id or name "${ref}"`);
  return c;
}

/** A credential as the CLI shows it: never its hash or secret. */
export function credentialView(k: Credential): Record<string, unknown> {
  return {
    id: k.id,
    kind: k.kind,
    key_id: k.key_id,
    consumer_id: k.consumer_id,
    status: credentialStatus(k),
    scopes: k.scopes,
    routes: k.routes,
    expires_at: k.expires_at,
    revoked_at: k.revoked_at,
    last_used_at: k.last_used_at,
    created_at: k.created_at,
  };
}

export function credentialStatus(k: Credential, now = Date.now()): 'active' | 'revoked' | 'expired' {
  if (k.revoked_at !== null && Date.parse(k.revoked_at) <= now) return 'revoked';
  if (k.expires_at !== null && Date.parse(k.expires_at) <= now) return 'expired';
  return 'active';
}

function describe(c: Consumer): string[] {
  const attrs = Object.entries(c.attributes);
  return [
    `  status: ${c.status}`,
    `  groups: ${c.groups.length ? c.groups.join(', ') : '-'}`,
    `  attributes: ${attrs.length ? attrs.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ') : '-'}`,
  ];
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new Error(`"${name}" is not a valid consumer name (letters, digits, . _ @ + -; ≤ 128)`);
}

function checkGroups(groups: string[]): string[] {
  for (const g of groups) if (!NAME.test(g)) throw new Error(`"${g}" is not a valid group name`);
  return [...new Set(groups)];
}

function applyAttrs(base: JsonObject, set: string[], unset: string[]): JsonObject {
  const out: JsonObject = { ...base };
  for (const a of set) {
    const eq = a.indexOf('=');
    const k = eq === -1 ? a : a.slice(0, eq);
    if (eq === -1 || !ATTR.test(k)) throw new Error(`--attr "${a}": write key=value (key: letters, digits, _ . -)`);
    out[k] = a.slice(eq + 1);
  }
  for (const k of unset) delete out[k];
  return out;
}
