// The xDS generator of the mesh API: the config store's Istio-style resources → a snapshot (stage 1, model/) →
// each proxy's clusters, endpoints, routes and listeners (stage 2, translate/), as the xDS server's Generator.
//
// Sidecars register their own workload (Istio's WorkloadEntry auto-registration): a sidecar whose node names a
// SERVICE becomes an endpoint of that service while its stream is open, and stops being one when it goes.
//
// Sharing: the xDS server encodes a set once for every stream that holds the same Map (shared.ts), so a set is
// built once per snapshot and per what it depends on (translate/index.ts: clusters, endpoints and routes on the
// proxy's type, namespace and labels; clusters and endpoints also on its locality, clusters on its inbound
// ports; listeners also on its IP and bind address), and handed to every proxy alike. An unchanged resource keeps its entry object across snapshots, so
// a change to one service leaves every other resource's entry alone, and the server skips them at once.
import { TYPE_URL, packAny } from '../../api/xds/index.js';
import { logger } from '../../common/log.js';
import { buildSnapshot, instanceOfProxy, proxyFromNode, type MeshSnapshot, type Proxy } from '../model/index.js';
import type { MeshConfigStore } from '../sources/store.js';
import type { DestinationRuleSpec } from '../../api/mesh/types.js';
import type { CredentialSource } from '../credentials/file-credentials.js';
import { caSecretName, credentialSecretName } from '../credentials/names.js';
import { jwksTargets, type JwksResolver } from '../jwks/resolver.js';
import { BUILDERS, type Json } from '../translate/index.js';
import { NamedPicks } from './names.js';
import type { Generator, ProxyInfo, ResourceEntry } from './server.js';
import { resourceEntry } from './version.js';

const log = logger('mesh-generator');

const NONE: ReadonlyMap<string, ResourceEntry> = new Map();

export interface MeshGeneratorOptions {
  store: MeshConfigStore;
  /** the mesh changed: push */
  onChange: (reason: string) => void;
  /** the CA's trust bundle, served over SDS as the secret ROOTCA (absent: no CA, no ROOTCA) */
  trustBundle?: () => TrustBundle;
  /** fetches the key sets RequestAuthentication rules name by jwksUri (listeners inline them); told what the
   *  config names at every rebuild, and calls jwksChanged() when a set changes. Absent: such rules fail tokens */
  jwks?: JwksResolver;
  /** Gateway credentials (credentialName), served over SDS to the gateways whose servers name them */
  credentials?: CredentialSource;
}

export interface TrustBundle {
  /** PEM roots every proxy trusts (old and new during a root rotation) */
  rootsPem: string;
  /** PEM CRLs of revoked workload certificates, checked on the peer's leaf */
  crlPem?: string;
}

/** The SDS secret the generated TLS contexts validate peers with (Istio's name). */
export const ROOT_CA_SECRET = 'ROOTCA';

export class MeshGenerator implements Generator {
  private snapshot: MeshSnapshot;
  /** node id → open streams of that proxy (a proxy may open several, e.g. standalone LDS/CDS services) */
  private readonly streams = new Map<string, number>();
  /** each stream's proxy, and per type the key of what its sets depend on (dependencyKey), worked out once */
  private readonly proxies = new WeakMap<ProxyInfo, { proxy: Proxy; keys: Map<string, string> }>();
  /** full sets of the current snapshot, by type and dependency key */
  private sets = new Map<string, Map<string, ResourceEntry>>();
  /** named subsets of those sets (dropped with them) */
  private readonly named = new NamedPicks<ResourceEntry>();
  /** entries of the previous and current snapshot, by type, name and content: an unchanged resource keeps its
   *  entry; two generations are kept, so the cache does not grow with every change */
  private entries = new Map<string, ResourceEntry>();
  private oldEntries = new Map<string, ResourceEntry>();
  private unsubscribe?: () => void;
  /** ROOTCA, rebuilt when the CA says its trust bundle changed */
  private secretSet: Map<string, ResourceEntry> | undefined;
  /** ROOTCA plus a gateway's credentials, by the credential names its Gateways use (dropped with the snapshot) */
  private credentialSets = new Map<string, Map<string, ResourceEntry>>();

  constructor(private readonly opts: MeshGeneratorOptions) {
    this.snapshot = buildSnapshot([]);
  }

  /** Builds the first snapshot from the store (which must have started) and follows its changes. */
  start(): void {
    this.rebuild();
    this.unsubscribe = this.opts.store.subscribe((reason) => {
      this.rebuild();
      this.opts.onChange(reason);
    });
  }

  close(): void {
    this.unsubscribe?.();
  }

  get current(): MeshSnapshot {
    return this.snapshot;
  }

