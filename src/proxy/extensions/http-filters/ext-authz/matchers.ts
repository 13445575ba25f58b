// Header-name matching for ext_authz: a ListStringMatcher (Envoy's HeaderKeyMatcher) plus the names a client
// always sends. filter_enabled_metadata uses the shared MetadataMatcher (common/rbac/metadata-matcher.ts).
import { compileStringMatcher, type StringMatcher } from '../../../router/matchers.js';

export interface HeaderKeyMatcher {
  matches(name: string): boolean;
}

/** A ListStringMatcher (its `patterns`) plus fixed names; undefined when it has nothing to match. */
export function compileHeaderKeyMatcher(list: { patterns?: any[] } | undefined, path: string, extra: readonly string[] = []): HeaderKeyMatcher | undefined {
  const ms: StringMatcher[] = (list?.patterns ?? []).map((p, i) => compileStringMatcher(p, `${path}.patterns[${i}]`));
  if (ms.length === 0 && extra.length === 0) return undefined;
  const fixed = new Set(extra);
  return Object.freeze({ matches: (name: string) => fixed.has(name) || ms.some((m) => m.match(name)) });
}
