// Sidecar resources: which one applies to a proxy (Istio: one in the proxy's namespace whose workloadSelector
// matches its labels, else that namespace's Sidecar without selector, else the root namespace's), what its
// egress listeners let the proxy see (the scoping that keeps a proxy's config proportional to what it calls
// rather than to the size of the mesh), and the inbound listeners its ingress defines.
import type { MeshResource, SidecarSpec } from '../../api/mesh/types.js';
import { covers, ROOT_NAMESPACE } from './hosts.js';
import { hasSelector, selects, type Labels } from './labels.js';
import { portProtocol } from './protocol.js';
import type { InboundPort, Proxy } from './proxy.js';

export interface EgressHost {
  /** "*" any namespace, "~" none, or a namespace ("." resolved to the Sidecar's) */
  readonly namespace: string;
  /** "*", "*.suffix" or a FQDN */
  readonly host: string;
}

/** One egress listener: its hosts on its port, or (no port: the catch-all) on every port no other one claims. */
export interface EgressListener {
  readonly port?: number;
  /** the listener's address; absent: the proxy's OUTBOUND_BIND */
  readonly bind?: string;
  readonly hosts: readonly EgressHost[];
}

export interface Sidecar {
  readonly name: string;
  readonly namespace: string;
  readonly spec: SidecarSpec;
  /** the hosts of every egress listener (what decides which VirtualServices the proxy sees) */
  readonly egressHosts: readonly EgressHost[];
  readonly egress: readonly EgressListener[];
}

export function parseEgressHost(text: string, sidecarNamespace: string): EgressHost {
  const slash = text.indexOf('/');
  const ns = slash < 0 ? '*' : text.slice(0, slash);
  const host = slash < 0 ? text : text.slice(slash + 1);
  return { namespace: ns === '.' ? sidecarNamespace : ns, host };
}

/** The egress hosts admit a name declared in `namespace` (a service, or a VirtualService's namespace). */
export function egressAdmits(egress: readonly EgressHost[], hostname: string, namespace: string): boolean {
  return egress.some((e) => e.namespace !== '~' && (e.namespace === '*' || e.namespace === namespace) && covers(e.host, hostname));
}

/**
 * The egress listener that decides what a port carries (Istio's GetEgressListenerForRDS): the one declared on
 * that port, else the catch-all (undefined when there is neither).
 */
export function egressListenerFor(sidecar: Sidecar, port: number): EgressListener | undefined {
  return sidecar.egress.find((l) => l.port === port) ?? sidecar.egress.find((l) => l.port === undefined);
}

export class SidecarIndex {
  private readonly byNamespace = new Map<string, Sidecar[]>();

  constructor(resources: readonly MeshResource<'Sidecar'>[]) {
    for (const r of resources) {
      const ns = r.metadata.namespace;
      // A Sidecar without egress listeners (one that only sets ingress or outboundTrafficPolicy) sees what a
      // proxy without a Sidecar sees: Istio's ConvertToSidecarScope gives it the default "*/*" listener.
      const declared = r.spec.egress?.length ? r.spec.egress : [{ hosts: ['*/*'] }];
      const egress = declared.map((e: { port?: { number?: number }; bind?: string; hosts: string[] }) =>
        Object.freeze({
          ...(e.port?.number ? { port: e.port.number } : {}),
          ...(e.bind ? { bind: e.bind } : {}),
          hosts: Object.freeze(e.hosts.map((h) => parseEgressHost(h, ns))),
        }),
      );
      const sc: Sidecar = Object.freeze({
        name: r.metadata.name,
        namespace: ns,
        spec: r.spec,
        egressHosts: Object.freeze(egress.flatMap((e) => e.hosts)),
        egress: Object.freeze(egress),
      });
      (this.byNamespace.get(ns) ?? this.byNamespace.set(ns, []).get(ns)!).push(sc);
    }
  }

  /** The Sidecar that applies to a proxy, or undefined (then the proxy sees every service exported to it). */
  forProxy(namespace: string, labels: Labels): Sidecar | undefined {
    const own = this.byNamespace.get(namespace) ?? [];
    return (
      own.find((s) => hasSelector(s.spec.workloadSelector?.labels) && selects(s.spec.workloadSelector!.labels, labels)) ??
      own.find((s) => !hasSelector(s.spec.workloadSelector?.labels)) ??
      (this.byNamespace.get(ROOT_NAMESPACE) ?? []).find((s) => !hasSelector(s.spec.workloadSelector?.labels))
    );
  }
}

/** "127.0.0.1:8080", "0.0.0.0:8080", "[::1]:8080", "[::]:8080", ":8080" → host and port (validate.ts checked it). */
function parseDefaultEndpoint(text: string): { host: string; port: number } {
  const colon = text.lastIndexOf(':');
  return { host: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
}

/**
 * A sidecar's inbound listeners. Without a Sidecar `ingress` they are its `--port` flags (INBOUND_PORTS). With
 * one, each ingress listener replaces the flag listener on the same port, as Istio's ingress listeners replace
 * the inbound listeners it would build from the workload's service ports: port.number is where it listens (the
 * endpoint port other proxies dial, which is the flag's listen port: the registration and the listener stay
 * one), `bind` its address, `defaultEndpoint` where the application is (`0.0.0.0:PORT`: the instance IP),
 * `tls` and `connectionPool` as written. A flag port no ingress listener takes keeps its listener: the workload
 * registered that port, and in Istio traffic to a captured port the Sidecar does not list still reaches the
 * application (inbound passthrough); Meshwork, which captures nothing, serves it with the flag's listener.
 */
export function inboundPorts(proxy: Proxy, sidecar: Sidecar | undefined): readonly InboundPort[] {
  const ingress = proxy.type === 'sidecar' ? sidecar?.spec.ingress : undefined;
  if (!ingress?.length) return proxy.inbound;
  const out: InboundPort[] = [];
  const taken = new Set<number>();
  for (const l of ingress) {
    const number = l.port.number;
    taken.add(number);
    const flag = proxy.inbound.find((p) => p.listenPort === number);
    const declared = portProtocol(l.port.name, l.port.protocol);
    // validation admits SIMPLE and MUTUAL only: the sidecar terminates the TLS it is given, so what it passes
    // on is plain (an HTTPS port carries HTTP after it, a TLS port TCP)
    const terminates = l.tls?.mode === 'SIMPLE' || l.tls?.mode === 'MUTUAL';
    const protocol = terminates && declared === 'HTTPS' ? 'HTTP' : terminates && declared === 'TLS' ? 'TCP' : declared;
    const ep = parseDefaultEndpoint(l.defaultEndpoint ?? `127.0.0.1:${flag?.targetPort ?? number}`);
    const wildcard = ep.host === '0.0.0.0' || ep.host === '[::]';
    out.push(
      Object.freeze({
        name: l.port.name ?? `${declared.toLowerCase()}-${number}`,
        protocol,
        // the service port the listener serves: the flag's when it registered this endpoint port
        port: flag?.port ?? number,
        listenPort: number,
        targetPort: ep.port,
        ...(l.bind ? { bind: l.bind } : {}),
        ...(wildcard ? { endpointAddress: proxy.ip } : ep.host === '[::1]' ? { endpointAddress: '::1' } : {}),
        ...(terminates ? { tls: l.tls } : {}),
        ...(l.connectionPool ? { connectionPool: l.connectionPool } : {}),
      }),
    );
  }
  for (const p of proxy.inbound) if (!taken.has(p.listenPort)) out.push(p);
  return Object.freeze(out.sort((a, b) => a.listenPort - b.listenPort));
}
