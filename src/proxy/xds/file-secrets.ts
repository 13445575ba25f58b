// Certificates that follow their files. Two Envoy features and one Meshwork choice:
//
// 1. File-based SDS (sds_config.path_config_source, or the deprecated sds_config.path): the secret is read from
//    a file holding a DiscoveryResponse (`resources: [ { "@type": ...Secret, name, ... } ]`) and read again when
//    the file is moved over (or, with path_config_source.watched_directory, when anything moves into that
//    directory: a Kubernetes ConfigMap/Secret volume swaps its `..data` symlink). FileSdsSource.
// 2. A secret delivered by SDS whose DataSources are files (certificate_chain, private_key, password,
//    trusted_ca, crl `filename`): their directories are watched (TlsCertificate.watched_directory /
//    CertificateValidationContext.watched_directory / DataSource.watched_directory when set, else each file's
//    parent directory, as Envoy does), and a change re-reads them. FileBackedSecret.
// 3. Meshwork also does (2) for static_resources.secrets and for the certificates and validation contexts
//    written inline in a TLS context (Envoy reads those once): a gateway whose config names certificate files
//    (a Gateway resource's serverCertificate/privateKey) picks up replaced files without a config change.
//
// What a change does: the files are read together, compared with what is in use (no change, nothing happens),
// and checked as the config was (the certificate parses and matches its key; CAs and CRLs parse). Only then is
// the new content published (a new revision): TLS contexts built from it (secrets.ts, SecretBacked) rebuild on
// their next handshake, established connections keep the certificate they were made with. A bad file (half
// written, a key that does not match) keeps the previous certificate and logs an error naming the files;
// `sds.<name>.key_rotation_failed` counts it for named secrets, as in Envoy. Unlike Envoy, which reacts to
// moves only, any event in the directory triggers the re-read (so does an in-place write); the debounce and the
// check above keep a half-written file out, but an atomic move is still the way to replace a certificate.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decodeMessage, parseConfigText } from '../../api/envoy/index.js';
import { ConfigError, ConfigErrors } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import { readDataSource, type CertificateValidationContextConfig, type DataSourceConfig, type SecretConfig, type TlsCertificateConfig } from '../listener/tls-context.js';
import { watchDirectory } from './file-watch.js';

const log = logger('xds');

/** What a TLS context reads of a secret: its current value and a revision bumped on every change. */
export interface SecretView {
  readonly name: string;
  readonly value: SecretConfig | undefined;
  readonly revision: number;
  /** settles when the value arrived (or its initial fetch timed out) */
  readonly ready: Promise<void>;
}

/** Checks a secret's contents the way the config was checked (secrets.ts validateSecret); throws. */
export type SecretCheck = (secret: SecretConfig, path: string) => void;

interface Materialized {
  /** the secret with every filename DataSource replaced by its bytes (inline_bytes), watched_directory dropped */
  readonly value: SecretConfig;
  /** directory → the entries whose events matter there (undefined: any) */
  readonly dirs: Map<string, Set<string> | undefined>;
  /** the files read, for log lines */
  readonly files: string[];
  /** SHA-256 over the bytes read, to tell a real change from an unrelated event */
  readonly digest: string;
}

const DS_FIELDS_CERT = ['certificate_chain', 'private_key', 'password'] as const;
const DS_FIELDS_VC = ['trusted_ca', 'crl'] as const;

/** Whether a secret reads any file (only those need watching). */
export function readsFiles(s: SecretConfig | undefined): boolean {
  if (!s) return false;
  const tc = s.tls_certificate as Record<string, DataSourceConfig | undefined> | undefined;
  const vc = s.validation_context as Record<string, DataSourceConfig | undefined> | undefined;
  return DS_FIELDS_CERT.some((f) => tc?.[f]?.filename !== undefined) || DS_FIELDS_VC.some((f) => vc?.[f]?.filename !== undefined);
}

