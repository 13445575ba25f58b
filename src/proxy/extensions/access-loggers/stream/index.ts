// envoy.access_loggers.stdout / envoy.access_loggers.stderr: formats each finished request and writes it to the
// process's stdout or stderr, batched off the request path like the file logger.
import { ConfigError } from '../../../../common/errors.js';
import { accessLogFormatter, processStreamSink, sinkLogger, type AccessLogger } from '../../../observability/access-log.js';

const STDOUT = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
const STDERR = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog';

export const typeUrls = [STDOUT, STDERR] as const;

/** `config` is a decoded StdoutAccessLog or StderrAccessLog (its '@type' picks the stream); log_format optional. */
export function createAccessLogger(config: any, ctx?: { path?: string }): AccessLogger {
  const path = ctx?.path ?? 'typed_config';
  const type = config?.['@type'];
  if (type !== STDOUT && type !== STDERR) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.@type`, `Cannot create stream access log: expected ${STDOUT} or ${STDERR}, got ${type}`);
  }
  // These messages carry only log_format; accessLogFormatter also reads nothing else from them.
  return sinkLogger(accessLogFormatter({ log_format: config.log_format }, path), processStreamSink(type === STDOUT ? 'stdout' : 'stderr'));
}
