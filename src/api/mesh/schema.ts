// The field schema of the Istio-style resources in types.ts: every field Meshwork knows, its JSON type, and
// whether Meshwork implements it. One table serves three readers: the loader (unknown fields and wrong types
// are rejected, as Istio's CRD schemas reject them), the validator (a field or value Meshwork does not
// implement is an MW_MESH_UNSUPPORTED error, never silently ignored) and docs/istio-compat.md (its tables are
// generated from here; a test fails when they drift).
//
// types.ts is the source of truth for the shapes: each message below `satisfies Fields<TheType>`, so a field
// added to or removed from types.ts without its entry here (or the reverse) fails to compile.
import {
  MESH_KINDS,
  type AuthorizationCondition,
  type AuthorizationOperation,
  type AuthorizationPolicySpec,
  type AuthorizationRule,
  type AuthorizationSource,
  type ClaimToHeader,
  type JWTHeader,
  type JWTRule,
  type PeerAuthenticationMutualTLS,
  type PeerAuthenticationSpec,
  type PolicyTargetReference,
  type RequestAuthenticationSpec,
  type ClientTLSSettings,
  type ConnectionPoolSettings,
  type ConsistentHashLB,
  type CorsPolicy,
  type Delegate,
  type Destination,
  type DestinationRuleSpec,
  type GatewaySpec,
  type HeaderOperations,
  type Headers,
  type HTTPDirectResponse,
  type HTTPFaultInjection,
  type HTTPMatchRequest,
  type HTTPRedirect,
  type HTTPRetry,
  type HTTPRewrite,
  type HTTPRoute,
  type HTTPRouteDestination,
  type IstioEgressListener,
  type IstioIngressListener,
  type L4MatchAttributes,
  type LoadBalancerSettings,
  type LocalityLoadBalancerSetting,
  type MeshKind,
  type OutlierDetection,
  type Percent,
  type PortSelector,
  type PortTrafficPolicy,
  type RouteDestination,
  type Server,
  type ServerPort,
  type ServerTLSSettings,
  type ServiceEntrySpec,
  type ServicePort,
  type SidecarPort,
  type SidecarSpec,
  type StringMatch,
  type Subset,
  type TCPRoute,
  type TLSMatchAttributes,
  type TLSRoute,
  type TrafficPolicy,
  type VirtualServiceSpec,
  type WorkloadEntrySpec,
  type WorkloadSelector,
} from './types.js';

export type FieldType =
  | { readonly t: 'string'; readonly values?: readonly string[] }
  | { readonly t: 'int' }
  | { readonly t: 'number' }
  | { readonly t: 'bool' }
  /** a string in Go's time.ParseDuration syntax ("1s", "500ms", "1m30s"); its range is checked by validate.ts */
  | { readonly t: 'duration' }
  | { readonly t: 'list'; readonly of: FieldType }
  /** string keys (labels, header names, port names) */
  | { readonly t: 'map'; readonly of: FieldType }
  | { readonly t: 'msg'; readonly name: string };

/**
 * supported: loaded, validated with Istio's rules and in scope of the mesh translation (issue 5);
 * partial: some values are supported (`unsupportedValues` or the note says which);
 * ignored: accepted and has no effect on traffic;
 * unsupported: setting it is an MW_MESH_UNSUPPORTED error.
 */
export type FieldStatus = 'supported' | 'partial' | 'ignored' | 'unsupported';

export interface FieldSpec {
  readonly type: FieldType;
  readonly status: FieldStatus;
  readonly note?: string;
  /** values of a supported string field that Meshwork does not implement, with why */
  readonly unsupportedValues?: Readonly<Record<string, string>>;
}

export type MessageSpec = Readonly<Record<string, FieldSpec>>;

/** Exactly the fields of T (all of them, no others), each with its spec. */
type Fields<T> = { readonly [K in keyof Required<T>]: FieldSpec };

const str: FieldType = { t: 'string' };
const int: FieldType = { t: 'int' };
const num: FieldType = { t: 'number' };
const bool: FieldType = { t: 'bool' };
const dur: FieldType = { t: 'duration' };
const strs: FieldType = { t: 'list', of: str };
const strMap: FieldType = { t: 'map', of: str };
const en = (...values: string[]): FieldType => ({ t: 'string', values });
const msg = (name: string): FieldType => ({ t: 'msg', name });
const list = (name: string): FieldType => ({ t: 'list', of: msg(name) });
const map = (name: string): FieldType => ({ t: 'map', of: msg(name) });

const ok = (type: FieldType, note?: string): FieldSpec => ({ type, status: 'supported', note });
const no = (type: FieldType, note: string): FieldSpec => ({ type, status: 'unsupported', note });
const ignored = (type: FieldType, note: string): FieldSpec => ({ type, status: 'ignored', note });
const partial = (type: FieldType, note: string, unsupportedValues?: Record<string, string>): FieldSpec => ({ type, status: 'partial', note, unsupportedValues });

