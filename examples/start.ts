/**
 * `npm start`: the demo API and the gateway in front of it, with rampart.yaml, and demo credentials for this run.
 * The gateway runs as a child process exactly as `rampart start` would in production.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startDemoApi } from './demo-api/server.js';
import { seedDemo } from './seed.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const api = await startDemoApi({ port: Number(process.env.DEMO_API_PORT ?? 3001), quiet: false });
process.stdout.write(`demo-api listening on ${api.url}\n`);
const port = process.env.RAMPART_PORT ?? '8080';
const creds = await seedDemo(`${root}rampart.yaml`);
const gw = spawn(
  process.execPath,
  ['dist/src/cli/main.js', 'start', '--config', 'rampart.yaml', ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, DEMO_API_URL: api.url, RAMPART_PORT: port },
  },
);
const base = `http://127.0.0.1:${port}`;
const { alice, bob, ops } = creds.apiKeys;
process.stdout.write(
  [
    `rampart starting on ${base}. Demo credentials for this run (new on every start; the old ones are deleted):`,
    `  alice (owns user u_1001):  curl -i -H 'x-api-key: ${alice}' ${base}/api/users/u_1001`,
    `  bob   (owns user u_1002):  curl -i -H 'x-api-key: ${bob}' ${base}/api/users/u_1002`,
    `  bob swaps in alice's id:   curl -i -H 'x-api-key: ${bob}' ${base}/api/users/u_1001   (404: anti-BOLA)`,
    `  ops   (group admin):       curl -i -H 'x-api-key: ${ops}' ${base}/api/admin/stats   (alice: 403)`,
    `  no credential (401):       curl -i ${base}/api/users/u_1001`,
    `  alice sees no ssn/hash:    curl -s -H 'x-api-key: ${alice}' ${base}/api/users/u_1001   (ops also sees email)`,
    `  a negative transfer (400): curl -i -H 'x-api-key: ${alice}' -H 'content-type: application/json' -d '{"from_account":"acc_2001","to_account":"acc_2003","amount":-5}' ${base}/api/transfers`,
    `  SQL injection (403):       curl -i "${base}/api/echo/q?s=1'%20OR%201=1--"`,
    '  the audit trail:           npx rampart audit verify --config rampart.yaml; npx rampart audit search --config rampart.yaml --status 403',
    `  OAuth client ${creds.client.id}: TOKEN=$(curl -s -u ${creds.client.id}:${creds.client.secret} -d grant_type=client_credentials -d scope=orders:read ${base}/oauth/token | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')`,
    `                             curl -i -H "authorization: Bearer $TOKEN" ${base}/api/orders`,
    '',
  ].join('\n'),
);
const stop = () => gw.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
gw.on('exit', (code) => {
  void api.close().then(() => process.exit(code ?? 0));
});
