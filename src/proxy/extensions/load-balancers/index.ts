// The load-balancer family, for the registry: each entry is registered under its Envoy Cluster.LbPolicy name.
import type { LbFactory } from './common/lb.js';
import * as leastRequest from './least-request/index.js';
import * as maglev from './maglev/index.js';
import * as random from './random/index.js';
import * as ringHash from './ring-hash/index.js';
import * as roundRobin from './round-robin/index.js';

export interface LoadBalancerExtension {
  /** the Cluster.LbPolicy enum name, e.g. 'ROUND_ROBIN' */
  readonly lbPolicy: string;
  readonly create: LbFactory;
}

export const allLoadBalancers: readonly LoadBalancerExtension[] = [roundRobin, leastRequest, random, ringHash, maglev];