const TLS_VERSIONS = en('TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3');
const EXPORT_TO = partial(strs, 'only the default, `["*"]` (visible to every namespace); namespace-scoped visibility is not implemented');
const SOURCE_NAMESPACE = ok(str, 'the namespace of the proxy the request leaves from (sidecars; on a gateway, the gateway\'s)');
const NOT_ON_GATEWAYS = 'Istio rejects it: targetPort has no impact on Gateways and Sidecars';

/** Messages by name; a kind's spec is the message named after the kind. */
export const MESSAGES: Readonly<Record<string, MessageSpec>> = {
  // ---------------------------------------------------------------- Gateway
  Gateway: {
    selector: ok(strMap, 'gateway proxies whose labels include all of these get the servers'),
    servers: ok(list('Server')),
  } satisfies Fields<GatewaySpec>,
  Server: {
    port: ok(msg('ServerPort')),
    bind: no(str, 'gateway proxies listen on all addresses'),
    hosts: ok(strs, '`host`, `*.suffix`, `*`, optionally `namespace/` or `./` in front'),
    tls: ok(msg('ServerTLSSettings')),
    name: ok(str, 'a label for the server'),
    defaultEndpoint: no(str, 'not implemented for gateways'),
  } satisfies Fields<Server>,
  ServerPort: {
    number: ok(int),
    protocol: partial(str, 'HTTP, HTTPS, HTTP2, GRPC, TCP, TLS (case-insensitive)', {
      MONGO: 'MONGO has no protocol support in Meshwork',
      REDIS: 'REDIS has no protocol support in Meshwork',
      MYSQL: 'MYSQL has no protocol support in Meshwork',
      'GRPC-WEB': 'GRPC-WEB needs a grpc_web filter, which Meshwork does not have',
      UDP: 'UDP is not proxied by Meshwork',
    }),
    name: ok(str, 'required, unique within the Gateway'),
    targetPort: no(int, NOT_ON_GATEWAYS),
  } satisfies Fields<ServerPort>,
  ServerTLSSettings: {
    httpsRedirect: ok(bool),
    mode: partial(en('PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'), 'SIMPLE, MUTUAL, PASSTHROUGH', {
      AUTO_PASSTHROUGH: 'AUTO_PASSTHROUGH routes by Istio\'s SNI naming of multi-network gateways, which Meshwork does not implement',
      ISTIO_MUTUAL: 'ISTIO_MUTUAL on a Gateway server is not implemented',
      OPTIONAL_MUTUAL: 'OPTIONAL_MUTUAL is not implemented',
    }),
    serverCertificate: ok(str, 'a file path'),
    privateKey: ok(str, 'a file path'),
    caCertificates: ok(str, 'a file path'),
    credentialName: ok(str, 'gateways only: the credential `<credentials-dir>/<name>/` (tls.crt, tls.key, ca.crt; default dir `<mesh-dir>/credentials`), served over SDS as `kubernetes://<name>` and `kubernetes://<name>-cacert` and followed when its files change; wins over the file fields'),
    subjectAltNames: ok(strs),
    verifyCertificateSpki: ok(strs),
    verifyCertificateHash: ok(strs),
    minProtocolVersion: ok(TLS_VERSIONS),
    maxProtocolVersion: ok(TLS_VERSIONS),
    cipherSuites: ok(strs, 'names as OpenSSL (Node.js) spells them'),
  } satisfies Fields<ServerTLSSettings>,
  // ---------------------------------------------------------------- VirtualService
  VirtualService: {
    hosts: ok(strs, 'required unless the VirtualService is a delegate'),
    gateways: ok(strs, '`name`, `namespace/name` or `mesh`; absent means `mesh`'),
    http: ok(list('HTTPRoute')),
    tls: ok(list('TLSRoute')),
    tcp: ok(list('TCPRoute')),
    exportTo: EXPORT_TO,
  } satisfies Fields<VirtualServiceSpec>,
  HTTPRoute: {
    name: ok(str),
    match: ok(list('HTTPMatchRequest'), 'conditions ORed; fields within one condition ANDed'),
    route: ok(list('HTTPRouteDestination')),
    redirect: ok(msg('HTTPRedirect')),
    directResponse: ok(msg('HTTPDirectResponse')),
    delegate: ok(msg('Delegate'), 'the delegate\'s routes are merged under this route\'s match, as Istio merges them'),
    rewrite: ok(msg('HTTPRewrite')),
    timeout: ok(dur, '`0s` or absent: no timeout'),
    retries: ok(msg('HTTPRetry'), 'absent: Istio\'s default policy (2 attempts on connect-failure, refused-stream, unavailable, cancelled, retriable-status-codes 503)'),
    fault: ok(msg('HTTPFaultInjection')),
    mirror: ok(msg('Destination')),
    mirrorPercentage: ok(msg('Percent')),
    mirrors: ok(list('HTTPMirrorPolicy')),
    corsPolicy: ok(msg('CorsPolicy'), 'the cors filter\'s per-route policy'),
    headers: ok(msg('Headers')),
  } satisfies Fields<HTTPRoute>,
  HTTPMatchRequest: {
    name: ok(str),
    uri: ok(msg('StringMatch')),
    scheme: ok(msg('StringMatch')),
    method: ok(msg('StringMatch')),
    authority: ok(msg('StringMatch')),
    headers: ok(map('StringMatch'), 'an empty match `{}` means "present"'),
    port: ok(int),
    sourceLabels: ok(strMap),
    gateways: ok(strs),
    queryParams: ok(map('StringMatch')),
    ignoreUriCase: ok(bool),
    withoutHeaders: ok(map('StringMatch')),
    sourceNamespace: SOURCE_NAMESPACE,
    statPrefix: ignored(str, 'route stats are not named per match'),
  } satisfies Fields<HTTPMatchRequest>,
  StringMatch: {
    exact: ok(str),
    prefix: ok(str),
    regex: ok(str, 'RE2 syntax, full match; what Meshwork\'s RE2 translation cannot express is rejected'),
  } satisfies Fields<StringMatch>,
  Destination: {
    host: ok(str),
    subset: ok(str, 'a subset of a DestinationRule for the host'),
    port: ok(msg('PortSelector')),
  } satisfies Fields<Destination>,
  PortSelector: { number: ok(int) } satisfies Fields<PortSelector>,
  HTTPRouteDestination: {
    destination: ok(msg('Destination')),
    weight: ok(int, 'Meshwork requires weights to total 100 when a route has more than one destination'),
    headers: ok(msg('Headers')),
  } satisfies Fields<HTTPRouteDestination>,
  RouteDestination: {
    destination: ok(msg('Destination')),
    weight: ok(int, 'as HTTPRouteDestination.weight'),
  } satisfies Fields<RouteDestination>,
  HTTPRedirect: {
    uri: ok(str),
    authority: ok(str),
    port: ok(int),
    derivePort: ok(en('FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT')),
    scheme: ok(str),
    redirectCode: ok(int, '301 (default), 302, 303, 307, 308'),
  } satisfies Fields<HTTPRedirect>,
  HTTPDirectResponse: {
    status: ok(int),
    body: ok(msg('HTTPBody')),
  } satisfies Fields<HTTPDirectResponse>,
  HTTPBody: {
    string: ok(str),
    bytes: ok(str, 'base64'),
  } satisfies Fields<NonNullable<HTTPDirectResponse['body']>>,
  Delegate: {
    name: ok(str),
    namespace: ok(str),
  } satisfies Fields<Delegate>,
  HTTPRewrite: {
    uri: ok(str),
    authority: ok(str),
    uriRegexRewrite: ok(msg('RegexRewrite')),
  } satisfies Fields<HTTPRewrite>,
  RegexRewrite: {
    match: ok(str, 'RE2'),
    rewrite: ok(str, '`\\1`-style group references'),
  } satisfies Fields<NonNullable<HTTPRewrite['uriRegexRewrite']>>,
  HTTPRetry: {
    attempts: ok(int),
    perTryTimeout: ok(dur),
    retryOn: partial(str, 'Envoy retry_on conditions and HTTP status codes, comma-separated; not `http3-post-connect-failure`'),
    retryRemoteLocalities: ok(bool, 'retry_priority `envoy.retry_priorities.previous_priorities` (update_frequency 2), as Istio'),
  } satisfies Fields<HTTPRetry>,
  HTTPFaultInjection: {
    delay: ok(msg('Delay')),
    abort: ok(msg('Abort')),
  } satisfies Fields<HTTPFaultInjection>,
  Delay: {
    fixedDelay: ok(dur),
    percentage: ok(msg('Percent')),
    percent: ok(int, 'deprecated (an integer percent): use percentage'),
  } satisfies Fields<NonNullable<HTTPFaultInjection['delay']>>,
  Abort: {
    httpStatus: ok(int),
    grpcStatus: ok(str, 'a gRPC status name such as UNAVAILABLE'),
    http2Error: no(str, 'Istio rejects it too ("not supported yet")'),
    percentage: ok(msg('Percent')),
  } satisfies Fields<NonNullable<HTTPFaultInjection['abort']>>,
  Percent: { value: ok(num) } satisfies Fields<Percent>,
  HTTPMirrorPolicy: {
    destination: ok(msg('Destination')),
    percentage: ok(msg('Percent')),
  } satisfies Fields<NonNullable<HTTPRoute['mirrors']>[number]>,
  CorsPolicy: {
    allowOrigins: ok({ t: 'list', of: msg('StringMatch') }),
    allowOrigin: ok(strs, 'deprecated: use allowOrigins'),
    allowMethods: ok(strs),
    allowHeaders: ok(strs),
    exposeHeaders: ok(strs),
    maxAge: ok(dur),
    allowCredentials: ok(bool),
    unmatchedPreflights: ok(en('UNSPECIFIED', 'FORWARD', 'IGNORE'), 'FORWARD (the default) sends a preflight from another origin upstream; IGNORE answers it without CORS headers'),
  } satisfies Fields<CorsPolicy>,
  Headers: {
    request: ok(msg('HeaderOperations')),
    response: ok(msg('HeaderOperations')),
  } satisfies Fields<Headers>,
  HeaderOperations: {
    set: ok(strMap),
    add: ok(strMap),
    remove: ok(strs),
  } satisfies Fields<HeaderOperations>,
  L4MatchAttributes: {
    destinationSubnets: ok(strs),
    port: ok(int),
    sourceLabels: ok(strMap),
    gateways: ok(strs),
    sourceNamespace: SOURCE_NAMESPACE,
  } satisfies Fields<L4MatchAttributes>,
  TLSMatchAttributes: {
    sniHosts: ok(strs, 'required'),
    destinationSubnets: ok(strs),
    port: ok(int),
    sourceLabels: ok(strMap),
    gateways: ok(strs),
    sourceNamespace: SOURCE_NAMESPACE,
  } satisfies Fields<TLSMatchAttributes>,
  TLSRoute: {
    match: ok(list('TLSMatchAttributes')),
    route: ok(list('RouteDestination')),
  } satisfies Fields<TLSRoute>,
  TCPRoute: {
    match: ok(list('L4MatchAttributes')),
    route: ok(list('RouteDestination')),
  } satisfies Fields<TCPRoute>,
  // ---------------------------------------------------------------- DestinationRule
  DestinationRule: {
    host: ok(str),
    trafficPolicy: ok(msg('TrafficPolicy')),
    subsets: ok(list('Subset')),
    exportTo: EXPORT_TO,
    workloadSelector: ok(msg('TypeWorkloadSelector'), "applies only to the proxies of the rule's namespace whose labels match, before the namespace's rule without selector for the same host, as in Istio"),
  } satisfies Fields<DestinationRuleSpec>,
  TypeWorkloadSelector: { matchLabels: ok(strMap) } satisfies Fields<Pick<WorkloadSelector, 'matchLabels'>>,
  Subset: {
    name: ok(str),
    labels: ok(strMap),
    trafficPolicy: ok(msg('TrafficPolicy'), 'overrides the rule\'s trafficPolicy for this subset'),
  } satisfies Fields<Subset>,
  TrafficPolicy: {
    loadBalancer: ok(msg('LoadBalancerSettings')),
    connectionPool: ok(msg('ConnectionPoolSettings')),
    outlierDetection: ok(msg('OutlierDetection')),
    tls: ok(msg('ClientTLSSettings')),
    portLevelSettings: ok(list('PortTrafficPolicy')),
  } satisfies Fields<TrafficPolicy>,
  PortTrafficPolicy: {
    port: ok(msg('PortSelector'), 'required'),
    loadBalancer: ok(msg('LoadBalancerSettings')),
    connectionPool: ok(msg('ConnectionPoolSettings')),
    outlierDetection: ok(msg('OutlierDetection')),
    tls: ok(msg('ClientTLSSettings')),
  } satisfies Fields<PortTrafficPolicy>,
  LoadBalancerSettings: {
    simple: partial(en('UNSPECIFIED', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST', 'LEAST_CONN'), 'LEAST_CONN is LEAST_REQUEST, as in Istio', {
      PASSTHROUGH: 'PASSTHROUGH (forward to the original destination address) is not implemented',
    }),
    consistentHash: ok(msg('ConsistentHashLB')),
    localityLbSetting: ok(msg('LocalityLoadBalancerSetting'), 'relative to the locality of each proxy (`meshwork proxy --locality`); enabled by default, failover only with outlierDetection, as Istio'),
    warmupDurationSecs: ok(dur, "Envoy's slow start (`slow_start_config.slow_start_window`; aggression 1, minimum weight 10 %) on ROUND_ROBIN and LEAST_REQUEST (the default): an endpoint's share ramps up over this time after it joins; no effect with RANDOM or consistentHash, as in Istio"),
  } satisfies Fields<LoadBalancerSettings>,
  ConsistentHashLB: {
    httpHeaderName: ok(str),
    httpCookie: ok(msg('HTTPCookie')),
    useSourceIp: ok(bool),
    httpQueryParameterName: ok(str),
    ringHash: ok(msg('RingHash')),
    maglev: ok(msg('MagLev')),
    minimumRingSize: ok(int, 'deprecated: use ringHash.minimumRingSize'),
  } satisfies Fields<ConsistentHashLB>,
  HTTPCookie: {
    name: ok(str),
    path: ok(str),
    ttl: ok(dur),
  } satisfies Fields<NonNullable<ConsistentHashLB['httpCookie']>>,
  RingHash: { minimumRingSize: ok(int) } satisfies Fields<NonNullable<ConsistentHashLB['ringHash']>>,
  MagLev: { tableSize: ok(int, 'a prime number below 5000011') } satisfies Fields<NonNullable<ConsistentHashLB['maglev']>>,
  LocalityLoadBalancerSetting: {
    distribute: ok(list('LocalityDistribute')),
    failover: ok(list('LocalityFailover')),
    failoverPriority: ok(strs, '`label` or `label=value`; the topology labels of a locality (`topology.kubernetes.io/region`, `.../zone`, `topology.istio.io/subzone`) are implied'),
    enabled: ok(bool),
  } satisfies Fields<LocalityLoadBalancerSetting>,
  LocalityDistribute: {
    from: ok(str),
    to: ok({ t: 'map', of: int }),
  } satisfies Fields<NonNullable<LocalityLoadBalancerSetting['distribute']>[number]>,
  LocalityFailover: {
    from: ok(str),
    to: ok(str),
  } satisfies Fields<NonNullable<LocalityLoadBalancerSetting['failover']>[number]>,
  ConnectionPoolSettings: {
    tcp: ok(msg('TCPSettings')),
    http: ok(msg('HTTPSettings')),
  } satisfies Fields<ConnectionPoolSettings>,
  TCPSettings: {
    maxConnections: ok(int),
    connectTimeout: ok(dur),
    tcpKeepalive: partial(msg('TcpKeepalive'), '`upstream_connection_options.tcp_keepalive`: SO_KEEPALIVE on the upstream connections of HTTP clusters, with `time`; see probes and interval'),
    maxConnectionDuration: ok(dur),
    idleTimeout: ok(dur),
  } satisfies Fields<NonNullable<ConnectionPoolSettings['tcp']>>,
  TcpKeepalive: {
    probes: partial(int, 'passed to Envoy as keepalive_probes; the Meshwork proxy cannot set TCP_KEEPCNT (Node has no API for it): the kernel default applies'),
    time: ok(dur, 'whole seconds of idleness before the first probe'),
    interval: partial(dur, 'passed to Envoy as keepalive_interval; the Meshwork proxy cannot set TCP_KEEPINTVL (Node has no API for it): the kernel default applies'),
  } satisfies Fields<NonNullable<NonNullable<ConnectionPoolSettings['tcp']>['tcpKeepalive']>>,
  HTTPSettings: {
    http1MaxPendingRequests: ok(int),
    http2MaxRequests: ok(int),
    maxRequestsPerConnection: ok(int, '`common_http_protocol_options.max_requests_per_connection`: a connection that carried this many requests is closed (HTTP/2: takes no new stream, closes when its streams finish); 1 disables keep-alive'),
    maxRetries: ok(int),
    idleTimeout: ok(dur),
    h2UpgradePolicy: ok(en('DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE')),
    useClientProtocol: ok(bool),
    maxConcurrentStreams: ok(int),
  } satisfies Fields<NonNullable<ConnectionPoolSettings['http']>>,
  OutlierDetection: {
    consecutiveErrors: ok(int, 'deprecated: use consecutive5xxErrors'),
    consecutive5xxErrors: ok(int),
    consecutiveGatewayErrors: ok(int),
    consecutiveLocalOriginFailures: ok(int),
    splitExternalLocalOriginErrors: ok(bool),
    interval: ok(dur),
    baseEjectionTime: ok(dur),
    maxEjectionPercent: ok(int),
    minHealthPercent: ok(int),
  } satisfies Fields<OutlierDetection>,
  ClientTLSSettings: {
    mode: ok(en('DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'), 'ISTIO_MUTUAL: the workload certificate from the mesh CA, and the server\'s SPIFFE identity checked (control plane with --data-dir); absent: auto mTLS'),
    clientCertificate: ok(str, 'a file path'),
    privateKey: ok(str, 'a file path'),
    caCertificates: ok(str, 'a file path'),
    credentialName: ok(str, 'gateways only (as in Istio before 1.20; sidecars use the file fields): the credential `<credentials-dir>/<name>/` over SDS, `kubernetes://<name>` (MUTUAL: tls.crt, tls.key) and `kubernetes://<name>-cacert` (the `<name>-cacert` credential\'s ca.crt, else its own); wins over the file fields'),
    subjectAltNames: ok(strs),
    sni: ok(str),
    insecureSkipVerify: ok(bool),
  } satisfies Fields<ClientTLSSettings>,
  // ---------------------------------------------------------------- ServiceEntry / WorkloadEntry
  ServiceEntry: {
    hosts: ok(strs),
    addresses: ok(strs, 'IPs or CIDRs'),
    ports: ok(list('ServicePort')),
    location: ok(en('MESH_EXTERNAL', 'MESH_INTERNAL')),
    resolution: ok(en('NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN'), 'default NONE'),
    endpoints: ok(list('WorkloadEntry')),
    workloadSelector: ok(msg('WorkloadSelector')),
    exportTo: partial(strs, 'only the default, `["*"]`'),
    subjectAltNames: ok(strs),
  } satisfies Fields<ServiceEntrySpec>,
  ServicePort: {
    number: ok(int),
    protocol: partial(str, 'HTTP, HTTPS, HTTP2, GRPC, TCP, TLS; absent: from the port name prefix, else TCP', {
      MONGO: 'MONGO has no protocol support in Meshwork',
      REDIS: 'REDIS has no protocol support in Meshwork',
      MYSQL: 'MYSQL has no protocol support in Meshwork',
      'GRPC-WEB': 'GRPC-WEB needs a grpc_web filter, which Meshwork does not have',
      UDP: 'UDP is not proxied by Meshwork',
    }),
    name: ok(str),
    targetPort: ok(int),
  } satisfies Fields<ServicePort>,
  WorkloadEntry: {
    address: ok(str, 'an IP, or a DNS name for DNS resolution; `unix://` paths are not supported'),
    ports: ok({ t: 'map', of: int }, 'service port name → port the workload listens on'),
    labels: ok(strMap),
    network: ignored(str, 'Meshwork runs one network'),
    locality: ok(str, '`region/zone/subzone`'),
    weight: ok(int),
    serviceAccount: ok(str),
  } satisfies Fields<WorkloadEntrySpec>,
  WorkloadSelector: { labels: ok(strMap) } satisfies Fields<Pick<WorkloadSelector, 'labels'>>,
  // ---------------------------------------------------------------- Sidecar
  Sidecar: {
    workloadSelector: ok(msg('WorkloadSelector'), 'absent: every proxy of the namespace'),
    ingress: ok(list('IstioIngressListener'), 'each replaces the inbound listener of its port; --port flags whose listen port no ingress listener takes keep theirs'),
    egress: ok(list('IstioEgressListener'), 'a listener with `port` admits its hosts on that port only; the one without, on every other port'),
    outboundTrafficPolicy: ok(msg('OutboundTrafficPolicy')),
  } satisfies Fields<SidecarSpec>,
  OutboundTrafficPolicy: {
    mode: ok(en('REGISTRY_ONLY', 'ALLOW_ANY'), "ALLOW_ANY (Istio's default) passes unknown destinations through the sidecar's HTTP proxy listener (absolute-form HTTP and CONNECT; PassthroughCluster is a dynamic forward proxy): without traffic capture, calls to its outbound ports cannot reach unknown hosts. REGISTRY_ONLY: 502 there and in the per-port routes"),
    egressProxy: ok(msg('Destination'), "with ALLOW_ANY: the HTTP proxy listener's catch-all (absolute-form HTTP and CONNECT to unknown hosts) goes to this service's cluster instead of PassthroughCluster; host and port required, and the host must be a service the sidecar sees. No TCP side: without traffic capture there is no catch-all TCP listener"),
  } satisfies Fields<NonNullable<SidecarSpec['outboundTrafficPolicy']>>,
  SidecarPort: {
    number: ok(int),
    protocol: ok(str),
    name: ok(str),
    targetPort: no(int, NOT_ON_GATEWAYS),
  } satisfies Fields<SidecarPort>,
  IstioIngressListener: {
    port: ok(msg('SidecarPort')),
    bind: ok(str),
    captureMode: partial(en('DEFAULT', 'IPTABLES', 'NONE'), 'DEFAULT and NONE: Meshwork never captures traffic with iptables', { IPTABLES: 'Meshwork does not capture traffic with iptables' }),
    defaultEndpoint: ok(str, '`127.0.0.1:PORT` or `0.0.0.0:PORT`'),
    tls: ok(msg('ServerTLSSettings'), '`SIMPLE` or `MUTUAL` with certificate files, terminated by the sidecar'),
    connectionPool: ok(msg('ConnectionPoolSettings'), 'applies to the inbound cluster'),
  } satisfies Fields<IstioIngressListener>,
  IstioEgressListener: {
    port: ok(msg('SidecarPort'), 'the port of the listener; its protocol comes from the services\' ports'),
    bind: ok(str, 'the listener\'s address (default: the sidecar\'s --outbound-bind)'),
    captureMode: partial(en('DEFAULT', 'IPTABLES', 'NONE'), 'DEFAULT and NONE', { IPTABLES: 'Meshwork does not capture traffic with iptables' }),
    hosts: ok(strs, '`namespace/host`: `*/`, `./` and `~/` as in Istio'),
  } satisfies Fields<IstioEgressListener>,
  // ---------------------------------------------------------------- security.istio.io
  // Loaded, validated with Istio's rules and modelled (control-plane/model: peer-authentication.ts,
  // authorization.ts, request-authentication.ts). What enforces them: PeerAuthentication the inbound listener
  // translation; RequestAuthentication the jwt_authn translation (translate/security/jwt.ts); AuthorizationPolicy
  // the RBAC translation (translate/security/authz.ts; the CUSTOM action waits for an ext_authz translation).
  PeerAuthentication: {
    selector: ok(msg('TypeWorkloadSelector'), 'absent or empty: every workload of the namespace (of the mesh in `istio-system`); one such policy per namespace, the first by name (Istio: the oldest)'),
    mtls: ok(msg('PeerAuthenticationMutualTLS')),
    portLevelMtls: ok(map('PeerAuthenticationMutualTLS'), 'keys are workload (container) ports: matched against the sidecar\'s application ports (`--port` targetPort); only with a selector'),
  } satisfies Fields<PeerAuthenticationSpec>,
  PeerAuthenticationMutualTLS: {
    mode: ok(en('UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'), 'UNSET inherits from the parent level (port < workload < namespace < mesh); PERMISSIVE when nothing sets it'),
  } satisfies Fields<PeerAuthenticationMutualTLS>,
  PolicyTargetReference: {
    group: ok(str),
    kind: ok(str),
    name: ok(str),
    namespace: ok(str),
  } satisfies Fields<PolicyTargetReference>,
  AuthorizationPolicy: {
    selector: ok(msg('TypeWorkloadSelector'), 'absent: every workload of the namespace (of the mesh in `istio-system`); sidecars and gateways alike'),
    targetRef: no(msg('PolicyTargetReference'), 'targets Kubernetes Gateway API or Service resources, which Meshwork does not have: use selector'),
    targetRefs: no(list('PolicyTargetReference'), 'targets Kubernetes Gateway API or Service resources, which Meshwork does not have: use selector'),
    rules: ok(list('AuthorizationRule'), 'one Envoy RBAC policy per rule, `ns[NS]-policy[NAME]-rule[I]`; no rules: the policy matches nothing (an ALLOW without rules allows nothing)'),
    action: ok(en('ALLOW', 'DENY', 'AUDIT', 'CUSTOM'), 'enforced on inbound and gateway listeners in Istio\'s order: CUSTOM (ext_authz, only for the requests its rules match), DENY, then ALLOW (no ALLOW policy: allowed); AUDIT marks requests for the access log (RBAC LOG)'),
    provider: ok(msg('ExtensionProvider'), 'CUSTOM: an extensionProviders entry of the mesh config (--mesh-config), envoyExtAuthzHttp or envoyExtAuthzGrpc; one provider per workload; an unknown one denies what the rules match'),
  } satisfies Fields<AuthorizationPolicySpec>,
  ExtensionProvider: { name: ok(str) } satisfies Fields<NonNullable<AuthorizationPolicySpec['provider']>>,
  AuthorizationRule: {
    from: ok(list('RuleFrom'), 'ORed'),
    to: ok(list('RuleTo'), 'ORed'),
    when: ok(list('Condition'), 'ANDed'),
  } satisfies Fields<AuthorizationRule>,
  RuleFrom: { source: ok(msg('Source')) } satisfies Fields<NonNullable<AuthorizationRule['from']>[number]>,
  RuleTo: { operation: ok(msg('Operation')) } satisfies Fields<NonNullable<AuthorizationRule['to']>[number]>,
  Source: {
    principals: ok(strs, 'the client certificate\'s URI SAN `spiffe://` + value (`cluster.local/ns/NS/sa/SA`): needs mTLS between sidecars; plaintext has no principal'),
    notPrincipals: ok(strs, 'as principals'),
    requestPrincipals: ok(strs, '`iss/sub` of a JWT a RequestAuthentication of the workload validated (split at the last `/`); HTTP only'),
    notRequestPrincipals: ok(strs, 'as requestPrincipals'),
    namespaces: ok(strs, 'from the client certificate (`.*/ns/NS/.*`): needs mTLS'),
    notNamespaces: ok(strs, 'as namespaces'),
    serviceAccounts: ok(strs, '`namespace/name`, from the client certificate: needs mTLS'),
    notServiceAccounts: ok(strs, 'as serviceAccounts'),
    ipBlocks: ok(strs, 'IPs or CIDRs of the connection\'s source'),
    notIpBlocks: ok(strs),
    remoteIpBlocks: ok(strs, 'IPs or CIDRs of the original client (X-Forwarded-For, on gateways)'),
    notRemoteIpBlocks: ok(strs),
  } satisfies Fields<AuthorizationSource>,
  Operation: {
    hosts: ok(strs, 'the Host (:authority) as sent, case-insensitive: `a.com` does not match `a.com:8080`, list both as in Istio; HTTP only'),
    notHosts: ok(strs),
    ports: ok(strs, 'workload (application) ports, as in Istio: on a sidecar the `--port` app port, on a gateway its server port'),
    notPorts: ok(strs),
    methods: ok(strs, 'HTTP only; gRPC is always POST'),
    notMethods: ok(strs),
    paths: ok(strs, 'exact, `prefix*`, `*suffix`, `*`, or a `{*}`/`{**}` path template; HTTP only'),
    notPaths: ok(strs),
  } satisfies Fields<AuthorizationOperation>,
  Condition: {
    key: ok(str, "one of Istio's attributes: `request.headers[...]`, `source.ip`, `remote.ip`, `source.namespace`, `source.principal`, `request.auth.principal`, `request.auth.audiences`, `request.auth.presenter`, `request.auth.claims[...]`, `destination.ip`, `destination.port`, `connection.sni`, `experimental.envoy.filters.*`"),
    values: ok(strs),
    notValues: ok(strs),
  } satisfies Fields<AuthorizationCondition>,
  RequestAuthentication: {
    selector: ok(msg('TypeWorkloadSelector'), 'absent: every workload of the namespace (of the mesh in `istio-system`)'),
    targetRef: no(msg('PolicyTargetReference'), 'targets Kubernetes Gateway API or Service resources, which Meshwork does not have: use selector'),
    targetRefs: no(list('PolicyTargetReference'), 'targets Kubernetes Gateway API or Service resources, which Meshwork does not have: use selector'),
    jwtRules: ok(list('JWTRule'), 'one jwt_authn provider per rule in the inbound (sidecar) and gateway connection managers: an invalid token is refused (401), a missing one passes'),
  } satisfies Fields<RequestAuthenticationSpec>,
  JWTRule: {
    issuer: ok(str, 'required unless jwksUri is set'),
    audiences: ok(strs, 'absent: the audience is not checked (what Istio\'s generated config does)'),
    jwksUri: ok(str, 'http or https; fetched by the control plane and inlined (Istio\'s default), refreshed every `PILOT_JWT_PUB_KEY_REFRESH_INTERVAL` (20m); ignored when jwks is set'),
    jwks: ok(str, 'an inline JSON Web Key Set'),
    fromHeaders: ok(list('JWTHeader'), 'default: `Authorization: Bearer`, then the `access_token` query parameter'),
    fromParams: ok(strs),
    fromCookies: ok(strs),
    outputPayloadToHeader: ok(str),
    forwardOriginalToken: ok(bool),
    outputClaimToHeaders: ok(list('ClaimToHeader')),
    timeout: ok(dur, 'of the control plane\'s JWKS fetch (default 5s)'),
  } satisfies Fields<JWTRule>,
  JWTHeader: {
    name: ok(str),
    prefix: ok(str, 'e.g. `"Bearer "`'),
  } satisfies Fields<JWTHeader>,
  ClaimToHeader: {
    header: ok(str),
    claim: ok(str, 'nested claims with `.`'),
  } satisfies Fields<ClaimToHeader>,
};

