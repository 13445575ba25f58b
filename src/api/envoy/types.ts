// TypeScript shapes of decoded Envoy v3 config, for the fields support.ts lets through (so these never carry a
// field the decoder would have rejected). Decoded conventions: snake_case names; every field optional (absent
// means "not set", defaults are not filled in); Duration → milliseconds; wrappers → plain values; enums →
// names; typed_config → the inner message with a canonical '@type'; Struct → plain JSON; bytes → Buffer.
// When support.ts gains a field or an extension, add it here too.

/** A google.protobuf.Duration, in milliseconds. */
export type Millis = number;
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [k: string]: JsonValue };
export type JsonObject = { readonly [k: string]: JsonValue };

type TypeUrl<Name extends string> = `type.googleapis.com/${Name}`;

// ---- bootstrap

export interface Bootstrap {
  readonly node?: Node;
  readonly static_resources?: StaticResources;
  readonly admin?: Admin;
  /** Accepted and ignored. */
  readonly layered_runtime?: JsonObject;
}

export interface StaticResources {
  readonly listeners?: readonly Listener[];
  readonly clusters?: readonly Cluster[];
}

export interface Admin {
  readonly address?: Address;
  readonly access_log?: readonly AccessLog[];
  /** Deprecated in Envoy: a file access log of admin requests. */
  readonly access_log_path?: string;
  readonly profile_path?: string;
}

export interface Node {
  readonly id?: string;
  readonly cluster?: string;
  readonly metadata?: JsonObject;
  readonly locality?: Locality;
  readonly user_agent_name?: string;
  readonly user_agent_version?: string;
  readonly client_features?: readonly string[];
}

export interface Locality {
  readonly region?: string;
  readonly zone?: string;
  readonly sub_zone?: string;
}

// ---- common

export interface Address {
  readonly socket_address?: SocketAddress;
}

export interface SocketAddress {
  readonly protocol?: 'TCP';
  readonly address?: string;
  readonly port_value?: number;
  readonly ipv4_compat?: boolean;
}

/** Exactly one of the fields is set. */
export interface DataSource {
  readonly filename?: string;
  readonly inline_string?: string;
  readonly inline_bytes?: Buffer;
  readonly environment_variable?: string;
}

export interface StringMatcher {
  readonly exact?: string;
  readonly prefix?: string;
  readonly suffix?: string;
  readonly contains?: string;
  readonly safe_regex?: RegexMatcher;
  readonly ignore_case?: boolean;
}

export interface RegexMatcher {
  readonly regex?: string;
  readonly google_re2?: { readonly max_program_size?: number };
}

export interface RegexMatchAndSubstitute {
  readonly pattern?: RegexMatcher;
  readonly substitution?: string;
}

export interface Int64Range {
  readonly start?: number;
  readonly end?: number;
}

export interface Percent {
  readonly value?: number;
}

export interface FractionalPercent {
  readonly numerator?: number;
  readonly denominator?: 'HUNDRED' | 'TEN_THOUSAND' | 'MILLION';
}

/** runtime_key is accepted and ignored: there is no runtime, default_value applies. */
export interface RuntimeFractionalPercent {
  readonly default_value?: FractionalPercent;
  readonly runtime_key?: string;
}

export interface RuntimeDouble {
  readonly default_value?: number;
  readonly runtime_key?: string;
}

export interface CidrRange {
  readonly address_prefix?: string;
  readonly prefix_len?: number;
}

/** The type-erased metadata Meshwork accepts and ignores. */
export interface Metadata {
  readonly filter_metadata?: { readonly [filter: string]: JsonObject };
}

export interface HeaderValue {
  readonly key?: string;
  readonly value?: string;
  readonly raw_value?: Buffer;
}

export type HeaderAppendAction = 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';

export interface HeaderValueOption {
  readonly header?: HeaderValue;
  /** Deprecated in Envoy: use append_action. */
  readonly append?: boolean;
  readonly append_action?: HeaderAppendAction;
  readonly keep_empty_value?: boolean;
}

