// Which parts of the Envoy v3 API Meshwork implements. The decoder rejects a config that sets anything else
// (MW_CONFIG_UNSUPPORTED), so a user learns at load time, with the field's path and line, what would otherwise
// be silently ignored. docs/envoy-compat.md is generated from this table (scripts/gen-envoy-compat.mjs).
//
// How to read and extend it:
//  - One entry per message type (full proto name). A message with no entry is unsupported as a whole. Types
//    that may appear as a typed_config's "@type" are marked `extension: true`; any other "@type" there is an
//    unsupported extension.
//  - A field not listed is unsupported. `ok` = implemented; `only(...)` = implemented for these enum (or string)
//    values; `ignore(note)` = accepted and has no effect (safe: it changes no traffic behaviour);
//    `later(note)` = unsupported, listed so that the docs can say why or when.
//  - A field whose message type is reached must have an entry for that type too (support.test.ts checks this).
//  - When an issue implements a feature, it turns `later(...)` into `ok` and adds entries for the new types.

export type FieldStatus = 'supported' | 'ignored' | 'unsupported';

export interface FieldSupport {
  readonly status: FieldStatus;
  readonly note?: string;
  /** For enum (or string) fields: the values Meshwork implements; others are rejected. */
  readonly values?: readonly string[];
}

export interface MessageSupport {
  /** Accepted as the type of a typed_config (google.protobuf.Any); other types are rejected there. */
  readonly extension?: true;
  /** A bool field of this message that, when true, lets its typed_config name an extension Meshwork does not
   *  have (HttpFilter.is_optional): the config is kept as just its '@type' and the filter is skipped. */
  readonly optionalExtensionWhen?: string;
  readonly note?: string;
  readonly fields: Readonly<Record<string, FieldSupport>>;
}

const ok: FieldSupport = { status: 'supported' };
const okNote = (note: string): FieldSupport => ({ status: 'supported', note });
const only = (...values: string[]): FieldSupport => ({ status: 'supported', values });
const ignore = (note: string): FieldSupport => ({ status: 'ignored', note });
const later = (note: string): FieldSupport => ({ status: 'unsupported', note });

/**
 * Extensions whose config is written as a TypedStruct (xds.type.v3 / udpa.type.v1) under their type name, kept as
 * plain JSON for the extension to validate: Istio's own filters, whose protos are not part of Envoy's API. By
 * message name; the value says what it is.
 */
export const STRUCT_CONFIGURED_EXTENSIONS: ReadonlyMap<string, string> = new Map([
  ['stats.PluginConfig', "the HTTP filter istio.stats: Istio's standard metrics (istio_requests_total, ...) with its metadata exchange (x-envoy-peer-metadata); fields in docs/observability.md"],
]);

const NOT_YET = 'not implemented yet';
const METADATA = ignore('accepted; no Meshwork feature reads metadata yet');

const core = 'envoy.config.core.v3';
const route = 'envoy.config.route.v3';
const cluster = 'envoy.config.cluster.v3';
const listener = 'envoy.config.listener.v3';
const tls = 'envoy.extensions.transport_sockets.tls.v3';
const hcm = 'envoy.extensions.filters.network.http_connection_manager.v3';
const upstreamHttp = 'envoy.extensions.upstreams.http.v3';
const matcher = 'envoy.type.matcher.v3';
const jwtAuthn = 'envoy.extensions.filters.http.jwt_authn.v3';
const extAuthz = 'envoy.extensions.filters.http.ext_authz.v3';

