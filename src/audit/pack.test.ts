import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { packFile } from './pack.js';

const ports = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;

describe('audit pack worker', () => {
  let dir = '';
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('packs a file off the main thread into Brotli that unpacks to the same bytes, and lets the process exit idle', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rampart-pack-'));
    const lines = Array.from(
      { length: 5000 },
      (_, i) =>
        `{"seq":${i},"event":{"type":"request","path":"/users/u_${i % 97}","note":"é ü ✓"},"hash":"${i.toString(16).padStart(64, '0')}"}\n`,
    ).join('');
    const file = join(dir, 'seg.jsonl');
    await writeFile(file, lines);
    const idle = ports();
    const job = packFile(file);
    // While a job runs the worker holds the process open; idle, it does not.
    expect(ports()).toBe(idle + 1);
    const packed = await job;
    expect(packed.length).toBeLessThan(Buffer.byteLength(lines) / 5);
    expect(brotliDecompressSync(packed).toString('utf8')).toBe(lines);
    expect(ports()).toBe(idle);
    // Jobs in flight together each get their own answer.
    const other = join(dir, 'other.jsonl');
    await writeFile(other, 'x\n'.repeat(10));
    const [a, b] = await Promise.all([packFile(file), packFile(other)]);
    expect(brotliDecompressSync(a).toString('utf8')).toBe(lines);
    expect(brotliDecompressSync(b).toString('utf8')).toBe('x\n'.repeat(10));
  });

  it('rejects with the reason when the file cannot be read, and keeps serving later jobs', async () => {
    await expect(packFile(join(dir, 'missing.jsonl'))).rejects.toThrow(/ENOENT/);
    const file = join(dir, 'after.jsonl');
    await writeFile(file, 'ok\n');
    expect(brotliDecompressSync(await packFile(file)).toString('utf8')).toBe('ok\n');
  });
});
