// Stage 2: a snapshot of the mesh (stage 1, ../model) and one proxy → that proxy's Envoy v3 resources, as
// proto3 JSON with '@type' where Envoy takes an Any. One builder per xDS type, each a pure function of
// (snapshot, proxy): the xDS generator calls the one a type URL needs. Proxies that share a scope (same type,
// namespace and labels, see model/scope.ts) get equal clusters, endpoints and routes; listeners also depend on
// the proxy's own IP, bind address and inbound ports.
import { TYPE_URL } from '../../api/xds/index.js';
import type { MeshSnapshot } from '../model/snapshot.js';
import type { Proxy } from '../model/proxy.js';
import { buildClusters } from './clusters/index.js';
import type { Json } from './common.js';
import { buildEndpoints } from './endpoints/index.js';
import { buildListeners } from './listeners/index.js';
import { buildRoutes } from './routes/index.js';
import type { JwksSource } from './security/jwt.js';

export { buildClusters, buildEndpoints, buildListeners, buildRoutes };
export { outboundClusterName, inboundClusterName, listenerName, type Json } from './common.js';

export interface ProxyResources {
  clusters: Json[];
  endpoints: Json[];
  routes: Json[];
  listeners: Json[];
}

export function translate(snapshot: MeshSnapshot, proxy: Proxy): ProxyResources {
  return {
    clusters: buildClusters(snapshot, proxy),
    endpoints: buildEndpoints(snapshot, proxy),
    routes: buildRoutes(snapshot, proxy),
    listeners: buildListeners(snapshot, proxy),
  };
}

/** The builder of one xDS type URL (undefined for types stage 2 does not build, e.g. secrets). `jwks`: the key
 *  sets the control plane fetched for RequestAuthentication rules (listeners inline them; jwks/resolver.ts). */
export const BUILDERS: Readonly<Record<string, (snapshot: MeshSnapshot, proxy: Proxy, jwks?: JwksSource) => Json[]>> = {
  [TYPE_URL.CLUSTER]: buildClusters,
  [TYPE_URL.ENDPOINT]: buildEndpoints,
  [TYPE_URL.ROUTE]: buildRoutes,
  [TYPE_URL.LISTENER]: buildListeners,
};
