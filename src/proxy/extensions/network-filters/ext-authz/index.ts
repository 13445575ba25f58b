// envoy.filters.network.ext_authz (envoy.extensions.filters.network.ext_authz.v3.ExtAuthz): asks an external
// authorization service whether a TCP connection may go on, as Envoy's network ext_authz filter
// (source/extensions/filters/network/ext_authz) does:
//  - The check is a CheckRequest (Envoy's CheckRequestUtils::createTcpCheck) with the source (peer address and the
//    principal of its certificate) and the destination (local address and our certificate's principal), and
//    tls_session.sni with include_tls_session — no request attributes: a connection has none. It goes to
//    grpc_service (envoy_grpc only) through the named cluster with the HTTP filter's gRPC client, within the
//    service's timeout (default 200 ms).
//  - While the check is out the connection is held: nothing is read from the client and the next filter
//    (tcp_proxy) has not connected upstream, so no byte moves either way.
//  - OK: the connection goes on to the next filter (counted `ok`). Denied: closed without flushing (`denied`,
//    `cx_closed`). Error (unreachable, timeout, gRPC failure): closed (`error`, `cx_closed`), or with
//    failure_mode_allow passed on (`error`, `failure_mode_allowed`).
//  - filter_enabled_metadata is matched against the connection's dynamic metadata (what the filters before it
//    wrote, e.g. network RBAC's shadow result, which Istio's CUSTOM action uses); a connection it does not match
//    is passed unchecked (`disabled`), as in Envoy.
// Statistics: ext_authz.<stat_prefix>.{total,ok,denied,error,failure_mode_allowed,cx_closed,disabled} and the
// gauge ext_authz.<stat_prefix>.active (checks in flight).
//
// When: Envoy sends the check on the first bytes from the client (onData) so that a filter before it can fill in
// what the check carries. Every input here is fixed once the connection is set up, so the check goes out when
// the connection reaches this filter: the decision is the same, it only comes before the first byte (a denied
// client that never writes is closed rather than left open, and a server-first protocol gets no greeting from
// the upstream before the decision — Envoy's tcp_proxy would already have connected).
import { ConfigError } from '../../../../common/errors.js';
import { logger } from '../../../../common/log.js';
import type { DownstreamConnectionContext, NetworkFilter, NetworkFilterContext, NetworkFilterFactory } from '../../../listener/network-filter.js';
import type { Counter, Gauge } from '../../../observability/stats.js';
import { compileMetadataMatcher, type DynamicMetadata } from '../../common/rbac/metadata-matcher.js';
import { peerAttributes, type AuthzResponse, type Json, type PendingCheck } from '../../http-filters/ext-authz/check-request.js';
import { GrpcAuthzClient } from '../../http-filters/ext-authz/grpc-client.js';

const log = logger('ext_authz');
const DEFAULT_TIMEOUT_MS = 200;

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);
const unsupported = (path: string, reason: string) => new ConfigError('MW_CONFIG_UNSUPPORTED', path, reason);

/** What the filter needs of a check client: the HTTP filter's GrpcAuthzClient, or a fake in unit tests. */
export interface ConnectionAuthzClient {
  check(request: Json): PendingCheck;
}

export interface NetworkExtAuthzStats {
  readonly total: Counter;
  readonly ok: Counter;
  readonly denied: Counter;
  readonly error: Counter;
  readonly failure_mode_allowed: Counter;
  readonly cx_closed: Counter;
  readonly disabled: Counter;
  readonly active: Gauge;
}

export interface NetworkExtAuthzConfig {
  readonly client: ConnectionAuthzClient;
  readonly failureModeAllow: boolean;
  readonly includeTlsSession: boolean;
  readonly includePeerCertificate: boolean;
  /** filter_enabled_metadata, or undefined: always check */
  readonly enabled: ((metadata: DynamicMetadata) => boolean) | undefined;
  readonly stats: NetworkExtAuthzStats;
}

