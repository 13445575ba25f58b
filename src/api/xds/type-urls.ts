// The five xDS resource types Meshwork serves and consumes, by type URL. A type URL is
// `type.googleapis.com/<message full name>`; Envoy only ever looks at the part after the last '/'.

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

export const TYPE_URL = {
  LISTENER: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  ROUTE: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  CLUSTER: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ENDPOINT: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  SECRET: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

export type XdsTypeUrl = (typeof TYPE_URL)[keyof typeof TYPE_URL];

/** The order a server pushes in ("make before break"): clusters before their endpoints, listeners before
 *  their routes, secrets last. */
export const PUSH_ORDER: readonly XdsTypeUrl[] = [TYPE_URL.CLUSTER, TYPE_URL.ENDPOINT, TYPE_URL.LISTENER, TYPE_URL.ROUTE, TYPE_URL.SECRET];

/** Envoy's short names (stats prefixes, debug output). */
export const TYPE_SHORT_NAME: Readonly<Record<XdsTypeUrl, 'lds' | 'rds' | 'cds' | 'eds' | 'sds'>> = {
  [TYPE_URL.LISTENER]: 'lds',
  [TYPE_URL.ROUTE]: 'rds',
  [TYPE_URL.CLUSTER]: 'cds',
  [TYPE_URL.ENDPOINT]: 'eds',
  [TYPE_URL.SECRET]: 'sds',
};

/** LDS and CDS are wildcard types: an empty first subscription (or '*') means "everything you have". */
export const WILDCARD_TYPES: ReadonlySet<string> = new Set<string>([TYPE_URL.LISTENER, TYPE_URL.CLUSTER]);

const KNOWN = new Set<string>(Object.values(TYPE_URL));

export function isXdsTypeUrl(url: string): url is XdsTypeUrl {
  return KNOWN.has(url);
}

/** The message full name a type URL names (`envoy.config.listener.v3.Listener`); a bare name is returned as is. */
export function messageName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

export function typeUrlOf(messageFullName: string): string {
  return TYPE_URL_PREFIX + messageFullName;
}

/** The name of a resource in proto3 JSON: `name`, or `cluster_name` for a ClusterLoadAssignment. */
export function resourceName(typeUrl: string, json: Record<string, unknown>): string {
  const key = messageName(typeUrl) === 'envoy.config.endpoint.v3.ClusterLoadAssignment' ? 'cluster_name' : 'name';
  const v = json[key] ?? json[key === 'name' ? 'name' : 'clusterName'];
  return typeof v === 'string' ? v : '';
}
