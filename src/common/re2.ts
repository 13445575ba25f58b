// RE2 regular expressions on V8's engine. Envoy runs RE2; we translate RE2 syntax into an equivalent JS pattern
// (named groups, \A \z, POSIX classes, octal and \x{...} escapes, RE2's `.`, `\s`, `^` and `$` semantics,
// leading inline flags) and reject with a ConfigError what RE2 rejects (backreferences, lookarounds, bad escapes,
// repetition counts over 1000) and what JS cannot express (\p classes, \C, inline flags after the start,
// ungreedy mode). Shared by the proxy's matchers and rewrites and by the control plane's validation of Istio
// regexes, so "the regex compiles" means the same on both sides.
import { ConfigError } from './errors.js';

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);
const unsupported = (path: string, reason: string) => new ConfigError('MW_CONFIG_UNSUPPORTED', path, reason);

export interface CompiledRegex {
  /** the RE2 pattern as configured */
  readonly pattern: string;
  /** number of capturing groups (for \N references in substitutions) */
  readonly groupCount: number;
  /** RE2::FullMatch: the whole input must match */
  fullMatch(input: string): boolean;
  /**
   * The pattern with the global flag, for scanning (RE2::GlobalReplace). Shared: callers set lastIndex before
   * each exec; safe because matching is synchronous.
   */
  readonly global: RegExp;
}

// RE2's POSIX classes as JS class ranges.
const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7f',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const hexEscape = (code: number) => '\\u' + code.toString(16).padStart(4, '0');
const isOctal = (c: string | undefined) => c !== undefined && c >= '0' && c <= '7';

interface Translation {
  source: string;
  ignoreCase: boolean;
  groups: number;
}

