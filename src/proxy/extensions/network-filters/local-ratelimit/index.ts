// envoy.filters.network.local_ratelimit (LocalRateLimit): each new connection through the filter chain takes a
// token; with none left it is closed at once, before any later filter sees it. The bucket belongs to this
// filter config (one per filter chain, as in Envoy) and refills in fill_interval steps.
import { ConfigError } from '../../../../common/errors.js';
import { compileTokenBucket, TokenBucket } from '../../../../common/token-bucket.js';
import type { NetworkFilter, NetworkFilterFactory } from '../../../listener/network-filter.js';

export const networkLocalRateLimit: NetworkFilterFactory = {
  typeUrls: ['type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit'],
  create(config: any, ctx): NetworkFilter {
    const path = ctx.path;
    if (!config.stat_prefix) throw new ConfigError('MW_CONFIG_INVALID', `${path}.stat_prefix`, 'a stat prefix is required');
    if (!config.token_bucket) throw new ConfigError('MW_CONFIG_INVALID', `${path}.token_bucket`, 'a token bucket is required');
    const bucket = new TokenBucket(compileTokenBucket(config.token_bucket, `${path}.token_bucket`));
    // runtime_enabled: there is no runtime, so its default_value decides (absent: enabled)
    const enabled = config.runtime_enabled?.default_value ?? true;
    const rateLimited = ctx.stats.counter(`local_ratelimit.${config.stat_prefix}.rate_limited`);
    return {
      terminal: false,
      onConnection(conn, next) {
        if (!enabled || bucket.consume()) {
          next();
          return;
        }
        rateLimited.inc();
        conn.socket.destroy();
      },
    };
  },
};