  proxyConnected(p: ProxyInfo): void {
    const id = p.node.id ?? '';
    const n = (this.streams.get(id) ?? 0) + 1;
    this.streams.set(id, n);
    if (n > 1) return;
    const inst = instanceOfProxy(this.known(p).proxy);
    if (!inst) return;
    this.setSnapshot(this.snapshot.withInstance(inst));
    log.info({ proxy: id, service: inst.service, address: inst.address, ports: inst.ports }, 'workload registered');
    this.opts.onChange(`workload ${id} registered`);
  }

  proxyDisconnected(p: ProxyInfo): void {
    const id = p.node.id ?? '';
    const n = (this.streams.get(id) ?? 0) - 1;
    if (n > 0) {
      this.streams.set(id, n);
      return;
    }
    this.streams.delete(id);
    if (!this.snapshot.registered.has(id)) return;
    this.setSnapshot(this.snapshot.withoutInstance(id));
    log.info({ proxy: id }, 'workload unregistered');
    this.opts.onChange(`workload ${id} unregistered`);
  }

  generate(p: ProxyInfo, typeUrl: string, names: ReadonlySet<string> | '*'): Map<string, ResourceEntry> {
    if (typeUrl === TYPE_URL.SECRET) {
      let all = (this.secretSet ??= this.entriesOf(TYPE_URL.SECRET, this.secretResources()));
      const creds = this.gatewayCredentials(this.known(p).proxy);
      if (creds.length) {
        const key = creds.join('\n');
        let set = this.credentialSets.get(key);
        if (!set) this.credentialSets.set(key, (set = new Map([...all, ...this.entriesOf(TYPE_URL.SECRET, this.credentialResources(creds))])));
        all = set;
      }
      return names === '*' ? all : this.named.pick(all, names);
    }
    const build = BUILDERS[typeUrl];
    if (!build) return NONE as Map<string, ResourceEntry>;
    const known = this.known(p);
    let key = known.keys.get(typeUrl);
    if (key === undefined) known.keys.set(typeUrl, (key = `${typeUrl}|${dependencyKey(typeUrl, known.proxy)}`));
    let all = this.sets.get(key);
    if (!all) this.sets.set(key, (all = this.entriesOf(typeUrl, build(this.snapshot, known.proxy, this.opts.jwks))));
    return names === '*' ? all : this.named.pick(all, names);
  }

  /** The CA's roots or revocations changed: every proxy gets the new ROOTCA with the next push. */
  /** A fetched JWKS appeared or changed: listeners (which inline the keys) are built again and pushed. */
  jwksChanged(reason: string): void {
    for (const key of this.sets.keys()) if (key.startsWith(`${TYPE_URL.LISTENER}|`)) this.sets.delete(key);
    this.opts.onChange(reason);
  }

  trustBundleChanged(): void {
    this.secretSet = undefined;
    this.credentialSets = new Map();
    this.opts.onChange('trust bundle changed');
  }

  /** ROOTCA: the roots, and the CRL checked against the peer's leaf only (only_verify_leaf_cert_crl), so that a
   *  CA signing with an intermediate needs no CRL from the root above it. */
  private secretResources(): Json[] {
    const b = this.opts.trustBundle?.();
    if (!b) return [];
    return [
      {
        name: ROOT_CA_SECRET,
        validation_context: {
          trusted_ca: { inline_string: b.rootsPem },
          ...(b.crlPem ? { crl: { inline_string: b.crlPem }, only_verify_leaf_cert_crl: true } : {}),
        },
      },
    ];
  }

  /** Credential files changed (credentials/file-credentials.ts): the gateways naming them get them with the next push. */
  credentialsChanged(names: string[]): void {
    this.credentialSets = new Map();
    this.opts.onChange(`credentials changed: ${names.join(', ')}`);
  }

  /** The credentialNames of the SIMPLE/MUTUAL servers of the Gateways that select this proxy, and of the
   *  DestinationRules' SIMPLE/MUTUAL client TLS, if it is a gateway: a gateway gets only the keys its servers and
   *  the rules use, sidecars none (Istio: credentialName in a DestinationRule is for gateways). Sorted; prefixed
   *  by use: M (server, MUTUAL), S (server, SIMPLE), C (client). */
  private gatewayCredentials(proxy: Proxy): string[] {
    if (proxy.type !== 'router' || !this.opts.credentials) return [];
    const out = new Set<string>();
    for (const gw of this.snapshot.gateways.forProxy(proxy.labels)) {
      for (const server of gw.servers) {
        const t = server.tls;
        if (t?.credentialName && (t.mode === 'SIMPLE' || t.mode === 'MUTUAL')) out.add(`${t.mode === 'MUTUAL' ? 'M' : 'S'}${t.credentialName}`);
      }
    }
    for (const dr of this.snapshot.destinationRules.all()) for (const name of clientCredentials(dr.spec)) out.add(`C${name}`);
    return [...out].sort();
  }