export interface HttpProtocolOptions {
  readonly idle_timeout?: Millis;
  readonly max_headers_count?: number;
  readonly max_connection_duration?: Millis;
  readonly max_stream_duration?: Millis;
  readonly headers_with_underscores_action?: 'ALLOW' | 'REJECT_REQUEST' | 'DROP_HEADER';
}

/** Present = HTTP/1.1 where a protocol is chosen. */
export interface Http1ProtocolOptions {
  readonly accept_http_10?: boolean;
  readonly default_host_for_http_10?: string;
}

export interface Http2ProtocolOptions {
  readonly max_concurrent_streams?: number;
  readonly initial_stream_window_size?: number;
  readonly initial_connection_window_size?: number;
}

// ---- listeners

export interface Listener {
  readonly name?: string;
  readonly address?: Address;
  readonly stat_prefix?: string;
  readonly filter_chains?: readonly FilterChain[];
  readonly default_filter_chain?: FilterChain;
  readonly listener_filters?: readonly ListenerFilter[];
  readonly listener_filters_timeout?: Millis;
  readonly continue_on_listener_filters_timeout?: boolean;
  readonly per_connection_buffer_limit_bytes?: number;
  readonly metadata?: Metadata;
  readonly traffic_direction?: 'UNSPECIFIED' | 'INBOUND' | 'OUTBOUND';
}

export interface FilterChain {
  readonly filter_chain_match?: FilterChainMatch;
  readonly filters?: readonly Filter[];
  readonly transport_socket?: TransportSocket;
  readonly name?: string;
  readonly metadata?: Metadata;
}

export interface FilterChainMatch {
  readonly destination_port?: number;
  readonly server_names?: readonly string[];
  readonly transport_protocol?: 'tls' | 'raw_buffer';
  readonly application_protocols?: readonly string[];
  readonly prefix_ranges?: readonly CidrRange[];
  readonly direct_source_prefix_ranges?: readonly CidrRange[];
  readonly source_type?: 'ANY' | 'SAME_IP_OR_LOOPBACK' | 'EXTERNAL';
  readonly source_prefix_ranges?: readonly CidrRange[];
  readonly source_ports?: readonly number[];
}

/** A network filter. */
export interface Filter {
  readonly name?: string;
  readonly typed_config?: NetworkFilterConfig;
}
export type NetworkFilterConfig = HttpConnectionManager | TcpProxy;

export interface TcpProxy {
  readonly '@type': TypeUrl<'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy'>;
  readonly stat_prefix?: string;
  /** Exactly one of cluster, weighted_clusters is set. */
  readonly cluster?: string;
  readonly weighted_clusters?: { readonly clusters?: ReadonlyArray<{ readonly name?: string; readonly weight?: number }> };
  readonly idle_timeout?: Millis;
  readonly max_connect_attempts?: number;
  readonly access_log?: readonly AccessLog[];
}

export interface ListenerFilter {
  readonly name?: string;
  readonly typed_config?: ListenerFilterConfig;
}
export type ListenerFilterConfig = TlsInspector | HttpInspector;

export interface TlsInspector {
  readonly '@type': TypeUrl<'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector'>;
}
export interface HttpInspector {
  readonly '@type': TypeUrl<'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector'>;
}

// ---- TLS

export interface TransportSocket {
  readonly name?: string;
  readonly typed_config?: DownstreamTlsContext | UpstreamTlsContext;
}

export interface DownstreamTlsContext {
  readonly '@type': TypeUrl<'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext'>;
  readonly common_tls_context?: CommonTlsContext;
  readonly require_client_certificate?: boolean;
  readonly require_sni?: boolean;
  readonly session_timeout?: Millis;
  readonly disable_stateless_session_resumption?: boolean;
  readonly full_scan_certs_on_sni_mismatch?: boolean;
  readonly ocsp_staple_policy?: 'LENIENT_STAPLING';
}

