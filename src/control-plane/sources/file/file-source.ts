// The config-dir source: every *.yaml/*.yml/*.json file of one directory, watched, served to every proxy alike.
//
// The unit of acceptance is a file. A file that fails to parse or validate, or that defines a name another file
// already serves, is rejected as a whole: its errors are logged and kept for /debug/resources, and the last good
// resources of that file keep being served (a NACK-like rule, so one bad edit never takes routes away), while
// other files still update. A file rejected for a duplicate name is tried again whenever the directory changes,
// so removing the other definition lets it in without touching it.
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, ConfigErrors } from '../../../common/errors.js';
import { logger } from '../../../common/log.js';
import { TYPE_URL } from '../../../api/xds/index.js';
import type { Generator, ProxyInfo } from '../../xds/server.js';
import { parseResourceFile, typeShortName, type FileResource } from './parse.js';

const log = logger('config-dir');

const CONFIG_FILE = /\.(ya?ml|json)$/i;

interface FileState {
  /** the text last read, so that an event on an unchanged file costs no parse */
  text: string;
  /** what this file serves: its last accepted resources */
  good: FileResource[];
  /** parsed and valid, but waiting for a duplicate name elsewhere to go away */
  pending?: FileResource[];
  /** errors of the current text; empty when the current text is what is served */
  errors: ConfigError[];
}

export interface FileSourceOptions {
  dir: string;
  /** quiet time after the last file-system event before the directory is read again (default 50 ms):
   *  editors and tools write a file as several events (temp file, rename, chmod) */
  debounceMs?: number;
  /** called after what the source serves changed (not after a rejected edit) */
  onChange?: (reason: string) => void;
}

/** What /debug/resources shows. */
export interface SourceStatus {
  dir: string;
  /** count of successful re-reads that changed what is served */
  generation: number;
  resources: Record<string, { name: string; version: string; file: string; location?: string }[]>;
  errors: { code: string; file: string; location?: string; message: string }[];
}

