// envoy.filters.http.dynamic_forward_proxy: makes sure the host a request names is in the DNS cache before the
// router picks a host of a dynamic forward proxy cluster (extensions/clusters/dynamic-forward-proxy/). A request
// routed elsewhere passes untouched. A host already resolved costs one Map lookup; a new one pauses the request
// until its lookup ends (requests for the same host share the lookup). As in Envoy, a failed lookup is answered
// 503 "DNS resolution failure" (flag DF), a full cache 503 "DNS cache overflow", too many waiting requests
// 503 "Dynamic forward proxy pending request overflow", and an empty host 400.
//
// Per route (typed_per_filter_config PerRouteConfig): host_rewrite_literal / host_rewrite_header replace
// :authority before the lookup, so the request goes to (and names) that host.
import { ConfigError } from '../../../../common/errors.js';
import type { FilterCallbacks, FilterFactoryContext, FilterStatus, HttpFilter, HttpFilterFactory } from '../../../http/filter.js';
import type { HeaderMap } from '../../../http/headers.js';
import { ResponseFlag } from '../../../stream-info.js';
import type { ClusterManager } from '../../../upstream/cluster-manager.js';
import { DFP_DEFAULT_PORT, isDfpCluster } from '../../clusters/dynamic-forward-proxy/index.js';
import { acquireDnsCache, HOST_OVERFLOW, PENDING_OVERFLOW, type DnsCache, type DnsHostEntry, type DnsWaiter } from '../../clusters/dynamic-forward-proxy/dns-cache.js';

const FILTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig';
const PER_ROUTE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig';

interface Compiled {
  readonly cache: DnsCache;
  readonly clusters: ClusterManager;
  /** the http_filters entry's name: the key of its per-route config */
  readonly name: string;
}

interface PerRoute {
  readonly literal: string | undefined;
  readonly header: string | undefined;
}

const CTL = /[\0\r\n]/;

export const dynamicForwardProxyFilter: HttpFilterFactory = {
  typeUrls: [FILTER_TYPE, PER_ROUTE_TYPE],
  create(config: any, ctx: FilterFactoryContext) {
    if (config['@type'] === PER_ROUTE_TYPE) throw new ConfigError('MW_CONFIG_INVALID', `${ctx.path}.@type`, 'PerRouteConfig belongs in typed_per_filter_config; the filter takes a FilterConfig');
    if (!config.dns_cache_config) throw new ConfigError('MW_CONFIG_INVALID', `${ctx.path}.dns_cache_config`, 'a dns_cache_config is required');
    const cache = acquireDnsCache(config.dns_cache_config, `${ctx.path}.dns_cache_config`);
    cache.bindStats(ctx.stats);
    const c: Compiled = { cache, clusters: ctx.clusterManager, name: ctx.name };
    return (cb: FilterCallbacks) => new DynamicForwardProxyFilter(cb, c);
  },
  createPerRoute(config: any, ctx: FilterFactoryContext): PerRoute {
    if (config['@type'] !== PER_ROUTE_TYPE) throw new ConfigError('MW_CONFIG_INVALID', `${ctx.path}.@type`, `the per-route config of the dynamic forward proxy is a PerRouteConfig, not ${config['@type']}`);
    const literal: string | undefined = config.host_rewrite_literal || undefined;
    const header: string | undefined = config.host_rewrite_header ? String(config.host_rewrite_header).toLowerCase() : undefined;
    if (literal !== undefined && CTL.test(literal)) throw new ConfigError('MW_CONFIG_INVALID', `${ctx.path}.host_rewrite_literal`, 'value contains NUL, CR or LF');
    return Object.freeze({ literal, header });
  },
};

class DynamicForwardProxyFilter implements HttpFilter, DnsWaiter {
  /** the entry this request waits for, while it does */
  private waiting: DnsHostEntry | null = null;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly c: Compiled,
  ) {}

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const cb = this.cb;
    const route = cb.route();
    if (!route || route.entry.kind !== 'route' || !route.clusterName) return 'continue';
    const cluster = this.c.clusters.get(route.clusterName);
    if (!cluster || !isDfpCluster(cluster)) return 'continue';
    const per = cb.perFilterConfig<PerRoute>(this.c.name);
    if (per) {
      if (per.literal !== undefined) headers.set(':authority', per.literal);
      else if (per.header !== undefined) {
        // an untrusted header: only its first value is used, as in Envoy
        const v = headers.get(per.header);
        if (v) headers.set(':authority', v);
      }
    }
    const authority = headers.get(':authority');
    if (!authority) {
      cb.sendLocalReply(400, 'Empty host header', { details: 'empty_host_header' });
      return 'stop';
    }
    const r = this.c.cache.load(authority, DFP_DEFAULT_PORT, this);
    if (r === HOST_OVERFLOW) {
      cb.sendLocalReply(503, 'DNS cache overflow', { details: 'dns_cache_overflow' });
      return 'stop';
    }
    if (r === PENDING_OVERFLOW) {
      cb.sendLocalReply(503, 'Dynamic forward proxy pending request overflow', { details: 'dynamic_forward_proxy_pending_request_overflow' });
      return 'stop';
    }
    if (r === null) return this.failed('invalid_host');
    if (r.resolving) {
      this.waiting = r;
      return 'stop';
    }
    return r.address !== undefined ? 'continue' : this.failed(r.error);
  }

  onDnsResolved(entry: DnsHostEntry): void {
    this.waiting = null;
    if (entry.address !== undefined) this.cb.continueDecoding();
    else this.failed(entry.error);
  }

  private failed(reason: string | undefined): 'stop' {
    this.cb.sendLocalReply(503, 'DNS resolution failure', { flag: ResponseFlag.DnsResolutionFailed, details: `dns_resolution_failure{${(reason ?? 'no_address').replace(/ /g, '_')}}` });
    return 'stop';
  }

  onDestroy(): void {
    if (this.waiting) this.c.cache.cancel(this.waiting, this);
    this.waiting = null;
  }
}
