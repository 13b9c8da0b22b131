import type { Command } from 'commander';
import { Generation } from '../../config/compile.js';
import { loadConfigFile } from '../../config/load.js';
import { createLogger } from '../../observability/logger.js';
import { POLICIES } from '../../policies/index.js';
import { PoolRegistry } from '../../proxy/pools.js';

export function register(program: Command): void {
  program
    .command('policies')
    .description('print the policy order; with --config, the pipeline each route gets')
    .option('-c, --config <file>', 'show the compiled pipeline per route for this config')
    .action(async (o: { config?: string }) => {
      const out: string[] = ['order  policy              description'];
      for (const p of POLICIES) out.push(`${String(p.order).padStart(5)}  ${p.name.padEnd(20)}${p.description}`);
      if (o.config) {
        const { config } = loadConfigFile(o.config);
        const pools = new PoolRegistry();
        const gen = new Generation(config, 0, pools, createLogger('silent'));
        out.push('', 'route                pipeline (request order; response runs in reverse)');
        for (const r of gen.routes) {
          out.push(
            `${r.name.padEnd(20)} ${r.pipeline.steps.map((s) => `${s.name}@${s.scope}`).join(' → ') || '(none)'} → ${r.upstream ? `upstream:${r.upstream}` : '(no upstream)'}`,
          );
        }
        out.push(`${'(no route)'.padEnd(20)} ${gen.fallback.steps.map((s) => s.name).join(' → ') || '(none)'} → 404`);
        gen.retire();
        await pools.closeAll();
      }
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
