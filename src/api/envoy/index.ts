// The Envoy v3 configuration API of Meshwork: text or parsed values in, decoded (plain, frozen, snake_case)
// objects out, every problem reported at once with its path and file:line:column.
import { readFile } from 'node:fs/promises';
import { decodeMessage } from './decoder.js';
import { parseConfigText } from './source.js';
import type { Bootstrap } from './types.js';

export { decodeMessage, locationOf, type DecodeOptions } from './decoder.js';
export { parseConfigText } from './source.js';
export { resolveType, registerProtoFiles, EXTENSION_PROTO_FILES } from './protos.js';
export { supportTable, messageSupport, type FieldSupport, type FieldStatus, type MessageSupport } from './support.js';
export type * from './types.js';

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

/** Parses and decodes a bootstrap written in YAML or JSON. `sourceName` (usually the file path) prefixes
 *  error locations. Throws ConfigErrors. */
export function loadBootstrapText(text: string, sourceName: string): Bootstrap {
  return decodeMessage<Bootstrap>(BOOTSTRAP_TYPE, parseConfigText(text, sourceName), { source: sourceName });
}

/** Reads a bootstrap file (YAML or JSON). File-system errors (ENOENT, EACCES) propagate as they are. */
export async function loadBootstrapFile(path: string): Promise<Bootstrap> {
  return loadBootstrapText(await readFile(path, 'utf8'), path);
}
