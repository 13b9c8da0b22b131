import { Pool } from 'undici';

export interface PoolOptions {
  connections: number;
  keepAliveMs: number;
  pipelining: number;
  connectMs: number;
  headerMs: number;
  bodyMs: number;
  tls?: { ca?: string; cert?: string; key?: string; servername?: string; verify: boolean; minVersion: string };
}

interface Entry {
  pool: Pool;
  refs: number;
}

/**
 * undici pools shared across config generations: a reload that keeps a target keeps its warm keep-alive
 * connections. A pool closes (gracefully: in-flight requests finish) when the last generation using it is gone.
 */
export class PoolRegistry {
  private readonly pools = new Map<string, Entry>();
  private readonly keys = new WeakMap<Pool, string>();

  acquire(origin: string, o: PoolOptions): Pool {
    const key = `${origin} ${JSON.stringify(o)}`;
    let e = this.pools.get(key);
    if (!e) {
      const tls = o.tls;
      const pool = new Pool(origin, {
        connections: o.connections,
        pipelining: o.pipelining,
        keepAliveTimeout: o.keepAliveMs,
        headersTimeout: o.headerMs,
        bodyTimeout: o.bodyMs,
        connect: {
          timeout: o.connectMs,
          ...(tls && {
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            servername: tls.servername,
            rejectUnauthorized: tls.verify,
            minVersion: tls.minVersion as 'TLSv1.2' | 'TLSv1.3',
          }),
        },
      });
      e = { pool, refs: 0 };
      this.pools.set(key, e);
      this.keys.set(pool, key);
    }
    e.refs++;
    return e.pool;
  }

  release(pool: Pool): void {
    const key = this.keys.get(pool);
    if (!key) return;
    const e = this.pools.get(key);
    if (!e || --e.refs > 0) return;
    this.pools.delete(key);
    void e.pool.close().catch(() => {});
  }

  async closeAll(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((e) => e.pool.close().catch(() => {})));
  }
}