/** Reads a secret's files (ConfigError MW_TLS naming the field when one cannot be read). */
export function materialize(s: SecretConfig, at: string): Materialized {
  const dirs = new Map<string, Set<string> | undefined>();
  const files: string[] = [];
  const hash = crypto.createHash('sha256');
  const watchAny = (dir: string) => dirs.set(path.resolve(dir), undefined);
  const part = <T extends object>(obj: T | undefined, fields: readonly string[], p: string): T | undefined => {
    if (!obj) return obj;
    const o = obj as Record<string, unknown> & { watched_directory?: { path?: string } };
    const out: Record<string, unknown> = { ...o };
    delete out.watched_directory;
    if (o.watched_directory?.path) watchAny(o.watched_directory.path);
    for (const f of fields) {
      const ds = o[f] as (DataSourceConfig & { watched_directory?: { path?: string } }) | undefined;
      if (ds?.filename === undefined) continue;
      const bytes = readDataSource(ds, `${p}.${f}`, { source: p });
      hash.update(ds.filename).update('\0').update(bytes).update('\0');
      files.push(ds.filename);
      out[f] = { inline_bytes: bytes };
      if (ds.watched_directory?.path) watchAny(ds.watched_directory.path);
      // Envoy: the parent directory of each file, for any move into it (a `..data` swap names `..data`)
      else if (!o.watched_directory?.path) watchAny(path.dirname(ds.filename));
    }
    return out as T;
  };
  const value: SecretConfig = { ...s };
  if (s.tls_certificate) value.tls_certificate = part<TlsCertificateConfig>(s.tls_certificate, DS_FIELDS_CERT, `${at}.tls_certificate`);
  if (s.validation_context) value.validation_context = part<CertificateValidationContextConfig>(s.validation_context, DS_FIELDS_VC, `${at}.validation_context`);
  return { value, dirs, files, digest: hash.digest('hex') };
}

/**
 * A secret whose files are followed: `value` is the source's value with the files' bytes inlined, re-read when
 * they change; a source without files passes through. The source is a static secret, an SDS entry (a new value
 * is adopted on first use after it arrives: one read, already validated by the SDS handler) or an inline piece
 * of a TLS context.
 */
export class FileBackedSecret implements SecretView {
  private current: SecretConfig | undefined;
  private digest = '';
  private rev = 0;
  private sourceRevision = -1;
  private readonly watching = new Set<string>();

  /** Throws ConfigError when the source has a value whose files cannot be read or do not check out. */
  constructor(
    private readonly source: SecretView,
    /** how logs and errors name it: `secret "x"`, or the field path of an inline piece */
    private readonly what: string,
    private readonly check: SecretCheck,
    private readonly onRotationFailed?: () => void,
  ) {
    this.sync(true);
  }

  get name(): string {
    return this.source.name;
  }

  get ready(): Promise<void> {
    return this.source.ready;
  }

  get value(): SecretConfig | undefined {
    this.sync(false);
    return this.current;
  }

  get revision(): number {
    this.sync(false);
    return this.rev;
  }

  /** Adopt the source's value when it changed (a revision compare otherwise). */
  private sync(throwOnError: boolean): void {
    if (this.source.revision === this.sourceRevision) return;
    this.sourceRevision = this.source.revision;
    const v = this.source.value;
    if (!readsFiles(v)) {
      this.current = v;
      this.digest = '';
      this.rev++;
      return;
    }
    try {
      this.publish(materialize(v!, this.what));
    } catch (err) {
      if (throwOnError) throw err;
      log.error({ secret: this.what, err: (err as Error).message }, 'cannot read the files of an updated secret; keeping the previous certificate');
    }
  }

  private publish(m: Materialized): void {
    this.check(m.value, this.what);
    this.current = m.value;
    this.digest = m.digest;
    this.rev++;
    for (const [dir, names] of m.dirs) {
      const key = `${dir}\0${names ? [...names].join('\0') : ''}`;
      if (this.watching.has(key)) continue;
      try {
        watchDirectory(dir, this, reloadFiles, names);
        this.watching.add(key);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new ConfigError('MW_TLS', this.what, `Cannot watch "${dir}" for certificate changes: ${e.code ?? e.message}`);
      }
    }
  }

  /** A watched directory changed: re-read, and publish when the bytes differ and check out. */
  reload(): void {
    const v = this.source.value;
    if (this.source.revision !== this.sourceRevision || !readsFiles(v)) return;
    let m: Materialized;
    try {
      m = materialize(v!, this.what);
      if (m.digest === this.digest) return;
      this.publish(m);
    } catch (err) {
      this.onRotationFailed?.();
      log.error({ secret: this.what, err: (err as Error).message }, 'cannot load the changed certificate files; keeping the previous certificate');
      return;
    }
    log.info({ secret: this.what, files: m.files }, 'certificate files changed: new handshakes use them');
  }
}

