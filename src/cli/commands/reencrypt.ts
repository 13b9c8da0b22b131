import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('reencrypt')
    .description(
      "re-encrypt every secret column under the keyring's newest data keys (after `rampart keyring rotate-data-key`)",
    )
    .option('-c, --config <file>', 'config file', 'rampart.yaml')
    .action(async (o: { config: string }) => {
      const [{ loadConfigFile }, { createLogger }, { openServices }] = await Promise.all([
        import('../../config/load.js'),
        import('../../observability/logger.js'),
        import('../../services.js'),
      ]);
      const { config, file } = loadConfigFile(o.config);
      const services = await openServices(config, file, createLogger('warn'));
      if (!services) {
        process.stderr.write(`${o.config}: no store configured; nothing to re-encrypt\n`);
        process.exitCode = 1;
        return;
      }
      try {
        const n = await services.store.reencryptStale();
        process.stdout.write(`re-encrypted ${n} value(s) under the newest data keys\n`);
      } finally {
        await services.close();
      }
    });
}