export interface UpstreamTlsContext {
  readonly '@type': TypeUrl<'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext'>;
  readonly common_tls_context?: CommonTlsContext;
  readonly sni?: string;
  /** Accepted and ignored. */
  readonly allow_renegotiation?: boolean;
  /** Accepted and ignored. */
  readonly max_session_keys?: number;
  /** Accepted and ignored. */
  readonly enforce_rsa_key_usage?: boolean;
}

export interface CommonTlsContext {
  readonly tls_params?: TlsParameters;
  readonly tls_certificates?: readonly TlsCertificate[];
  readonly validation_context?: CertificateValidationContext;
  readonly combined_validation_context?: { readonly default_validation_context?: CertificateValidationContext };
  readonly alpn_protocols?: readonly string[];
}

export type TlsProtocol = 'TLS_AUTO' | 'TLSv1_0' | 'TLSv1_1' | 'TLSv1_2' | 'TLSv1_3';

export interface TlsParameters {
  readonly tls_minimum_protocol_version?: TlsProtocol;
  readonly tls_maximum_protocol_version?: TlsProtocol;
  readonly cipher_suites?: readonly string[];
  readonly ecdh_curves?: readonly string[];
  readonly signature_algorithms?: readonly string[];
}

export interface TlsCertificate {
  readonly certificate_chain?: DataSource;
  readonly private_key?: DataSource;
  readonly password?: DataSource;
}

export interface CertificateValidationContext {
  readonly trusted_ca?: DataSource;
  /** Present = verify against Node.js's bundled root certificates. */
  readonly system_root_certs?: Readonly<Record<string, never>>;
  readonly verify_certificate_spki?: readonly string[];
  readonly verify_certificate_hash?: readonly string[];
  readonly crl?: DataSource;
  readonly trust_chain_verification?: 'VERIFY_TRUST_CHAIN' | 'ACCEPT_UNTRUSTED';
  readonly match_typed_subject_alt_names?: readonly SubjectAltNameMatcher[];
  /** Deprecated in Envoy: use match_typed_subject_alt_names. */
  readonly match_subject_alt_names?: readonly StringMatcher[];
}

export interface SubjectAltNameMatcher {
  readonly san_type?: 'EMAIL' | 'DNS' | 'URI' | 'IP_ADDRESS';
  readonly matcher?: StringMatcher;
}

// ---- HTTP connection manager

export interface HttpConnectionManager {
  readonly '@type': TypeUrl<'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'>;
  readonly stat_prefix?: string;
  readonly codec_type?: 'AUTO' | 'HTTP1' | 'HTTP2';
  readonly route_config?: RouteConfiguration;
  readonly http_filters?: readonly HttpFilter[];
  readonly access_log?: readonly AccessLog[];
  readonly use_remote_address?: boolean;
  readonly xff_num_trusted_hops?: number;
  readonly skip_xff_append?: boolean;
  readonly server_name?: string;
  readonly server_header_transformation?: 'OVERWRITE' | 'APPEND_IF_ABSENT' | 'PASS_THROUGH';
  readonly generate_request_id?: boolean;
  readonly preserve_external_request_id?: boolean;
  readonly always_set_request_id_in_response?: boolean;
  readonly internal_address_config?: { readonly unix_sockets?: boolean; readonly cidr_ranges?: readonly CidrRange[] };
  readonly max_request_headers_kb?: number;
  readonly common_http_protocol_options?: HttpProtocolOptions;
  readonly http_protocol_options?: Http1ProtocolOptions;
  readonly http2_protocol_options?: Http2ProtocolOptions;
  readonly request_timeout?: Millis;
  readonly request_headers_timeout?: Millis;
  readonly stream_idle_timeout?: Millis;
  readonly drain_timeout?: Millis;
  readonly delayed_close_timeout?: Millis;
  readonly upgrade_configs?: readonly UpgradeConfig[];
  readonly normalize_path?: boolean;
  readonly merge_slashes?: boolean;
  readonly path_with_escaped_slashes_action?:
    | 'IMPLEMENTATION_SPECIFIC_DEFAULT'
    | 'KEEP_UNCHANGED'
    | 'REJECT_REQUEST'
    | 'UNESCAPE_AND_REDIRECT'
    | 'UNESCAPE_AND_FORWARD';
  readonly via?: string;
  readonly add_user_agent?: boolean;
}

