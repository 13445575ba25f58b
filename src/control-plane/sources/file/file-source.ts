// The config-dir source: every *.yaml/*.yml/*.json file of one directory, watched, served to every proxy alike.
//
// The unit of acceptance is a file. A file that fails to parse or validate, or that defines a name another file
// already serves, is rejected as a whole: its errors are logged and kept for /debug/resources, and the last good
// resources of that file keep being served (a NACK-like rule, so one bad edit never takes routes away), while
// other files still update. A file rejected for a duplicate name is tried again whenever the directory changes,
// so removing the other definition lets it in without touching it.
import path from 'node:path';
import { ConfigError, ConfigErrors } from '../../../common/errors.js';
import { logger } from '../../../common/log.js';
import { TYPE_URL } from '../../../api/xds/index.js';
import type { Generator, ProxyInfo } from '../../xds/server.js';
import { NamedPicks } from '../../xds/names.js';
import { DirScanner, type FileChange } from './dir-scanner.js';
import { parseResourceFile, typeShortName, type FileResource } from './parse.js';

const log = logger('config-dir');

interface FileState {
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
  /** type URL → name → resource: rebuilt on every change and never mutated after, so generate() can hand it
   *  out; a type whose resources did not change keeps its Map (the xDS server then skips it at once) */
  private index = new Map<string, Map<string, FileResource>>();
  /** generate() answers for named subscriptions (kept with a type's Map while it does not change) */
  private readonly named = new NamedPicks<FileResource>();
  private generation = 0;
  private rejected = 0;
  private readonly scanner: DirScanner;

  constructor(private readonly opts: FileSourceOptions) {
    this.dir = path.resolve(opts.dir);
    this.scanner = new DirScanner({ dir: opts.dir, debounceMs: opts.debounceMs, onChanges: (changes) => this.apply(changes) });
  }

  /** Reads the directory and (unless `watch` is false) starts watching it. Throws (MW_CONFIG_PARSE) when the
   *  directory itself cannot be read; bad files are only logged and counted, as on every later change. */
  start(opts: { watch?: boolean } = {}): Promise<void> {
    return this.scanner.start(opts);
  }

  close(): void {
    this.scanner.close();
  }

  /** Re-reads the directory now, every file. */
  reload(): Promise<void> {
    return this.scanner.reload();
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
    return names === '*' ? all : this.named.pick(all, names);
  }

  status(): SourceStatus {
    const resources: SourceStatus['resources'] = {};
    for (const t of Object.values(TYPE_URL)) {
      resources[typeShortName(t)] = [...this.resources(t).values()].map((r) => ({ name: r.name, version: r.version, file: r.file, location: r.location }));
    }
    const errors = [...this.files].flatMap(([file, f]) => f.errors.map((e) => ({ code: e.code, file, location: e.location, message: e.message })));
    return { dir: this.opts.dir, generation: this.generation, resources, errors };
  }

  /** One re-read's changed files: parse them, then accept what is valid and not defined elsewhere. */
  private apply(changes: FileChange[]): void {
    const changed: string[] = [];
    for (const { file, text } of changes) {
      const prev = this.files.get(file);
      if (text === undefined) {
        this.files.delete(file);
        if (prev?.good.length) changed.push(path.basename(file));
        continue;
      }
      const state: FileState = prev ?? { good: [], errors: [] };
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
      // A resource the edit left as it was keeps its object, which the xDS server compares by identity.
      const kept = new Map(state.good.map((r) => [key(r), r]));
      const accepted = state.pending.map((r) => {
        const old = kept.get(key(r));
        return old && old.version === r.version && old.location === r.location ? old : r;
      });
      for (const r of state.good) served.delete(key(r));
      for (const r of accepted) served.set(key(r), r);
      state.good = accepted;
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
    // A type none of whose resources changed keeps its Map and what generate() picked from it, so that every
    // stream sees at once that there is nothing to send (an endpoint change leaves CDS, LDS and RDS alone).
    for (const [typeUrl, byName] of index) {
      const old = this.index.get(typeUrl);
      if (old && sameEntries(old, byName)) index.set(typeUrl, old);
    }
    this.index = index;
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

/** Same names, same entry objects. */
function sameEntries(a: ReadonlyMap<string, FileResource>, b: ReadonlyMap<string, FileResource>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, r] of a) if (b.get(name) !== r) return false;
  return true;
}

const NONE: Map<string, FileResource> = new Map();
const key = (r: FileResource) => `${r.typeUrl}\0${r.name}`;

