// Gateways indexed for a gateway proxy: those whose `selector` matches the proxy's labels (in any namespace,
// as Istio does by default). Server hosts are parsed into their namespace part ("ns/host": which namespaces'
// VirtualServices may bind; "*" any, "." the Gateway's own) and host part.
import type { GatewaySpec, MeshResource, Server } from '../../api/mesh/types.js';
import { selects, type Labels } from './labels.js';

export interface ServerHost {
  /** "*" (any namespace) or a namespace name */
  readonly namespace: string;
  readonly host: string;
}

export interface Gateway {
  readonly name: string;
  readonly namespace: string;
  /** "ns/name", what VirtualServices name */
  readonly key: string;
  readonly selector: Labels;
  readonly servers: readonly Server[];
}

export function serverHosts(server: Server, gatewayNamespace: string): ServerHost[] {
  return server.hosts.map((h) => {
    const slash = h.indexOf('/');
    if (slash < 0) return { namespace: '*', host: h };
    const ns = h.slice(0, slash);
    return { namespace: ns === '.' ? gatewayNamespace : ns, host: h.slice(slash + 1) };
  });
}

export class GatewayIndex {
  readonly all: readonly Gateway[];

  constructor(resources: readonly MeshResource<'Gateway'>[]) {
    this.all = Object.freeze(
      resources.map((r) => {
        const spec: GatewaySpec = r.spec;
        return Object.freeze({
          name: r.metadata.name,
          namespace: r.metadata.namespace,
          key: `${r.metadata.namespace}/${r.metadata.name}`,
          selector: Object.freeze({ ...(spec.selector ?? {}) }),
          servers: Object.freeze([...(spec.servers ?? [])]),
        });
      }),
    );
  }

  /** The Gateways a gateway proxy with `labels` runs (an empty selector selects every gateway proxy). */
  forProxy(labels: Labels): Gateway[] {
    return this.all.filter((g) => selects(g.selector, labels));
  }
}
