/**
 * The attack detection engine's cost per inspection as an exact instruction count, for changes too small to see in
 * throughput on a shared or noisy host (`npm run bench:instructions`; needs valgrind). Each scenario runs the engine
 * in a child `node --predictable` (no concurrent compilation or GC threads, so counts repeat exactly) under
 * callgrind, twice with different numbers of inspections; the difference divided by the difference in inspections
 * takes Node's start-up and the JIT's warm-up out.
 *
 *   node dist/bench/engine-instructions.js              all scenarios, a table
 *   node dist/bench/engine-instructions.js --loop S N   (internal) N inspections of scenario S
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DetectionEngine } from '../src/detect/engine.js';
import { orderRequests } from './engine-time.js';
import { ORDER_JSON } from './order.js';

const SCENARIOS = {
  'benign order': 'the bench order (1 KB JSON, a 250-character note with a URL), every detector',
  'order with an injection': 'the same order, its coupon a UNION SELECT',
  'order, no detector but XXE': 'what parsing, walking, decoding and flags cost before the detectors',
} as const;
type Scenario = keyof typeof SCENARIOS;

function loop(scenario: Scenario, n: number): void {
  const engine =
    scenario === 'order, no detector but XXE' ? new DetectionEngine({ classes: ['xxe'] }) : new DetectionEngine();
  const { order, attack } = orderRequests(ORDER_JSON);
  const req = scenario === 'order with an injection' ? attack : order;
  let attacks = 0;
  for (let i = 0; i < n; i++) if (engine.inspect(req).attack) attacks++;
  // Read the result, so no part of the work can be dropped.
  if (attacks !== (scenario === 'order with an injection' ? n : 0)) throw new Error(`unexpected answer: ${attacks}`);
}

function instructions(scenario: Scenario, n: number): number {
  // callgrind reports on stderr.
  const run = spawnSync(
    'valgrind',
    [
      '--tool=callgrind',
      '--callgrind-out-file=/dev/null',
      process.execPath,
      '--predictable',
      // The engine's JSON reader is WebAssembly: without this, its code stays in V8's baseline compiler (Liftoff)
      // here, while a gateway runs the optimised code after a few requests.
      '--no-liftoff',
      fileURLToPath(import.meta.url),
      '--loop',
      scenario,
      String(n),
    ],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  const m = /Collected : (\d+)/.exec(run.stderr);
  if (run.status !== 0 || !m) throw new Error(`valgrind failed (${run.status}):\n${run.stderr.slice(-2000)}`);
  return Number(m[1]);
}

const LOW = 2000;
const HIGH = 6000;

if (process.argv[2] === '--loop') {
  loop(process.argv[3] as Scenario, Number(process.argv[4]));
} else {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    process.stderr.write('valgrind is not installed (apt-get install valgrind)\n');
    process.exit(2);
  }
  process.stdout.write('| scenario | instructions per inspection | what it shows |\n|---|---:|---|\n');
  for (const [scenario, what] of Object.entries(SCENARIOS) as [Scenario, string][]) {
    const per = Math.round((instructions(scenario, HIGH) - instructions(scenario, LOW)) / (HIGH - LOW));
    process.stdout.write(`| ${scenario} | ${per.toLocaleString('en-US')} | ${what} |\n`);
  }
}
