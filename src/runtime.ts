import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { AggregatorRegistry, register } from 'prom-client';
import type { AuditLog } from './audit/log.js';
import { configReloadEvent, fileDigest, openAudit } from './audit/open.js';
import type { AuthServer } from './authserver/auth-server.js';
import { ensureSigningKey } from './authserver/keys.js';
import { authServerSettings } from './authserver/settings.js';
import { ConfigError, formatIssue, type LoadedConfig, loadConfigFile } from './config/load.js';
import { referencedFiles } from './config/refs.js';
import { watchFiles } from './config/watch.js';
import { ServiceRegistry } from './core/shared.js';
import { createLogger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { startMetricsServer } from './observability/metrics-server.js';
import { type BoundListener, Gateway } from './server.js';
import { dataDirOf, openServices, reencryptInBackground, type Services } from './services.js';
import { MemoryState, openState, serveClusterState } from './state/index.js';
import type { SharedState } from './state/types.js';

export interface StartOptions {
  config: string;
  /** Worker processes; 1 runs everything in this process. Default: config `workers`, else one per core. */
  workers?: number | undefined;
  /** Reload when the config file (or a ${file:} it names) changes. Default true. */
  watch?: boolean;
}

type Msg =
  | { type: 'reload' }
  | { type: 'shutdown' }
  | { type: 'ready'; listeners: BoundListener[] }
  | { type: 'reloaded'; ok: boolean };

function logIssues(logger: Logger, e: unknown, msg: string): void {
  if (e instanceof ConfigError) logger.error({ issues: e.issues.map(formatIssue) }, msg);
  else logger.error({ err: e }, msg);
}

function watchedFiles(file: string): string[] {
  const abs = resolve(file);
  try {
    return [abs, ...referencedFiles(readFileSync(abs, 'utf8'), dirname(abs))];
  } catch {
    return [abs];
  }
}

/** Loads the config or exits with every problem printed (file:line:col field: message). */
function loadOrExit(file: string): LoadedConfig {
  try {
    return loadConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const i of e.issues) process.stderr.write(`${formatIssue(i)}\n`);
      process.stderr.write(`rampart: ${file} is invalid; not starting\n`);
    } else process.stderr.write(`rampart: ${(e as Error).message}\n`);
    process.exit(1);
  }
}

/** Opens the store and keyring when configured, or exits with the reason (a missing master key in production). */
async function servicesOrExit(loaded: LoadedConfig, logger: Logger): Promise<Services | null> {
  try {
    return await openServices(loaded.config, loaded.file, logger);
  } catch (e) {
    logger.fatal(
      { err: { message: (e as Error).message, code: (e as { code?: string }).code } },
      'cannot open the store',
    );
    logger.flush();
    process.stderr.write(`rampart: ${(e as Error).message}\n`);
    process.exit(1);
  }
}

/** The built-in authorization server when enabled (each worker runs its own on the shared store), or exits. */
async function authServerOrExit(loaded: LoadedConfig, services: Services | null, logger: Logger) {
  if (!authServerSettings(loaded.config)) return null;
  try {
    // Loaded only when enabled: oidc-provider (and its Koa stack) stays out of every other process.
    const { startAuthServer } = await import('./authserver/index.js');
    return await startAuthServer(loaded.config, services, logger);
  } catch (e) {
    logger.fatal({ err: { message: (e as Error).message } }, 'cannot start the authorization server');
    logger.flush();
    process.stderr.write(`rampart: auth_server: ${(e as Error).message}\n`);
    process.exit(1);
  }
}

/** The authorization server is built once at start, like the listeners; a reload says so when its block changed. */
function warnAuthServerReload(before: LoadedConfig, next: LoadedConfig, logger: Logger): void {
  if (JSON.stringify(before.config.auth_server) !== JSON.stringify(next.config.auth_server))
    logger.warn('auth_server changes take effect on restart; the authorization server keeps its current settings');
}

/** The shared state is opened once at start; a reload says so when its block changed. */
function warnStateReload(before: LoadedConfig, next: LoadedConfig, logger: Logger): void {
  if (JSON.stringify(before.config.state) !== JSON.stringify(next.config.state))
    logger.warn('state changes take effect on restart; the shared state keeps its current backend');
}

/** Logs Redis connection errors of the shared state at most every 10 s (ioredis retries in the background). */
function stateErrors(logger: Logger): (e: Error) => void {
  let last = 0;
  return (e) => {
    if (Date.now() - last < 10_000) return;
    last = Date.now();
    logger.warn({ err: { message: e.message } }, 'shared state (redis) unreachable; reconnecting');
  };
}

/**
 * Opens this process's audit chain when `audit:` is enabled, with its SIEM sinks and anomaly detectors subscribed
 * (loaded only when configured), or exits with the reason.
 */
