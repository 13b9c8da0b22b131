import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of rampart.yaml (for editors: "# yaml-language-server: $schema=...")')
    .action(async () => {
      const { configJsonSchema } = await import('../../config/json-schema.js');
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });
}
