// Envoy's substitution formatter (%COMMAND% operators), shared by access logs and header mutations.
// PLACEHOLDER: the full implementation replaces this file, keeping these exported signatures.
import type { StreamInfo } from '../stream-info.js';

export interface Formatter {
  format(info: StreamInfo): string;
}

/** Compile once at config time; `format` runs per request. Throws ConfigError on an unknown operator. */
export function compileFormatString(fmt: string, _opts?: { omitEmptyValues?: boolean; path?: string }): Formatter {
  return { format: () => fmt };
}
