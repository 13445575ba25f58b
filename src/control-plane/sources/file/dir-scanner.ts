// A watched directory of config files (*.yaml, *.yml, *.json; dot-files skipped), reported as batches of changed
// texts. What the files mean is the caller's business: the Envoy-resource source (file-source.ts) and the
// Istio-style mesh store (mesh-store.ts) both read their files through this.
//
// Why the directory and not each file: editors and ConfigMap mounts replace files by rename, which ends a
// per-file watch. Why batches: tools write a file as several events (temp file, rename, chmod), and a change
// often spans files, so events are debounced and one re-read reports everything that changed.
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../../common/errors.js';
import { logger } from '../../../common/log.js';

const log = logger('config-dir');

const CONFIG_FILE = /\.(ya?ml|json)$/i;

/** One file whose text changed since the last batch: `text` undefined when the file is gone. */
export interface FileChange {
  /** the path as the user named the dir (error locations then read like the command line) */
  readonly file: string;
  readonly text: string | undefined;
}

export interface DirScannerOptions {
  dir: string;
  /** quiet time after the last file-system event before the directory is read again (default 50 ms) */
  debounceMs?: number;
  /** every re-read that found changed files, in file-name order */
  onChanges: (changes: FileChange[]) => void;
}

interface Seen {
  text: string;
  /** the file's stat taken before that read: a re-read after events naming other files skips a file whose
   *  stat did not change */
  stat: StatKey;
}

export class DirScanner {
  readonly dir: string;
  private readonly seen = new Map<string, Seen>();
  private watcher: fs.FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  /** files named by watch events since the last re-read began; `all` after an event without a name or an
   *  explicit reload() */
  private dirty = new Set<string>();
  private dirtyAll = true;
  private closed = false;

  constructor(private readonly opts: DirScannerOptions) {
    this.dir = path.resolve(opts.dir);
  }

  /** Reads the directory and (unless `watch` is false) starts watching it. Throws (MW_CONFIG_PARSE) when the
   *  directory itself cannot be read. */
  async start(opts: { watch?: boolean } = {}): Promise<void> {
    try {
      if (!(await fs.promises.stat(this.dir)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (err) {
      throw new ConfigError('MW_CONFIG_PARSE', '', `Cannot read config dir "${this.opts.dir}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    // Watch before the first read, so that a change made during it is not missed. Any event leads to a re-read,
    // where a file whose stat did not change costs nothing and one whose text did not change costs a compare.
    if (opts.watch !== false) {
      this.watcher = fs.watch(this.dir, { persistent: false }, (_event, name) => {
        if (name) this.dirty.add(String(name));
        else this.dirtyAll = true;
        this.schedule();
      });
      this.watcher.on('error', (err) => log.error({ err: err.message, dir: this.opts.dir }, 'cannot watch the config dir; changes are no longer picked up'));
    }
    await this.reload();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
  }

  /** Re-reads the directory now, every file. One re-read at a time: calls during one share the single
   *  re-read queued after it, which sees every change made before they were called. */
  reload(): Promise<void> {
    this.dirtyAll = true;
    return this.rescan();
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.rescan();
    }, this.opts.debounceMs ?? 50);
  }

  /** Re-reads what changed: every file after reload() or an event without a name, else the files the watch
   *  named and those whose stat changed. (Reading all 1,000 files of a large dir after each edit cost more
   *  than the push it led to.) */
  private rescan(): Promise<void> {
    if (this.scanning) {
      return (this.queued ??= this.scanning.then(() => {
        this.queued = undefined;
        return this.closed ? undefined : this.rescan();
      }));
    }
    this.scanning = this.scan()
      .catch((err) => log.error({ err: (err as Error).message, dir: this.opts.dir }, 'cannot read the config dir'))
      .finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async scan(): Promise<void> {
    // Taken before reading, so that an event during the re-read is not lost: it leads to another one.
    const all = this.dirtyAll;
    const named = this.dirty;
    this.dirtyAll = false;
    this.dirty = new Set();
    const names = (await fs.promises.readdir(this.dir)).filter((n) => CONFIG_FILE.test(n) && !n.startsWith('.')).sort();
    const changes: FileChange[] = [];
    const present = new Set<string>();
    for (const name of names) {
      const file = path.join(this.opts.dir, name);
      const prev = this.seen.get(file);
      // Taken before the read: a write after it changes the stat again, so the next re-read reads the file.
      let stat: StatKey;
      try {
        stat = statKey(fs.statSync(file));
      } catch {
        continue; // gone, or mid-rename: the next event brings the new state
      }
      if (prev && !all && !named.has(name) && sameStat(prev.stat, stat)) {
        present.add(file);
        continue;
      }
      let text: string;
      try {
        text = await fs.promises.readFile(file, 'utf8');
      } catch {
        continue; // a directory, a dangling link, or mid-rename: the next event brings the new state
      }
      present.add(file);
      if (prev) prev.stat = stat;
      if (prev && prev.text === text) continue;
      this.seen.set(file, { text, stat });
      changes.push({ file, text });
    }
    for (const file of this.seen.keys()) {
      if (present.has(file)) continue;
      this.seen.delete(file);
      changes.push({ file, text: undefined });
    }
    if (changes.length > 0 && !this.closed) this.opts.onChanges(changes);
  }
}

/** What tells a file's content changed without reading it: a rewrite changes size or times, an editor's or
 *  ConfigMap's rename the inode. */
interface StatKey {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}
const statKey = (s: fs.Stats): StatKey => ({ ino: s.ino, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs });
const sameStat = (a: StatKey, b: StatKey) => a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
