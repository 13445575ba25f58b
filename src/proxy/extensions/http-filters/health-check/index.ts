// envoy.filters.http.health_check: answers the load balancer's (or another proxy's) health check requests —
// those matching `headers`, typically `:path` — for this proxy. Without pass_through_mode it answers itself:
// 200, or 503 once the server's health check was failed (POST /healthcheck/fail, or the server draining),
// which is how an operator takes a proxy out of rotation before stopping it. In pass-through mode the request
// goes upstream unless the server is failed. A failing answer carries x-envoy-immediate-health-check-fail,
// as Envoy's does. cluster_min_healthy_percentages (non-pass-through) answers 503 when a named cluster has too
// few healthy hosts.
import { ConfigError } from '../../../../common/errors.js';
import type { FilterCallbacks, FilterFactoryContext, FilterStatus, HttpFilter, HttpFilterFactory } from '../../../http/filter.js';
import type { HeaderMap } from '../../../http/headers.js';
import { compileHeaderMatcher, type HeaderMatcher } from '../../../router/matchers.js';
import type { ClusterManager } from '../../../upstream/cluster-manager.js';

interface Compiled {
  passThrough: boolean;
  matchers: readonly HeaderMatcher[];
  minHealthy: readonly (readonly [string, number])[];
  failed: () => boolean;
  clusters: ClusterManager;
}

export const healthCheckFilter: HttpFilterFactory = {
  typeUrls: ['type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck'],
  create(config: any, ctx: FilterFactoryContext) {
    if (config.pass_through_mode === undefined) throw new ConfigError('MW_CONFIG_INVALID', `${ctx.path}.pass_through_mode`, 'is required');
    if (config.cache_time !== undefined) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${ctx.path}.cache_time`, 'caching pass-through health check responses is not supported');
    const minHealthy = Object.entries<any>(config.cluster_min_healthy_percentages ?? {}).map(([name, pct]) => {
      const v = pct?.value ?? 0;
      if (!(v >= 0 && v <= 100)) throw new ConfigError('MW_CONFIG_INVALID', `${ctx.path}.cluster_min_healthy_percentages.${name}.value`, `must be between 0 and 100, not ${v}`);
      return [name, Math.trunc(v)] as const; // Envoy truncates: 12.5% counts as 12%
    });
    const c: Compiled = {
      passThrough: config.pass_through_mode,
      matchers: (config.headers ?? []).map((h: any, i: number) => compileHeaderMatcher(h, `${ctx.path}.headers[${i}]`)),
      minHealthy,
      failed: ctx.server ? () => ctx.server!.healthCheckFailed() : () => false,
      clusters: ctx.clusterManager,
    };
    return (cb: FilterCallbacks) => new HealthCheckFilter(cb, c);
  },
};

class HealthCheckFilter implements HttpFilter {
  private isHealthCheck = false;
  private handling = false;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly c: Compiled,
  ) {}

  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterStatus {
    if (!this.c.matchers.every((m) => m.matches(headers))) return 'continue';
    this.isHealthCheck = true;
    // Envoy's StreamInfo::healthCheck(): access log filters (not_health_check_filter) skip it
    this.cb.streamInfo.healthCheck = true;
    // pass-through checks go upstream, except when this server is failed: then the answer is ours (503)
    this.handling = !this.c.passThrough || this.c.failed();
    if (!this.handling) return 'continue';
    if (endStream) this.complete();
    return 'stop';
  }

  decodeData(_data: Buffer, endStream: boolean): FilterStatus {
    if (!this.handling) return 'continue';
    if (endStream) this.complete();
    return 'stop';
  }

  decodeTrailers(): FilterStatus {
    if (!this.handling) return 'continue';
    this.complete();
    return 'stop';
  }

  encodeHeaders(headers: HeaderMap): FilterStatus {
    if (this.isHealthCheck && this.c.failed()) headers.set('x-envoy-immediate-health-check-fail', 'true');
    return 'continue';
  }

  private complete(): void {
    if (this.c.failed()) {
      this.cb.sendLocalReply(503, '', { details: 'health_check_failed', plainHttp: true, headers: [['x-envoy-immediate-health-check-fail', 'true']] });
      return;
    }
    for (const [name, min] of this.c.minHealthy) {
      const cluster = this.c.clusters.get(name);
      const total = cluster?.stats.membership_total.value ?? 0;
      const healthy = cluster?.stats.membership_healthy.value ?? 0;
      // an unknown cluster is unhealthy; an empty one only passes a 0% requirement (Envoy)
      const bad = !cluster ? 'health_check_failed_cluster_not_found' : total === 0 ? (min > 0 ? 'health_check_failed_cluster_empty' : undefined) : healthy < (total * min) / 100 ? 'health_check_failed_cluster_unhealthy' : undefined;
      if (bad) {
        this.cb.sendLocalReply(503, '', { details: bad, plainHttp: true });
        return;
      }
    }
    this.cb.sendLocalReply(200, '', { details: 'health_check_ok', plainHttp: true });
  }
}