export class FileSource implements Generator {
  readonly dir: string;
  private readonly files = new Map<string, FileState>();
  /** type URL → name → resource: rebuilt on every change and never mutated after, so generate() can hand it out */
  private index = new Map<string, Map<string, FileResource>>();
  /** generate() answers for named subscriptions, by type and names; emptied with the index */
  private named = new Map<string, Map<string, FileResource>>();
  private generation = 0;
  private rejected = 0;
  private watcher: fs.FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly opts: FileSourceOptions) {
    this.dir = path.resolve(opts.dir);
  }

  /** Reads the directory and (unless `watch` is false) starts watching it. Throws (MW_CONFIG_PARSE) when the
   *  directory itself cannot be read; bad files are only logged and counted, as on every later change. */
  async start(opts: { watch?: boolean } = {}): Promise<void> {
    try {
      if (!(await fs.promises.stat(this.dir)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (err) {
      throw new ConfigError('MW_CONFIG_PARSE', '', `Cannot read config dir "${this.opts.dir}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    // Watch before the first read, so that a change made during it is not missed. The directory, not each
    // file: editors and ConfigMap mounts replace files by rename, which ends a per-file watch. Any event leads
    // to a re-read of the whole directory, where an unchanged file costs a read and a string compare.
    if (opts.watch !== false) {
      this.watcher = fs.watch(this.dir, { persistent: false }, () => this.schedule());
      this.watcher.on('error', (err) => log.error({ err: err.message, dir: this.opts.dir }, 'cannot watch the config dir; changes are no longer picked up'));
    }
    await this.reload();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
  }

  /** Files rejected since start (each rejection of an edit counts once). */
  get rejectedTotal(): number {
    return this.rejected;
  }

  /** Errors currently active (the files they belong to serve their last good resources). */
  errors(): ConfigError[] {
    return [...this.files.values()].flatMap((f) => f.errors);
  }

  /** The resources served, for one type URL: name → resource. Do not mutate. */
  resources(typeUrl: string): Map<string, FileResource> {
    return this.index.get(typeUrl) ?? NONE;
  }

  /** The same resources to every proxy: all of a type for a wildcard, else the named ones that exist. The
   *  server caches a set's version by Map identity, so every proxy asking for the same thing gets the same Map
   *  until the directory changes. */
  generate(_proxy: ProxyInfo, typeUrl: string, names: ReadonlySet<string> | '*'): Map<string, FileResource> {
    const all = this.resources(typeUrl);
    if (names === '*') return all;
    const key = `${typeUrl} ${[...names].sort().join('\0')}`;
    let out = this.named.get(key);
    if (!out) {
      const picked = new Map<string, FileResource>();
      for (const n of names) {
        const r = all.get(n);
        if (r) picked.set(n, r);
      }
      // Distinct name sets are few (proxies of one service ask alike), but bound them for fleets that are not.
      if (this.named.size >= 10_000) this.named.clear();
      this.named.set(key, (out = picked));
    }
    return out;
  }

  status(): SourceStatus {
    const resources: SourceStatus['resources'] = {};
    for (const t of Object.values(TYPE_URL)) {
      resources[typeShortName(t)] = [...this.resources(t).values()].map((r) => ({ name: r.name, version: r.version, file: r.file, location: r.location }));
    }
    const errors = [...this.files].flatMap(([file, f]) => f.errors.map((e) => ({ code: e.code, file, location: e.location, message: e.message })));
    return { dir: this.opts.dir, generation: this.generation, resources, errors };
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reload();
    }, this.opts.debounceMs ?? 50);
  }

  /** Re-reads the directory now. One re-read at a time: calls during one share the single re-read queued
   *  after it, which sees every change made before they were called. */
  reload(): Promise<void> {
    if (this.scanning) {
      return (this.queued ??= this.scanning.then(() => {
        this.queued = undefined;
        return this.closed ? undefined : this.reload();
      }));
    }
    this.scanning = this.scan()
      .catch((err) => log.error({ err: (err as Error).message, dir: this.opts.dir }, 'cannot read the config dir'))
      .finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async scan(): Promise<void> {
    const names = (await fs.promises.readdir(this.dir)).filter((n) => CONFIG_FILE.test(n) && !n.startsWith('.')).sort();
    const changed: string[] = [];
    const present = new Set<string>();
    for (const name of names) {
      // Files are named as the user named the dir, so that error locations read like the command line.
      const file = path.join(this.opts.dir, name);
      let text: string;
      try {
        text = await fs.promises.readFile(file, 'utf8');
      } catch {
        continue; // a directory, a dangling link, or mid-rename: the next event brings the new state
      }
      present.add(file);
      const prev = this.files.get(file);
      if (prev && prev.text === text) continue;
      const state: FileState = prev ?? { text, good: [], errors: [] };
      state.text = text;
      state.pending = undefined;
      try {
        state.pending = parseResourceFile(text, file);
        state.errors = [];
      } catch (err) {
        state.errors = err instanceof ConfigErrors ? err.errors : [err as ConfigError];
        this.reject(file, state.errors);
      }
      this.files.set(file, state);
    }
    for (const [file, state] of this.files) {
      if (present.has(file)) continue;
      this.files.delete(file);
      if (state.good.length) changed.push(path.basename(file));
    }
    // Accept pending files in name order, each checked against what the others serve at that moment, so the
    // served set never holds a name twice.
    const served = new Map<string, FileResource>();
    for (const state of this.files.values()) for (const r of state.good) served.set(key(r), r);
    for (const [file, state] of [...this.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!state.pending) continue;
      const dups: ConfigError[] = [];
      for (const r of state.pending) {
        const other = served.get(key(r));
        if (other && other.file !== file) dups.push(new ConfigError('MW_CONFIG_DUPLICATE', '', `${typeShortName(r.typeUrl)} "${r.name}" is also defined at ${other.location ?? other.file}`, r.location));
      }
      if (dups.length) {
        const before = state.errors.map((e) => e.message).join('\n');
        state.errors = dups;
        if (dups.map((e) => e.message).join('\n') !== before) this.reject(file, dups);
        continue;
      }
      if (!sameResources(state.good, state.pending)) changed.push(path.basename(file));
      for (const r of state.good) served.delete(key(r));
      for (const r of state.pending) served.set(key(r), r);
      state.good = state.pending;
      state.pending = undefined;
      state.errors = [];
    }
    if (!changed.length) return;
    this.rebuild();
    this.generation++;
    const reason = `config dir: ${changed.join(', ')}`;
    log.info({ generation: this.generation, files: changed }, 'config dir changed');
    this.opts.onChange?.(reason);
  }

  private rebuild(): void {
    const index = new Map<string, Map<string, FileResource>>();
    for (const state of this.files.values()) {
      for (const r of state.good) {
        let byName = index.get(r.typeUrl);
        if (!byName) index.set(r.typeUrl, (byName = new Map()));
        byName.set(r.name, r);
      }
    }
    this.index = index;
    this.named = new Map();
  }

  private reject(file: string, errors: ConfigError[]): void {
    this.rejected++;
    for (const e of errors) log.error({ code: e.code, path: file, location: e.location }, e.message);
    log.error({ path: file, errors: errors.length }, 'config file rejected; its last good resources keep being served');
  }
}

function sameResources(a: FileResource[], b: FileResource[]): boolean {
  return a.length === b.length && a.every((r, i) => r.typeUrl === b[i]!.typeUrl && r.name === b[i]!.name && r.version === b[i]!.version);
}

const NONE: Map<string, FileResource> = new Map();
const key = (r: FileResource) => `${r.typeUrl}\0${r.name}`;