function translateRe2(src: string, path: string): Translation {
  const bad = (why: string) => invalid(path, `invalid regular expression: ${why}`);
  const cannot = (why: string) => unsupported(path, `regular expression uses ${why}, which Meshwork's JavaScript regex engine cannot run`);
  let i = 0;
  let out = '';
  let groups = 0;
  let ignoreCase = false;
  let dotAll = false;
  let multiLine = false;
  // JS has no inline flags: a leading (?flags) group becomes RegExp flags or an equivalent translation.
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === 'i') ignoreCase = true;
      else if (f === 's') dotAll = true;
      else if (f === 'm') multiLine = true;
      else throw cannot('the ungreedy flag (?U)');
    }
    i = lead[0].length;
  }

  // One escape sequence starting at src[at] === '\\'; returns [js, next index].
  const escape = (at: number, inClass: boolean): [string, number] => {
    const c = src[at + 1];
    if (c === undefined) throw bad('trailing \\');
    if (c >= '1' && c <= '7' && !isOctal(src[at + 2])) throw bad(`backreference \\${c} is not supported`);
    if (c >= '0' && c <= '7') {
      // up to three octal digits, as RE2 reads them
      let j = at + 1;
      let code = 0;
      for (let n = 0; n < 3 && isOctal(src[j]); n++, j++) code = code * 8 + (src.charCodeAt(j) - 48);
      return [hexEscape(code), j];
    }
    switch (c) {
      case '8':
      case '9':
        throw bad(`invalid escape \\${c}`);
      case 'x': {
        let hex: string;
        let next: number;
        if (src[at + 2] === '{') {
          const close = src.indexOf('}', at + 3);
          if (close < 0) throw bad('unterminated \\x{');
          hex = src.slice(at + 3, close);
          next = close + 1;
        } else {
          hex = src.slice(at + 2, at + 4);
          next = at + 4;
          if (hex.length !== 2) throw bad('\\x needs two hex digits');
        }
        if (!/^[0-9A-Fa-f]+$/.test(hex)) throw bad(`invalid hex escape \\x${hex}`);
        const code = parseInt(hex, 16);
        if (code > 0x10ffff) throw bad(`escape \\x{${hex}} is beyond Unicode`);
        if (code > 0xffff) throw cannot(`the astral code point escape \\x{${hex}}`);
        return [hexEscape(code), next];
      }
      case 'a':
        return ['\\x07', at + 2];
      case 'f':
      case 'n':
      case 'r':
      case 't':
      case 'v':
      case 'd':
      case 'D':
      case 'w':
      case 'W':
        return ['\\' + c, at + 2];
      // RE2's \s is [\t\n\f\r ]; JS's also matches \v and Unicode spaces.
      case 's':
        return [inClass ? '\\t\\n\\f\\r ' : '[\\t\\n\\f\\r ]', at + 2];
      case 'S':
        // Inside a class the complement cannot be spelled out; JS's \S differs only on \v and Unicode spaces.
        return [inClass ? '\\S' : '[^\\t\\n\\f\\r ]', at + 2];
      case 'b':
      case 'B':
        if (inClass) throw bad(`invalid escape \\${c} in a character class`);
        return ['\\' + c, at + 2];
      case 'A':
        if (inClass) throw bad('invalid escape \\A in a character class');
        return ['(?<![\\s\\S])', at + 2];
      case 'z':
        if (inClass) throw bad('invalid escape \\z in a character class');
        return ['(?![\\s\\S])', at + 2];
      case 'p':
      case 'P':
        throw cannot(`the Unicode class \\${c}`);
      case 'C':
        throw cannot('\\C (any byte)');
      case 'Q': {
        if (inClass) throw cannot('\\Q inside a character class');
        const end = src.indexOf('\\E', at + 2);
        const lit = src.slice(at + 2, end < 0 ? src.length : end);
        let js = '';
        for (const ch of lit) js += /[A-Za-z0-9_]/.test(ch) ? ch : escapeLiteral(ch);
        return [js, end < 0 ? src.length : end + 2];
      }
    }
    if (/[A-Za-z0-9_]/.test(c) || c.charCodeAt(0) >= 0x80) throw bad(`invalid escape \\${c}`);
    // escaped punctuation is a literal in RE2; a \u escape keeps it literal in JS whatever the context
    return [hexEscape(c.charCodeAt(0)), at + 2];
  };

  while (i < src.length) {
    const c = src[i]!;
    switch (c) {
      case '\\': {
        const [js, next] = escape(i, false);
        out += js;
        i = next;
        continue;
      }
      case '[': {
        let j = i + 1;
        let cls = '[';
        if (src[j] === '^') {
          cls += '^';
          j++;
        }
        // RE2 reads a ']' right after '[' or '[^' as a literal; JS would close an empty class
        if (src[j] === ']') {
          cls += '\\]';
          j++;
        }
        for (;;) {
          if (j >= src.length) throw bad('missing closing ]');
          const ch = src[j]!;
          if (ch === ']') {
            cls += ']';
            j++;
            break;
          }
          if (ch === '[' && src[j + 1] === ':') {
            const m = /^\[:(\^?)([a-z]+):\]/.exec(src.slice(j));
            if (m) {
              if (m[1]) throw cannot(`the negated POSIX class [:^${m[2]}:]`);
              const range = POSIX_CLASSES[m[2]!];
              if (!range) throw bad(`invalid character class [:${m[2]}:]`);
              cls += range;
              j += m[0].length;
              continue;
            }
          }
          if (ch === '\\') {
            const [js, next] = escape(j, true);
            cls += js;
            j = next;
            continue;
          }
          cls += ch === '[' ? '\\[' : ch;
          j++;
        }
        out += cls;
        i = j;
        continue;
      }
      case '(': {
        if (src[i + 1] !== '?') {
          out += '(';
          groups++;
          i++;
          continue;
        }
        if (src.startsWith('(?:', i)) {
          out += '(?:';
          i += 3;
          continue;
        }
        if (src.startsWith('(?P<', i)) {
          out += '(?<';
          groups++;
          i += 4;
          continue;
        }
        if (src.startsWith('(?<', i) && src[i + 3] !== '=' && src[i + 3] !== '!') {
          out += '(?<';
          groups++;
          i += 3;
          continue;
        }
        if (/^\(\?[imsU-]+[:)]/.test(src.slice(i))) throw cannot('inline flags other than one leading (?flags) group');
        throw bad(`unsupported group syntax at offset ${i} (RE2 has no lookarounds or backreferences)`);
      }
      case '.':
        // RE2's '.' excludes only \n; JS's also excludes \r, \u2028 and \u2029
        out += dotAll ? '[\\s\\S]' : '[^\\n]';
        i++;
        continue;
      case '^':
        // without (?m) both engines anchor at the start of text only; with it RE2 splits lines on \n alone
        out += multiLine ? '(?<![^\\n])' : '^';
        i++;
        continue;
      case '$':
        out += multiLine ? '(?![^\\n])' : '$';
        i++;
        continue;
      case '{': {
        const m = /^\{(\d+)(?:,(\d*))?\}/.exec(src.slice(i));
        if (m) {
          if (Number(m[1]) > 1000 || (m[2] !== undefined && m[2] !== '' && Number(m[2]) > 1000)) {
            throw bad(`bad repetition operator ${m[0]} (RE2 allows at most 1000)`);
          }
          out += m[0];
          i += m[0].length;
        } else {
          out += '\\{';
          i++;
        }
        continue;
      }
      case '}':
      case ']':
        out += '\\' + c;
        i++;
        continue;
      default:
        out += c;
        i++;
    }
  }
  return { source: out, ignoreCase, groups };
}