  /** `kubernetes://<name>` (certificate and key) and, for MUTUAL servers and client TLS, `kubernetes://<name>-cacert`
   *  (the `<name>-cacert` credential's CA, else `<name>`'s own ca.crt), as Istio's SDS serves them. A missing
   *  credential is not served: the gateway's listener waits for it (initial_fetch_timeout), then refuses
   *  handshakes, as with any SDS secret that never arrives. */
  private credentialResources(creds: string[]): Json[] {
    const store = this.opts.credentials!;
    const out: Json[] = [];
    for (const c of creds) {
      const name = c.slice(1);
      const cred = store.get(name);
      if (cred?.certPem && cred.keyPem) {
        out.push({ name: credentialSecretName(name), tls_certificate: { certificate_chain: { inline_string: cred.certPem }, private_key: { inline_string: cred.keyPem } } });
      }
      if (c[0] === 'M' || c[0] === 'C') {
        const ca = store.get(`${name}-cacert`)?.caPem ?? cred?.caPem;
        if (ca) out.push({ name: caSecretName(name), validation_context: { trusted_ca: { inline_string: ca } } });
      }
    }
    return out;
  }

  private known(p: ProxyInfo): { proxy: Proxy; keys: Map<string, string> } {
    let k = this.proxies.get(p);
    if (!k) this.proxies.set(p, (k = { proxy: proxyFromNode(p.node), keys: new Map() }));
    return k;
  }

  private rebuild(): void {
    const started = performance.now();
    this.setSnapshot(buildSnapshot(this.opts.store.list(), this.snapshot.registered.values()));
    this.opts.jwks?.track(jwksTargets(this.opts.store.list()));
    log.info({ resources: this.opts.store.list().length, version: this.snapshot.version, ms: Math.round(performance.now() - started) }, 'mesh snapshot built');
  }

  private setSnapshot(s: MeshSnapshot): void {
    this.snapshot = s;
    this.sets = new Map();
    this.credentialSets = new Map();
    this.oldEntries = this.entries;
    this.entries = new Map();
  }

  private entriesOf(typeUrl: string, resources: Json[]): Map<string, ResourceEntry> {
    const out = new Map<string, ResourceEntry>();
    for (const json of resources) {
      const name = resourceName(typeUrl, json);
      const key = `${typeUrl}\u0000${name}\u0000${JSON.stringify(json)}`;
      let e = this.entries.get(key) ?? this.oldEntries.get(key);
      if (!e) {
        const any = packAny(json, typeUrl);
        e = resourceEntry(name, any, json as Record<string, unknown>);
      }
      this.entries.set(key, e);
      out.set(name, e);
    }
    return out;
  }
}

/** What a type's set depends on besides the snapshot (translate/index.ts). */
function dependencyKey(typeUrl: string, p: Proxy): string {
  // labels include security.istio.io/tlsMode (the proxy holds a certificate: mTLS settings); the trust domain
  // names the identities clients check
  const scope = `${p.type}|${p.namespace}|${p.trustDomain}|${JSON.stringify(Object.entries(p.labels).sort())}`;
  switch (typeUrl) {
    case TYPE_URL.CLUSTER:
      // the IP: a Sidecar ingress defaultEndpoint 0.0.0.0:PORT sends inbound traffic to the instance IP
      return `${scope}|${p.ip}|${JSON.stringify(p.inbound)}|${p.locality ?? ''}`;
    // locality load balancing: priorities and weights are relative to the proxy's locality, so EDS is built
    // once per (scope, locality) and shared by the proxies of that locality
    case TYPE_URL.ENDPOINT:
      return `${scope}|${p.locality ?? ''}`;
    case TYPE_URL.LISTENER:
      // the workload name: Istio's metrics filter in every connection manager names it (observability/istio-stats.ts)
      return `${scope}|${p.ip}|${p.outboundBind}|${p.httpProxyPort}|${JSON.stringify(p.inbound)}|${p.service ?? ''}|${p.workloadName ?? ''}`;
    default:
      return scope;
  }
}

function resourceName(typeUrl: string, json: Json): string {
  const j = json as { name?: string; cluster_name?: string };
  return (typeUrl === TYPE_URL.ENDPOINT ? j.cluster_name : j.name) ?? '';
}

/** The credentialNames a DestinationRule's SIMPLE/MUTUAL client TLS settings name, at every level. */
function clientCredentials(spec: DestinationRuleSpec): string[] {
  const out: string[] = [];
  const policies = [spec.trafficPolicy, ...(spec.subsets ?? []).map((s) => s.trafficPolicy)];
  for (const p of policies) {
    for (const tls of [p?.tls, ...(p?.portLevelSettings ?? []).map((l) => l.tls)]) {
      if (tls?.credentialName && (tls.mode === 'SIMPLE' || tls.mode === 'MUTUAL')) out.push(tls.credentialName);
    }
  }
  return out;
}
