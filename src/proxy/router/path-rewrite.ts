// Path rewriting as Envoy's router does it: prefix_rewrite swaps the matched prefix, regex_rewrite runs RE2's
// GlobalReplace over the path without its query (the query and fragment are kept). Also used for redirects and
// host_rewrite_path_regex.
import { compileRe2Substitution } from '../../common/re2.js';
import { compileRegexMatcher, removeQueryAndFragment, type RegexMatcherConfig } from './matchers.js';

export interface RegexMatchAndSubstituteConfig {
  pattern?: RegexMatcherConfig;
  substitution?: string;
}

export interface RegexRewrite {
  /** RE2::GlobalReplace(input, pattern, substitution) */
  replaceAll(input: string): string;
}

export function compileRegexRewrite(cfg: RegexMatchAndSubstituteConfig, path: string): RegexRewrite {
  const re = compileRegexMatcher(cfg.pattern, `${path}.pattern`);
  const pieces = compileRe2Substitution(cfg.substitution ?? '', re.groupCount, `${path}.substitution`);
  const global = re.global;
  const substitute = (m: RegExpExecArray) => {
    let s = '';
    for (const p of pieces) s += typeof p === 'string' ? p : (m[p] ?? '');
    return s;
  };
  return Object.freeze({
    replaceAll(input: string): string {
      // RE2::GlobalReplace: non-overlapping leftmost matches; an empty match where the previous match ended is
      // skipped by copying one character (JS's replace would accept it, so this loop is written out).
      let out = '';
      let p = 0;
      let lastEnd = -1;
      let count = 0;
      while (p <= input.length) {
        global.lastIndex = p;
        const m = global.exec(input);
        if (!m) break;
        const start = m.index;
        const end = start + m[0].length;
        if (p < start) out += input.slice(p, start);
        if (start === end && start === lastEnd) {
          const n = p < input.length ? (input.codePointAt(p)! > 0xffff ? 2 : 1) : 1;
          out += input.slice(p, p + n);
          p += n;
          continue;
        }
        out += substitute(m);
        p = lastEnd = end;
        count++;
      }
      if (count === 0) return input;
      if (p < input.length) out += input.slice(p);
      return out;
    },
  });
}

/** Rewrites a full :path (query included); `matchedLength` is CompiledRouteMatch.matchedLength(path). */
export type PathRewriter = (path: string, matchedLength: number) => string;

/**
 * prefix_rewrite replaces the first `matchedLength` characters (the route's prefix/path, or the whole path for a
 * regex route) of the full :path; regex_rewrite replaces within the path without query and fragment. Undefined
 * when the route rewrites nothing (an empty prefix_rewrite is "unset" in Envoy).
 */
export function compilePathRewriter(prefixRewrite: string | undefined, regexRewrite: RegexRewrite | undefined): PathRewriter | undefined {
  if (prefixRewrite) return (path, matchedLength) => prefixRewrite + path.slice(matchedLength);
  if (regexRewrite) {
    return (path) => {
      const just = removeQueryAndFragment(path);
      return regexRewrite.replaceAll(just) + path.slice(just.length);
    };
  }
  return undefined;
}
