// The credential store: what a Gateway's `credentialName` names, without Kubernetes. A credential is a
// directory of the credentials dir (default `<mesh-dir>/credentials`, or `--credentials-dir`) holding the keys
// of a Kubernetes TLS secret as files:
//
//   credentials/<name>/tls.crt   certificate chain (PEM)          also accepted: cert
//   credentials/<name>/tls.key   its private key (PEM)            also accepted: key
//   credentials/<name>/ca.crt    CA bundle verifying clients      also accepted: cacert   (MUTUAL; optional)
//
// so that a mounted Kubernetes secret volume (whose files are symlinks into a `..data` directory swapped
// atomically) works as it is. The directory and each credential in it are watched; a change is read again after
// a short debounce, checked (the certificate parses and matches its key, the CA parses) and only then replaces
// the credential: a half-written or mismatched pair keeps the previous one and logs an error naming the
// directory. The generator serves credentials to gateways over SDS (xds/mesh-generator.ts, names.ts).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { logger } from '../../common/log.js';

const log = logger('credentials');

export interface Credential {
  readonly name: string;
  /** the directory it was read from */
  readonly dir: string;
  readonly certPem?: string;
  readonly keyPem?: string;
  readonly caPem?: string;
}

/** What the generator reads: a credential by name. */
export interface CredentialSource {
  get(name: string): Credential | undefined;
}

const CERT_FILES = ['tls.crt', 'cert'];
const KEY_FILES = ['tls.key', 'key'];
const CA_FILES = ['ca.crt', 'cacert'];

/** Reads one credential directory; undefined when it holds none of the files; throws Error(reason) when they do
 *  not check out. */
export function readCredential(name: string, dir: string): Credential | undefined {
  const first = (names: string[]) => {
    for (const n of names) {
      try {
        return fs.readFileSync(path.join(dir, n), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`Cannot read "${path.join(dir, n)}": ${(e as NodeJS.ErrnoException).code}`);
      }
    }
    return undefined;
  };
  const certPem = first(CERT_FILES);
  const keyPem = first(KEY_FILES);
  const caPem = first(CA_FILES);
  if (certPem === undefined && keyPem === undefined && caPem === undefined) return undefined;
  if ((certPem === undefined) !== (keyPem === undefined)) throw new Error(`"${dir}" needs both tls.crt and tls.key (or neither, for a CA-only credential)`);
  if (certPem !== undefined) {
    let cert: crypto.X509Certificate;
    try {
      cert = new crypto.X509Certificate(certPem);
    } catch (e) {
      throw new Error(`Cannot parse "${path.join(dir, 'tls.crt')}": ${(e as Error).message}`);
    }
    let key: crypto.KeyObject;
    try {
      key = crypto.createPrivateKey(keyPem!);
    } catch (e) {
      throw new Error(`Cannot parse "${path.join(dir, 'tls.key')}": ${(e as Error).message}`);
    }
    if (!cert.checkPrivateKey(key)) throw new Error(`the private key of "${dir}" does not match its certificate`);
  }
  if (caPem !== undefined) {
    try {
      new crypto.X509Certificate(caPem);
    } catch (e) {
      throw new Error(`Cannot parse "${path.join(dir, 'ca.crt')}": ${(e as Error).message}`);
    }
  }
  return { name, dir, ...(certPem !== undefined && { certPem, keyPem }), ...(caPem !== undefined && { caPem }) };
}

export interface FileCredentialStoreOptions {
  dir: string;
  /** credentials changed (added, replaced or removed), by name */
  onChange: (names: string[]) => void;
  /** wait this long after an event for more (default 100 ms) */
  debounceMs?: number;
  /** how often to look for the directory while it does not exist (default 1000 ms) */
  pollMs?: number;
}

export class FileCredentialStore implements CredentialSource {
  private creds = new Map<string, Credential>();
  /** the last problem of each credential whose files do not check out (its previous version is still served) */
  private readonly problems = new Map<string, string>();
  rejectedTotal = 0;
  private readonly watchers = new Map<string, fs.FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: FileCredentialStoreOptions) {}

  /** Reads the directory (missing is fine: it is looked for until it appears) and starts watching it. */
  start(): void {
    this.scan();
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    if (this.timer) clearTimeout(this.timer);
    if (this.poll) clearTimeout(this.poll);
  }

  get(name: string): Credential | undefined {
    return this.creds.get(name);
  }

  /** /debug/resources */
  status(): { dir: string; credentials: string[]; errors: { credential: string; message: string }[] } {
    return {
      dir: this.opts.dir,
      credentials: [...this.creds.keys()].sort(),
      errors: [...this.problems].map(([credential, message]) => ({ credential, message })),
    };
  }

  private schedule = (): void => {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const changed = this.scan();
      if (changed.length) this.opts.onChange(changed);
    }, this.opts.debounceMs ?? 100);
    this.timer.unref();
  };

  /** Reads every credential; returns the names whose served value changed. */
  private scan(): string[] {
    if (this.closed) return [];
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(this.opts.dir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.error({ dir: this.opts.dir, err: (e as Error).message }, 'cannot read the credentials dir');
      // gone (or not there yet): drop what it held, look again later
      for (const w of this.watchers.values()) w.close();
      this.watchers.clear();
      this.poll ??= setTimeout(() => {
        this.poll = undefined;
        const changed = this.scan();
        if (changed.length) this.opts.onChange(changed);
      }, this.opts.pollMs ?? 1000);
      this.poll.unref();
      const gone = [...this.creds.keys()];
      this.creds = new Map();
      return gone;
    }
    this.watch(this.opts.dir);
    const next = new Map<string, Credential>();
    const changed: string[] = [];
    const names = new Set<string>();
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const dir = path.join(this.opts.dir, e.name);
      // a directory, or a symlink to one
      if (!e.isDirectory() && !(e.isSymbolicLink() && fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory())) continue;
      names.add(dir);
      this.watch(dir);
      const prev = this.creds.get(e.name);
      let c: Credential | undefined;
      try {
        c = readCredential(e.name, dir);
        this.problems.delete(e.name);
      } catch (err) {
        const msg = (err as Error).message;
        if (this.problems.get(e.name) !== msg) {
          this.rejectedTotal++;
          log.error({ credential: e.name, dir, err: msg }, prev ? 'cannot load the changed credential; the previous one is still served' : 'cannot load a credential');
        }
        this.problems.set(e.name, msg);
        if (prev) next.set(e.name, prev);
        continue;
      }
      if (!c) continue;
      if (prev && prev.certPem === c.certPem && prev.keyPem === c.keyPem && prev.caPem === c.caPem) {
        next.set(e.name, prev);
        continue;
      }
      next.set(e.name, c);
      changed.push(e.name);
      if (prev) log.info({ credential: e.name, dir }, 'credential changed');
    }
    for (const name of this.creds.keys()) if (!next.has(name)) changed.push(name);
    for (const name of this.problems.keys()) if (!entries.some((e) => e.name === name)) this.problems.delete(name);
    // stop watching credentials that went
    for (const [dir, w] of this.watchers) {
      if (dir !== this.opts.dir && !names.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    this.creds = next;
    return changed;
  }

  private watch(dir: string): void {
    if (this.watchers.has(dir)) return;
    try {
      const w = fs.watch(dir, { persistent: false }, this.schedule);
      w.on('error', () => {
        w.close();
        this.watchers.delete(dir);
        this.schedule();
      });
      this.watchers.set(dir, w);
    } catch (e) {
      log.error({ dir, err: (e as Error).message }, 'cannot watch a credentials directory; its changes are picked up with the next change elsewhere');
    }
  }
}
