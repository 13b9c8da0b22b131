/**
 * `npm start`: the demo API and the gateway in front of it, with rampart.yaml.
 * The gateway runs as a child process exactly as `rampart start` would in production.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startDemoApi } from './demo-api/server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const api = await startDemoApi({ port: Number(process.env.DEMO_API_PORT ?? 3001), quiet: false });
process.stdout.write(`demo-api listening on ${api.url}\n`);
const port = process.env.RAMPART_PORT ?? '8080';
const gw = spawn(
  process.execPath,
  ['dist/src/cli/main.js', 'start', '--config', 'rampart.yaml', ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, DEMO_API_URL: api.url, RAMPART_PORT: port },
  },
);
process.stdout.write(
  `rampart starting on http://127.0.0.1:${port}  (try: curl -i http://127.0.0.1:${port}/api/users)\n`,
);
const stop = () => gw.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
gw.on('exit', (code) => {
  void api.close().then(() => process.exit(code ?? 0));
});