const TABLE: Record<string, MessageSupport> = {
  // ---- bootstrap
  'envoy.config.bootstrap.v3.Bootstrap': {
    fields: {
      node: ok,
      static_resources: ok,
      admin: ok,
      dynamic_resources: okNote('LDS, CDS, RDS, EDS and SDS over ADS (state of the world or delta)'),
      layered_runtime: ignore('runtime layers are not implemented; the static defaults apply'),
      stats_config: okNote('stats_tags and use_all_default_tags shape /stats/prometheus; read at start (a changed stats_config needs a restart, as in Envoy)'),
    },
  },
  'envoy.config.metrics.v3.StatsConfig': {
    fields: {
      stats_tags: ok,
      use_all_default_tags: ok,
      stats_matcher: later('every stat is kept'),
      histogram_bucket_settings: later('the default buckets apply'),
    },
  },
  'envoy.config.metrics.v3.TagSpecifier': { fields: { tag_name: ok, regex: okNote('JavaScript regular expression syntax; the first group is cut from the name, the second (or the first) is the value'), fixed_value: ok } },
  'envoy.config.bootstrap.v3.Bootstrap.StaticResources': {
    fields: { listeners: ok, clusters: ok, secrets: okNote('named by TLS contexts through an SdsSecretConfig without sds_config') },
  },
  'envoy.config.bootstrap.v3.Bootstrap.DynamicResources': {
    fields: {
      ads_config: ok,
      lds_config: ok,
      cds_config: ok,
      lds_resources_locator: later('xdstp:// resource locators are not implemented'),
      cds_resources_locator: later('xdstp:// resource locators are not implemented'),
    },
  },
  [`${core}.ConfigSource`]: {
    note: 'every discovered resource comes over an ADS stream (gRPC, state of the world or delta)',
    fields: {
      ads: ok,
      api_config_source: okNote('served over an ADS stream to the named server'),
      self: okNote('the ADS stream'),
      initial_fetch_timeout: ok,
      resource_api_version: only('V3'),
      path: okNote('deprecated form of path_config_source; SDS only'),
      path_config_source: okNote('SDS only (sds_config): the secret is read from the file and again when it is moved over; file-based LDS/CDS/RDS/EDS are not implemented'),
      authorities: later('xdstp:// authorities are not implemented'),
    },
  },
  [`${core}.PathConfigSource`]: {
    fields: { path: okNote('a DiscoveryResponse (YAML or JSON) holding the one Secret named'), watched_directory: okNote('any event in it reloads the file (a Kubernetes `..data` swap)') },
  },
  [`${core}.WatchedDirectory`]: { fields: { path: ok } },
  [`${core}.AggregatedConfigSource`]: { fields: {} },
  [`${core}.SelfConfigSource`]: { fields: { transport_api_version: only('V3') } },
  [`${core}.ApiConfigSource`]: {
    fields: {
      api_type: only('GRPC', 'DELTA_GRPC', 'AGGREGATED_GRPC', 'AGGREGATED_DELTA_GRPC'),
      transport_api_version: only('V3'),
      grpc_services: okNote('the first entry is used'),
      set_node_on_first_message_only: ok,
      request_timeout: ignore('only applies to REST discovery'),
      refresh_delay: ignore('only applies to REST discovery'),
      cluster_names: later('REST discovery is not implemented'),
      rate_limit_settings: later('discovery request rate limiting is not implemented'),
      config_validators: later('config validator extensions are not implemented'),
    },
  },
  [`${core}.GrpcService`]: {
    fields: {
      envoy_grpc: okNote('names a static cluster; the discovery stream connects to its first endpoint'),
      google_grpc: okNote('target_uri, without credentials'),
      timeout: okNote('ext_authz: the deadline of each Check (default 200 ms); discovery streams have none'),
      initial_metadata: later(NOT_YET),
      retry_policy: later('the discovery stream reconnects with jittered back-off'),
    },
  },
  [`${core}.GrpcService.EnvoyGrpc`]: {
    fields: {
      cluster_name: ok,
      authority: okNote('ext_authz: the :authority of each Check (default the cluster name); discovery streams use the endpoint address'),
      retry_policy: okNote('retry_back_off sets the reconnect back-off of a discovery stream (default 500 ms base, 30 s max, full jitter)'),
      max_receive_message_length: ignore('messages of any size are accepted'),
      skip_envoy_headers: ignore('no x-envoy headers are sent on discovery streams'),
    },
  },
  [`${core}.RetryPolicy`]: {
    note: 'as EnvoyGrpc.retry_policy of a discovery stream only the reconnect back-off applies; as RemoteJwks.retry_policy, the retries of a JWKS fetch',
    fields: {
      retry_back_off: ok,
      num_retries: okNote('JWKS fetches: retries after the first attempt (default 1); a discovery stream reconnects without limit'),
      retry_on: ignore("JWKS fetches retry 5xx, gateway errors, connect failures and resets (Envoy's default); a discovery stream reconnects after any failure"),
      retry_priority: later(NOT_YET),
      retry_host_predicate: later(NOT_YET),
      host_selection_retry_max_attempts: ignore('the discovery server is one endpoint'),
    },
  },
  [`${core}.BackoffStrategy`]: { fields: { base_interval: ok, max_interval: okNote('default: 10 × base_interval') } },
  [`${core}.GrpcService.GoogleGrpc`]: {
    fields: {
      target_uri: ok,
      stat_prefix: ignore('the stream has no per-channel statistics'),
      channel_credentials: later('TLS to the discovery server is not implemented'),
      call_credentials: later('call credentials are not implemented'),
      credentials_factory_name: later('call credentials are not implemented'),
      config: later(NOT_YET),
      per_stream_buffer_limit_bytes: ignore('messages of any size are accepted'),
      channel_args: later(NOT_YET),
    },
  },
  [`${tls}.SdsSecretConfig`]: { fields: { name: ok, sds_config: okNote('absent: a secret of static_resources.secrets; path_config_source: a file-based SDS source') } },
  [`${tls}.Secret`]: {
    fields: {
      name: ok,
      tls_certificate: ok,
      validation_context: ok,
      session_ticket_keys: later('session ticket keys are not implemented'),
      generic_secret: later('generic secrets are not implemented'),
    },
  },
  'envoy.config.bootstrap.v3.Admin': {
    fields: {
      address: ok,
      access_log: ok,
      access_log_path: ok,
      profile_path: ignore('there is no CPU profiler endpoint'),
    },
  },
  [`${core}.Node`]: {
    fields: {
      id: ok,
      cluster: ok,
      metadata: ok,
      locality: ok,
      user_agent_name: ignore('informational'),
      user_agent_version: ignore('informational'),
      client_features: ignore('informational'),
    },
  },
  [`${core}.Locality`]: { fields: { region: ok, zone: ok, sub_zone: ok } },

  // ---- addresses, data sources, matchers
  [`${core}.Address`]: { fields: { socket_address: ok, pipe: okNote('cluster endpoints (STATIC, EDS) and xDS servers: a Unix domain socket path; listeners bind socket addresses only') } },
  [`${core}.Pipe`]: { fields: { path: okNote('a filesystem path; abstract sockets (@name) are not supported'), mode: later('the socket is made by its server, not the proxy') } },
  [`${core}.SocketAddress`]: {
    fields: {
      protocol: only('TCP'),
      address: ok,
      port_value: ok,
      ipv4_compat: okNote('on an IPv6 wildcard address, also accept IPv4 connections'),
    },
  },
  [`${core}.DataSource`]: {
    note: 'read once when the config is applied, except TLS certificates, keys, CAs and CRLs read from files: those are re-read when their directory changes',
    fields: { filename: ok, inline_string: ok, inline_bytes: ok, environment_variable: ok, watched_directory: okNote('TLS material only: watched instead of the parent directory') },
  },
  [`${matcher}.StringMatcher`]: {
    fields: { exact: ok, prefix: ok, suffix: ok, contains: ok, safe_regex: ok, ignore_case: ok },
  },
  [`${matcher}.RegexMatcher`]: {
    note: 'RE2 syntax is compiled as a JavaScript regular expression; constructs that differ are rejected',
    fields: { regex: ok, google_re2: ignore('RE2 syntax is the only engine') },
  },
  [`${matcher}.RegexMatcher.GoogleRE2`]: { fields: { max_program_size: ignore('no effect on the JavaScript engine') } },
  [`${matcher}.RegexMatchAndSubstitute`]: { fields: { pattern: ok, substitution: ok } },
  'envoy.type.v3.Int64Range': { fields: { start: ok, end: ok } },
  'envoy.type.v3.Percent': { fields: { value: ok } },
  'envoy.type.v3.FractionalPercent': { fields: { numerator: ok, denominator: ok } },
  'envoy.type.v3.TokenBucket': { fields: { max_tokens: ok, tokens_per_fill: ok, fill_interval: okNote('at least 50ms; tokens are added in steps') } },
  'envoy.type.v3.HttpStatus': { fields: { code: ok } },
  [`${core}.RuntimeFractionalPercent`]: {
    fields: { default_value: ok, runtime_key: ignore('there is no runtime: default_value applies') },
  },
  [`${core}.RuntimeDouble`]: {
    fields: { default_value: ok, runtime_key: ignore('there is no runtime: default_value applies') },
  },
  [`${core}.RuntimeFeatureFlag`]: {
    fields: { default_value: ok, runtime_key: ignore('there is no runtime: default_value applies') },
  },

  // ---- listeners
  [`${listener}.Listener`]: {
    fields: {
      name: ok,
      address: ok,
      stat_prefix: okNote('prefix of the listener statistics'),
      filter_chains: ok,
      default_filter_chain: ok,
      listener_filters: ok,
      listener_filters_timeout: ok,
      continue_on_listener_filters_timeout: ok,
      per_connection_buffer_limit_bytes: ok,
      metadata: METADATA,
      traffic_direction: ignore('only names statistics and traces in Envoy'),
    },
  },
  [`${listener}.FilterChain`]: {
    fields: { filter_chain_match: ok, filters: ok, transport_socket: ok, name: ok, metadata: METADATA },
  },
  [`${listener}.FilterChainMatch`]: {
    fields: {
      destination_port: ok,
      server_names: ok,
      transport_protocol: only('tls', 'raw_buffer'),
      application_protocols: ok,
      prefix_ranges: ok,
      direct_source_prefix_ranges: ok,
      source_type: ok,
      source_prefix_ranges: ok,
      source_ports: ok,
      address_suffix: later('not implemented by Envoy either'),
      suffix_len: later('not implemented by Envoy either'),
    },
  },
  [`${listener}.Filter`]: { fields: { name: ok, typed_config: ok, config_discovery: later('ECDS is not implemented yet') } },
  [`${listener}.ListenerFilter`]: { fields: { name: ok, typed_config: ok } },
  'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector': { extension: true, fields: {} },
  'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector': { extension: true, fields: {} },

  // ---- TLS
  [`${core}.TransportSocket`]: { fields: { name: ok, typed_config: ok } },
  'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer': { extension: true, note: 'plaintext: what no transport socket means', fields: {} },
  [`${tls}.DownstreamTlsContext`]: {
    extension: true,
    fields: {
      common_tls_context: ok,
      require_client_certificate: ok,
      require_sni: ok,
      session_timeout: ok,
      disable_stateless_session_resumption: ok,
      full_scan_certs_on_sni_mismatch: ok,
      ocsp_staple_policy: { status: 'supported', values: ['LENIENT_STAPLING'], note: 'Meshwork does not staple OCSP responses' },
    },
  },
  [`${tls}.UpstreamTlsContext`]: {
    extension: true,
    fields: {
      common_tls_context: ok,
      sni: ok,
      allow_renegotiation: ignore('Node.js never renegotiates as a client'),
      max_session_keys: ignore('Node.js keeps its own session cache'),
      enforce_rsa_key_usage: ignore('Node.js applies its own key-usage checks'),
    },
  },
  [`${tls}.CommonTlsContext`]: {
    fields: {
      tls_params: ok,
      tls_certificates: ok,
      validation_context: ok,
      combined_validation_context: ok,
      alpn_protocols: ok,
      tls_certificate_sds_secret_configs: okNote('static or SDS secrets; a rotated secret applies to new handshakes'),
      validation_context_sds_secret_config: okNote('static or SDS secrets; a rotated secret applies to new handshakes'),
    },
  },
  [`${tls}.CommonTlsContext.CombinedCertificateValidationContext`]: {
    fields: {
      default_validation_context: ok,
      validation_context_sds_secret_config: okNote('static or SDS secrets; a rotated secret applies to new handshakes'),
    },
  },
  [`${tls}.TlsParameters`]: {
    fields: {
      tls_minimum_protocol_version: ok,
      tls_maximum_protocol_version: ok,
      cipher_suites: okNote('names are checked against what Node.js (OpenSSL) offers'),
      ecdh_curves: ok,
      signature_algorithms: ok,
    },
  },
  [`${tls}.TlsCertificate`]: {
    note: 'files are followed: a changed certificate or key is re-read, checked, and used for new handshakes (also outside SDS, unlike Envoy)',
    fields: { certificate_chain: ok, private_key: ok, password: ok, watched_directory: okNote('watched instead of the files\' parent directories') },
  },
  [`${tls}.CertificateValidationContext`]: {
    fields: {
      trusted_ca: ok,
      system_root_certs: okNote("Node.js's bundled root certificates"),
      verify_certificate_spki: ok,
      verify_certificate_hash: ok,
      match_typed_subject_alt_names: ok,
      match_subject_alt_names: ok,
      crl: ok,
      only_verify_leaf_cert_crl: okNote("the peer's leaf is looked up in the CRLs after the handshake; no CRL is needed for the CAs above it"),
      trust_chain_verification: ok,
      watched_directory: okNote('watched instead of the parent directories of trusted_ca and crl'),
    },
  },
  [`${tls}.CertificateValidationContext.SystemRootCerts`]: { fields: {} },
  [`${tls}.SubjectAltNameMatcher`]: { fields: { san_type: only('EMAIL', 'DNS', 'URI', 'IP_ADDRESS'), matcher: ok } },

  // ---- HTTP connection manager
  [`${hcm}.HttpConnectionManager`]: {
    extension: true,
    fields: {
      stat_prefix: okNote('prefix of the connection manager statistics'),
      codec_type: only('AUTO', 'HTTP1', 'HTTP2'),
      route_config: ok,
      rds: okNote('the listener warms until its route configuration arrives'),
      http_filters: ok,
      access_log: ok,
      use_remote_address: ok,
      xff_num_trusted_hops: ok,
      internal_address_config: ok,
      skip_xff_append: ok,
      server_name: ok,
      server_header_transformation: ok,
      generate_request_id: ok,
      preserve_external_request_id: ok,
      always_set_request_id_in_response: ok,
      max_request_headers_kb: ok,
      common_http_protocol_options: ok,
      http_protocol_options: ok,
      http2_protocol_options: ok,
      request_timeout: ok,
      request_headers_timeout: ok,
      stream_idle_timeout: ok,
      drain_timeout: ok,
      delayed_close_timeout: ok,
      upgrade_configs: ok,
      normalize_path: ok,
      merge_slashes: ok,
      path_with_escaped_slashes_action: ok,
      via: ok,
      add_user_agent: ok,
      forward_client_cert_details: ok,
      set_current_client_cert_details: ok,
      tracing: later('tracing is not implemented yet'),
    },
  },
  [`${hcm}.Rds`]: { fields: { config_source: ok, route_config_name: ok } },
  [`${hcm}.HttpConnectionManager.SetCurrentClientCertDetails`]: {
    fields: { subject: ok, uri: ok, dns: ok, cert: okNote('URL-encoded PEM'), chain: okNote('URL-encoded PEM of the verified chain, leaf first, up to the trusted CA (Node exposes the verified chain; Envoy sends the certificates the client sent)') },
  },
  [`${hcm}.HttpFilter`]: {
    optionalExtensionWhen: 'is_optional',
    fields: { name: ok, typed_config: ok, is_optional: okNote('an optional filter whose extension Meshwork lacks is skipped') },
  },
  [`${hcm}.HttpConnectionManager.InternalAddressConfig`]: { fields: { unix_sockets: ok, cidr_ranges: ok } },
  [`${core}.CidrRange`]: { fields: { address_prefix: ok, prefix_len: ok } },
  [`${hcm}.HttpConnectionManager.UpgradeConfig`]: { fields: { upgrade_type: ok, enabled: ok } },
  [`${core}.HttpProtocolOptions`]: {
    fields: {
      idle_timeout: ok,
      max_headers_count: ok,
      max_connection_duration: ok,
      max_stream_duration: ok,
      headers_with_underscores_action: ok,
      max_requests_per_connection: okNote("upstream (a cluster's HttpProtocolOptions): a connection that carried this many requests is drained (HTTP/1 closed after the response, HTTP/2 takes no new stream and closes when its streams finish); upstream_cx_max_requests. On an HTTP connection manager's downstream connections it is rejected (not enforced there yet)"),
    },
  },
  [`${core}.Http1ProtocolOptions`]: {
    note: 'setting the message selects HTTP/1.1 where a protocol is chosen; the HTTP/1.0 options apply to downstream connections',
    fields: { accept_http_10: ok, default_host_for_http_10: ok, allow_absolute_url: okNote('default true: absolute-form requests (an HTTP proxy\'s clients) become origin-form with the URL\'s authority') },
  },
  [`${core}.Http2ProtocolOptions`]: {
    fields: { max_concurrent_streams: ok, initial_stream_window_size: ok, initial_connection_window_size: ok },
  },
  'envoy.extensions.filters.http.router.v3.Router': {
    extension: true,
    fields: {
      suppress_envoy_headers: ok,
      respect_expected_rq_timeout: ok,
      start_child_span: ignore('tracing is not implemented'),
      dynamic_stats: ignore('only changes which statistics Envoy keeps'),
    },
  },
  'envoy.extensions.filters.http.health_check.v3.HealthCheck': {
    extension: true,
    fields: {
      pass_through_mode: ok,
      headers: ok,
      cluster_min_healthy_percentages: ok,
      cache_time: later('caching pass-through health check responses is not implemented'),
    },
  },

  // ---- routes
  [`${route}.RouteConfiguration`]: {
    fields: {
      name: ok,
      virtual_hosts: ok,
      request_headers_to_add: ok,
      request_headers_to_remove: ok,
      response_headers_to_add: ok,
      response_headers_to_remove: ok,
      max_direct_response_body_size_bytes: ok,
      internal_only_headers: ok,
      most_specific_header_mutations_wins: ok,
      ignore_port_in_host_matching: ok,
      ignore_path_parameters_in_path_matching: ok,
      validate_clusters: ignore('clusters named by static routes are always checked; RDS routes to a missing cluster answer 503 NC'),
      request_mirror_policies: ok,
      typed_per_filter_config: okNote('per-route config of the fault, local_ratelimit, cors, jwt_authn and rbac filters, compiled at load'),
      metadata: METADATA,
    },
  },
  [`${route}.VirtualHost`]: {
    fields: {
      name: ok,
      domains: ok,
      routes: ok,
      require_tls: ok,
      virtual_clusters: ok,
      request_headers_to_add: ok,
      request_headers_to_remove: ok,
      response_headers_to_add: ok,
      response_headers_to_remove: ok,
      retry_policy: ok,
      request_mirror_policies: ok,
      include_request_attempt_count: ok,
      include_attempt_count_in_response: ok,
      per_request_buffer_limit_bytes: okNote('bounded by the listener\'s per_connection_buffer_limit_bytes'),
      typed_per_filter_config: okNote('per-route config of the fault, local_ratelimit, cors, jwt_authn and rbac filters, compiled at load'),
      rate_limits: okNote('descriptors for the local rate limit filter'),
      metadata: METADATA,
    },
  },
  [`${route}.VirtualCluster`]: { fields: { name: ok, headers: ok } },
  [`${route}.Route`]: {
    fields: {
      name: ok,
      match: ok,
      route: ok,
      redirect: ok,
      direct_response: ok,
      request_headers_to_add: ok,
      request_headers_to_remove: ok,
      response_headers_to_add: ok,
      response_headers_to_remove: ok,
      stat_prefix: ignore('per-route statistics are not emitted'),
      per_request_buffer_limit_bytes: okNote('bounded by the listener\'s per_connection_buffer_limit_bytes'),
      typed_per_filter_config: okNote('per-route config of the fault, local_ratelimit, cors, jwt_authn and rbac filters, compiled at load'),
      metadata: METADATA,
    },
  },
  [`${route}.RouteMatch`]: {
    fields: {
      prefix: ok,
      path: ok,
      safe_regex: ok,
      path_separated_prefix: ok,
      case_sensitive: ok,
      headers: ok,
      query_parameters: ok,
      grpc: ok,
      runtime_fraction: ok,
      connect_matcher: okNote('matches CONNECT requests (which no path matcher matches)'),
    },
  },
  [`${route}.RouteMatch.ConnectMatcher`]: { fields: {} },
  [`${route}.RouteMatch.GrpcRouteMatchOptions`]: { fields: {} },
  [`${route}.RouteAction`]: {
    fields: {
      cluster: ok,
      cluster_header: ok,
      weighted_clusters: ok,
      cluster_not_found_response_code: ok,
      prefix_rewrite: ok,
      regex_rewrite: ok,
      host_rewrite_literal: ok,
      auto_host_rewrite: ok,
      host_rewrite_header: ok,
      host_rewrite_path_regex: ok,
      append_x_forwarded_host: ok,
      timeout: ok,
      idle_timeout: ok,
      hash_policy: ok,
      upgrade_configs: ok,
      priority: { status: 'supported', values: ['DEFAULT', 'HIGH'], note: 'selects the cluster\'s circuit breakers and connection pools of that priority' },
      retry_policy: ok,
      request_mirror_policies: ok,
      max_stream_duration: ok,
      max_grpc_timeout: okNote('deprecated in favour of max_stream_duration.grpc_timeout_header_max'),
      grpc_timeout_offset: okNote('deprecated in favour of max_stream_duration.grpc_timeout_header_offset'),
      rate_limits: okNote('descriptors for the local rate limit filter'),
      include_vh_rate_limits: ok,
    },
  },
  [`${route}.RateLimit`]: {
    fields: {
      stage: ok,
      actions: ok,
      disable_key: ignore('there is no runtime'),
      limit: later('dynamic metadata overrides are not implemented'),
    },
  },
  [`${route}.RateLimit.Action`]: {
    fields: {
      request_headers: ok,
      remote_address: ok,
      generic_key: ok,
      header_value_match: ok,
      destination_cluster: ok,
      source_cluster: later(NOT_YET),
      dynamic_metadata: later(NOT_YET),
      metadata: later(NOT_YET),
      masked_remote_address: later(NOT_YET),
      query_parameter_value_match: later(NOT_YET),
      extension: later(NOT_YET),
    },
  },
  [`${route}.RateLimit.Action.RequestHeaders`]: { fields: { header_name: ok, descriptor_key: ok, skip_if_absent: ok } },
  [`${route}.RateLimit.Action.RemoteAddress`]: { fields: {} },
  [`${route}.RateLimit.Action.DestinationCluster`]: { fields: {} },
  [`${route}.RateLimit.Action.GenericKey`]: { fields: { descriptor_value: ok, descriptor_key: ok } },
  [`${route}.RateLimit.Action.HeaderValueMatch`]: { fields: { descriptor_key: ok, descriptor_value: ok, expect_match: ok, headers: ok } },
  [`${route}.RouteAction.MaxStreamDuration`]: { fields: { max_stream_duration: ok, grpc_timeout_header_max: ok, grpc_timeout_header_offset: ok } },
  [`${route}.RouteAction.RequestMirrorPolicy`]: {
    note: 'the copy is streamed as the request arrives; its response is discarded',
    fields: {
      cluster: ok,
      cluster_header: ok,
      runtime_fraction: ok,
      trace_sampled: ignore('tracing is not implemented'),
      disable_shadow_host_suffix_append: ok,
    },
  },
  [`${route}.RetryPolicy`]: {
    fields: {
      retry_on: okNote('HTTP conditions 5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, retriable-status-codes, retriable-headers; gRPC cancelled, deadline-exceeded, internal, resource-exhausted, unavailable'),
      num_retries: ok,
      per_try_timeout: okNote('starts when the whole request has been received (connection setup time included)'),
      per_try_idle_timeout: ok,
      retry_host_predicate: ok,
      host_selection_retry_max_attempts: ok,
      retriable_status_codes: ok,
      retry_back_off: ok,
      retriable_headers: ok,
      retriable_request_headers: ok,
      retry_priority: okNote('only envoy.retry_priorities.previous_priorities'),
      retry_options_predicates: later('retry options predicates are not implemented'),
      rate_limited_retry_back_off: later('rate-limited back-off (from response headers) is not implemented'),
    },
  },
  [`${route}.RetryPolicy.RetryHostPredicate`]: { note: 'only envoy.retry_host_predicates.previous_hosts', fields: { name: ok, typed_config: ok } },
  [`${route}.RetryPolicy.RetryBackOff`]: { fields: { base_interval: ok, max_interval: ok } },
  'envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate': { extension: true, fields: {} },
  [`${route}.RetryPolicy.RetryPriority`]: { note: 'only envoy.retry_priorities.previous_priorities', fields: { name: ok, typed_config: ok } },
  'envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig': { extension: true, fields: { update_frequency: ok } },
  [`${route}.RouteAction.UpgradeConfig`]: {
    fields: { upgrade_type: ok, enabled: ok, connect_config: okNote('terminates CONNECT: a TCP connection to the chosen host, 200 to the client, then a byte tunnel') },
  },
  [`${route}.RouteAction.UpgradeConfig.ConnectConfig`]: {
    fields: { proxy_protocol_config: later(NOT_YET), allow_post: later('CONNECT-UDP and POST tunnels are not implemented') },
  },
  [`${route}.RedirectAction`]: {
    fields: {
      https_redirect: ok,
      scheme_redirect: ok,
      host_redirect: ok,
      port_redirect: ok,
      path_redirect: ok,
      prefix_rewrite: ok,
      regex_rewrite: ok,
      response_code: ok,
      strip_query: ok,
    },
  },
  [`${route}.DirectResponseAction`]: { fields: { status: ok, body: ok } },
  [`${route}.WeightedCluster`]: { fields: { clusters: ok, total_weight: ok, header_name: ok } },
  [`${route}.WeightedCluster.ClusterWeight`]: {
    fields: {
      name: ok,
      cluster_header: ok,
      weight: ok,
      host_rewrite_literal: ok,
      request_headers_to_add: ok,
      request_headers_to_remove: ok,
      response_headers_to_add: ok,
      response_headers_to_remove: ok,
      typed_per_filter_config: okNote('per-route config of the fault, local_ratelimit, cors, jwt_authn and rbac filters, compiled at load'),
    },
  },
  [`${route}.HeaderMatcher`]: {
    fields: {
      name: ok,
      exact_match: ok,
      safe_regex_match: ok,
      range_match: ok,
      present_match: ok,
      prefix_match: ok,
      suffix_match: ok,
      contains_match: ok,
      string_match: ok,
      invert_match: ok,
      treat_missing_header_as_empty: ok,
    },
  },
  [`${route}.QueryParameterMatcher`]: { fields: { name: ok, string_match: ok, present_match: ok } },
  [`${core}.HeaderValueOption`]: { fields: { header: ok, append: ok, append_action: ok, keep_empty_value: ok } },
  [`${core}.HeaderValue`]: { fields: { key: ok, value: ok, raw_value: ok } },
  [`${route}.RouteAction.HashPolicy`]: {
    fields: { header: ok, cookie: ok, connection_properties: ok, query_parameter: ok, terminal: ok, filter_state: later(NOT_YET) },
  },
  [`${route}.RouteAction.HashPolicy.Header`]: { fields: { header_name: ok } },
  [`${route}.RouteAction.HashPolicy.Cookie`]: { fields: { name: ok, ttl: ok, path: ok } },
  [`${route}.RouteAction.HashPolicy.ConnectionProperties`]: { fields: { source_ip: ok } },
  [`${route}.RouteAction.HashPolicy.QueryParameter`]: { fields: { name: ok } },

  // ---- clusters and endpoints
  [`${core}.HealthCheck`]: {
    fields: {
      timeout: ok,
      interval: ok,
      initial_jitter: ok,
      interval_jitter: ok,
      interval_jitter_percent: ok,
      unhealthy_threshold: ok,
      healthy_threshold: ok,
      reuse_connection: ok,
      http_health_check: ok,
      tcp_health_check: ok,
      grpc_health_check: ok,
      no_traffic_interval: ok,
      no_traffic_healthy_interval: ok,
      unhealthy_interval: ok,
      unhealthy_edge_interval: ok,
      healthy_edge_interval: ok,
      always_log_health_check_failures: okNote('failures are logged at warning level'),
      always_log_health_check_success: ignore('successes are not logged'),
      custom_health_check: later('custom health checkers are not implemented'),
      alt_port: later(NOT_YET),
      event_log_path: later('health check event logs are not implemented; transitions go to the proxy log'),
      event_logger: later('health check event logs are not implemented; transitions go to the proxy log'),
      event_service: later('health check event logs are not implemented'),
      tls_options: later(NOT_YET),
      transport_socket_match_criteria: later('transport socket matches are not implemented'),
    },
  },
  [`${core}.HealthCheck.Payload`]: { fields: { text: okNote('hex-encoded bytes'), binary: ok } },
  [`${core}.HealthCheck.HttpHealthCheck`]: {
    fields: {
      host: ok,
      path: ok,
      request_headers_to_add: ok,
      request_headers_to_remove: ok,
      expected_statuses: ok,
      retriable_statuses: ok,
      codec_client_type: only('HTTP1', 'HTTP2'),
      method: ok,
      send: later('HTTP health check payloads are not implemented'),
      receive: later('HTTP health check payloads are not implemented'),
      response_buffer_size: later('HTTP health check payloads are not implemented'),
      service_name_matcher: later(NOT_YET),
    },
  },
  [`${core}.HealthCheck.TcpHealthCheck`]: { fields: { send: ok, receive: ok, proxy_protocol_config: later(NOT_YET) } },
  [`${core}.HealthCheck.GrpcHealthCheck`]: { fields: { service_name: ok, authority: ok, initial_metadata: ok } },
  [`${cluster}.Cluster.TransportSocketMatch`]: { fields: { name: ok, match: ok, transport_socket: ok } },
  [`${cluster}.Cluster`]: {
    fields: {
      name: ok,
      alt_stat_name: okNote('name of the cluster statistics'),
      type: only('STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS'),
      connect_timeout: ok,
      lb_policy: only('ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV', 'CLUSTER_PROVIDED'),
      cluster_type: okNote('envoy.clusters.dynamic_forward_proxy (with lb_policy CLUSTER_PROVIDED)'),
      load_assignment: ok,
      dns_lookup_family: ok,
      dns_refresh_rate: ok,
      respect_dns_ttl: ok,
      typed_extension_protocol_options: ok,
      http_protocol_options: okNote('selects HTTP/1.1 to the upstream'),
      http2_protocol_options: okNote('selects HTTP/2 to the upstream'),
      transport_socket: ok,
      transport_socket_matches: okNote("per endpoint, by its envoy.transport_socket_match metadata (Istio's auto-mTLS); not by locality metadata"),
      ring_hash_lb_config: ok,
      maglev_lb_config: ok,
      least_request_lb_config: ok,
      round_robin_lb_config: ok,
      common_lb_config: ok,
      per_connection_buffer_limit_bytes: ok,
      metadata: METADATA,
      circuit_breakers: ok,
      upstream_connection_options: ok,
      max_requests_per_connection: okNote('common_http_protocol_options.max_requests_per_connection wins when both are set'),
      health_checks: okNote('one health check per cluster, as in Envoy'),
      outlier_detection: ok,
      eds_cluster_config: ok,
    },
  },
  [`${cluster}.Cluster.EdsClusterConfig`]: { fields: { eds_config: ok, service_name: ok } },
  [`${cluster}.UpstreamConnectionOptions`]: {
    fields: {
      tcp_keepalive: okNote('on every upstream connection of the cluster (HTTP pools, tcp_proxy, CONNECT tunnels)'),
      set_local_interface_name_on_upstream_connections: later(NOT_YET),
      happy_eyeballs_config: later('happy eyeballs is not implemented'),
    },
  },
  [`${core}.TcpKeepalive`]: {
    note: 'Node sets SO_KEEPALIVE and the idle time only (socket.setKeepAlive): there is no way to set TCP_KEEPINTVL or TCP_KEEPCNT from Node without a native addon',
    fields: {
      keepalive_time: okNote('seconds of idleness before the first probe (TCP_KEEPIDLE); absent: the kernel default'),
      keepalive_interval: ignore('accepted; the kernel default (net.ipv4.tcp_keepalive_intvl) applies: Node cannot set TCP_KEEPINTVL'),
      keepalive_probes: ignore('accepted; the kernel default (net.ipv4.tcp_keepalive_probes) applies: Node cannot set TCP_KEEPCNT'),
    },
  },
  [`${cluster}.Cluster.CustomClusterType`]: { fields: { name: ok, typed_config: ok } },
  [`${cluster}.Cluster.RefreshRate`]: { fields: { base_interval: ok, max_interval: ignore('failed lookups are retried every base_interval') } },
  // ---- dynamic forward proxy (an HTTP filter, a cluster type and the DNS cache they share by name)
  'envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig': {
    extension: true,
    fields: {
      dns_cache_config: ok,
      allow_insecure_cluster_options: ignore('auto_sni / auto_san_validation do not exist here: a dynamic forward proxy cluster has no upstream TLS'),
      allow_coalesced_connections: later('HTTP/2 connection coalescing is not implemented'),
      sub_clusters_config: later('sub-clusters are not implemented; use dns_cache_config'),
    },
  },
  'envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig': {
    extension: true,
    fields: {
      dns_cache_config: ok,
      save_upstream_address: ignore('no filter state is kept'),
      sub_cluster_config: later('sub-clusters are not implemented; use dns_cache_config'),
    },
  },
  'envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig': {
    extension: true,
    fields: { host_rewrite_literal: ok, host_rewrite_header: ok },
  },
  'envoy.extensions.common.dynamic_forward_proxy.v3.DnsCacheConfig': {
    note: 'resolved with the system resolver (getaddrinfo, so /etc/hosts applies)',
    fields: {
      name: ok,
      dns_lookup_family: ok,
      dns_refresh_rate: ok,
      host_ttl: ok,
      max_hosts: ok,
      dns_failure_refresh_rate: ok,
      dns_cache_circuit_breaker: ok,
      dns_query_timeout: ok,
      preresolve_hostnames: ok,
      dns_min_refresh_rate: ignore('only applies with DNS TTLs, which getaddrinfo does not report'),
      typed_dns_resolver_config: later('the system resolver is the only one'),
      use_tcp_for_dns_lookups: later('the system resolver is the only one'),
      dns_resolution_config: later('the system resolver is the only one'),
      key_value_config: later('a persistent DNS cache is not implemented'),
    },
  },
  'envoy.extensions.common.dynamic_forward_proxy.v3.DnsCacheCircuitBreakers': { fields: { max_pending_requests: ok } },
  [`${cluster}.OutlierDetection`]: {
    fields: {
      consecutive_5xx: ok,
      consecutive_gateway_failure: ok,
      consecutive_local_origin_failure: ok,
      split_external_local_origin_errors: ok,
      interval: ok,
      base_ejection_time: ok,
      max_ejection_time: ok,
      max_ejection_time_jitter: ok,
      max_ejection_percent: ok,
      always_eject_one_host: ok,
      enforcing_consecutive_5xx: ok,
      enforcing_consecutive_gateway_failure: ok,
      enforcing_consecutive_local_origin_failure: ok,
      enforcing_success_rate: ok,
      enforcing_local_origin_success_rate: ok,
      enforcing_failure_percentage: ok,
      enforcing_failure_percentage_local_origin: ok,
      success_rate_minimum_hosts: ok,
      success_rate_request_volume: ok,
      success_rate_stdev_factor: ok,
      failure_percentage_threshold: ok,
      failure_percentage_minimum_hosts: ok,
      failure_percentage_request_volume: ok,
      successful_active_health_check_uneject_host: ok,
      monitors: later('outlier detection monitor extensions are not implemented'),
    },
  },
  [`${cluster}.CircuitBreakers`]: {
    fields: { thresholds: ok, per_host_thresholds: okNote('only max_connections applies per host, as in Envoy') },
  },
  [`${cluster}.CircuitBreakers.Thresholds`]: {
    fields: {
      priority: ok,
      max_connections: ok,
      max_pending_requests: ok,
      max_requests: ok,
      max_retries: ok,
      retry_budget: ok,
      track_remaining: ok,
      max_connection_pools: later('a limit on the number of connection pools is not implemented'),
    },
  },
  [`${cluster}.CircuitBreakers.Thresholds.RetryBudget`]: { fields: { budget_percent: ok, min_retry_concurrency: ok } },
  [`${cluster}.Cluster.RingHashLbConfig`]: {
    fields: { minimum_ring_size: ok, maximum_ring_size: ok, hash_function: only('XX_HASH') },
  },
  [`${cluster}.Cluster.MaglevLbConfig`]: { fields: { table_size: ok } },
  [`${cluster}.Cluster.LeastRequestLbConfig`]: {
    fields: { choice_count: ok, active_request_bias: ok, slow_start_config: ok },
  },
  [`${cluster}.Cluster.RoundRobinLbConfig`]: { fields: { slow_start_config: ok } },
  [`${cluster}.Cluster.SlowStartConfig`]: {
    note: "a host's window starts when its cluster's balancer first gets it (Envoy's behaviour without active health checking); a host that fails active health checks and recovers does not start it again",
    fields: { slow_start_window: ok, aggression: ok, min_weight_percent: ok },
  },
  [`${cluster}.Cluster.CommonLbConfig`]: {
    fields: {
      healthy_panic_threshold: ok,
      consistent_hashing_lb_config: ok,
      locality_weighted_lb_config: ok,
      zone_aware_lb_config: later('zone-aware routing is not implemented'),
    },
  },
  [`${cluster}.Cluster.CommonLbConfig.LocalityWeightedLbConfig`]: { fields: {} },
  [`${cluster}.Cluster.CommonLbConfig.ConsistentHashingLbConfig`]: {
    fields: {
      use_hostname_for_hashing: later('hosts are always hashed by their address'),
      hash_balance_factor: later('bounded-load consistent hashing is not implemented'),
    },
  },
  'envoy.config.endpoint.v3.ClusterLoadAssignment': { fields: { cluster_name: ok, endpoints: ok, policy: ok } },
  'envoy.config.endpoint.v3.ClusterLoadAssignment.Policy': {
    fields: {
      overprovisioning_factor: ok,
      drop_overloads: later(NOT_YET),
      weighted_priority_health: later('priority health counts hosts, not their weights'),
      endpoint_stale_after: later('stale EDS assignments are kept'),
    },
  },
  'envoy.config.endpoint.v3.LocalityLbEndpoints': {
    fields: { locality: ok, lb_endpoints: ok, load_balancing_weight: ok, priority: ok, metadata: METADATA },
  },
  'envoy.config.endpoint.v3.LbEndpoint': {
    fields: { endpoint: ok, health_status: ok, load_balancing_weight: ok, metadata: METADATA },
  },
  'envoy.config.endpoint.v3.Endpoint': {
    fields: { address: ok, hostname: ok, health_check_config: later('active health checking is not implemented yet') },
  },
  [`${upstreamHttp}.HttpProtocolOptions`]: {
    extension: true,
    fields: { explicit_http_config: ok, use_downstream_protocol_config: ok, common_http_protocol_options: ok, auto_config: later(NOT_YET) },
  },
  [`${upstreamHttp}.HttpProtocolOptions.ExplicitHttpConfig`]: { fields: { http_protocol_options: ok, http2_protocol_options: ok } },
  [`${upstreamHttp}.HttpProtocolOptions.UseDownstreamHttpConfig`]: { fields: { http_protocol_options: ok, http2_protocol_options: ok } },

  // ---- access logs
  'envoy.config.accesslog.v3.AccessLog': { fields: { name: ok, typed_config: ok, filter: ok } },
  'envoy.config.accesslog.v3.AccessLogFilter': {
    note: 'one kind per filter; compiled once into a predicate over the finished request (src/proxy/observability/access-log-filter.ts)',
    fields: {
      status_code_filter: ok,
      duration_filter: ok,
      not_health_check_filter: ok,
      runtime_filter: ok,
      and_filter: ok,
      or_filter: ok,
      header_filter: ok,
      response_flag_filter: ok,
      grpc_status_filter: ok,
      traceable_filter: later('tracing decisions are not kept'),
      metadata_filter: later('not implemented'),
      log_type_filter: later('Meshwork writes request and connection logs only at their end'),
      extension_filter: later('no access log filter extensions'),
    },
  },
  'envoy.config.accesslog.v3.ComparisonFilter': { fields: { op: ok, value: ok } },
  'envoy.config.accesslog.v3.StatusCodeFilter': { fields: { comparison: okNote('against the response code; 0 when none was sent') } },
  'envoy.config.accesslog.v3.DurationFilter': { fields: { comparison: okNote('against the request duration in ms') } },
  'envoy.config.accesslog.v3.NotHealthCheckFilter': { fields: {} },
  'envoy.config.accesslog.v3.RuntimeFilter': {
    fields: {
      runtime_key: ignore('no runtime: percent_sampled is the rate'),
      percent_sampled: ok,
      use_independent_randomness: okNote('always independent: each request is drawn on its own, at the same rate'),
    },
  },
  'envoy.config.accesslog.v3.AndFilter': { fields: { filters: ok } },
  'envoy.config.accesslog.v3.OrFilter': { fields: { filters: ok } },
  'envoy.config.accesslog.v3.HeaderFilter': { fields: { header: okNote('matched against the request headers as a route matches them') } },
  'envoy.config.accesslog.v3.ResponseFlagFilter': { fields: { flags: okNote('short names (UF, NR, ...); none: any flag') } },
  'envoy.config.accesslog.v3.GrpcStatusFilter': { fields: { statuses: ok, exclude: ok } },
  [`${core}.RuntimeUInt32`]: { fields: { default_value: ok, runtime_key: ignore('no runtime: default_value is the value') } },
  'envoy.extensions.access_loggers.file.v3.FileAccessLog': {
    extension: true,
    fields: {
      path: ok,
      log_format: ok,
      format: okNote('prefer log_format'),
      json_format: okNote('prefer log_format'),
      typed_json_format: okNote('prefer log_format'),
    },
  },
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy': {
    extension: true,
    fields: {
      stat_prefix: okNote('prefix of the TCP proxy statistics'),
      cluster: ok,
      weighted_clusters: ok,
      idle_timeout: ok,
      max_connect_attempts: ok,
      access_log: ok,
    },
  },
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster': { fields: { clusters: ok } },
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight': { fields: { name: ok, weight: ok } },

  // ---- fault injection and local rate limiting
  'envoy.extensions.filters.http.fault.v3.HTTPFault': {
    extension: true,
    fields: {
      delay: ok,
      abort: ok,
      upstream_cluster: ok,
      headers: ok,
      downstream_nodes: ok,
      max_active_faults: ok,
      response_rate_limit: ok,
      disable_downstream_cluster_stats: ok,
      delay_percent_runtime: ignore('there is no runtime: the configured values apply'),
      abort_percent_runtime: ignore('there is no runtime: the configured values apply'),
      delay_duration_runtime: ignore('there is no runtime: the configured values apply'),
      abort_http_status_runtime: ignore('there is no runtime: the configured values apply'),
      max_active_faults_runtime: ignore('there is no runtime: the configured values apply'),
      response_rate_limit_percent_runtime: ignore('there is no runtime: the configured values apply'),
      abort_grpc_status_runtime: ignore('there is no runtime: the configured values apply'),
      filter_metadata: METADATA,
    },
  },
  'envoy.extensions.filters.http.fault.v3.FaultAbort': { fields: { http_status: ok, grpc_status: ok, header_abort: ok, percentage: ok } },
  'envoy.extensions.filters.http.fault.v3.FaultAbort.HeaderAbort': { fields: {} },
  'envoy.extensions.filters.common.fault.v3.FaultDelay': { fields: { fixed_delay: ok, header_delay: ok, percentage: ok } },
  'envoy.extensions.filters.common.fault.v3.FaultDelay.HeaderDelay': { fields: {} },
  'envoy.extensions.filters.common.fault.v3.FaultRateLimit': { fields: { fixed_limit: ok, header_limit: ok, percentage: ok } },
  'envoy.extensions.filters.common.fault.v3.FaultRateLimit.FixedLimit': { fields: { limit_kbps: ok } },
  'envoy.extensions.filters.common.fault.v3.FaultRateLimit.HeaderLimit': { fields: {} },
  'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit': {
    extension: true,
    fields: {
      stat_prefix: ok,
      status: ok,
      token_bucket: ok,
      filter_enabled: ok,
      filter_enforced: ok,
      request_headers_to_add_when_not_enforced: ok,
      response_headers_to_add: ok,
      descriptors: ok,
      stage: ok,
      local_rate_limit_per_downstream_connection: ok,
      enable_x_ratelimit_headers: ok,
      vh_rate_limits: ok,
      always_consume_default_token_bucket: ok,
      rate_limited_as_resource_exhausted: ok,
      local_cluster_rate_limit: later('sharing a limit across the local cluster is not implemented'),
    },
  },
  // ---- CORS: the filter has no settings; routes carry a CorsPolicy in typed_per_filter_config
  'envoy.extensions.filters.http.cors.v3.Cors': { extension: true, fields: {} },
  'envoy.extensions.filters.http.cors.v3.CorsPolicy': {
    extension: true,
    note: 'in typed_per_filter_config of a route, virtual host, weighted cluster or route configuration',
    fields: {
      allow_origin_string_match: ok,
      allow_methods: ok,
      allow_headers: ok,
      expose_headers: ok,
      max_age: ok,
      allow_credentials: ok,
      allow_private_network_access: ok,
      forward_not_matching_preflights: ok,
      filter_enabled: ok,
      shadow_enabled: ok,
    },
  },
  // ---- JWT authentication (docs/security.md)
  [`${jwtAuthn}.JwtAuthentication`]: {
    extension: true,
    fields: {
      providers: ok,
      rules: okNote('the first rule whose match matches decides; no match: nothing is required'),
      requirement_map: ok,
      bypass_cors_preflight: ok,
      strip_failure_response: ok,
      filter_state_rules: later('choosing requirements from filter state is not implemented'),
    },
  },
  [`${jwtAuthn}.JwtProvider`]: {
    fields: {
      issuer: ok,
      audiences: okNote('compared without http:// or https:// and a trailing slash, as Envoy does'),
      subjects: okNote('a subject that does not match fails with "Jwt verification fails"'),
      require_expiration: ok,
      max_lifetime: okNote('a token living longer fails with "Jwt is expired"'),
      remote_jwks: ok,
      local_jwks: okNote('read and checked when the config is applied: a set without any usable key is rejected'),
      forward: okNote('without it the token is removed from its header or query parameter (cookies stay, as in Envoy)'),
      from_headers: ok,
      from_params: ok,
      from_cookies: ok,
      forward_payload_header: ok,
      pad_forward_payload_header: ok,
      payload_in_metadata: okNote('dynamic metadata namespace envoy.filters.http.jwt_authn, read by RBAC and %DYNAMIC_METADATA%'),
      normalize_payload_in_metadata: ok,
      header_in_metadata: ok,
      failed_status_in_metadata: later(NOT_YET),
      clock_skew_seconds: okNote('default 60'),
      jwt_cache_config: ok,
      claim_to_headers: ok,
      clear_route_cache: ok,
    },
  },
  [`${jwtAuthn}.JwtProvider.NormalizePayload`]: { fields: { space_delimited_claims: ok } },
  [`${jwtAuthn}.JwtCacheConfig`]: { fields: { jwt_cache_size: okNote('default 100 verified tokens per provider') } },
  [`${jwtAuthn}.RemoteJwks`]: {
    note: 'fetched through the named cluster (its hosts, TLS and circuit breakers); a token whose kid no cached key has triggers one refetch, at most every 30 s per provider',
    fields: {
      http_uri: ok,
      cache_duration: okNote('default 10 minutes'),
      async_fetch: okNote('fetched when the config is applied and refreshed in the background; expired keys serve until new ones arrive'),
      retry_policy: okNote('retries 5xx, gateway errors, connect failures and resets'),
    },
  },
  [`${jwtAuthn}.JwksAsyncFetch`]: {
    fields: {
      fast_listener: ignore('listeners never wait for the first fetch; requests that arrive before it wait for it instead'),
      failed_refetch_duration: okNote('default 1 s'),
    },
  },
  [`${jwtAuthn}.JwtHeader`]: { fields: { name: ok, value_prefix: ok } },
  [`${jwtAuthn}.JwtClaimToHeader`]: { fields: { header_name: ok, claim_name: okNote('nested claims as a.b.c; strings, numbers and booleans only') } },
  [`${jwtAuthn}.ProviderWithAudiences`]: { fields: { provider_name: ok, audiences: ok } },
  [`${jwtAuthn}.JwtRequirement`]: {
    fields: { provider_name: ok, provider_and_audiences: ok, requires_any: ok, requires_all: ok, allow_missing_or_failed: ok, allow_missing: ok },
  },
  [`${jwtAuthn}.JwtRequirementOrList`]: { fields: { requirements: ok } },
  [`${jwtAuthn}.JwtRequirementAndList`]: { fields: { requirements: ok } },
  [`${jwtAuthn}.RequirementRule`]: { fields: { match: ok, requires: ok, requirement_name: ok } },
  [`${jwtAuthn}.PerRouteConfig`]: {
    extension: true,
    note: 'in typed_per_filter_config of a route, virtual host or route configuration',
    fields: { disabled: ok, requirement_name: okNote('an unknown name is answered 403, as in Envoy') },
  },
  // ---- external authorization (docs/security.md, "External authorization (CUSTOM)")
  [`${extAuthz}.ExtAuthz`]: {
    extension: true,
    fields: {
      grpc_service: okNote('envoy_grpc only: envoy.service.auth.v3.Authorization/Check through the cluster (which must speak HTTP/2); default timeout 200 ms'),
      http_service: okNote('default timeout 200 ms'),
      transport_api_version: only('V3'),
      failure_mode_allow: ok,
      failure_mode_allow_header_add: okNote('adds x-envoy-auth-failure-mode-allowed: true to the request'),
      with_request_body: ok,
      clear_route_cache: ok,
      status_on_error: okNote('default 403'),
      metadata_context_namespaces: ok,
      filter_enabled: okNote('its default_value fraction'),
      filter_enabled_metadata: ok,
      deny_at_disable: ok,
      stat_prefix: okNote('<hcm stat_prefix>ext_authz.<stat_prefix>.{ok,denied,error,disabled,failure_mode_allowed}'),
      allowed_headers: ok,
      disallowed_headers: ok,
      include_tls_session: ok,
      enable_dynamic_metadata_ingestion: ok,
      charge_cluster_response_stats: ignore('per-cluster ext_authz statistics are not kept'),
      include_peer_certificate: okNote('source.certificate: the client certificate, URL-encoded PEM'),
      validate_mutations: later(NOT_YET),
      typed_metadata_context_namespaces: later('no Meshwork filter writes typed metadata'),
      route_metadata_context_namespaces: later('route metadata is not implemented'),
      route_typed_metadata_context_namespaces: later('route metadata is not implemented'),
      bootstrap_metadata_labels_key: later(NOT_YET),
      encode_raw_headers: later(NOT_YET),
      decoder_header_mutation_rules: later(NOT_YET),
    },
  },
  'envoy.extensions.filters.network.ext_authz.v3.ExtAuthz': {
    extension: true,
    note: 'checked when the connection reaches the filter (Envoy: on its first bytes); held until the answer',
    fields: {
      stat_prefix: okNote('ext_authz.<stat_prefix>.{total,ok,denied,error,failure_mode_allowed,cx_closed,disabled,active}'),
      grpc_service: okNote('envoy_grpc only: envoy.service.auth.v3.Authorization/Check through the cluster (which must speak HTTP/2); default timeout 200 ms'),
      failure_mode_allow: ok,
      transport_api_version: only('V3'),
      filter_enabled_metadata: okNote("matched against the connection's dynamic metadata (network RBAC's shadow result)"),
      include_tls_session: okNote('tls_session.sni'),
      include_peer_certificate: okNote('source.certificate: the client certificate, URL-encoded PEM'),
      bootstrap_metadata_labels_key: later(NOT_YET),
    },
  },
  [`${extAuthz}.BufferSettings`]: {
    note: 'past max_request_bytes without allow_partial_message the client gets 413 and nothing is checked',
    fields: { max_request_bytes: ok, allow_partial_message: ok, pack_as_bytes: okNote('gRPC only: raw_body instead of body') },
  },
  [`${extAuthz}.HttpService`]: { fields: { server_uri: okNote('cluster and timeout; uri is not used, as in Envoy'), path_prefix: ok, authorization_request: ok, authorization_response: ok } },
  [`${extAuthz}.AuthorizationRequest`]: { fields: { allowed_headers: okNote('deprecated: joins the top-level allowed_headers'), headers_to_add: okNote('values are format strings (%REQ(...)% etc.)') } },
  [`${extAuthz}.AuthorizationResponse`]: {
    fields: { allowed_upstream_headers: ok, allowed_upstream_headers_to_append: ok, allowed_client_headers: ok, allowed_client_headers_on_success: ok, dynamic_metadata_from_headers: ok },
  },
  [`${extAuthz}.ExtAuthzPerRoute`]: {
    extension: true,
    note: 'in typed_per_filter_config: the most specific level applies as a whole (context_extensions of several levels are not merged)',
    fields: { disabled: ok, check_settings: ok },
  },
  [`${extAuthz}.CheckSettings`]: { fields: { context_extensions: ok, disable_request_body_buffering: ok, with_request_body: ok } },
  [`${matcher}.ListStringMatcher`]: { fields: { patterns: ok } },
  [`${core}.HttpUri`]: { fields: { uri: ok, cluster: ok, timeout: ok } },
  'google.protobuf.Empty': { fields: {} },
  'envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor': { fields: { entries: ok, token_bucket: ok } },
  'envoy.extensions.common.ratelimit.v3.RateLimitDescriptor.Entry': { fields: { key: ok, value: ok } },
  'envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit': {
    extension: true,
    fields: { stat_prefix: ok, token_bucket: ok, runtime_enabled: ok, share_key: later(NOT_YET) },
  },
  // ---- RBAC (docs/security.md, "RBAC in the proxy")
  'envoy.extensions.filters.http.rbac.v3.RBAC': {
    extension: true,
    fields: {
      rules: ok,
      rules_stat_prefix: ok,
      shadow_rules: ok,
      shadow_rules_stat_prefix: okNote('prefixes the shadow statistics and the shadow_* dynamic metadata keys'),
      matcher: later('the matcher API is not implemented; write rules policies'),
      shadow_matcher: later('the matcher API is not implemented; write shadow_rules policies'),
      track_per_rule_stats: later('per-policy statistics are not implemented'),
    },
  },
  'envoy.extensions.filters.http.rbac.v3.RBACPerRoute': {
    extension: true,
    note: 'in typed_per_filter_config: replaces the filter\'s rules and shadow_rules; without rbac (or rules) the filter is off',
    fields: { rbac: ok },
  },
  'envoy.extensions.filters.network.rbac.v3.RBAC': {
    extension: true,
    fields: {
      stat_prefix: ok,
      rules: ok,
      shadow_rules: ok,
      shadow_rules_stat_prefix: okNote('prefixes the shadow statistics and the shadow_* connection metadata keys'),
      enforcement_type: okNote('both types check once, when the connection reaches the filter: every input a rule can read is fixed per connection'),
      matcher: later('the matcher API is not implemented; write rules policies'),
      shadow_matcher: later('the matcher API is not implemented; write shadow_rules policies'),
    },
  },
  'envoy.config.rbac.v3.RBAC': {
    fields: {
      action: ok,
      policies: okNote('tried in the byte order of their names; the first match is the effective policy'),
      audit_logging_options: later('RBAC audit loggers are not implemented'),
    },
  },
  'envoy.config.rbac.v3.Policy': {
    fields: { permissions: ok, principals: ok, condition: later('CEL conditions are not implemented'), checked_condition: later('CEL conditions are not implemented') },
  },
  'envoy.config.rbac.v3.Permission': {
    fields: {
      and_rules: ok,
      or_rules: ok,
      any: ok,
      header: okNote('several values of one header are matched joined with ","'),
      url_path: okNote('the normalized :path without query and fragment'),
      destination_ip: ok,
      destination_port: ok,
      destination_port_range: ok,
      not_rule: ok,
      requested_server_name: ok,
      metadata: okNote('the stream\'s dynamic metadata (e.g. the JWT payload jwt_authn writes); a connection has none'),
      matcher: later('permission matcher extensions are not implemented'),
      uri_template: later('uri_template is not implemented; use url_path'),
    },
  },
  'envoy.config.rbac.v3.Permission.Set': { fields: { rules: ok } },
  'envoy.config.rbac.v3.Principal': {
    fields: {
      and_ids: ok,
      or_ids: ok,
      any: ok,
      authenticated: ok,
      source_ip: okNote('deprecated in Envoy: the connection peer, as direct_remote_ip'),
      direct_remote_ip: ok,
      remote_ip: okNote('the client address after x-forwarded-for processing'),
      header: ok,
      url_path: ok,
      not_id: ok,
      metadata: okNote('the stream\'s dynamic metadata (e.g. the JWT payload jwt_authn writes); a connection has none'),
      filter_state: later('filter state is not implemented'),
    },
  },
  'envoy.config.rbac.v3.Principal.Set': { fields: { ids: ok } },
  'envoy.config.rbac.v3.Principal.Authenticated': {
    fields: { principal_name: okNote('matched against the peer certificate\'s URI SANs, then DNS SANs, then its subject') },
  },
  [`${matcher}.PathMatcher`]: { fields: { path: ok } },
  [`${matcher}.MetadataMatcher`]: {
    note: 'a missing key, or a step into a non-struct, is an unset value that no value matcher accepts',
    fields: { filter: ok, path: ok, value: ok, invert: ok },
  },
  [`${matcher}.MetadataMatcher.PathSegment`]: { fields: { key: ok } },
  [`${matcher}.ValueMatcher`]: {
    fields: {
      null_match: ok,
      double_match: ok,
      string_match: okNote('string values only'),
      bool_match: ok,
      present_match: okNote('any set value, lists and structs included (Envoy\'s PresentMatcher)'),
      list_match: ok,
      or_match: ok,
    },
  },
  [`${matcher}.ValueMatcher.NullMatch`]: { fields: {} },
  [`${matcher}.ListMatcher`]: { fields: { one_of: ok } },
  [`${matcher}.OrMatcher`]: { fields: { value_matchers: ok } },
  [`${matcher}.DoubleMatcher`]: { fields: { range: okNote('[start, end)'), exact: ok } },
  'envoy.type.v3.DoubleRange': { fields: { start: ok, end: ok } },
  'envoy.type.v3.Int32Range': { fields: { start: ok, end: ok } },
  'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog': { extension: true, fields: { log_format: ok } },
  'envoy.extensions.access_loggers.stream.v3.StderrAccessLog': { extension: true, fields: { log_format: ok } },
  [`${core}.SubstitutionFormatString`]: {
    fields: {
      text_format: ok,
      text_format_source: ok,
      json_format: ok,
      omit_empty_values: ok,
      content_type: ok,
      json_format_options: ok,
      formatters: later('formatter extensions are not implemented yet'),
    },
  },
  [`${core}.JsonFormatOptions`]: { fields: { sort_properties: ok } },
};

/** The support entry of a message type, if Meshwork implements any of it. */
export function messageSupport(typeName: string): MessageSupport | undefined {
  return TABLE[typeName];
}

/** The whole table, for the docs generator and tests: message name → entry, in the order written above. */
export function supportTable(): ReadonlyArray<readonly [string, MessageSupport]> {
  return Object.entries(TABLE);
}
