// Shared by the consistent-hash balancers (RING_HASH, MAGLEV): config checks and Envoy's weight normalisation.
import { ConfigError } from '../../../../common/errors.js';
import type { Host } from '../../../upstream/host.js';

/**
 * common_lb_config.consistent_hashing_lb_config: use_hostname_for_hashing and hash_balance_factor (bounded
 * loads) are not implemented; refuse them rather than silently hash differently from Envoy.
 */
export function rejectUnsupportedHashingConfig(cluster: Record<string, any>): void {
  const path = 'common_lb_config.consistent_hashing_lb_config';
  const c = cluster.common_lb_config?.consistent_hashing_lb_config;
  if (c?.use_hostname_for_hashing === true) {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.use_hostname_for_hashing`, 'hosts are always hashed by their address');
  }
  if (c?.hash_balance_factor !== undefined) {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.hash_balance_factor`, 'bounded-load consistent hashing is not implemented');
  }
}

/**
 * Each host's weight as a fraction of the total, with the smallest and largest fraction (Envoy's
 * normalizeHostWeights without locality weights). Computed exactly as Envoy does so that ring and table
 * layouts, which depend on these doubles, come out the same.
 */
export function normalizeWeights(hosts: readonly Host[]): { weights: number[]; min: number; max: number } {
  let total = 0;
  for (const h of hosts) total += h.weight;
  let min = 1.0;
  let max = 0.0;
  const weights = hosts.map((h) => {
    const w = h.weight / total;
    min = Math.min(min, w);
    max = Math.max(max, w);
    return w;
  });
  return { weights, min, max };
}
