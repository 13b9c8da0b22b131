import { type FSWatcher, watch } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Calls onChange (debounced) when something changes in the folders of the given files, and every pollMs as a
 * fallback. Unlike the config watcher it does not filter by file name: Kubernetes and other secret stores swap
 * a symlinked folder ("..data") rather than the file itself. The caller compares contents, so spurious calls
 * cost one read of a few small files.
 */
export function watchFolders(
  files: readonly string[],
  onChange: () => void,
  opts: { debounceMs?: number; pollMs?: number } = {},
): () => void {
  const debounceMs = opts.debounceMs ?? 200;
  let timer: NodeJS.Timeout | null = null;
  const fire = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange();
    }, debounceMs);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    try {
      const w = watch(dir, fire);
      w.on('error', () => {});
      w.unref();
      watchers.push(w);
    } catch {
      // An unwatchable folder (some network file systems) is still covered by the poll.
    }
  }
  const poll = setInterval(onChange, opts.pollMs ?? 60_000);
  poll.unref();
  return () => {
    if (timer) clearTimeout(timer);
    clearInterval(poll);
    for (const w of watchers) w.close();
  };
}