export interface UpgradeConfig {
  readonly upgrade_type?: string;
  readonly enabled?: boolean;
}

export interface HttpFilter {
  readonly name?: string;
  /** A `MissingExtension` only when is_optional is set. */
  readonly typed_config?: HttpFilterConfig | MissingExtension;
  readonly is_optional?: boolean;
}
export type HttpFilterConfig = Router;

/** The typed_config of an optional filter whose extension Meshwork does not have: only its type is kept. */
export interface MissingExtension {
  readonly '@type': string;
}

export interface Router {
  readonly '@type': TypeUrl<'envoy.extensions.filters.http.router.v3.Router'>;
  readonly suppress_envoy_headers?: boolean;
  readonly respect_expected_rq_timeout?: boolean;
  readonly start_child_span?: boolean;
  readonly dynamic_stats?: boolean;
}

// ---- routes

export interface RouteConfiguration {
  readonly name?: string;
  readonly virtual_hosts?: readonly VirtualHost[];
  readonly request_headers_to_add?: readonly HeaderValueOption[];
  readonly request_headers_to_remove?: readonly string[];
  readonly response_headers_to_add?: readonly HeaderValueOption[];
  readonly response_headers_to_remove?: readonly string[];
  readonly max_direct_response_body_size_bytes?: number;
  readonly internal_only_headers?: readonly string[];
  readonly most_specific_header_mutations_wins?: boolean;
  readonly ignore_port_in_host_matching?: boolean;
  readonly ignore_path_parameters_in_path_matching?: boolean;
  readonly validate_clusters?: boolean;
  readonly metadata?: Metadata;
}

export interface VirtualHost {
  readonly name?: string;
  readonly domains?: readonly string[];
  readonly routes?: readonly Route[];
  readonly require_tls?: 'NONE' | 'EXTERNAL_ONLY' | 'ALL';
  readonly virtual_clusters?: ReadonlyArray<{ readonly name?: string; readonly headers?: readonly HeaderMatcher[] }>;
  readonly request_headers_to_add?: readonly HeaderValueOption[];
  readonly request_headers_to_remove?: readonly string[];
  readonly response_headers_to_add?: readonly HeaderValueOption[];
  readonly response_headers_to_remove?: readonly string[];
  readonly metadata?: Metadata;
}

/** Exactly one of route, redirect, direct_response is set. */
export interface Route {
  readonly name?: string;
  readonly match?: RouteMatch;
  readonly route?: RouteAction;
  readonly redirect?: RedirectAction;
  readonly direct_response?: DirectResponseAction;
  readonly request_headers_to_add?: readonly HeaderValueOption[];
  readonly request_headers_to_remove?: readonly string[];
  readonly response_headers_to_add?: readonly HeaderValueOption[];
  readonly response_headers_to_remove?: readonly string[];
  readonly stat_prefix?: string;
  readonly metadata?: Metadata;
}

/** Exactly one of prefix, path, safe_regex, path_separated_prefix is set. */
export interface RouteMatch {
  readonly prefix?: string;
  readonly path?: string;
  readonly safe_regex?: RegexMatcher;
  readonly path_separated_prefix?: string;
  readonly case_sensitive?: boolean;
  readonly headers?: readonly HeaderMatcher[];
  readonly query_parameters?: readonly QueryParameterMatcher[];
  readonly grpc?: Readonly<Record<string, never>>;
  readonly runtime_fraction?: RuntimeFractionalPercent;
}

export interface HeaderMatcher {
  readonly name?: string;
  readonly exact_match?: string;
  readonly safe_regex_match?: RegexMatcher;
  readonly range_match?: Int64Range;
  readonly present_match?: boolean;
  readonly prefix_match?: string;
  readonly suffix_match?: string;
  readonly contains_match?: string;
  readonly string_match?: StringMatcher;
  readonly invert_match?: boolean;
  readonly treat_missing_header_as_empty?: boolean;
}

