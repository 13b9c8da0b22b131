import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('validate')
    .description('check a config file; prints every problem with file:line:column and field, exits 1 on errors')
    .argument('[file]', 'config file', 'rampart.yaml')
    .option('--json', 'print the issues as JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      const { ConfigError, formatIssue, loadConfigFile } = await import('../../config/load.js');
      try {
        const { warnings } = loadConfigFile(file);
        if (o.json) process.stdout.write(`${JSON.stringify({ valid: true, issues: warnings }, null, 2)}\n`);
        else {
          for (const w of warnings) process.stdout.write(`${formatIssue(w)}\n`);
          process.stdout.write(`${file}: valid${warnings.length ? ` (${warnings.length} warning(s))` : ''}\n`);
        }
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        if (o.json) process.stdout.write(`${JSON.stringify({ valid: false, issues: e.issues }, null, 2)}\n`);
        else {
          for (const i of e.issues) process.stderr.write(`${formatIssue(i)}\n`);
          const n = e.issues.filter((i) => i.severity === 'error').length;
          process.stderr.write(`${file}: ${n} error(s)\n`);
        }
        process.exitCode = 1;
      }
    });
}
