import { userInfo } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Services } from '../services.js';
import type { Store } from '../store/types.js';
import { digestOf } from './chain.js';
import type { AuditEvent } from './types.js';

/** Who ran the command: the OS user (behind sudo, the user who called sudo too). */
export function operator(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (a container's arbitrary uid)
    user = `uid:${process.getuid?.() ?? '?'}`;
  }
  const sudo = process.env.SUDO_USER;
  return sudo && sudo !== user ? `${user} (sudo by ${sudo})` : user;
}

const WATCHED: Record<string, { target: string; methods: readonly string[] }> = {
  consumers: { target: 'consumer', methods: ['create', 'update', 'delete'] },
  credentials: { target: 'credential', methods: ['create', 'update', 'revoke', 'delete'] },
  clients: { target: 'client', methods: ['create', 'update', 'delete'] },
};

interface Repo {
  get(id: string): Promise<unknown>;
}

function idOf(target: string, v: unknown): string {
  const o = v as Record<string, unknown> | null;
  return String((target === 'client' ? o?.client_id : o?.id) ?? '');
}

/**
 * The CLI's store with every change to consumers, credentials and OAuth clients noted as a change event: who (the OS
 * user), what (type, id) and SHA-256 digests of the entity before and after (never its content). `flush` appends them
 * to the audit folder's "cli" chain (its own lock; the gateway's processes write their own chains) when `audit:` is on.
 */
export function auditStore(
  services: Services,
  config: Config,
  configFile: string,
  logger: Logger,
): { services: Services; flush(): Promise<void> } {
  const events: AuditEvent[] = [];
  const who = operator();
  const wrap = (repoName: string, repo: Repo, target: string, methods: readonly string[]) =>
    new Proxy(repo, {
      get(t, k) {
        const v = Reflect.get(t, k, t) as unknown;
        if (typeof v !== 'function') return v;
        const fn = v as (...a: unknown[]) => Promise<unknown>;
        if (typeof k !== 'string' || !methods.includes(k)) return fn.bind(t);
        return async (...args: unknown[]) => {
          const id = k === 'create' ? null : String(args[0]);
          const before = id === null ? null : await t.get(id);
          const result = await fn.apply(t, args);
          const after = k === 'create' ? result : k === 'update' ? result : await t.get(id as string);
          events.push({
            time: new Date().toISOString(),
            kind: 'change',
            type: `${target}.${k}`,
            ...(config.audit?.node_id && { node: config.audit.node_id }),
            actor: { operator: who },
            change: {
              target: `${target}:${id ?? idOf(target, result)}`,
              action: k,
              ...(before !== null && before !== undefined && { before_digest: digestOf(before) }),
              ...(after !== null &&
                after !== undefined &&
                typeof after === 'object' && { after_digest: digestOf(after) }),
            },
            severity: 'info',
            detail: { via: 'cli', repo: repoName },
          });
          return result;
        };
      },
    });
  const store = services.store;
  const wrapped = new Proxy(store, {
    get(t, k) {
      const v = Reflect.get(t, k, t) as unknown;
      const w = typeof k === 'string' ? WATCHED[k] : undefined;
      if (w && v) return wrap(k as string, v as Repo, w.target, w.methods);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  }) as Store;
  return {
    services: { ...services, store: wrapped },
    async flush() {
      if (!events.length || !config.audit?.enabled) return;
      const { openAudit } = await import('./open.js');
      const log = await openAudit(config, configFile, services.keyring, 'cli', logger, 10_000);
      if (!log) return;
      try {
        await Promise.all(events.map((e) => log.recordDurable(e)));
      } finally {
        await log.close();
      }
    },
  };
}