// not a closure over the secret: the directory watch must hold it weakly
function reloadFiles(s: FileBackedSecret): void {
  s.reload();
}

/** A constant source: an inline piece of a TLS context, or a static secret. */
export function constantSource(name: string, value: SecretConfig): SecretView {
  return { name, value, revision: 1, ready: Promise.resolve() };
}

const SECRET_TYPE = 'envoy.extensions.transport_sockets.tls.v3.Secret';

/** Reads a file-based SDS file: a DiscoveryResponse in YAML or JSON holding exactly the secret `name`. */
export function readSdsFile(file: string, name: string, at: string): SecretConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError('MW_CONFIG_INVALID', at, `Cannot read "${file}": ${err.code ?? err.message}`);
  }
  const doc = parseConfigText(text, file) as { resources?: unknown } | null;
  const resources = doc && typeof doc === 'object' && Array.isArray(doc.resources) ? doc.resources : undefined;
  // Envoy's SdsApi: one resource, the one named
  if (!resources || resources.length !== 1) throw new ConfigError('MW_CONFIG_INVALID', at, `"${file}" must hold a DiscoveryResponse with exactly one Secret in resources (found ${resources?.length ?? 'none'})`);
  const { '@type': type, ...fields } = resources[0] as Record<string, unknown>;
  if (type !== undefined && type !== `type.googleapis.com/${SECRET_TYPE}`) throw new ConfigError('MW_CONFIG_INVALID', at, `"${file}": expected a ${SECRET_TYPE}, got ${String(type)}`);
  const secret = decodeMessage<SecretConfig>(SECRET_TYPE, fields, { source: file, path: 'resources[0]' });
  if (secret.name !== name) throw new ConfigError('MW_CONFIG_INVALID', at, `"${file}" holds secret "${secret.name ?? ''}", expected "${name}"`);
  return secret;
}

/** The sds_config of a file-based source, or undefined for a discovery server. */
export function sdsFileOf(sdsConfig: any): { path: string; watchedDirectory?: string } | undefined {
  if (sdsConfig?.path_config_source) return { path: sdsConfig.path_config_source.path, watchedDirectory: sdsConfig.path_config_source.watched_directory?.path };
  if (typeof sdsConfig?.path === 'string') return { path: sdsConfig.path };
  return undefined;
}

/**
 * A secret from a file-based SDS source: loaded now (the file must exist, as in Envoy), loaded again when the
 * file is moved over (or anything moves into `watchedDirectory`). A file that does not load keeps the previous
 * secret (update_rejected).
 */
export class FileSdsSource implements SecretView {
  value: SecretConfig | undefined;
  revision = 0;
  readonly ready = Promise.resolve();
  private key = '';

  constructor(
    readonly name: string,
    private readonly file: { path: string; watchedDirectory?: string },
    private readonly at: string,
    private readonly check: SecretCheck,
    private readonly stats: { update_attempt: { inc(): void }; update_success: { inc(): void }; update_rejected: { inc(): void } },
  ) {
    this.load(true);
    const dir = file.watchedDirectory ?? path.dirname(file.path);
    try {
      watchDirectory(dir, this, reloadSds, file.watchedDirectory ? undefined : [path.basename(file.path)]);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new ConfigError('MW_CONFIG_INVALID', at, `Cannot watch "${dir}": ${err.code ?? err.message}`);
    }
  }

  load(initial: boolean): void {
    this.stats.update_attempt.inc();
    try {
      const s = readSdsFile(this.file.path, this.name, this.at);
      this.check(s, `${this.at}(file "${this.file.path}")`);
      const key = JSON.stringify(s);
      this.stats.update_success.inc();
      if (key === this.key) return;
      this.key = key;
      this.value = s;
      this.revision++;
      if (!initial) log.info({ secret: this.name, file: this.file.path }, 'secret updated from its SDS file');
    } catch (err) {
      if (initial) throw err;
      this.stats.update_rejected.inc();
      const msg = err instanceof ConfigErrors ? err.errors.map((e) => e.message).join('; ') : (err as Error).message;
      log.error({ secret: this.name, file: this.file.path, err: msg }, 'cannot load the changed SDS file; keeping the previous secret');
    }
  }
}

function reloadSds(s: FileSdsSource): void {
  s.load(false);
}