async function auditOrExit(
  loaded: LoadedConfig,
  services: Services | null,
  chain: string,
  logger: Logger,
  state: SharedState | null,
) {
  try {
    const log = await openAudit(loaded.config, loaded.file, services?.keyring ?? null, chain, logger);
    const cfg = loaded.config.audit;
    if (log && cfg && (cfg.sinks?.length || cfg.anomaly?.enabled)) {
      const { attachAuditSubscribers } = await import('./audit/sinks/attach.js');
      attachAuditSubscribers(log, cfg, {
        logger,
        dataDir: dataDirOf(loaded.config, loaded.file),
        chain,
        state,
        ...(loaded.config.metrics.enabled && { metrics: register }),
      });
    }
    return log;
  } catch (e) {
    logger.fatal({ err: { message: (e as Error).message } }, 'cannot open the audit log');
    logger.flush();
    process.stderr.write(`rampart: ${(e as Error).message}\n`);
    process.exit(1);
  }
}

/** Records a config load or reload (accepted or rejected) in the audit log: digests of the file before and after. */
function auditReload(
  audit: AuditLog | null,
  loaded: LoadedConfig,
  before: string,
  trigger: string,
  ok: boolean,
): string {
  const after = fileDigest(loaded.file);
  audit?.record(configReloadEvent(audit.node, before, after, trigger, ok));
  return ok ? after : before;
}

/** Serves the authorization server's path on the gateway and offers it to policies (the jwt policy's LocalIssuer). */
function gatewayWith(
  logger: Logger,
  metrics: boolean,
  services: Services | null,
  auth: AuthServer | null,
  state: SharedState | null,
  audit: AuditLog | null = null,
): Gateway {
  const registry = new ServiceRegistry(services?.store, services?.keyring, auth, state);
  registry.audit = audit;
  const gw: Gateway = new Gateway({
    logger,
    metrics: metrics ? new Metrics(() => gw.current) : null,
    services: registry,
  });
  if (auth) gw.mount(auth.path, auth.handle);
  return gw;
}

export async function start(opts: StartOptions): Promise<void> {
  if (cluster.isWorker) return runWorker(opts.config);
  const loaded = loadOrExit(opts.config);
  const workers = opts.workers ?? (loaded.config.workers || availableParallelism());
  if (workers <= 1) return runSingle(opts, loaded);
  return runPrimary(opts, loaded, workers);
}

