import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { openStore } from './index.js';
import { runStoreSuite } from './store.suite.js';
import { TestCipher } from './test-cipher.js';

/**
 * Runs against a real PostgreSQL (CI starts one). Unreachable means failed, not skipped: a skipped backend would
 * let a PostgreSQL-only bug through green.
 */
const url = process.env.RAMPART_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
const cipher = new TestCipher();

beforeAll(async () => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect().catch((e: Error) => {
    throw new Error(`PostgreSQL at ${url} is required for this test (set RAMPART_TEST_PG_URL): ${e.message}`);
  });
  await client.end();
});

afterAll(async () => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
});

runStoreSuite(
  'postgres',
  () => openStore({ kind: 'postgres', url, schema }, cipher),
  // What a backup carries: pg_dump of the test schema.
  async () =>
    (await promisify(execFile)('pg_dump', [`--dbname=${url}`, `--schema=${schema}`], { maxBuffer: 64 << 20 })).stdout,
  { rotate: () => cipher.rotate() },
);
