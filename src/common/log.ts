// The process logger (not access logs): structured JSON lines through pino, on stderr, with Envoy's level
// names accepted (`-l trace|debug|info|warning|warn|error|critical|off`).
import pino, { type Logger } from 'pino';

const LEVELS: Record<string, string> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
  critical: 'fatal',
  fatal: 'fatal',
  off: 'silent',
};

export function parseLogLevel(level: string): string | undefined {
  return LEVELS[level.toLowerCase()];
}

export const LOG_LEVEL_NAMES = Object.keys(LEVELS);

let root: Logger = pino({ level: process.env.MESHWORK_LOG_LEVEL ? parseLogLevel(process.env.MESHWORK_LOG_LEVEL) ?? 'info' : 'info', base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));

export function rootLogger(): Logger {
  return root;
}

// Children keep their own level in pino, so the registry lets /logging change them all (or one by name).
const children = new Map<string, Logger>();

export function setLogLevel(level: string, component?: string): boolean {
  const l = parseLogLevel(level);
  if (!l) return false;
  if (component) {
    const c = children.get(component);
    if (!c) return false;
    c.level = l;
    return true;
  }
  root.level = l;
  for (const c of children.values()) c.level = l;
  return true;
}

export function logLevels(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, c] of children) out[name] = c.level;
  return out;
}

export function logger(component: string): Logger {
  let c = children.get(component);
  if (!c) {
    c = root.child({ component });
    children.set(component, c);
  }
  return c;
}

export type { Logger };
