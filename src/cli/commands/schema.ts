import type { Command } from 'commander';
import { configJsonSchema } from '../../config/json-schema.js';

export function register(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of rampart.yaml (for editors: "# yaml-language-server: $schema=...")')
    .action(() => {
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });
}
