import { randomBytes } from 'node:crypto';
import { link, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Group or other permission bits: a key file must have none (0600 or stricter). */
const LOOSE = 0o077;

export type ReadPrivate =
  | { ok: true; text: string }
  | { ok: false; reason: 'missing' | 'not-a-file' | 'loose-mode' | 'unreadable'; detail: string };

/**
 * Reads a file and checks its mode on the same descriptor (no window between the check and the read).
 * Windows has no such mode bits, so the check only runs on POSIX systems.
 */
export async function readPrivateFile(path: string, requirePrivate: boolean): Promise<ReadPrivate> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? { ok: false, reason: 'missing', detail: 'no such file' }
      : { ok: false, reason: 'unreadable', detail: code === 'EACCES' ? 'permission denied' : String(code) };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { ok: false, reason: 'not-a-file', detail: 'not a regular file' };
    if (requirePrivate && process.platform !== 'win32' && (st.mode & LOOSE) !== 0) {
      return { ok: false, reason: 'loose-mode', detail: `mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}` };
    }
    return { ok: true, text: await fh.readFile('utf8') };
  } finally {
    await fh.close();
  }
}

async function writeTemp(path: string, data: string): Promise<string> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx' with 0600: the temp file is never readable by others, not even for a moment, and never follows a planted link.
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  return tmp;
}

/** The rename is durable only once the directory entry is; best effort, as some filesystems refuse a directory fsync. */
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // ignored: see above
  }
}

/** Readers see the old file or the new one, never half of either (temp + fsync + rename). Mode 0600. */
export async function writePrivateFileAtomic(path: string, data: string): Promise<void> {
  const tmp = await writeTemp(path, data);
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dirname(path));
}

/**
 * Creates the file only if none exists, atomically (link(2) fails on an existing name), so two processes starting
 * together agree on one file and nobody reads it half written. Returns false when it already existed.
 */
export async function createPrivateFileExclusive(path: string, data: string): Promise<boolean> {
  const tmp = await writeTemp(path, data);
  try {
    await link(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await rm(tmp, { force: true });
  }
  await syncDir(dirname(path));
  return true;
}
