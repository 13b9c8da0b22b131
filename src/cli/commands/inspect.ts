import type { Command } from 'commander';

interface InspectCliOptions {
  file?: string;
  request?: string;
  url?: string;
  header: string[];
  data?: string;
  config?: string;
  route?: string;
  threshold?: string;
  json?: boolean;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description(
      'run the attack detection engine on one request (from --file or curl-like flags) and print its findings; exits 1 when it is an attack, 0 when clean',
    )
    .option(
      '-f, --file <file>',
      'a JSON request: {"method","path","query","headers","body"} (or "url" for path and query)',
    )
    .option('-X, --request <method>', 'method (default GET, POST with -d)')
    .option('--url <url>', 'path and query, e.g. "/search?q=1" (a full http:// URL is accepted)')
    .option('-H, --header <header>', '"Name: value" (repeatable)', collect, [])
    .option('-d, --data <body>', 'request body ("@file" reads a file)')
    .option('-c, --config <file>', 'use the threat-detection settings of this config (threshold, exclusions ...)')
    .option('--route <name>', 'with --config: the route whose settings apply (route, then its upstream, then global)')
    .option('--threshold <n>', 'anomaly score threshold (overrides the config)')
    .option('--json', 'print the report as JSON')
    .action(async (o: InspectCliOptions) => {
      const { readRequest, optionsFromConfig, formatReport } = await import('./inspect-impl.js');
      const { DetectionEngine } = await import('../../detect/engine.js');
      const req = readRequest(o);
      const opts = o.config ? await optionsFromConfig(o.config, o.route) : {};
      const threshold = o.threshold !== undefined ? Number(o.threshold) : undefined;
      if (threshold !== undefined && !(Number.isInteger(threshold) && threshold > 0))
        throw new Error('--threshold must be a positive integer');
      const engine = new DetectionEngine(threshold !== undefined ? { ...opts, threshold } : opts);
      const report = engine.inspect(req);
      if (o.json) process.stdout.write(`${JSON.stringify({ threshold: engine.threshold, ...report }, null, 2)}\n`);
      else process.stdout.write(formatReport(report, engine.threshold));
      process.exitCode = report.attack ? 1 : 0;
    });
}
