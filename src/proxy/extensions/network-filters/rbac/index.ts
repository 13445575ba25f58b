// envoy.filters.network.rbac (envoy.extensions.filters.network.rbac.v3.RBAC): role-based access control on a
// connection, as Envoy's network RoleBasedAccessControlFilter. The shadow engine is counted (shadow_allowed /
// shadow_denied), then the enforced one decides: allowed connections go on to the next filter (counted as
// allowed), denied ones are closed at once without flushing (counted as denied; the debug log names
// rbac_access_denied_matched_policy[<policy>|none], Envoy's connection termination details). Statistics:
// <stat_prefix>.rbac.{allowed,denied} and <stat_prefix>.rbac.<shadow_rules_stat_prefix>{shadow_allowed,shadow_denied}.
//
// The shadow engine writes <shadow_rules_stat_prefix>shadow_engine_result ("allowed" / "denied") and, when a
// policy matched, <shadow_rules_stat_prefix>shadow_effective_policy_id into the connection's dynamic metadata
// (namespace envoy.filters.network.rbac), as Envoy does: Istio's CUSTOM action gates the network ext_authz filter
// on it (filter_enabled_metadata).
//
// When: Envoy checks on the first bytes from the client (ONE_TIME_ON_FIRST_BYTE) or on every read (CONTINUOUS)
// because its rules may read dynamic metadata that other network filters write as data flows. Here every input a
// rule can read — addresses, ports, SNI, the peer certificate, the metadata earlier filters wrote — is fixed when
// the connection reaches this filter (no Meshwork network filter writes metadata while data flows), so both
// types are checked once, then:
// the decision is the one Envoy would reach, it only comes before the first byte (a denied client that never
// writes is closed rather than left open), and the counters count connections.
// Header and url_path rules see no request on a connection: headers are an empty map and url_path never matches.
import { ConfigError } from '../../../../common/errors.js';
import { logger } from '../../../../common/log.js';
import type { DownstreamConnectionContext, NetworkFilter, NetworkFilterFactory } from '../../../listener/network-filter.js';
import { compileRbacEngines, decide, denyDetails, METADATA, recordShadowResult } from '../../common/rbac/engine.js';
import { NO_HEADERS, type RbacConnection } from '../../common/rbac/matchers.js';

const log = logger('rbac');
/** the dynamic metadata namespace Envoy writes the shadow result to, whatever the filter's name */
const METADATA_NAMESPACE = 'envoy.filters.network.rbac';

export const networkRbacFilter: NetworkFilterFactory = {
  typeUrls: ['type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC'],
  create(config: any, ctx): NetworkFilter {
    const path = ctx.path;
    if (!config.stat_prefix) throw new ConfigError('MW_CONFIG_INVALID', `${path}.stat_prefix`, 'a stat prefix is required');
    const enforcement = config.enforcement_type ?? 'ONE_TIME_ON_FIRST_BYTE';
    if (enforcement !== 'ONE_TIME_ON_FIRST_BYTE' && enforcement !== 'CONTINUOUS') {
      throw new ConfigError('MW_CONFIG_INVALID', `${path}.enforcement_type`, `unknown enforcement type ${String(enforcement)}`);
    }
    const { enforced, shadow } = compileRbacEngines(config, path);
    // statPrefixJoin: "<stat_prefix>." unless it already ends with a dot
    const base = `${config.stat_prefix}${String(config.stat_prefix).endsWith('.') ? '' : '.'}rbac.`;
    const shadowPrefix: string = config.shadow_rules_stat_prefix ?? '';
    const allowed = ctx.stats.counter(`${base}allowed`);
    const denied = ctx.stats.counter(`${base}denied`);
    const shadowAllowed = ctx.stats.counter(`${base}${shadowPrefix}shadow_allowed`);
    const shadowDenied = ctx.stats.counter(`${base}${shadowPrefix}shadow_denied`);
    const shadowFields = { policy: `${shadowPrefix}${METADATA.shadowEffectivePolicyId}`, result: `${shadowPrefix}${METADATA.shadowEngineResult}` };
    return {
      terminal: false,
      onConnection(conn, next) {
        const view = connectionView(conn);
        if (shadow !== undefined) {
          const d = decide(shadow, NO_HEADERS, view);
          (d.allowed ? shadowAllowed : shadowDenied).inc();
          recordShadowResult(conn, METADATA_NAMESPACE, d, shadowFields);
        }
        if (enforced === undefined) {
          next();
          return;
        }
        const d = decide(enforced, NO_HEADERS, view);
        if (d.allowed) {
          allowed.inc();
          next();
          return;
        }
        denied.inc();
        log.debug({ peer: conn.peer, details: denyDetails(d.policy) }, 'connection denied by RBAC');
        conn.socket.destroy();
      },
    };
  },
};

/** A connection as the matchers read it: no XFF on a connection, so the remote address is the peer; the
 *  metadata is read through, so that the enforced engine sees what the shadow engine just wrote. */
function connectionView(conn: DownstreamConnectionContext): RbacConnection {
  return {
    downstreamDirectRemoteAddress: conn.peer,
    downstreamRemoteAddress: conn.peer,
    downstreamLocalAddress: conn.local,
    requestedServerName: conn.sni,
    downstreamTls: conn.tls,
    get dynamicMetadata() {
      return conn.dynamicMetadata;
    },
  };
}
