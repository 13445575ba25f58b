// The Istio-style resources users write (networking.istio.io v1 / v1beta1 / v1alpha3, security.istio.io v1 /
// v1beta1), as TypeScript types of
// their YAML/JSON form: field names exactly as Istio spells them (camelCase), so an Istio user's files load
// unchanged. This is stage 0 of the control plane's translation: user config, before any defaulting or
// resolution. Stage 1 (control-plane/model) turns these into services, endpoints and indexed rules; stage 2
// (control-plane/translate) builds Envoy resources per proxy.
//
// Only shapes live here. What a field means, its defaults and its validation rules are in validate.ts and the
// model; docs/istio-compat.md lists which fields are supported.

/** The API groups and versions accepted; all versions of a kind share one spec shape, as in Istio. */
export const NETWORKING_GROUP = 'networking.istio.io';
export const NETWORKING_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'] as const;
export const SECURITY_GROUP = 'security.istio.io';
export const SECURITY_VERSIONS = ['v1', 'v1beta1'] as const;

export type NetworkingKind = 'Gateway' | 'VirtualService' | 'DestinationRule' | 'ServiceEntry' | 'WorkloadEntry' | 'Sidecar';
export type SecurityKind = 'PeerAuthentication' | 'AuthorizationPolicy' | 'RequestAuthentication';
export type MeshKind = NetworkingKind | SecurityKind;
export const NETWORKING_KINDS: readonly NetworkingKind[] = ['Gateway', 'VirtualService', 'DestinationRule', 'ServiceEntry', 'WorkloadEntry', 'Sidecar'];
export const SECURITY_KINDS: readonly SecurityKind[] = ['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication'];
export const MESH_KINDS: readonly MeshKind[] = [...NETWORKING_KINDS, ...SECURITY_KINDS];

/** The API group a kind belongs to, and the versions of it accepted. */
export function apiGroupOf(kind: MeshKind): { group: string; versions: readonly string[] } {
  return (SECURITY_KINDS as readonly string[]).includes(kind) ? { group: SECURITY_GROUP, versions: SECURITY_VERSIONS } : { group: NETWORKING_GROUP, versions: NETWORKING_VERSIONS };
}

export interface ObjectMeta {
  name: string;
  /** default: "default" (as kubectl apply without -n) */
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** One loaded resource: what the config store hands to stage 1. */
export interface MeshResource<K extends MeshKind = MeshKind> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta & { namespace: string };
  spec: SpecOf<K>;
  /** where it was read: "file:line:column" (the document's start) */
  location?: string;
  /** locate a field by its path in the resource, e.g. "spec.http[0].route[1].weight" → "file:line:column" */
  locate?: (path: string) => string | undefined;
}

export type SpecOf<K extends MeshKind> = K extends 'Gateway'
  ? GatewaySpec
  : K extends 'VirtualService'
    ? VirtualServiceSpec
    : K extends 'DestinationRule'
      ? DestinationRuleSpec
      : K extends 'ServiceEntry'
        ? ServiceEntrySpec
        : K extends 'WorkloadEntry'
          ? WorkloadEntrySpec
          : K extends 'Sidecar'
            ? SidecarSpec
            : K extends 'PeerAuthentication'
              ? PeerAuthenticationSpec
              : K extends 'AuthorizationPolicy'
                ? AuthorizationPolicySpec
                : RequestAuthenticationSpec;

// ------------------------------------------------------------------ shared
/** Duration as Istio writes it: "1s", "500ms", "1.5s", "1m", "1h" (protobuf Duration JSON also takes "0.5s"). */
export type DurationString = string;

export interface Percent {
  value: number;
}

export interface PortSelector {
  number: number;
}

export interface StringMatch {
  exact?: string;
  prefix?: string;
  /** RE2 syntax, full match */
  regex?: string;
}

export interface WorkloadSelector {
  /** Sidecar and ServiceEntry (networking.v1alpha3.WorkloadSelector) */
  labels?: Record<string, string>;
  /** DestinationRule's workloadSelector is istio.type.v1beta1.WorkloadSelector, which spells it matchLabels */
  matchLabels?: Record<string, string>;
}

// ------------------------------------------------------------------ Gateway
export interface GatewaySpec {
  selector?: Record<string, string>;
  servers?: Server[];
}

export interface Server {
  port: ServerPort;
  bind?: string;
  /** "host", "*.suffix", "*", optionally "namespace/host" ("./host": the Gateway's namespace) */
  hosts: string[];
  tls?: ServerTLSSettings;
  name?: string;
  defaultEndpoint?: string;
}

export type ServerProtocol = 'HTTP' | 'HTTPS' | 'GRPC' | 'GRPC-WEB' | 'HTTP2' | 'MONGO' | 'TCP' | 'TLS';

