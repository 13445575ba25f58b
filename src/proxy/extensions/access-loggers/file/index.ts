// envoy.access_loggers.file: formats each finished request and appends it to a file (or /dev/stdout,
// /dev/stderr). Writes are batched off the request path by the shared sink in observability/access-log.ts.
import { ConfigError } from '../../../../common/errors.js';
import { accessLogFormatter, acquireFileSink, sinkLogger, type AccessLogger } from '../../../observability/access-log.js';

export { reopenAll } from '../../../observability/access-log.js';

export const typeUrls = ['type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog'] as const;

/** `config` is a decoded FileAccessLog: path plus one of log_format / format / json_format / typed_json_format. */
export function createAccessLogger(config: any, ctx?: { path?: string }): AccessLogger {
  const path = ctx?.path ?? 'typed_config';
  if (typeof config?.path !== 'string' || config.path === '') {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.path`, 'Cannot create file access log: path must be a non-empty string');
  }
  // Compile the format before opening the file, so a bad format does not leave a descriptor behind.
  const formatter = accessLogFormatter(config, path);
  return sinkLogger(formatter, acquireFileSink(config.path, { configPath: `${path}.path` }));
}
