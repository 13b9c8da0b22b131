import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';

export function register(program: Command): void {
  program
    .command('start')
    .description('start the gateway')
    .option('-c, --config <file>', 'config file', 'rampart.yaml')
    .option('-w, --workers <n>', 'worker processes (default: config, else one per core)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
      return n;
    })
    .option('--no-watch', 'do not reload when the config file changes (SIGHUP still reloads)')
    .action(async (o: { config: string; workers?: number; watch: boolean }) => {
      const { start } = await import('../../runtime.js');
      await start({ config: o.config, workers: o.workers, watch: o.watch });
    });
}