export interface QueryParameterMatcher {
  readonly name?: string;
  readonly string_match?: StringMatcher;
  readonly present_match?: boolean;
}

export interface RouteAction {
  readonly cluster?: string;
  readonly cluster_header?: string;
  readonly weighted_clusters?: WeightedCluster;
  readonly cluster_not_found_response_code?: 'SERVICE_UNAVAILABLE' | 'NOT_FOUND' | 'INTERNAL_SERVER_ERROR';
  readonly prefix_rewrite?: string;
  readonly regex_rewrite?: RegexMatchAndSubstitute;
  readonly host_rewrite_literal?: string;
  readonly auto_host_rewrite?: boolean;
  readonly host_rewrite_header?: string;
  readonly host_rewrite_path_regex?: RegexMatchAndSubstitute;
  readonly append_x_forwarded_host?: boolean;
  readonly timeout?: Millis;
  readonly idle_timeout?: Millis;
  readonly hash_policy?: readonly HashPolicy[];
  readonly upgrade_configs?: readonly UpgradeConfig[];
  /** Selects the cluster's circuit breakers and connection pools of that priority. */
  readonly priority?: 'DEFAULT' | 'HIGH';
}

export interface WeightedCluster {
  readonly clusters?: readonly ClusterWeight[];
  /** Deprecated in Envoy: the sum of the weights is used. */
  readonly total_weight?: number;
  readonly header_name?: string;
}

/** Exactly one of name, cluster_header is set. */
export interface ClusterWeight {
  readonly name?: string;
  readonly cluster_header?: string;
  readonly weight?: number;
  readonly host_rewrite_literal?: string;
  readonly request_headers_to_add?: readonly HeaderValueOption[];
  readonly request_headers_to_remove?: readonly string[];
  readonly response_headers_to_add?: readonly HeaderValueOption[];
  readonly response_headers_to_remove?: readonly string[];
}

export interface RedirectAction {
  readonly https_redirect?: boolean;
  readonly scheme_redirect?: string;
  readonly host_redirect?: string;
  readonly port_redirect?: number;
  readonly path_redirect?: string;
  readonly prefix_rewrite?: string;
  readonly regex_rewrite?: RegexMatchAndSubstitute;
  readonly response_code?: 'MOVED_PERMANENTLY' | 'FOUND' | 'SEE_OTHER' | 'TEMPORARY_REDIRECT' | 'PERMANENT_REDIRECT';
  readonly strip_query?: boolean;
}

export interface DirectResponseAction {
  readonly status?: number;
  readonly body?: DataSource;
}

/** Exactly one of header, cookie, connection_properties, query_parameter is set. */
export interface HashPolicy {
  readonly header?: { readonly header_name?: string };
  readonly cookie?: { readonly name?: string; readonly ttl?: Millis; readonly path?: string };
  readonly connection_properties?: { readonly source_ip?: boolean };
  readonly query_parameter?: { readonly name?: string };
  readonly terminal?: boolean;
}

// ---- clusters

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV';

export interface Cluster {
  readonly name?: string;
  readonly alt_stat_name?: string;
  readonly type?: 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS';
  readonly connect_timeout?: Millis;
  readonly lb_policy?: LbPolicy;
  readonly load_assignment?: ClusterLoadAssignment;
  readonly dns_lookup_family?: 'AUTO' | 'V4_ONLY' | 'V6_ONLY' | 'V4_PREFERRED' | 'ALL';
  readonly dns_refresh_rate?: Millis;
  readonly respect_dns_ttl?: boolean;
  readonly typed_extension_protocol_options?: { readonly [extensionName: string]: UpstreamHttpProtocolOptions };
  /** Deprecated in Envoy: selects HTTP/1.1 upstream. */
  readonly http_protocol_options?: Http1ProtocolOptions;
  /** Deprecated in Envoy: selects HTTP/2 upstream. */
  readonly http2_protocol_options?: Http2ProtocolOptions;
  readonly transport_socket?: TransportSocket;
  readonly ring_hash_lb_config?: RingHashLbConfig;
  readonly maglev_lb_config?: { readonly table_size?: number };
  readonly least_request_lb_config?: { readonly choice_count?: number; readonly active_request_bias?: RuntimeDouble };
  /** slow_start_config only (the proxy's slow start: load-balancers/common/slow-start.ts) */
  readonly round_robin_lb_config?: { readonly slow_start_config?: Readonly<Record<string, unknown>> };
  readonly common_lb_config?: { readonly healthy_panic_threshold?: Percent; readonly consistent_hashing_lb_config?: Readonly<Record<string, never>> };
  readonly per_connection_buffer_limit_bytes?: number;
  readonly metadata?: Metadata;
}

