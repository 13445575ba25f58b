// Directory watches for certificate files (file-secrets.ts): one fs.watch per directory, shared by everything
// that reads files in it, each subscriber called once per burst of events (debounced), never on a handshake.
//
// Why directories, not files: a file is replaced by a move (`mv new cert.pem`, Kubernetes' `..data` symlink
// swap), after which a watch on the old inode sees nothing; the directory sees every move into it. Envoy watches
// the same way (the parent directory, or `watched_directory`).
//
// Subscribers are held weakly: a TLS context of a listener that drained away holds the only strong reference to
// its file-backed secret, so when the context is collected the subscription goes with it, and the directory's
// watch is closed with its last subscriber. Watches and timers are unref'd: they never keep the process alive.
import fs from 'node:fs';
import path from 'node:path';
import { logger } from '../../common/log.js';

const log = logger('file-watch');

/** Wait this long after an event for more before calling back: tools replace a file as several events. */
export const DEBOUNCE_MS = 100;

export interface DirectoryEvent {
  /** the entry the event names (a file, or a symlink such as `..data`), or undefined when fs.watch gives none */
  readonly name: string | undefined;
}

interface Subscriber {
  /** the target, weakly: a collected target unsubscribes itself */
  readonly target: WeakRef<object>;
  /** which entries matter (undefined: every event in the directory) */
  readonly names: ReadonlySet<string> | undefined;
  readonly onChange: (target: any) => void;
  timer: NodeJS.Timeout | undefined;
}

interface DirWatch {
  readonly watcher: fs.FSWatcher;
  readonly subscribers: Set<Subscriber>;
}

const dirs = new Map<string, DirWatch>();
const collected = new FinalizationRegistry<{ dir: string; sub: Subscriber }>(({ dir, sub }) => drop(dir, sub));

function drop(dir: string, sub: Subscriber): void {
  const d = dirs.get(dir);
  if (!d) return;
  if (sub.timer) clearTimeout(sub.timer);
  d.subscribers.delete(sub);
  if (d.subscribers.size === 0) {
    d.watcher.close();
    dirs.delete(dir);
  }
}

function fire(dir: string, sub: Subscriber): void {
  sub.timer = undefined;
  const t = sub.target.deref();
  if (!t) return drop(dir, sub);
  try {
    sub.onChange(t);
  } catch (err) {
    log.error({ dir, err: (err as Error).message }, 'a file change handler failed');
  }
}

/**
 * Calls `onChange(target)` after events in `dir` (only those naming one of `names`, when given), debounced,
 * while `target` is alive. Throws the fs error (ENOENT, EACCES) when the directory cannot be watched.
 */
export function watchDirectory<T extends object>(dir: string, target: T, onChange: (target: T) => void, names?: Iterable<string>): void {
  const abs = path.resolve(dir);
  let d = dirs.get(abs);
  if (!d) {
    const subscribers = new Set<Subscriber>();
    const watcher = fs.watch(abs, { persistent: false }, (_event, name) => {
      const n = name === null || name === undefined ? undefined : String(name);
      for (const s of subscribers) {
        if (s.names && n !== undefined && !s.names.has(n)) continue;
        if (s.timer) clearTimeout(s.timer);
        s.timer = setTimeout(() => fire(abs, s), DEBOUNCE_MS);
        s.timer.unref();
      }
    });
    watcher.on('error', (err) => log.error({ dir: abs, err: err.message }, 'cannot watch the directory; changes to its certificate files are no longer picked up'));
    watcher.unref();
    dirs.set(abs, (d = { watcher, subscribers }));
  }
  const sub: Subscriber = { target: new WeakRef(target), names: names ? new Set(names) : undefined, onChange, timer: undefined };
  d.subscribers.add(sub);
  collected.register(target, { dir: abs, sub });
}

/** Directories watched now (tests, /certs debugging). */
export function watchedDirectories(): string[] {
  return [...dirs.keys()];
}
