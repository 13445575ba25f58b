// The mesh config store on a watched directory of YAML/JSON files (multi-document), the embedded default
// (sources/store.ts says what every store guarantees).
//
// The unit of acceptance is a resource, not a file (the Envoy-resource source accepts whole files, because
// Envoy resources reference each other by name; Istio resources are validated one by one, as Istio's API server
// does): in a file with one bad VirtualService, the other resources still update. A resource whose new version
// is invalid keeps its last good version. A document that cannot even be read (bad YAML, no kind or name)
// cannot be matched to what it replaced, so while a file has such errors none of its resources is removed; the
// valid ones it still defines update.
import path from 'node:path';
import { ConfigError } from '../../../common/errors.js';
import { logger } from '../../../common/log.js';
import { loadMeshText, toConfigError, validateMeshResource, type MeshResource } from '../../../api/mesh/index.js';
import { compareResources, resourceKey, type MeshConfigStore } from '../store.js';
import { DirScanner, type FileChange } from './dir-scanner.js';

const log = logger('mesh-config');

export interface MeshParser {
  /** every resource of a file's text, and the errors of the documents that could not be read */
  parse(text: string, file: string): { resources: MeshResource[]; errors: ConfigError[] };
  /** the problems of one parsed resource; empty when it is valid */
  validate(r: MeshResource): ConfigError[];
}

/** Istio's rules (api/mesh): loadMeshText, then validateMeshResource's errors (its warnings are analyze's). */
export const MESH_PARSER: MeshParser = {
  parse: (text, file) => loadMeshText(text, file),
  validate: (r) => validateMeshResource(r).errors.map(toConfigError),
};

export interface MeshFileStoreOptions {
  dir: string;
  /** default MESH_PARSER */
  parser?: MeshParser;
  /** quiet time after the last file-system event before re-reading (default 50 ms) */
  debounceMs?: number;
}

interface FileState {
  /** what the file defines now, valid, by resourceKey (a duplicate of another file's resource included) */
  valid: Map<string, MeshResource>;
  /** what it served before and still serves: the last good versions of resources it now defines invalidly,
   *  or all of its previous resources while some document cannot be read */
  kept: Map<string, MeshResource>;
  errors: ConfigError[];
}

export class MeshFileStore implements MeshConfigStore {
  private readonly files = new Map<string, FileState>();
  private readonly scanner: DirScanner;
  private readonly listeners = new Set<(reason: string) => void>();
  /** what list() returns: rebuilt after each change, never mutated */
  private accepted: readonly MeshResource[] = [];
  private acceptedByKey = new Map<string, { r: MeshResource; file: string }>();
  private duplicateErrors: ConfigError[] = [];
  private rejected = 0;

  private readonly parser: MeshParser;

  constructor(private readonly opts: MeshFileStoreOptions) {
    this.parser = opts.parser ?? MESH_PARSER;
    this.scanner = new DirScanner({ dir: opts.dir, debounceMs: opts.debounceMs, onChanges: (c) => this.apply(c) });
  }

  start(opts: { watch?: boolean } = {}): Promise<void> {
    return this.scanner.start(opts);
  }

  close(): void {
    this.scanner.close();
  }

  /** Re-reads every file now. */
  reload(): Promise<void> {
    return this.scanner.reload();
  }

  list(): readonly MeshResource[] {
    return this.accepted;
  }

  errors(): readonly ConfigError[] {
    return [...[...this.files.values()].flatMap((f) => f.errors), ...this.duplicateErrors];
  }

  /** edits of a file with a problem, since start */
  get rejectedTotal(): number {
    return this.rejected;
  }

  subscribe(fn: (reason: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private apply(changes: FileChange[]): void {
    for (const { file, text } of changes) {
      if (text === undefined) {
        this.files.delete(file);
        continue;
      }
      const prev = this.files.get(file);
      const { resources, errors } = this.parser.parse(text, file);
      const valid = new Map<string, MeshResource>();
      const invalidKeys = new Set<string>();
      const fileErrors = [...errors];
      for (const r of resources) {
        const key = resourceKey(r);
        if (valid.has(key) || invalidKeys.has(key)) {
          fileErrors.push(new ConfigError('MW_CONFIG_DUPLICATE', '', `${key} is defined twice in this file`, r.location));
          continue;
        }
        const problems = this.parser.validate(r);
        if (problems.length > 0) {
          fileErrors.push(...problems);
          invalidKeys.add(key);
        } else valid.set(key, r);
      }
      // What the file served before stays where the new text cannot replace it (see the header).
      const before = prev ? new Map([...prev.valid, ...prev.kept]) : new Map<string, MeshResource>();
      const kept = new Map<string, MeshResource>();
      for (const [key, r] of before) {
        if (valid.has(key)) continue;
        if (invalidKeys.has(key) || errors.length > 0) kept.set(key, r);
      }
      this.files.set(file, { valid, kept, errors: fileErrors });
      if (fileErrors.length > 0) {
        this.rejected++;
        for (const e of fileErrors) log.error({ code: e.code, path: file, location: e.location }, e.message);
        log.error({ path: file, errors: fileErrors.length }, 'mesh config rejected in part; what it replaced keeps being served');
      }
    }
    this.rebuild(changes);
  }

  /** Merge the files (first file by name wins a duplicate), keep unchanged objects, tell subscribers. */
  private rebuild(changes: FileChange[]): void {
    const next = new Map<string, { r: MeshResource; file: string }>();
    const duplicates: ConfigError[] = [];
    for (const [file, state] of [...this.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      for (const [key, r] of [...state.kept, ...state.valid]) {
        const other = next.get(key);
        if (other) {
          duplicates.push(new ConfigError('MW_CONFIG_DUPLICATE', '', `${key} is also defined at ${other.r.location ?? other.file}`, r.location ?? file));
          continue;
        }
        // an unchanged resource keeps its object (consumers compare by identity)
        const old = this.acceptedByKey.get(key);
        next.set(key, old && sameResource(old.r, r) ? { r: old.r, file } : { r, file });
      }
    }
    const newDupMessages = duplicates.map((e) => e.message).join('\n');
    if (newDupMessages !== this.duplicateErrors.map((e) => e.message).join('\n')) {
      for (const e of duplicates) log.error({ code: e.code, location: e.location }, e.message);
    }
    this.duplicateErrors = duplicates;
    const changed = next.size !== this.acceptedByKey.size || [...next].some(([key, v]) => this.acceptedByKey.get(key)?.r !== v.r);
    this.acceptedByKey = next;
    if (!changed) return;
    this.accepted = Object.freeze([...next.values()].map((v) => v.r).sort(compareResources));
    const reason = `mesh config: ${[...new Set(changes.map((c) => path.basename(c.file)))].join(', ')}`;
    log.info({ resources: this.accepted.length, files: changes.map((c) => path.basename(c.file)) }, 'mesh config changed');
    for (const fn of this.listeners) fn(reason);
  }
}

/** Same content (a re-read file gives new objects for what did not change). */
function sameResource(a: MeshResource, b: MeshResource): boolean {
  return a.apiVersion === b.apiVersion && JSON.stringify([a.metadata, a.spec]) === JSON.stringify([b.metadata, b.spec]);
}
