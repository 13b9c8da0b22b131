import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Calls onChange (debounced) when any of the files changes. Watches the folders, not the files, because
 * editors and secret managers replace a file by renaming a new one over it, which a file watch misses.
 */
export function watchFiles(files: readonly string[], onChange: () => void, debounceMs = 150): () => void {
  const byDir = new Map<string, Set<string>>();
  for (const f of files) {
    const d = dirname(f);
    if (!byDir.has(d)) byDir.set(d, new Set());
    byDir.get(d)?.add(basename(f));
  }
  let timer: NodeJS.Timeout | null = null;
  const watchers: FSWatcher[] = [];
  for (const [dir, names] of byDir) {
    try {
      const w = watch(dir, (_event, name) => {
        if (name && !names.has(name.toString())) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(onChange, debounceMs);
      });
      w.unref();
      watchers.push(w);
    } catch {
      // A folder that cannot be watched still reloads on SIGHUP.
    }
  }
  return () => {
    if (timer) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