export interface RingHashLbConfig {
  readonly minimum_ring_size?: number;
  readonly maximum_ring_size?: number;
  readonly hash_function?: 'XX_HASH';
}

export interface ClusterLoadAssignment {
  readonly cluster_name?: string;
  readonly endpoints?: readonly LocalityLbEndpoints[];
}

export interface LocalityLbEndpoints {
  readonly locality?: Locality;
  readonly lb_endpoints?: readonly LbEndpoint[];
  readonly load_balancing_weight?: number;
  readonly priority?: number;
  readonly metadata?: Metadata;
}

export type HealthStatus = 'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'TIMEOUT' | 'DEGRADED';

export interface LbEndpoint {
  readonly endpoint?: Endpoint;
  readonly health_status?: HealthStatus;
  readonly load_balancing_weight?: number;
  readonly metadata?: Metadata;
}

export interface Endpoint {
  readonly address?: Address;
  readonly hostname?: string;
}

/** envoy.extensions.upstreams.http.v3.HttpProtocolOptions, the value under typed_extension_protocol_options. */
export interface UpstreamHttpProtocolOptions {
  readonly '@type': TypeUrl<'envoy.extensions.upstreams.http.v3.HttpProtocolOptions'>;
  readonly common_http_protocol_options?: HttpProtocolOptions;
  /** Exactly one of http_protocol_options, http2_protocol_options. */
  readonly explicit_http_config?: { readonly http_protocol_options?: Http1ProtocolOptions; readonly http2_protocol_options?: Http2ProtocolOptions };
  readonly use_downstream_protocol_config?: { readonly http_protocol_options?: Http1ProtocolOptions; readonly http2_protocol_options?: Http2ProtocolOptions };
}

// ---- access logs

export interface AccessLog {
  readonly name?: string;
  readonly typed_config?: AccessLogConfig;
}
export type AccessLogConfig = FileAccessLog | StdoutAccessLog | StderrAccessLog;

export interface FileAccessLog {
  readonly '@type': TypeUrl<'envoy.extensions.access_loggers.file.v3.FileAccessLog'>;
  readonly path?: string;
  readonly log_format?: SubstitutionFormatString;
  /** Deprecated in Envoy: use log_format.text_format_source. */
  readonly format?: string;
  /** Deprecated in Envoy: use log_format.json_format. */
  readonly json_format?: JsonObject;
  /** Deprecated in Envoy: use log_format.json_format. */
  readonly typed_json_format?: JsonObject;
}

export interface StdoutAccessLog {
  readonly '@type': TypeUrl<'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog'>;
  readonly log_format?: SubstitutionFormatString;
}

export interface StderrAccessLog {
  readonly '@type': TypeUrl<'envoy.extensions.access_loggers.stream.v3.StderrAccessLog'>;
  readonly log_format?: SubstitutionFormatString;
}

/** Exactly one of text_format, text_format_source, json_format is set. */
export interface SubstitutionFormatString {
  readonly text_format?: string;
  readonly text_format_source?: DataSource;
  readonly json_format?: JsonObject;
  readonly omit_empty_values?: boolean;
  readonly content_type?: string;
  readonly json_format_options?: { readonly sort_properties?: boolean };
}
