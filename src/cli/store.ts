import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import type { Services } from '../services.js';
import type { Credential, CredentialKind, Store } from '../store/types.js';

/** Options every store-backed command takes (consumers, keys). */
export interface StoreOptions {
  config: string;
  json?: boolean;
}

/**
 * What withServices needs: the config loader, the logger and the store drivers. This module is loaded at every CLI
 * start (by the commands' registration), so they are imported only once a store command runs.
 */
function importServices() {
  return Promise.all([
    import('pino'),
    import('../config/load.js'),
    import('../observability/logger.js'),
    import('../services.js'),
  ]);
}

/**
 * Adds the store options, and imports the store's modules after parsing but before the action: the action's clock
 * (`--expires 3s` is from now) starts after the slow imports, as it did when they were static imports.
 */
export function withStoreOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', "the gateway's config: its store holds consumers and keys", 'rampart.yaml')
    .option('--json', 'print JSON')
    .hook('preAction', async () => {
      await importServices();
    });
}

/**
 * Opens the store and keyring that the config names (as the gateway does), runs fn, closes them. Log lines (the
 * development master-key warning) go to stderr so that stdout stays the command's output.
 */
export async function withServices<T>(o: StoreOptions, fn: (s: Services, config: Config) => Promise<T>): Promise<T> {
  const [{ default: pino }, { loadConfigFile }, { createLogger }, { openServices }] = await importServices();
  const { config, file } = loadConfigFile(o.config);
  const logger = createLogger('warn', pino.destination({ dest: 2, sync: true }));
  const services = await openServices(config, file, logger);
  if (!services) throw new Error(`${o.config} configures no store (add \`store: {}\`): consumers and keys live there`);
  // Changes to consumers, credentials and clients go to the audit log (who, what, before/after digests).
  const audited = (await import('../audit/cli-change.js')).auditStore(services, config, file, logger);
  try {
    return await fn(audited.services, config);
  } finally {
    try {
      await audited.flush();
    } finally {
      await services.close();
    }
  }
}

/** Writes the command's result: JSON with --json, else the text lines. */
export function output(o: { json?: boolean }, json: unknown, lines: () => string[]): void {
  process.stdout.write(o.json ? `${JSON.stringify(json, null, 2)}\n` : `${lines().join('\n')}\n`);
}

/** Commander collector for repeatable options (`--group a --group b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "90s", "15m", "24h", "30d", "2w" (also "0s") → milliseconds; null when not such a duration. */
export function parseDuration(s: string): number | null {
  const m = /^(\d{1,9})([smhdw])$/.exec(s.trim());
  return m ? Number(m[1]) * (UNITS[m[2] as string] as number) : null;
}

/** A duration from now ("30d") or an ISO-8601 time ("2027-01-31T00:00:00Z"), as a Date. */
export function parseExpiry(s: string, now = Date.now()): Date {
  const d = parseDuration(s);
  if (d !== null) return new Date(now + d);
  if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
    const t = Date.parse(s);
    if (!Number.isNaN(t)) return new Date(t);
  }
  throw new Error(`"${s}" is neither a duration (90s, 15m, 24h, 30d, 2w) nor an ISO-8601 time`);
}

/** Every credential of one kind (optionally one consumer's), page by page, with the names of their consumers. */
export async function listCredentials(
  store: Store,
  kind: CredentialKind,
  consumerId?: string,
): Promise<{ all: Credential[]; names: Map<string, string> }> {
  const all: Credential[] = [];
  for (let after: string | undefined; ; ) {
    const page = await store.credentials.list({
      kind,
      limit: 1000,
      ...(after && { after }),
      ...(consumerId !== undefined && { consumer_id: consumerId }),
    });
    all.push(...page);
    if (page.length < 1000) break;
    after = page[page.length - 1]?.id;
  }
  const names = new Map<string, string>();
  for (const c of all) {
    if (!names.has(c.consumer_id)) names.set(c.consumer_id, (await store.consumers.get(c.consumer_id))?.name ?? '?');
  }
  return { all, names };
}
