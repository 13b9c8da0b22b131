// Spawned by src/state/*.test.ts: hammers one key from several processes. Compiled state modules come from
// STATE_DIR (the tests compile src/state there). Prints one JSON line with the result.
import cluster from 'node:cluster';
import { pathToFileURL } from 'node:url';

const dir = process.env.STATE_DIR;
const mod = (f) => import(pathToFileURL(`${dir}/${f}`).href);
const mode = process.env.MODE; // "cluster" | "redis"
const workers = Number(process.env.WORKERS ?? 3);
const perWorker = Number(process.env.PER_WORKER ?? 1000);
const inFlight = Number(process.env.IN_FLIGHT ?? 64);
// "consume" (rate limits, ALGORITHM) or "increment" (fixed-window counters: quotas)
const op = process.env.OP ?? 'consume';
const req = {
  key: process.env.KEY ?? 'hammer',
  algorithm: process.env.ALGORITHM ?? 'gcra',
  limit: Number(process.env.LIMIT ?? 500),
  windowMs: Number(process.env.WINDOW_MS ?? 600_000),
};

async function hammer(state) {
  let admitted = 0;
  let errors = 0;
  let next = 0;
  const run = async () => {
    while (next < perWorker) {
      next++;
      try {
        if (op === 'increment') {
          const spec = [{ key: req.key, limit: req.limit, expiresAtMs: Date.now() + req.windowMs }];
          if ((await state.increment(spec, 1)).admitted) admitted++;
        } else if ((await state.consume(req)).allowed) admitted++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, run));
  return { admitted, errors };
}

if (mode === 'cluster' && cluster.isPrimary) {
  const { MemoryState } = await mod('memory.js');
  const { serveClusterState } = await mod('cluster.js');
  const state = new MemoryState();
  const results = [];
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork();
    serveClusterState(w, state);
    w.on('message', (m) => {
      if (m?.type !== 'result') return;
      results.push(m);
      if (results.length === workers) {
        const sum = (f) => results.reduce((a, r) => a + r[f], 0);
        console.log(JSON.stringify({ admitted: sum('admitted'), errors: sum('errors'), workers }));
        for (const x of Object.values(cluster.workers ?? {})) x?.kill();
        process.exit(0);
      }
    });
  }
} else if (mode === 'cluster') {
  const { ClusterStateClient } = await mod('cluster.js');
  const state = new ClusterStateClient();
  const r = await hammer(state);
  process.send({ type: 'result', ...r });
} else {
  const { RedisState } = await mod('redis.js');
  // A generous timeout: on a loaded machine a reply can take seconds; this checks the count, not the latency.
  const state = new RedisState({ url: process.env.REDIS_URL, keyPrefix: process.env.KEY_PREFIX, timeoutMs: 10_000 });
  // Connected first (a loaded machine may take longer than the head start to get here), then start together: wait
  // for the go time so the processes overlap.
  await state.ready(10_000);
  const go = Number(process.env.GO_AT ?? 0);
  if (go > Date.now()) await new Promise((r) => setTimeout(r, go - Date.now()));
  const r = await hammer(state);
  console.log(JSON.stringify(r));
  await state.close();
}
