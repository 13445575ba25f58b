// Secrets for TLS contexts: static_resources.secrets and secrets delivered by SDS, by name. A TLS context that
// names secrets (tls_certificate_sds_secret_configs, validation_context_sds_secret_config) is compiled from
// their current values and compiled again, on the next handshake, after any of them changed: new handshakes use
// the new certificate, established connections keep theirs. Checking is one revision compare per handshake,
// so contexts of draining listeners need no unsubscribing.
//
// A context whose secret has not arrived yet belongs to a warming listener or cluster; if the initial fetch
// timed out, handshakes fail (the server side has no certificate to offer, the client side refuses the
// connection) until the secret arrives, as with Envoy's "not ready" transport sockets.
//
// Files: every secret and every inline certificate or validation context that reads files is followed through
// file-secrets.ts (FileBackedSecret): a replaced file is re-read, checked, and published as a new revision, which
// rebuilds the contexts above the same way an SDS update does. Secrets from file-based SDS
// (sds_config.path_config_source) are FileSdsSources under the same wrapper.
import tls from 'node:tls';
import { ConfigError } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import {
  buildDownstreamTls,
  type CertificateValidationContextConfig,
  compileValidation,
  loadCertificates,
  type CommonTlsContextConfig,
  type DownstreamTls,
  type DownstreamTlsContextConfig,
  type PeerCheck,
  type SdsSecretConfigRef,
  type SecretConfig,
  type TlsBuildOptions,
} from '../listener/tls-context.js';
import { buildUpstreamTls, type UpstreamTls, type UpstreamTlsContextConfig } from '../upstream/tls-upstream.js';
import type { StatsStore } from '../observability/stats.js';
import { NO_DISCOVERY, ResourceSet, subscriptionStats, Watched, type SourceResolver, type SubscriptionStats } from './watched.js';
import { constantSource, FileBackedSecret, FileSdsSource, readsFiles, sdsFileOf, type SecretView } from './file-secrets.js';

export type { SecretView } from './file-secrets.js';

const log = logger('xds');

/** What TLS contexts need from the secret registry. */
export interface SecretSource {
  /** The secret a reference names: a static secret (no sds_config), one followed through SDS, or one read from
   *  a file-based SDS source; its files followed. Throws ConfigError for an unknown static secret, an unusable
   *  sds_config, or files that cannot be read. */
  ref(ref: SdsSecretConfigRef, path: string): SecretView;
  /** An inline certificate or validation context of a TLS context that reads files, followed (Meshwork: Envoy
   *  reads those once). Throws ConfigError when the files cannot be read. */
  inline(secret: SecretConfig, path: string): SecretView;
}

export class SecretRegistry implements SecretSource {
  /** SDS secrets, by name */
  readonly entries = new ResourceSet<SecretConfig>(
    (w) => this.statsOf(w.name).init_fetch_timeout.inc(),
    (w) => this.follow(w),
  );
  resolver: SourceResolver = NO_DISCOVERY;
  private statics = new Map<string, Watched<SecretConfig>>();
  private readonly provided = new Map<string, Watched<SecretConfig>>();
  private readonly stats = new Map<string, SubscriptionStats>();
  /** each static, provided or SDS entry with its files followed (one watch and one check per secret) */
  private readonly following = new WeakMap<Watched<SecretConfig>, FileBackedSecret>();
  /** file-based SDS secrets and inline pieces, by what they read; held weakly: the contexts using them own them */
  private readonly byKey = new Map<string, WeakRef<FileBackedSecret>>();
  /** watchName's callbacks, by secret name */
  private readonly nameWatchers = new Map<string, Set<() => void>>();

  constructor(private readonly store: StatsStore) {}

  /** static_resources.secrets: validated, then swapped in (an unchanged secret keeps its revision); returns
   *  what puts the previous ones back, for a bootstrap that fails later on. */
  setStatic(secrets: SecretConfig[], path: string): () => void {
    const next = new Map<string, Watched<SecretConfig>>();
    secrets.forEach((s, i) => {
      const p = `${path}[${i}]`;
      if (!s.name) throw new ConfigError('MW_CONFIG_INVALID', `${p}.name`, 'a static secret needs a name');
      if (next.has(s.name)) throw new ConfigError('MW_CONFIG_INVALID', `${p}.name`, `duplicate secret name "${s.name}"`);
      validateSecret(s, p);
      const prev = this.statics.get(s.name);
      if (prev && JSON.stringify(prev.value) === JSON.stringify(s)) next.set(s.name, prev);
      else {
        const w = new Watched<SecretConfig>(s.name, undefined);
        w.set(s, 'static');
        next.set(s.name, w);
      }
    });
    const prev = this.statics;
    this.statics = next;
    return () => {
      this.statics = prev;
    };
  }

