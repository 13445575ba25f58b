// Access log filters (envoy.config.accesslog.v3.AccessLogFilter): which finished requests an access log writes,
// compiled once into a predicate over the stream info. Envoy's semantics:
//  - status_code_filter / duration_filter: comparison {op EQ|GE|LE, value: RuntimeUInt32} against the response
//    code (0 when none was sent) / the request's duration in ms; the runtime key is read from the runtime, which
//    Meshwork does not have, so default_value is the value;
//  - not_health_check_filter: requests the health_check filter did not take for a health check;
//  - runtime_filter: percent_sampled (FractionalPercent) of requests, drawn independently per request (Envoy
//    uses the x-request-id unless use_independent_randomness; Meshwork always draws: same rate, no correlation
//    between proxies);
//  - header_filter: a HeaderMatcher on the request headers (as routes match them);
//  - response_flag_filter: any of `flags` set (no flags: any flag at all);
//  - grpc_status_filter: the gRPC status (from grpc-status, else mapped from the HTTP status) is one of
//    `statuses`, or with `exclude` is not;
//  - and_filter / or_filter: all / any of `filters`.
// traceable_filter, metadata_filter, log_type_filter and extension_filter are refused at load.
import { ConfigError } from '../../common/errors.js';
import { compileHeaderMatcher } from '../router/matchers.js';
import { ResponseFlag, type StreamInfo } from '../stream-info.js';

export type AccessLogPredicate = (info: StreamInfo) => boolean;

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);
const KINDS = [
  'status_code_filter', 'duration_filter', 'not_health_check_filter', 'traceable_filter', 'runtime_filter', 'and_filter', 'or_filter',
  'header_filter', 'response_flag_filter', 'grpc_status_filter', 'extension_filter', 'metadata_filter', 'log_type_filter',
] as const;

const GRPC_CODES = ['OK', 'CANCELED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };
const FLAG_BY_SHORT = new Map<string, number>(Object.values(ResponseFlag).map((f) => [f.short, f.bit]));

export function compileAccessLogFilter(f: any, path: string): AccessLogPredicate {
  const set = KINDS.filter((k) => f?.[k] !== undefined);
  if (set.length !== 1) throw invalid(path, set.length ? `one filter per AccessLogFilter, got ${set.join(', ')}` : 'an access log filter needs one of its kinds');
  const kind = set[0]!;
  const c = f[kind];
  const p = `${path}.${kind}`;
  switch (kind) {
    case 'status_code_filter':
      return comparison(c.comparison, `${p}.comparison`, (i) => i.responseCode ?? 0);
    case 'duration_filter':
      return comparison(c.comparison, `${p}.comparison`, (i) => Math.floor(i.elapsed()));
    case 'not_health_check_filter':
      return (i) => !i.healthCheck;
    case 'runtime_filter': {
      const pct = c.percent_sampled ?? { numerator: 0 };
      const denominator = DENOMINATORS[pct.denominator ?? 'HUNDRED'];
      if (denominator === undefined) throw invalid(`${p}.percent_sampled.denominator`, `unknown denominator ${pct.denominator}`);
      const fraction = Math.min(1, (pct.numerator ?? 0) / denominator);
      return () => Math.random() < fraction;
    }
    case 'and_filter':
    case 'or_filter': {
      const list: AccessLogPredicate[] = (c.filters ?? []).map((x: any, i: number) => compileAccessLogFilter(x, `${p}.filters[${i}]`));
      if (list.length < 2) throw invalid(`${p}.filters`, 'at least two filters');
      return kind === 'and_filter' ? (i) => list.every((x) => x(i)) : (i) => list.some((x) => x(i));
    }
    case 'header_filter': {
      const m = compileHeaderMatcher(c.header ?? {}, `${p}.header`);
      return (i) => (i.requestHeaders ? m.matches(i.requestHeaders) : false);
    }
    case 'response_flag_filter': {
      let mask = 0;
      (c.flags ?? []).forEach((name: string, i: number) => {
        const bit = FLAG_BY_SHORT.get(name);
        if (bit === undefined) throw invalid(`${p}.flags[${i}]`, `unknown response flag "${name}"`);
        mask |= bit;
      });
      return mask === 0 ? (i) => i.responseFlags !== 0 : (i) => (i.responseFlags & mask) !== 0;
    }
    case 'grpc_status_filter': {
      const wanted = new Set<number>();
      (c.statuses ?? []).forEach((s: string, i: number) => {
        const n = GRPC_CODES.indexOf(s);
        if (n < 0) throw invalid(`${p}.statuses[${i}]`, `unknown gRPC status "${s}"`);
        wanted.add(n);
      });
      const exclude = c.exclude === true;
      return (i) => {
        const status = grpcStatus(i);
        if (status === undefined) return false; // not a gRPC response: Envoy does not log it
        return wanted.has(status) !== exclude;
      };
    }
    default:
      throw new ConfigError('MW_CONFIG_UNSUPPORTED', p, `${kind} is not supported`);
  }
}

function comparison(cmp: any, path: string, value: (i: StreamInfo) => number): AccessLogPredicate {
  if (!cmp) throw invalid(path, 'a comparison is required');
  const v = cmp.value?.default_value;
  if (typeof v !== 'number') throw invalid(`${path}.value.default_value`, 'a number is required');
  switch (cmp.op ?? 'EQ') {
    case 'EQ':
      return (i) => value(i) === v;
    case 'GE':
      return (i) => value(i) >= v;
    case 'LE':
      return (i) => value(i) <= v;
    default:
      throw invalid(`${path}.op`, `unknown op ${cmp.op}`);
  }
}

/** The gRPC status of a gRPC response: grpc-status from the trailers (or a trailers-only response's headers),
 *  else Envoy's mapping of the HTTP status; undefined for a response that is not gRPC. */
function grpcStatus(i: StreamInfo): number | undefined {
  const ct = i.requestHeaders?.get('content-type');
  if (ct === undefined || !ct.startsWith('application/grpc')) return undefined;
  const s = i.responseTrailers?.get('grpc-status') ?? i.responseHeaders?.get('grpc-status');
  if (s !== undefined && /^\d+$/.test(s)) return Number(s);
  const code = i.responseCode ?? 0;
  if (code === 0) return 2; // no response: UNKNOWN
  if (code === 400) return 13;
  if (code === 401) return 16;
  if (code === 403) return 7;
  if (code === 404) return 12;
  if (code === 429 || code === 502 || code === 503 || code === 504) return 14;
  return code === 200 ? 0 : 2;
}
