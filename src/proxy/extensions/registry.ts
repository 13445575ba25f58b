// The one place where extensions are registered by name (Envoy type URL, or the enum name for cluster types
// and load balancers). The core looks extensions up here and never imports an extension folder directly;
// a new extension is a new folder plus one line below.
import type { HttpFilterFactory } from '../http/filter.js';
import type { ClusterTypeFactory } from '../upstream/cluster.js';
import type { LoadBalancerFactory } from '../upstream/load-balancer.js';
import type { NetworkFilterFactory } from '../listener/network-filter.js';
import type { AccessLoggerFactory } from '../observability/access-log.js';
import type { HealthCheckerFactory } from '../upstream/health-check-manager.js';

import { staticCluster } from './clusters/static/index.js';
import { strictDnsCluster } from './clusters/strict-dns/index.js';
import { logicalDnsCluster } from './clusters/logical-dns/index.js';
import { edsCluster } from './clusters/eds/index.js';
import { allLoadBalancers } from './load-balancers/index.js';
import { routerFilter } from './http-filters/router/index.js';
import { httpConnectionManager } from './network-filters/http-connection-manager/index.js';
import { tcpProxy } from './network-filters/tcp-proxy/index.js';
import { faultFilter } from './http-filters/fault/index.js';
import { localRateLimitFilter } from './http-filters/local-ratelimit/index.js';
import { networkLocalRateLimit } from './network-filters/local-ratelimit/index.js';
import * as fileLogger from './access-loggers/file/index.js';
import * as streamLogger from './access-loggers/stream/index.js';
import { healthCheckFilter } from './http-filters/health-check/index.js';
import { corsFilter } from './http-filters/cors/index.js';
import { httpHealthChecker } from './health-checkers/http/index.js';
import { tcpHealthChecker } from './health-checkers/tcp/index.js';
import { grpcHealthChecker } from './health-checkers/grpc/index.js';
import { dfpCluster } from './clusters/dynamic-forward-proxy/index.js';
import { dynamicForwardProxyFilter } from './http-filters/dynamic-forward-proxy/index.js';
import { jwtAuthnFilter } from './http-filters/jwt-authn/index.js';
import { extAuthzFilter } from './http-filters/ext-authz/index.js';
import { istioStatsFilter } from './http-filters/istio-stats/index.js';
import { previousPriorities } from './retry-priorities/previous-priorities/index.js';
import { rbacFilter } from './http-filters/rbac/index.js';
import { networkRbacFilter } from './network-filters/rbac/index.js';
import { istioTcpStatsFilter } from './network-filters/istio-stats/index.js';
import { networkExtAuthzFilter } from './network-filters/ext-authz/index.js';
import { retryPriorities } from '../router/retry-priority.js';

class Registry<T> {
  private readonly map = new Map<string, T>();
  constructor(readonly family: string) {}
  register(names: readonly string[], value: T): void {
    for (const n of names) {
      if (this.map.has(n)) throw new Error(`${this.family}: "${n}" registered twice`);
      this.map.set(n, value);
    }
  }
  get(name: string): T | undefined {
    return this.map.get(name);
  }
  names(): string[] {
    return [...this.map.keys()].sort();
  }
}

export const clusterTypes = new Registry<ClusterTypeFactory>('cluster type');
export const loadBalancers = new Registry<LoadBalancerFactory>('load balancer');
export const httpFilters = new Registry<HttpFilterFactory>('http filter');
export const networkFilters = new Registry<NetworkFilterFactory>('network filter');
export const accessLoggers = new Registry<AccessLoggerFactory>('access logger');
/** keyed by the HealthCheck oneof field name (http_health_check, tcp_health_check, grpc_health_check) */
export const healthCheckers = new Registry<HealthCheckerFactory>('health checker');

for (const c of [staticCluster, strictDnsCluster, logicalDnsCluster, edsCluster]) clusterTypes.register(c.types, c);
for (const lb of allLoadBalancers) loadBalancers.register([lb.lbPolicy], lb.create);
httpFilters.register(routerFilter.typeUrls, routerFilter);
networkFilters.register(httpConnectionManager.typeUrls, httpConnectionManager);
networkFilters.register(tcpProxy.typeUrls, tcpProxy);
httpFilters.register(faultFilter.typeUrls, faultFilter);
httpFilters.register(localRateLimitFilter.typeUrls, localRateLimitFilter);
networkFilters.register(networkLocalRateLimit.typeUrls, networkLocalRateLimit);
accessLoggers.register(fileLogger.typeUrls, fileLogger.createAccessLogger);
accessLoggers.register(streamLogger.typeUrls, streamLogger.createAccessLogger);
httpFilters.register(healthCheckFilter.typeUrls, healthCheckFilter);
httpFilters.register(corsFilter.typeUrls, corsFilter);
healthCheckers.register([httpHealthChecker.name], httpHealthChecker);
healthCheckers.register([tcpHealthChecker.name], tcpHealthChecker);
healthCheckers.register([grpcHealthChecker.name], grpcHealthChecker);
clusterTypes.register(dfpCluster.types, dfpCluster);
httpFilters.register(dynamicForwardProxyFilter.typeUrls, dynamicForwardProxyFilter);
httpFilters.register(rbacFilter.typeUrls, rbacFilter);
networkFilters.register(networkRbacFilter.typeUrls, networkRbacFilter);
networkFilters.register(networkExtAuthzFilter.typeUrls, networkExtAuthzFilter);
networkFilters.register(istioTcpStatsFilter.typeUrls, istioTcpStatsFilter);
httpFilters.register(jwtAuthnFilter.typeUrls, jwtAuthnFilter);
httpFilters.register(extAuthzFilter.typeUrls, extAuthzFilter);
httpFilters.register(istioStatsFilter.typeUrls, istioStatsFilter);
/** RetryPolicy.retry_priority, by type URL and name (the table lives in router/retry-priority.ts) */
export { retryPriorities };
retryPriorities.register(previousPriorities.names, previousPriorities);