/** The spec message of a kind. */
export function specMessage(kind: MeshKind): string {
  return kind;
}

/** Every (message, field) in MESH_KINDS' reach, in a stable order: what the compatibility doc lists. */
export function reachableMessages(): string[] {
  const seen: string[] = [];
  const visit = (name: string) => {
    if (seen.includes(name)) return;
    seen.push(name);
    for (const f of Object.values(MESSAGES[name] ?? {})) {
      let t = f.type;
      while (t.t === 'list' || t.t === 'map') t = t.of;
      if (t.t === 'msg') visit(t.name);
    }
  };
  for (const k of MESH_KINDS) visit(specMessage(k));
  return seen;
}

const STATUS_TEXT: Record<FieldStatus, string> = {
  supported: 'supported',
  partial: 'partial',
  ignored: 'ignored',
  unsupported: 'not yet',
};

function typeText(t: FieldType): string {
  switch (t.t) {
    case 'string':
      return t.values ? t.values.map((v) => `\`${v}\``).join(' \\| ') : 'string';
    case 'int':
      return 'integer';
    case 'number':
      return 'number';
    case 'bool':
      return 'bool';
    case 'duration':
      return 'duration';
    case 'list':
      return `list of ${typeText(t.of)}`;
    case 'map':
      return `map of ${typeText(t.of)}`;
    case 'msg':
      return `[${t.name}](#${t.name.toLowerCase()})`;
  }
}

