// A route's or virtual host's `rate_limits` (envoy.config.route.v3.RateLimit), compiled once into functions
// that build rate limit descriptors for a request — Envoy's RateLimitPolicy. Each RateLimit yields one
// descriptor, a list of (key, value) entries, one per action; when an action cannot produce its entry the
// whole descriptor is dropped (request_headers with skip_if_absent only drops its own entry). The local and
// global rate limit filters look these descriptors up in their own tables.
import { ConfigError } from '../../common/errors.js';
import type { HeaderMap } from '../http/headers.js';
import { ipOf } from '../http/standard-headers.js';
import { asciiLower, compileHeaderMatchers, matchAllHeaders, type HeaderMatcherConfig } from './matchers.js';

export interface DescriptorEntry {
  readonly key: string;
  readonly value: string;
}
export type Descriptor = readonly DescriptorEntry[];

export interface DescriptorInput {
  readonly headers: HeaderMap;
  /** the trusted downstream address, "ip:port" */
  readonly remoteAddress: string;
  /** the route's upstream cluster ('' when none) */
  readonly clusterName: string;
}

export interface RateLimitPolicy {
  readonly empty: boolean;
  /** Append the descriptors of every rate limit of `stage` to `out`. */
  populate(stage: number, input: DescriptorInput, out: Descriptor[]): void;
}

export interface RateLimitConfig {
  stage?: number;
  disable_key?: string;
  actions?: Record<string, any>[];
}

type Action = (input: DescriptorInput) => DescriptorEntry | null | undefined; // null: no descriptor; undefined: skip entry

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);

function compileAction(a: Record<string, any>, path: string): Action {
  const kinds = Object.keys(a).filter((k) => a[k] !== undefined);
  if (kinds.length !== 1) throw invalid(path, 'exactly one action type must be set');
  const kind = kinds[0]!;
  const c = a[kind];
  const p = `${path}.${kind}`;
  switch (kind) {
    case 'request_headers': {
      if (!c.header_name) throw invalid(`${p}.header_name`, 'a header name is required');
      if (!c.descriptor_key) throw invalid(`${p}.descriptor_key`, 'a descriptor key is required');
      const name = asciiLower(c.header_name);
      const key: string = c.descriptor_key;
      const skip = c.skip_if_absent === true;
      return (input) => {
        const v = name === 'host' ? (input.headers.get(':authority') ?? input.headers.get('host')) : input.headers.get(name);
        if (v === undefined) return skip ? undefined : null;
        return { key, value: v };
      };
    }
    case 'remote_address':
      return (input) => (input.remoteAddress && input.remoteAddress !== '-' ? { key: 'remote_address', value: ipOf(input.remoteAddress) } : null);
    case 'generic_key': {
      if (!c.descriptor_value) throw invalid(`${p}.descriptor_value`, 'a descriptor value is required');
      const entry = Object.freeze({ key: c.descriptor_key || 'generic_key', value: c.descriptor_value as string });
      return () => entry;
    }
    case 'destination_cluster':
      return (input) => (input.clusterName ? { key: 'destination_cluster', value: input.clusterName } : null);
    case 'header_value_match': {
      if (!c.descriptor_value) throw invalid(`${p}.descriptor_value`, 'a descriptor value is required');
      if (!c.headers?.length) throw invalid(`${p}.headers`, 'at least one header matcher is required');
      const matchers = compileHeaderMatchers(c.headers as HeaderMatcherConfig[], `${p}.headers`);
      const expect = c.expect_match ?? true;
      const entry = Object.freeze({ key: c.descriptor_key || 'header_match', value: c.descriptor_value as string });
      return (input) => (matchAllHeaders(matchers, input.headers) === expect ? entry : null);
    }
    default:
      throw new ConfigError('MW_CONFIG_UNSUPPORTED', p, `rate limit action ${kind} is not supported`);
  }
}

export const EMPTY_RATE_LIMIT_POLICY: RateLimitPolicy = Object.freeze({ empty: true, populate: () => {} });

export function compileRateLimitPolicy(list: readonly RateLimitConfig[] | undefined, path: string): RateLimitPolicy {
  if (!list?.length) return EMPTY_RATE_LIMIT_POLICY;
  const limits = list.map((rl, i) => {
    const p = `${path}[${i}]`;
    const stage = rl.stage ?? 0;
    if (!Number.isInteger(stage) || stage < 0 || stage > 10) throw invalid(`${p}.stage`, `must be in [0, 10], got ${stage}`);
    if (!rl.actions?.length) throw invalid(`${p}.actions`, 'at least one action is required');
    const actions = rl.actions.map((a, j) => compileAction(a, `${p}.actions[${j}]`));
    return { stage, actions };
  });
  return Object.freeze({
    empty: false,
    populate(stage: number, input: DescriptorInput, out: Descriptor[]) {
      next: for (const rl of limits) {
        if (rl.stage !== stage) continue;
        const d: DescriptorEntry[] = [];
        for (const act of rl.actions) {
          const e = act(input);
          if (e === null) continue next;
          if (e !== undefined) d.push(e);
        }
        if (d.length > 0) out.push(d);
      }
    },
  });
}
