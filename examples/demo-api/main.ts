// Runnable entry for the demo upstream: `node dist/examples/demo-api/main.js` (DEMO_API_PORT overrides 3001).
import { startDemoApi } from './server.js';

const port = Number(process.env.DEMO_API_PORT ?? 3001);
const api = await startDemoApi({ host: '127.0.0.1', port, quiet: false });
console.log(`demo-api listening on ${api.url}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    api.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('demo-api: error while closing', err);
        process.exit(1);
      },
    );
  });
}