/** One process serving everything: listeners, metrics, reload and signals. */
async function runSingle(opts: StartOptions, loaded: LoadedConfig): Promise<void> {
  const logger = createLogger(loaded.config.logging.level);
  for (const w of loaded.warnings) logger.warn({ issue: formatIssue(w) }, 'unsafe setting');
  const services = await servicesOrExit(loaded, logger);
  if (services) reencryptInBackground(services, logger);
  const auth = await authServerOrExit(loaded, services, logger);
  const state = await openState(loaded.config, 'single', stateErrors(logger), logger);
  const audit = await auditOrExit(loaded, services, 'main', logger, state);
  let digest = auditReload(audit, loaded, '', 'start', true);
  const gw = gatewayWith(logger, loaded.config.metrics.enabled, services, auth, state, audit);
  gw.apply(loaded);
  await gw.listen(loaded.config.listeners);
  if (loaded.config.metrics.enabled) {
    const m = await startMetricsServer(loaded.config.metrics.host, loaded.config.metrics.port, async () => ({
      contentType: register.contentType,
      body: await register.metrics(),
    }));
    logger.info({ address: `http://${loaded.config.metrics.host}:${m.port}/metrics` }, 'metrics listening');
  }
  const reload = (why: string) => {
    try {
      const next = loadConfigFile(opts.config);
      for (const w of next.warnings) logger.warn({ issue: formatIssue(w) }, 'unsafe setting');
      warnAuthServerReload(loaded, next, logger);
      warnStateReload(loaded, next, logger);
      const g = gw.apply(next);
      digest = auditReload(audit, next, digest, why, true);
      logger.info({ generation: g.id, trigger: why }, 'config reloaded');
    } catch (e) {
      auditReload(audit, loaded, digest, why, false);
      logIssues(logger, e, 'config rejected; the running config keeps serving');
    }
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  const stopWatch =
    opts.watch === false ? () => {} : watchFiles(watchedFiles(opts.config), () => reload('file change'));
  onStop(async () => {
    stopWatch();
    logger.info('draining');
    await gw.shutdown(gw.current?.config.shutdown_timeout_ms ?? 30_000);
    await audit?.close();
    await auth?.close();
    await services?.close();
    await state?.close();
    logger.info('stopped');
    logger.flush();
  });
}

function onStop(fn: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    fn().then(
      () => setTimeout(() => process.exit(0), 50),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  process.on('message', (m: Msg) => {
    if (m?.type === 'shutdown') handler();
  });
}

/**
 * The primary validates config, forks workers (they share the listening sockets through node:cluster),
 * aggregates their metrics, and fans out reload and shutdown. It serves no requests itself.
 */
async function runPrimary(opts: StartOptions, loaded: LoadedConfig, n: number): Promise<void> {
  const logger = createLogger(loaded.config.logging.level);
  for (const w of loaded.warnings) logger.warn({ issue: formatIssue(w) }, 'unsafe setting');
  // Migrate and check the master key once, here, before any worker starts; workers then open the ready store.
  const services = await servicesOrExit(loaded, logger);
  if (services) {
    await services.store
      .reencryptStale()
      .catch((e: unknown) => logger.error({ err: { message: (e as Error).message } }, 're-encryption failed'));
    // The first signing key is made here, once, not by workers racing each other.
    const as = authServerSettings(loaded.config);
    if (as) await ensureSigningKey(services.store, as.signingAlg, logger);
    await services.close();
  }
  // The primary owns the counters all workers share (unless they share Redis instead).
  const state = await openState(loaded.config, 'primary');
  let stopping = false;
  const workers = new Set<Worker>();
  let ready = 0;
  // A worker's slot names its audit chain ("w<slot>"): a restarted worker continues its predecessor's chain.
  const fork = (slot: number) => {
    const w = cluster.fork({ RAMPART_CONFIG: resolve(opts.config), RAMPART_WORKER_SLOT: String(slot) });
    workers.add(w);
    if (state instanceof MemoryState) serveClusterState(w, state);
    w.on('message', (m: Msg) => {
      if (m.type === 'ready' && ++ready === n)
        logger.info({ workers: n, listeners: m.listeners }, 'all workers listening');
    });
    w.on('exit', (code, signal) => {
      workers.delete(w);
      if (stopping) return;
      logger.error({ worker: w.process.pid, code, signal }, 'worker died; starting a new one');
      setTimeout(() => fork(slot), 500).unref();
    });
  };
  for (let i = 0; i < n; i++) fork(i + 1);

  if (loaded.config.metrics.enabled) {
    const agg = new AggregatorRegistry();
    const m = await startMetricsServer(loaded.config.metrics.host, loaded.config.metrics.port, async () => ({
      contentType: agg.contentType,
      body: await (await agg.clusterMetrics()).toString(),
    }));
    logger.info({ address: `http://${loaded.config.metrics.host}:${m.port}/metrics` }, 'metrics listening');
  }

  const reload = (why: string) => {
    // Validate once here so a bad file is reported once and no worker even tries it.
    try {
      loadConfigFile(opts.config);
    } catch (e) {
      logIssues(logger, e, 'config rejected; the running config keeps serving');
      return;
    }
    for (const w of workers) w.send({ type: 'reload' } satisfies Msg);
    logger.info({ trigger: why }, 'config reload sent to workers');
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  const stopWatch =
    opts.watch === false ? () => {} : watchFiles(watchedFiles(opts.config), () => reload('file change'));

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    stopWatch();
    logger.info('draining workers');
    const exits = [...workers].map((w) => new Promise<void>((r) => w.once('exit', () => r())));
    for (const w of workers) w.send({ type: 'shutdown' } satisfies Msg);
    const grace = (loaded.config.shutdown_timeout_ms ?? 30_000) + 5_000;
    const t = setTimeout(() => {
      for (const w of workers) w.process.kill('SIGKILL');
    }, grace);
    await Promise.all(exits);
    clearTimeout(t);
    await state?.close();
    logger.info('stopped');
    logger.flush();
    setTimeout(() => process.exit(0), 50);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

async function runWorker(file: string): Promise<void> {
  const path = process.env.RAMPART_CONFIG ?? file;
  const loaded = loadOrExit(path);
  const logger = createLogger(loaded.config.logging.level).child({ worker: cluster.worker?.id });
  const services = await servicesOrExit(loaded, logger);
  const auth = await authServerOrExit(loaded, services, logger);
  const state = await openState(loaded.config, 'worker', stateErrors(logger), logger);
  const audit = await auditOrExit(
    loaded,
    services,
    `w${process.env.RAMPART_WORKER_SLOT ?? cluster.worker?.id ?? 0}`,
    logger,
    state,
  );
  let digest = auditReload(audit, loaded, '', 'start', true);
  const gw = gatewayWith(logger, loaded.config.metrics.enabled, services, auth, state, audit);
  // prom-client answers the primary's scrape requests only in a worker that has constructed an AggregatorRegistry.
  if (loaded.config.metrics.enabled) new AggregatorRegistry();
  gw.apply(loaded);
  const listeners = await gw.listen(loaded.config.listeners);
  process.send?.({ type: 'ready', listeners } satisfies Msg);
  process.on('message', (m: Msg) => {
    if (m?.type !== 'reload') return;
    try {
      const next = loadConfigFile(path);
      warnAuthServerReload(loaded, next, logger);
      warnStateReload(loaded, next, logger);
      const g = gw.apply(next);
      digest = auditReload(audit, next, digest, 'reload', true);
      logger.info({ generation: g.id }, 'config reloaded');
    } catch (e) {
      auditReload(audit, loaded, digest, 'reload', false);
      logIssues(logger, e, 'config rejected; the running config keeps serving');
    }
  });
  // Draining starts on the primary's "shutdown" or on a signal (Ctrl-C reaches the whole process group).
  onStop(async () => {
    await gw.shutdown(gw.current?.config.shutdown_timeout_ms ?? 30_000);
    await audit?.close();
    await auth?.close();
    await services?.close();
    await state?.close();
    logger.flush();
  });
}