  /** A secret the proxy provides itself (the workload certificate agent, src/proxy/security): referenced like a
   *  static secret (no sds_config), and replaced in place on rotation, which TLS contexts pick up on their next
   *  handshake as they do an SDS update. Static secrets of the same name win. */
  provide(secret: SecretConfig, version: string): void {
    validateSecret(secret, `provided secret "${secret.name}"`);
    let w = this.provided.get(secret.name!);
    if (!w) {
      this.provided.set(secret.name!, (w = new Watched<SecretConfig>(secret.name!, undefined)));
      this.follow(w);
    }
    w.set(secret, version);
  }

  /** The current value of secret `name` and its version, from wherever it comes (static, provided, SDS), as a
   *  TLS context would resolve a reference to it; undefined while it has none. */
  current(name: string): { value: SecretConfig; version: string } | undefined {
    const w = [this.statics.get(name), this.provided.get(name), this.entries.get(name)].find((x) => x?.value !== undefined);
    return w ? { value: w.value!, version: `${w.version}/${w.revision}` } : undefined;
  }

  /** Call `fn` whenever secret `name` gets a value, wherever from, including entries made later (the workload
   *  SDS socket serves `ROOTCA` as the control plane updates it). Returns the unsubscribe function. */
  watchName(name: string, fn: () => void): () => void {
    let set = this.nameWatchers.get(name);
    if (!set) this.nameWatchers.set(name, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  private follow(w: Watched<SecretConfig>): void {
    w.watch(() => {
      for (const fn of this.nameWatchers.get(w.name) ?? []) fn();
    });
  }

  providedSecrets(): Watched<SecretConfig>[] {
    return [...this.provided.values()];
  }

  ref(ref: SdsSecretConfigRef, path: string): SecretView {
    if (!ref.name) throw new ConfigError('MW_CONFIG_INVALID', `${path}.name`, 'a secret reference needs a name');
    const name = ref.name;
    const file = sdsFileOf(ref.sds_config);
    if (file) {
      return this.shared(`sds\0${name}\0${JSON.stringify(file)}`, () => {
        const src = new FileSdsSource(name, file, `${path}.sds_config`, validateSecret, this.statsOf(name));
        return new FileBackedSecret(src, `secret "${name}"`, validateSecret, () => this.rotationFailed(name).inc());
      });
    }
    let w: Watched<SecretConfig>;
    if (ref.sds_config === undefined) {
      const s = this.statics.get(name) ?? this.provided.get(name);
      if (!s) throw new ConfigError('MW_CONFIG_REFERENCE', `${path}.name`, `Cannot find static secret "${name}" (set sds_config to fetch it from a discovery server)`);
      w = s;
    } else w = this.entries.want(name, this.resolver(ref.sds_config, `${path}.sds_config`));
    let f = this.following.get(w);
    if (!f) this.following.set(w, (f = new FileBackedSecret(w, `secret "${name}"`, validateSecret, () => this.rotationFailed(name).inc())));
    return f;
  }

  inline(secret: SecretConfig, path: string): SecretView {
    return this.shared(`inline\0${JSON.stringify(secret)}`, () => new FileBackedSecret(constantSource('', secret), path, validateSecret));
  }

  private shared(key: string, make: () => FileBackedSecret): FileBackedSecret {
    let f = this.byKey.get(key)?.deref();
    if (!f) {
      f = make();
      this.byKey.set(key, new WeakRef(f));
      // forget keys whose secrets went with their contexts, now and then (a map of a few entries)
      if (this.byKey.size > 64) for (const [k, r] of this.byKey) if (!r.deref()) this.byKey.delete(k);
    }
    return f;
  }

  /** sds.<name>.key_rotation_failed: changed files that did not load (Envoy's counter) */
  private rotationFailed(name: string) {
    return this.store.scope(`sds.${name}.`).counter('key_rotation_failed');
  }

  staticSecrets(): Watched<SecretConfig>[] {
    return [...this.statics.values()];
  }

  /** sds.<secret name>.* as in Envoy */
  statsOf(name: string): SubscriptionStats {
    let s = this.stats.get(name);
    if (!s) {
      s = subscriptionStats(this.store.scope(`sds.${name}.`));
      this.stats.set(name, s);
    }
    return s;
  }
}

/** Check that a secret's contents load (certificate and key match, CA and matchers compile); throws ConfigError. */
export function validateSecret(s: SecretConfig, path: string): void {
  const opts: TlsBuildOptions = { source: path };
  const known = ['name', 'tls_certificate', 'validation_context'];
  for (const k of Object.keys(s)) {
    if (!known.includes(k) && s[k] !== undefined) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.${k}`, `${k} secrets are not supported`);
  }
  if (s.tls_certificate) loadCertificates({ tls_certificates: [s.tls_certificate] }, path, opts);
  if (s.validation_context) compileValidation({ validation_context: s.validation_context }, path, opts);
}

/** What a CommonTlsContext follows, with field paths: the secrets it names (`ref`), and (Meshwork) each inline
 *  certificate or validation context that reads files (`inline`, a secret holding that piece, `ref` empty). A
 *  context with any of them is built by secretBackedDownstreamTls / secretBackedUpstreamTls. */
export function secretRefs(common: CommonTlsContextConfig | undefined, path: string): TlsDependency[] {
  const out: TlsDependency[] = [];
  (common?.tls_certificates ?? []).forEach((tc, i) => {
    const inline: SecretConfig = { tls_certificate: tc };
    if (readsFiles(inline)) out.push({ ref: {}, path: `${path}.tls_certificates[${i}]`, inline, slot: i });
  });
  if (common?.validation_context && readsFiles({ validation_context: common.validation_context })) {
    out.push({ ref: {}, path: `${path}.validation_context`, inline: { validation_context: common.validation_context }, slot: 'validation_context' });
  }
  const dflt = common?.combined_validation_context?.default_validation_context;
  if (dflt && readsFiles({ validation_context: dflt })) {
    out.push({ ref: {}, path: `${path}.combined_validation_context.default_validation_context`, inline: { validation_context: dflt }, slot: 'default_validation_context' });
  }
  (common?.tls_certificate_sds_secret_configs ?? []).forEach((ref, i) => out.push({ ref, path: `${path}.tls_certificate_sds_secret_configs[${i}]` }));
  if (common?.validation_context_sds_secret_config) out.push({ ref: common.validation_context_sds_secret_config, path: `${path}.validation_context_sds_secret_config` });
  const combined = common?.combined_validation_context?.validation_context_sds_secret_config;
  if (combined) out.push({ ref: combined, path: `${path}.combined_validation_context.validation_context_sds_secret_config` });
  return out;
}

export interface TlsDependency {
  ref: SdsSecretConfigRef;
  path: string;
  /** an inline piece read from files, and where it goes back: a tls_certificates index or the validation context */
  inline?: SecretConfig;
  slot?: number | 'validation_context' | 'default_validation_context';
}

/** The views a context's dependencies resolve to (inline pieces first, as secretRefs lists them). */
function viewsOf(deps: TlsDependency[], secrets: SecretSource): SecretView[] {
  return deps.map((d) => (d.inline ? secrets.inline(d.inline, d.path) : secrets.ref(d.ref, d.path)));
}

/** The context with its inline file pieces replaced by their current bytes (what FileBackedSecret read). */
function withFiles<T extends { common_tls_context?: CommonTlsContextConfig }>(ctx: T, deps: TlsDependency[], views: SecretView[]): T {
  if (!deps.some((d) => d.inline)) return ctx;
  const common: CommonTlsContextConfig = { ...ctx.common_tls_context };
  const certs = [...(common.tls_certificates ?? [])];
  deps.forEach((d, i) => {
    if (!d.inline) return;
    const v = views[i].value!;
    if (typeof d.slot === 'number') certs[d.slot] = v.tls_certificate!;
    else if (d.slot === 'validation_context') common.validation_context = v.validation_context as CertificateValidationContextConfig;
    else common.combined_validation_context = { ...common.combined_validation_context, default_validation_context: v.validation_context };
  });
  if (common.tls_certificates) common.tls_certificates = certs;
  return { ...ctx, common_tls_context: common };
}

/**
 * A TLS context built from secrets, rebuilt lazily when one of them changed. `current()` is undefined while a
 * secret is missing (or when the first build failed).
 */
class SecretBacked<T> {
  private built: T | undefined;
  private key = '';
  readonly ready: Promise<void>;

  constructor(
    private readonly entries: SecretView[],
    private readonly build: (secret: (name: string) => SecretConfig | undefined) => T,
    private readonly what: string,
  ) {
    this.ready = Promise.all(entries.map((e) => e.ready)).then(() => {});
    // With every secret at hand, build now so that a bad combination is rejected with the config.
    if (entries.every((e) => e.value !== undefined)) {
      this.built = build(this.lookup);
      this.key = this.revisions();
    }
  }

  private readonly lookup = (name: string): SecretConfig | undefined => this.entries.find((e) => e.name === name)?.value;

  private revisions(): string {
    let k = '';
    for (const e of this.entries) k += `${e.revision},`;
    return k;
  }

  current(): T | undefined {
    const k = this.revisions();
    if (k !== this.key) {
      this.key = k;
      if (this.entries.every((e) => e.value !== undefined)) {
        try {
          this.built = this.build(this.lookup);
        } catch (err) {
          // the secrets each loaded when they were accepted; only their combination can fail here
          log.warn({ context: this.what, err: (err as Error).message }, 'cannot rebuild a TLS context from updated secrets; keeping the previous one');
        }
      }
    }
    return this.built;
  }
}

/** An empty server context: a handshake on it fails (no certificate), which is what a not-ready context does. */
let notReadyServer: tls.SecureContext | undefined;

export function secretBackedDownstreamTls(ctx: DownstreamTlsContextConfig, opts: TlsBuildOptions, secrets: SecretSource): { tls: DownstreamTls; ready: Promise<void> } {
  const cpath = `${opts.source}.common_tls_context`;
  const deps = secretRefs(ctx.common_tls_context, cpath);
  const entries = viewsOf(deps, secrets);
  const sb = new SecretBacked(entries, (secret) => buildDownstreamTls(withFiles(ctx, deps, entries), { ...opts, secret }), opts.source);
  const notReady = (): tls.TLSSocketOptions => ({ isServer: true, secureContext: (notReadyServer ??= tls.createSecureContext({})), rejectUnauthorized: false });
  const t: DownstreamTls = {
    get secureContext() {
      return sb.current()?.secureContext ?? (notReadyServer ??= tls.createSecureContext({}));
    },
    secureContextFor: (name) => sb.current()?.secureContextFor(name) ?? t.secureContext,
    socketOptions: (name, alpn) => sb.current()?.socketOptions(name, alpn) ?? notReady(),
    get serverOptions() {
      return sb.current()?.serverOptions ?? notReady();
    },
    get alpn() {
      return sb.current()?.alpn ?? [];
    },
    get requestCert() {
      return sb.current()?.requestCert ?? false;
    },
    verifyPeer(socket): PeerCheck {
      const cur = sb.current();
      return cur ? cur.verifyPeer(socket) : { ok: false, reason: 'TLS_error: the TLS context is not ready (its SDS secret has not arrived)', info: {} };
    },
  };
  return { tls: t, ready: sb.ready };
}

export function secretBackedUpstreamTls(ctx: UpstreamTlsContextConfig, opts: TlsBuildOptions, secrets: SecretSource): { tls: UpstreamTls; ready: Promise<void> } {
  const cpath = `${opts.source}.common_tls_context`;
  const deps = secretRefs(ctx.common_tls_context, cpath);
  const entries = viewsOf(deps, secrets);
  const sb = new SecretBacked(entries, (secret) => buildUpstreamTls(withFiles(ctx, deps, entries), { ...opts, secret }), opts.source);
  const notReady: tls.ConnectionOptions = { rejectUnauthorized: false, checkServerIdentity: () => undefined };
  const t: UpstreamTls = {
    get connectOptions() {
      return sb.current()?.connectOptions ?? notReady;
    },
    verify: (socket) => {
      const cur = sb.current();
      return cur ? cur.verify(socket) : 'the TLS context is not ready (its SDS secret has not arrived)';
    },
    info: (socket) => sb.current()?.info(socket) ?? {},
  };
  return { tls: t, ready: sb.ready };
}

/** A Secret as /config_dump shows it: Envoy replaces private keys and passwords with "[redacted]". */
export function redactSecret(s: any): any {
  if (!s?.tls_certificate) return s;
  const tc = { ...s.tls_certificate };
  for (const k of ['private_key', 'password']) if (tc[k] !== undefined) tc[k] = { inline_string: '[redacted]' };
  return { ...s, tls_certificate: tc };
}
