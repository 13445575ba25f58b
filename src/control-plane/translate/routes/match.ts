// VirtualService match conditions → Envoy RouteMatch, as Istio translates them: uri exact/prefix/regex → path /
// prefix / safe_regex; headers, authority, method and scheme → header matchers (the pseudo-headers by their
// HTTP/2 names); withoutHeaders → inverted header matchers; queryParams → query_parameters. A condition with no
// value ({}) means "present".
import type { HTTPMatchRequest, StringMatch } from '../../../api/mesh/types.js';
import type { Json } from '../common.js';

export function stringMatcher(sm: StringMatch): Json | undefined {
  if (sm.exact !== undefined) return { exact: sm.exact };
  if (sm.prefix !== undefined) return { prefix: sm.prefix };
  if (sm.regex !== undefined) return { safe_regex: { regex: sm.regex } };
  return undefined;
}

export function headerMatcher(name: string, sm: StringMatch, invert = false): Json {
  const m = stringMatcher(sm);
  return { name, ...(m ? { string_match: m } : { present_match: true }), ...(invert ? { invert_match: true } : {}) };
}

const sortedEntries = <T>(o: Record<string, T> | undefined): [string, T][] => Object.entries(o ?? {}).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

export function routeMatch(m: HTTPMatchRequest | undefined): Json {
  const out: Json = {};
  const uri = m?.uri;
  if (uri?.exact !== undefined) out.path = uri.exact;
  else if (uri?.regex !== undefined) out.safe_regex = { regex: uri.regex };
  else out.prefix = uri?.prefix ?? '/';
  if (m?.ignoreUriCase) out.case_sensitive = false;
  const headers: Json[] = [];
  // header names are case-insensitive: lower-cased first, then sorted (Istio sorts for stable output)
  const lower = <T>(o: Record<string, T> | undefined) => o && Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));
  for (const [name, sm] of sortedEntries(lower(m?.headers))) headers.push(headerMatcher(name, sm));
  if (m?.authority) headers.push(headerMatcher(':authority', m.authority));
  if (m?.method) headers.push(headerMatcher(':method', m.method));
  if (m?.scheme) headers.push(headerMatcher(':scheme', m.scheme));
  for (const [name, sm] of sortedEntries(lower(m?.withoutHeaders))) headers.push(headerMatcher(name, sm, true));
  if (headers.length) out.headers = headers;
  const qp = sortedEntries(m?.queryParams).map(([name, sm]) => {
    const s = stringMatcher(sm);
    return { name, ...(s ? { string_match: s } : { present_match: true }) };
  });
  if (qp.length) out.query_parameters = qp;
  return out;
}