export function compileNetworkExtAuthz(cfg: any, ctx: Pick<NetworkFilterContext, 'stats' | 'path' | 'clusterManager'>, client?: ConnectionAuthzClient): NetworkExtAuthzConfig {
  const path = ctx.path;
  if (!cfg.stat_prefix) throw invalid(`${path}.stat_prefix`, 'a stat prefix is required');
  if (cfg.transport_api_version !== undefined && cfg.transport_api_version !== 'V3') {
    throw invalid(`${path}.transport_api_version`, `only V3 is served (envoy.service.auth.v3), not ${cfg.transport_api_version}`);
  }
  if (cfg.bootstrap_metadata_labels_key) {
    throw unsupported(`${path}.bootstrap_metadata_labels_key`, 'destination labels from the node metadata are not sent');
  }
  const g = cfg.grpc_service;
  const gp = `${path}.grpc_service`;
  if (!g) throw invalid(gp, 'the authorization service is required');
  if (!g.envoy_grpc) throw unsupported(`${gp}.google_grpc`, 'only envoy_grpc (a cluster of this proxy) can reach the authorization service');
  const cluster: string = g.envoy_grpc.cluster_name ?? '';
  if (!cluster) throw invalid(`${gp}.envoy_grpc.cluster_name`, 'a cluster name is required');
  const metadata = (g.initial_metadata ?? []).map((m: any, i: number): [string, string] => {
    if (!m.key) throw invalid(`${gp}.initial_metadata[${i}].key`, 'a header name is required');
    return [String(m.key).toLowerCase(), m.value ?? ''];
  });
  const c =
    client ?? new GrpcAuthzClient(ctx.clusterManager, { cluster, authority: g.envoy_grpc.authority || cluster, timeoutMs: g.timeout ?? DEFAULT_TIMEOUT_MS, metadata });
  const enabled = cfg.filter_enabled_metadata ? compileMetadataMatcher(cfg.filter_enabled_metadata, `${path}.filter_enabled_metadata`) : undefined;
  const s = ctx.stats.scope(`ext_authz.${cfg.stat_prefix}.`);
  return Object.freeze({
    client: c,
    failureModeAllow: cfg.failure_mode_allow === true,
    includeTlsSession: cfg.include_tls_session === true,
    includePeerCertificate: cfg.include_peer_certificate === true,
    enabled,
    stats: Object.freeze({
      total: s.counter('total'),
      ok: s.counter('ok'),
      denied: s.counter('denied'),
      error: s.counter('error'),
      failure_mode_allowed: s.counter('failure_mode_allowed'),
      cx_closed: s.counter('cx_closed'),
      disabled: s.counter('disabled'),
      active: s.gauge('active'),
    }),
  });
}

/** Envoy's createTcpCheck: the peers of the connection, no request. */
export function createTcpCheckRequest(conn: Pick<DownstreamConnectionContext, 'peer' | 'local' | 'tls' | 'sni'>, includeTlsSession: boolean, includePeerCertificate = false): Json {
  const tls = conn.tls;
  const attributes: Json = peerAttributes(conn.peer, conn.local, tls, includePeerCertificate);
  const sni = conn.sni ?? tls?.sni;
  if (includeTlsSession && sni) attributes.tls_session = { sni };
  return { attributes };
}

export function networkExtAuthz(c: NetworkExtAuthzConfig): NetworkFilter {
  const st = c.stats;
  return {
    terminal: false,
    onConnection(conn, next) {
      if (c.enabled !== undefined && !c.enabled(conn.dynamicMetadata)) {
        st.disabled.inc();
        next();
        return;
      }
      const socket = conn.socket;
      // The connection is held by not passing it on: nobody reads it until the next filter takes over (the socket
      // only buffers up to its high-water mark), and its flowing state is left as the listener set it, which the
      // next filter expects (pausing here would keep an HTTP connection manager's 'data' listener from firing).
      st.total.inc();
      st.active.inc();
      let settled = false;
      const pending = c.client.check(createTcpCheckRequest(conn, c.includeTlsSession, c.includePeerCertificate));
      // the client went away first: nothing to decide, stop the call
      const onClose = () => {
        if (settled) return;
        settled = true;
        st.active.dec();
        pending.cancel();
      };
      socket.once('close', onClose);
      pending.result.then(
        (r: AuthzResponse) => {
          if (settled) return;
          settled = true;
          st.active.dec();
          socket.off('close', onClose);
          if (r.status === 'ok') st.ok.inc();
          else if (r.status === 'denied') st.denied.inc();
          else st.error.inc();
          if (r.status === 'ok' || (r.status === 'error' && c.failureModeAllow)) {
            if (r.status === 'error') st.failure_mode_allowed.inc();
            next();
            return;
          }
          st.cx_closed.inc();
          log.debug({ peer: conn.peer, details: r.status === 'denied' ? 'ext_authz_denied' : 'ext_authz_error' }, 'connection closed by ext_authz');
          socket.destroy();
        },
        () => {
          // the clients turn every failure into an error response; a rejection here is a bug, so fail closed
          if (settled) return;
          settled = true;
          st.active.dec();
          st.error.inc();
          st.cx_closed.inc();
          socket.destroy();
        },
      );
    },
  };
}

export const networkExtAuthzFilter: NetworkFilterFactory = {
  typeUrls: ['type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz'],
  create(config: any, ctx): NetworkFilter {
    return networkExtAuthz(compileNetworkExtAuthz(config, ctx));
  },
};