/**
 * The field tables of docs/istio-compat.md, one section per kind, each message listed once (under the first
 * kind that reaches it). schema.test.ts checks the doc contains exactly this.
 */
export function compatTables(): string {
  const listed = new Set<string>();
  const out: string[] = [];
  for (const kind of MESH_KINDS) {
    out.push(`### ${kind}`, '');
    const order: string[] = [];
    const visit = (name: string) => {
      if (listed.has(name) || order.includes(name)) return;
      order.push(name);
      for (const f of Object.values(MESSAGES[name]!)) {
        let t = f.type;
        while (t.t === 'list' || t.t === 'map') t = t.of;
        if (t.t === 'msg') visit(t.name);
      }
    };
    visit(specMessage(kind));
    for (const name of order) {
      listed.add(name);
      out.push(`#### ${name}`, '', '| Field | Type | Status | Notes |', '| --- | --- | --- | --- |');
      for (const [field, f] of Object.entries(MESSAGES[name]!)) {
        const values = f.unsupportedValues ? `Not yet: ${Object.keys(f.unsupportedValues).map((v) => `\`${v}\``).join(', ')}.` : '';
        const note = [f.note, values].filter(Boolean).join('. ').replace(/\|/g, '\\|');
        out.push(`| \`${field}\` | ${typeText(f.type)} | ${STATUS_TEXT[f.status]} | ${note} |`);
      }
      out.push('');
    }
  }
  return out.join('\n');
}
