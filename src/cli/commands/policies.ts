import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('policies')
    .description('print the policy order; with --config, the pipeline each route gets')
    .option('-c, --config <file>', 'show the compiled pipeline per route for this config')
    .action(async (o: { config?: string }) => {
      // The list needs only each policy's meta (no implementations); the compiler and the policies only with --config.
      const { POLICY_SCHEMAS } = await import('../../policies/schemas.js');
      const out: string[] = ['order  policy              description'];
      for (const p of POLICY_SCHEMAS) out.push(`${String(p.order).padStart(5)}  ${p.name.padEnd(20)}${p.description}`);
      if (o.config) {
        // The plan only: instantiating policies would need the store, keys and identity providers.
        const [{ layersOf }, { choosePolicies, IDENTITY_GATE_ORDER }, { loadConfigFile }] = await Promise.all([
          import('../../config/compile.js'),
          import('../../core/pipeline.js'),
          import('../../config/load.js'),
        ]);
        const { config } = loadConfigFile(o.config);
        const show = (steps: ReturnType<typeof choosePolicies>, gate: boolean) => {
          const names = steps.map((s) => `${s.def.name}@${s.scope}`);
          if (gate) {
            const at = steps.findIndex((s) => s.def.order >= IDENTITY_GATE_ORDER);
            names.splice(at === -1 ? names.length : at, 0, '[identity gate]');
          }
          return names.join(' → ') || '(none)';
        };
        out.push('', 'route                pipeline (request order; response runs in reverse)');
        for (const r of config.routes) {
          out.push(
            `${r.name.padEnd(20)} ${show(choosePolicies(layersOf(config, r)), !r.public)} → ${r.upstream ? `upstream:${r.upstream}` : '(no upstream)'}`,
          );
        }
        out.push(`${'(no route)'.padEnd(20)} ${show(choosePolicies(layersOf(config, null)), false)} → 404`);
      }
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