export interface ServerPort {
  number: number;
  protocol: ServerProtocol | string;
  name?: string;
  targetPort?: number;
}

export type ServerTLSMode = 'PASSTHROUGH' | 'SIMPLE' | 'MUTUAL' | 'AUTO_PASSTHROUGH' | 'ISTIO_MUTUAL' | 'OPTIONAL_MUTUAL';

export interface ServerTLSSettings {
  httpsRedirect?: boolean;
  mode?: ServerTLSMode;
  /** file paths (Meshwork reads credentials from files) */
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  credentialName?: string;
  subjectAltNames?: string[];
  verifyCertificateSpki?: string[];
  verifyCertificateHash?: string[];
  minProtocolVersion?: 'TLS_AUTO' | 'TLSV1_0' | 'TLSV1_1' | 'TLSV1_2' | 'TLSV1_3';
  maxProtocolVersion?: 'TLS_AUTO' | 'TLSV1_0' | 'TLSV1_1' | 'TLSV1_2' | 'TLSV1_3';
  cipherSuites?: string[];
}

// ------------------------------------------------------------------ VirtualService
export interface VirtualServiceSpec {
  hosts?: string[];
  /** gateway names ("ns/name" or "name": same namespace), or "mesh" for sidecars; absent = ["mesh"] */
  gateways?: string[];
  http?: HTTPRoute[];
  tls?: TLSRoute[];
  tcp?: TCPRoute[];
  exportTo?: string[];
}

export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: HTTPRouteDestination[];
  redirect?: HTTPRedirect;
  directResponse?: HTTPDirectResponse;
  delegate?: Delegate;
  rewrite?: HTTPRewrite;
  timeout?: DurationString;
  retries?: HTTPRetry;
  fault?: HTTPFaultInjection;
  mirror?: Destination;
  mirrorPercentage?: Percent;
  mirrors?: { destination: Destination; percentage?: Percent }[];
  corsPolicy?: CorsPolicy;
  headers?: Headers;
}

export interface HTTPMatchRequest {
  name?: string;
  uri?: StringMatch;
  scheme?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  headers?: Record<string, StringMatch>;
  port?: number;
  sourceLabels?: Record<string, string>;
  gateways?: string[];
  queryParams?: Record<string, StringMatch>;
  ignoreUriCase?: boolean;
  withoutHeaders?: Record<string, StringMatch>;
  sourceNamespace?: string;
  statPrefix?: string;
}

export interface Destination {
  host: string;
  subset?: string;
  port?: PortSelector;
}

export interface HTTPRouteDestination {
  destination: Destination;
  /** percent; all destinations of a route must total 100 (a single destination may omit it) */
  weight?: number;
  headers?: Headers;
}

export interface RouteDestination {
  destination: Destination;
  weight?: number;
}

export interface HTTPRedirect {
  uri?: string;
  authority?: string;
  port?: number;
  derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT';
  scheme?: string;
  /** default 301 */
  redirectCode?: number;
}

export interface HTTPDirectResponse {
  status: number;
  body?: { string?: string; bytes?: string };
}

export interface Delegate {
  name: string;
  namespace?: string;
}

export interface HTTPRewrite {
  uri?: string;
  authority?: string;
  uriRegexRewrite?: { match: string; rewrite: string };
}

export interface HTTPRetry {
  attempts?: number;
  perTryTimeout?: DurationString;
  /** comma-separated Envoy retry_on values and HTTP status codes */
  retryOn?: string;
  retryRemoteLocalities?: boolean;
}

export interface HTTPFaultInjection {
  delay?: { fixedDelay?: DurationString; percentage?: Percent; percent?: number };
  abort?: { httpStatus?: number; grpcStatus?: string; http2Error?: string; percentage?: Percent };
}

export interface CorsPolicy {
  allowOrigins?: StringMatch[];
  /** deprecated form of allowOrigins: exact strings */
  allowOrigin?: string[];
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAge?: DurationString;
  allowCredentials?: boolean;
  unmatchedPreflights?: 'UNSPECIFIED' | 'FORWARD' | 'IGNORE';
}