function escapeLiteral(ch: string): string {
  const code = ch.codePointAt(0)!;
  return code > 0xffff ? ch : hexEscape(code);
}

/** Compile an RE2 pattern; `path` names the field for errors. */
export function compileRegex(pattern: string, path: string): CompiledRegex {
  const t = translateRe2(pattern, path);
  const flags = t.ignoreCase ? 'i' : '';
  let full: RegExp;
  let global: RegExp;
  try {
    full = new RegExp(`^(?:${t.source})$`, flags);
    global = new RegExp(t.source, 'g' + flags);
  } catch (err) {
    const msg = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    throw invalid(path, `invalid regular expression: ${msg}`);
  }
  return Object.freeze({ pattern, groupCount: t.groups, fullMatch: (s: string) => full.test(s), global });
}

// A substitution compiled into literal pieces and group numbers: RE2's rewrite syntax is \0..\9 for groups and
// \\ for a backslash; anything else after a backslash is an error.
export type Re2Piece = string | number;

/** An RE2 rewrite string as pieces: literals and group numbers. */
export function compileRe2Substitution(sub: string, groupCount: number, path: string): Re2Piece[] {
  const pieces: Re2Piece[] = [];
  let lit = '';
  for (let i = 0; i < sub.length; i++) {
    const c = sub[i]!;
    if (c !== '\\') {
      lit += c;
      continue;
    }
    const n = sub[++i];
    if (n === '\\') {
      lit += '\\';
    } else if (n !== undefined && n >= '0' && n <= '9') {
      const g = n.charCodeAt(0) - 48;
      // RE2 leaves the input unchanged when a substitution names a group the pattern lacks; reject it instead
      if (g > groupCount) throw new ConfigError('MW_CONFIG_INVALID', path, `\\${g} refers to a group the pattern does not have (it has ${groupCount})`);
      if (lit) pieces.push(lit);
      lit = '';
      pieces.push(g);
    } else {
      throw new ConfigError('MW_CONFIG_INVALID', path, `invalid rewrite pattern: \\${n ?? ''} (use \\0-\\9 for groups, \\\\ for a backslash)`);
    }
  }
  if (lit) pieces.push(lit);
  return pieces;
}
