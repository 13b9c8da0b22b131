import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { StoreConfig } from '../../store/index.js';

export function register(program: Command): void {
  program
    .command('migrate')
    .description('apply pending store migrations and print the schema version (the gateway also does this at start)')
    .option(
      '--store <kind>',
      'sqlite or postgres',
      (v) => {
        if (v !== 'sqlite' && v !== 'postgres') throw new InvalidArgumentError('sqlite or postgres');
        return v;
      },
      'sqlite',
    )
    .option('--data-dir <dir>', 'SQLite data directory (holds rampart.db)', 'data')
    // The environment variable keeps a password out of shell history and the process list.
    .option('--url <url>', 'PostgreSQL connection string (default: $RAMPART_STORE_URL)')
    .option('--schema <name>', 'PostgreSQL schema (default: the search_path)')
    .action(async (o: { store: 'sqlite' | 'postgres'; dataDir: string; url?: string; schema?: string }) => {
      let cfg: StoreConfig;
      if (o.store === 'sqlite') cfg = { kind: 'sqlite', dataDir: o.dataDir };
      else {
        const url = o.url ?? process.env.RAMPART_STORE_URL;
        if (!url) throw new Error('--store postgres needs --url or RAMPART_STORE_URL');
        cfg = { kind: 'postgres', url, schema: o.schema };
      }
      const { migrateStore } = await import('../../store/index.js');
      const { from, to } = await migrateStore(cfg);
      // Never echo the URL: it may carry a password.
      process.stdout.write(
        from === to
          ? `store schema is at version ${to} (up to date)\n`
          : `store schema migrated from version ${from} to ${to}\n`,
      );
    });
}