export interface HeaderOperations {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

export interface Headers {
  request?: HeaderOperations;
  response?: HeaderOperations;
}

export interface L4MatchAttributes {
  destinationSubnets?: string[];
  port?: number;
  sourceLabels?: Record<string, string>;
  gateways?: string[];
  sourceNamespace?: string;
}

export interface TLSMatchAttributes extends L4MatchAttributes {
  sniHosts: string[];
}

export interface TLSRoute {
  match: TLSMatchAttributes[];
  route?: RouteDestination[];
}

export interface TCPRoute {
  match?: L4MatchAttributes[];
  route?: RouteDestination[];
}

// ------------------------------------------------------------------ DestinationRule
export interface DestinationRuleSpec {
  host: string;
  trafficPolicy?: TrafficPolicy;
  subsets?: Subset[];
  exportTo?: string[];
  workloadSelector?: WorkloadSelector;
}

export interface Subset {
  name: string;
  labels?: Record<string, string>;
  trafficPolicy?: TrafficPolicy;
}

export interface TrafficPolicy {
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
  portLevelSettings?: PortTrafficPolicy[];
}

export type PortTrafficPolicy = Omit<TrafficPolicy, 'portLevelSettings'> & { port?: PortSelector };

export interface LoadBalancerSettings {
  simple?: 'UNSPECIFIED' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'LEAST_CONN';
  consistentHash?: ConsistentHashLB;
  localityLbSetting?: LocalityLoadBalancerSetting;
  warmupDurationSecs?: DurationString;
}

export interface ConsistentHashLB {
  httpHeaderName?: string;
  httpCookie?: { name: string; path?: string; ttl?: DurationString };
  useSourceIp?: boolean;
  httpQueryParameterName?: string;
  ringHash?: { minimumRingSize?: number };
  maglev?: { tableSize?: number };
  /** deprecated: ringHash.minimumRingSize */
  minimumRingSize?: number;
}

export interface LocalityLoadBalancerSetting {
  distribute?: { from?: string; to?: Record<string, number> }[];
  failover?: { from?: string; to?: string }[];
  failoverPriority?: string[];
  enabled?: boolean;
}

export interface ConnectionPoolSettings {
  tcp?: {
    maxConnections?: number;
    connectTimeout?: DurationString;
    tcpKeepalive?: { probes?: number; time?: DurationString; interval?: DurationString };
    maxConnectionDuration?: DurationString;
    idleTimeout?: DurationString;
  };
  http?: {
    http1MaxPendingRequests?: number;
    http2MaxRequests?: number;
    maxRequestsPerConnection?: number;
    maxRetries?: number;
    idleTimeout?: DurationString;
    h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';
    useClientProtocol?: boolean;
    maxConcurrentStreams?: number;
  };
}

export interface OutlierDetection {
  /** deprecated alias of consecutive5xxErrors */
  consecutiveErrors?: number;
  consecutive5xxErrors?: number;
  consecutiveGatewayErrors?: number;
  consecutiveLocalOriginFailures?: number;
  splitExternalLocalOriginErrors?: boolean;
  interval?: DurationString;
  baseEjectionTime?: DurationString;
  maxEjectionPercent?: number;
  minHealthPercent?: number;
}

export type ClientTLSMode = 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';

export interface ClientTLSSettings {
  mode?: ClientTLSMode;
  clientCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  credentialName?: string;
  subjectAltNames?: string[];
  sni?: string;
  insecureSkipVerify?: boolean;
}

// ------------------------------------------------------------------ ServiceEntry / WorkloadEntry
export type ServicePortProtocol = 'HTTP' | 'HTTPS' | 'GRPC' | 'HTTP2' | 'MONGO' | 'TCP' | 'TLS' | 'UDP';

export interface ServicePort {
  number: number;
  /** default: from the name prefix ("http-...", "grpc-...") as Istio does, else TCP */
  protocol?: ServicePortProtocol | string;
  name: string;
  targetPort?: number;
}

export interface ServiceEntrySpec {
  hosts: string[];
  addresses?: string[];
  ports?: ServicePort[];
  location?: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  resolution?: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';
  endpoints?: WorkloadEntrySpec[];
  workloadSelector?: WorkloadSelector;
  exportTo?: string[];
  subjectAltNames?: string[];
}

export interface WorkloadEntrySpec {
  /** IP or DNS name (DNS resolution only) */
  address?: string;
  /** service port name → port the workload listens on */
  ports?: Record<string, number>;
  labels?: Record<string, string>;
  network?: string;
  /** "region/zone/subzone" */
  locality?: string;
  /** load-balancing weight, default 1 */
  weight?: number;
  serviceAccount?: string;
}

// ------------------------------------------------------------------ Sidecar
export interface SidecarSpec {
  workloadSelector?: WorkloadSelector;
  ingress?: IstioIngressListener[];
  egress?: IstioEgressListener[];
  outboundTrafficPolicy?: { mode?: 'REGISTRY_ONLY' | 'ALLOW_ANY'; egressProxy?: Destination };
}

export interface SidecarPort {
  number: number;
  protocol?: string;
  name?: string;
  targetPort?: number;
}

export interface IstioIngressListener {
  port: SidecarPort;
  bind?: string;
  captureMode?: 'DEFAULT' | 'IPTABLES' | 'NONE';
  /** "127.0.0.1:PORT", "0.0.0.0:PORT" or "unix://..." */
  defaultEndpoint?: string;
  tls?: ServerTLSSettings;
  connectionPool?: ConnectionPoolSettings;
}

export interface IstioEgressListener {
  port?: SidecarPort;
  bind?: string;
  captureMode?: 'DEFAULT' | 'IPTABLES' | 'NONE';
  /** "namespace/dnsName": "*" any namespace, "." the Sidecar's namespace, "~" none; dnsName may be "*" or "*.suffix" */
  hosts: string[];
}

// ------------------------------------------------------------------ security.istio.io (shared)
/** istio.type.v1beta1.WorkloadSelector: the security kinds spell their selector `selector: {matchLabels}`. */
export interface TypeWorkloadSelector {
  matchLabels?: Record<string, string>;
}

/** istio.type.v1beta1.PolicyTargetReference (Kubernetes Gateway API / Service targets; Meshwork has none). */
export interface PolicyTargetReference {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

// ------------------------------------------------------------------ PeerAuthentication
export type MutualTLSMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export interface PeerAuthenticationMutualTLS {
  /** default UNSET: inherit from the parent level (workload < namespace < mesh), PERMISSIVE at the top */
  mode?: MutualTLSMode;
}

export interface PeerAuthenticationSpec {
  /** absent or empty: every workload of the namespace (of the mesh, in the root namespace) */
  selector?: TypeWorkloadSelector;
  mtls?: PeerAuthenticationMutualTLS;
  /** workload (container) port → its mode; only with a selector. YAML map keys are strings ("8080") */
  portLevelMtls?: Record<string, PeerAuthenticationMutualTLS>;
}

// ------------------------------------------------------------------ AuthorizationPolicy
export type AuthorizationAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

export interface AuthorizationPolicySpec {
  selector?: TypeWorkloadSelector;
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
  /** absent: never matches (for ALLOW: the workload allows nothing) */
  rules?: AuthorizationRule[];
  /** default ALLOW */
  action?: AuthorizationAction;
  /** CUSTOM only: the extension provider (an external authorizer declared in the mesh config) */
  provider?: { name?: string };
}

/** Matches when one of `from`, one of `to` and every `when` match; an empty rule matches every request. */
export interface AuthorizationRule {
  from?: { source?: AuthorizationSource }[];
  to?: { operation?: AuthorizationOperation }[];
  when?: AuthorizationCondition[];
}

/**
 * Fields ANDed; each list ORed. Strings match exactly, as a prefix ("abc*"), a suffix ("*abc") or present ("*").
 */
export interface AuthorizationSource {
  /** peer identities from the client certificate, "<trust domain>/ns/<namespace>/sa/<service account>" */
  principals?: string[];
  notPrincipals?: string[];
  /** JWT identities, "<iss>/<sub>" */
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  /** "<namespace>/<service account>" */
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
  /** the connection's source address: IPs or CIDRs */
  ipBlocks?: string[];
  notIpBlocks?: string[];
  /** the original client (X-Forwarded-For / PROXY protocol): IPs or CIDRs */
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
}

export interface AuthorizationOperation {
  hosts?: string[];
  notHosts?: string[];
  /** strings of port numbers ("8080") */
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

export interface AuthorizationCondition {
  /** an Istio attribute: request.headers[name], source.ip, request.auth.claims[name], destination.port, ... */
  key: string;
  values?: string[];
  notValues?: string[];
}

// ------------------------------------------------------------------ RequestAuthentication
export interface RequestAuthenticationSpec {
  selector?: TypeWorkloadSelector;
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
  jwtRules?: JWTRule[];
}

export interface JWTRule {
  /** the `iss` a token must carry (Istio requires issuer or jwksUri) */
  issuer?: string;
  /** accepted `aud` values; absent: the service name, as Istio */
  audiences?: string[];
  /** http(s) URL of the key set; ignored when `jwks` is set */
  jwksUri?: string;
  /** inline JSON Web Key Set */
  jwks?: string;
  /** default: `Authorization: Bearer <token>`, then the `access_token` query parameter */
  fromHeaders?: JWTHeader[];
  fromParams?: string[];
  fromCookies?: string[];
  outputPayloadToHeader?: string;
  forwardOriginalToken?: boolean;
  outputClaimToHeaders?: ClaimToHeader[];
  /** timeout of the JWKS fetch (default 5s in Istio) */
  timeout?: DurationString;
}

export interface JWTHeader {
  name: string;
  /** stripped before the token is decoded, e.g. "Bearer " */
  prefix?: string;
}

export interface ClaimToHeader {
  header: string;
  claim: string;
}
