// Access logging core: the AccessLogger interface every access-logger extension implements, the format
// selection shared by them, and the buffered sinks they write to.
//
// Why buffered: a log line is produced on the request path, and a synchronous write(2) per request would stall
// the event loop on a slow disk. Like Envoy's AccessLogFileImpl, a sink appends lines to memory and a flush
// writes them in one batch: after FLUSH_INTERVAL_MS (Envoy's default file_flush_interval is 1 s), as soon as
// FLUSH_BYTES are pending (Envoy's default min_flush_size is 64 KiB), and on close. Sinks are shared by path
// (like Envoy's AccessLogManager) so that a config reload that recreates loggers keeps one file descriptor and
// the line order; `reopenAll()` makes every file sink reopen its path at the next flush (for logrotate).
import { closeSync, openSync, writeSync, close as closeCb, open as openCb, write as writeCb } from 'node:fs';
import { promisify } from 'node:util';
import { ConfigError } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import type { StreamInfo } from '../stream-info.js';
import {
  compileFormatString,
  compileJsonFormat,
  compileSubstitutionFormat,
  DEFAULT_ACCESS_LOG_FORMAT,
  type Formatter,
} from './formatter.js';

export interface AccessLogger {
  /** Called once per finished request (or TCP connection). Never blocks and never throws. */
  log(info: StreamInfo): void;
  /** Flush what is buffered and release the sink. */
  close(): Promise<void>;
}

/** What the registry stores under an access logger's type URL. */
export type AccessLoggerFactory = (config: any, ctx?: { path?: string }) => AccessLogger;

export const FLUSH_INTERVAL_MS = 1000;
export const FLUSH_BYTES = 64 * 1024;

const log = logger('access_log');
const fsOpen = promisify(openCb);
const fsWrite = promisify(writeCb);
const fsClose = promisify(closeCb);

/** Where a sink's batches go. */
interface Target {
  readonly name: string;
  write(data: string): Promise<void>;
  /** Best effort at process exit, when no more async work will run. */
  writeSync(data: string): void;
  reopen(): void;
  close(): Promise<void>;
}

class FileTarget implements Target {
  private fd: number | undefined;
  private reopenPending = false;

  constructor(readonly name: string) {
    // Opened synchronously once, at config time, so that a bad path is a config error (as in Envoy).
    this.fd = openSync(name, 'a');
  }

  async write(data: string): Promise<void> {
    let fd = this.fd;
    if (this.reopenPending || fd === undefined) {
      this.reopenPending = false;
      this.fd = undefined;
      if (fd !== undefined) await fsClose(fd).catch(() => {});
      this.fd = fd = await fsOpen(this.name, 'a');
    }
    const buf = Buffer.from(data);
    let off = 0;
    // A regular file takes the whole buffer at once; pipes and FIFOs may take it in pieces.
    while (off < buf.length) off += (await fsWrite(fd, buf, off, buf.length - off, null)).bytesWritten;
  }

  writeSync(data: string): void {
    if (this.fd !== undefined) writeSync(this.fd, data);
  }

  reopen(): void {
    this.reopenPending = true;
  }

  async close(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) await fsClose(fd);
  }
}

/**
 * stdout / stderr go through Node's own stream: process.stdout may have put the descriptor in non-blocking
 * mode (pipes), where writing to fd 1 directly could fail with EAGAIN or interleave with other output.
 */
class ProcessStreamTarget implements Target {
  constructor(
    readonly name: string,
    private readonly stream: NodeJS.WriteStream,
  ) {}

  write(data: string): Promise<void> {
    return new Promise((resolve) => {
      this.stream.write(data, () => resolve());
    });
  }

  writeSync(data: string): void {
    this.stream.write(data);
  }

  reopen(): void {}

  async close(): Promise<void> {}
}

/** A batch buffer in front of a Target. */
export class LogSink {
  private chunks: string[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private failing = false;
  refs = 0;

  constructor(
    private readonly target: Target,
    private readonly flushIntervalMs = FLUSH_INTERVAL_MS,
    private readonly flushBytes = FLUSH_BYTES,
  ) {
    liveSinks.add(this);
    installExitFlush();
  }

  get name(): string {
    return this.target.name;
  }

  write(line: string): void {
    flatten(line);
    this.chunks.push(line);
    this.bytes += line.length;
    if (this.writing) return; // the batch in flight looks at what piled up when it is done
    if (this.bytes >= this.flushBytes) this.startDrain(false);
    else if (!this.timer) this.armTimer();
  }

  /** Write everything buffered so far (close, shutdown). Never rejects: a failing sink logs one warning and drops lines. */
  async flush(): Promise<void> {
    while (this.writing || this.chunks.length > 0) {
      if (this.writing) await this.writing;
      else this.startDrain(true);
    }
  }

  private armTimer(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.writing && this.chunks.length > 0) this.startDrain(false);
    }, this.flushIntervalMs);
    this.timer.unref(); // pending log lines alone must not keep the process alive; the exit hook writes them
  }

  private startDrain(all: boolean): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.writing = this.drain(all);
  }

  // One writer at a time keeps lines in order. A batch written because of the size or the interval is followed
  // by another only if a full batch piled up meanwhile; otherwise what piled up waits for the next interval.
  // (Writing on as long as anything is pending made one write(2) per few requests under load.)
  private async drain(all: boolean): Promise<void> {
    try {
      do {
        const data = this.chunks.join('');
        this.chunks = [];
        this.bytes = 0;
        try {
          await this.target.write(data);
          this.failing = false;
        } catch (err) {
          if (!this.failing) log.warn({ err, path: this.target.name }, 'access log write failed; dropping lines until it recovers');
          this.failing = true;
        }
      } while (this.chunks.length > 0 && (all || this.bytes >= this.flushBytes));
    } finally {
      this.writing = undefined;
      if (this.chunks.length > 0 && !this.timer) this.armTimer();
    }
  }

  flushSync(): void {
    if (this.chunks.length === 0) return;
    const data = this.chunks.join('');
    this.chunks = [];
    this.bytes = 0;
    try {
      this.target.writeSync(data);
    } catch {
      // the process is exiting; nothing else can be done with the lines
    }
  }

  reopen(): void {
    this.target.reopen();
  }

  async close(): Promise<void> {
    await this.flush();
    liveSinks.delete(this);
    await this.target.close().catch((err) => log.warn({ err, path: this.target.name }, 'closing access log failed'));
  }
}

/**
 * Make V8 flatten `s` now. A formatted line is a tree of ~30 cons strings (one per `+=`); it waits in the sink
 * for up to a second, and every scavenge in that time copies each node of the tree. Flattened at once, the
 * line is one flat string to the GC, and the batch join later only copies bytes. The flattening itself is work
 * the join would do anyway. ToNumber is the cheapest way to get it from JavaScript: it flattens its argument in
 * place before it parses (and a log line fails to parse as a number at its first characters).
 */
function flatten(s: string): void {
  Number(s);
}

const liveSinks = new Set<LogSink>();
const fileSinks = new Map<string, LogSink>();
let stdoutSink: LogSink | undefined;
let stderrSink: LogSink | undefined;
let exitHookInstalled = false;

function installExitFlush(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const s of liveSinks) s.flushSync();
  });
}

/** The shared sink for process stdout or stderr; never closed. */
export function processStreamSink(which: 'stdout' | 'stderr'): LogSink {
  if (which === 'stdout') return (stdoutSink ??= new LogSink(new ProcessStreamTarget('/dev/stdout', process.stdout)));
  return (stderrSink ??= new LogSink(new ProcessStreamTarget('/dev/stderr', process.stderr)));
}

/**
 * Take a reference on the sink for `path` (opened in append mode, created if missing); `releaseSink` gives it
 * back. /dev/stdout and /dev/stderr map to the process streams. Throws ConfigError if the file cannot be opened.
 */
export function acquireFileSink(path: string, opts?: { configPath?: string; flushIntervalMs?: number; flushBytes?: number }): LogSink {
  if (path === '/dev/stdout' || path === '/dev/stderr') return processStreamSink(path === '/dev/stdout' ? 'stdout' : 'stderr');
  let sink = fileSinks.get(path);
  if (!sink) {
    let target: FileTarget;
    try {
      target = new FileTarget(path);
    } catch (err) {
      throw new ConfigError('MW_CONFIG_INVALID', opts?.configPath ?? 'path', `Cannot open access log "${path}": ${(err as Error).message}`);
    }
    sink = new LogSink(target, opts?.flushIntervalMs, opts?.flushBytes);
    fileSinks.set(path, sink);
  }
  sink.refs++;
  return sink;
}

/** Flush; the last release of a file sink closes its descriptor. Process stream sinks only flush. */
export async function releaseSink(sink: LogSink): Promise<void> {
  if (sink === stdoutSink || sink === stderrSink) return sink.flush();
  if (--sink.refs > 0) return sink.flush();
  if (fileSinks.get(sink.name) === sink) fileSinks.delete(sink.name);
  return sink.close();
}

/** Reopen every access log file at its next flush (admin /reopen_logs, SIGUSR1 after logrotate). */
export function reopenAll(): void {
  for (const s of fileSinks.values()) s.reopen();
}

/** Flush every sink now (graceful shutdown, tests). */
export async function flushAll(): Promise<void> {
  await Promise.all([...liveSinks].map((s) => s.flush()));
}

/**
 * The formatter an access logger uses, from the decoded config's format fields: `log_format`
 * (SubstitutionFormatString) or the deprecated `format` / `json_format` / `typed_json_format`; none → Envoy's
 * default format.
 */
export function accessLogFormatter(config: Record<string, any>, path: string): Formatter {
  const set = ['format', 'json_format', 'typed_json_format', 'log_format'].filter((k) => config[k] !== undefined);
  if (set.length > 1) {
    throw new ConfigError('MW_CONFIG_INVALID', path, `Cannot configure access log format: only one of ${set.join(', ')} may be set`);
  }
  if (config.log_format !== undefined) return compileSubstitutionFormat(config.log_format, `${path}.log_format`);
  if (config.json_format !== undefined) return compileJsonFormat(config.json_format, { path: `${path}.json_format`, typed: false });
  if (config.typed_json_format !== undefined) return compileJsonFormat(config.typed_json_format, { path: `${path}.typed_json_format` });
  // An empty `format` string means "default" in Envoy as well.
  if (config.format) return compileFormatString(config.format, { path: `${path}.format` });
  return compileFormatString(DEFAULT_ACCESS_LOG_FORMAT, { path });
}

/** An AccessLogger that formats and hands the line to a sink. Formatting errors are logged, never thrown. */
export function sinkLogger(formatter: Formatter, sink: LogSink): AccessLogger {
  let closed = false;
  return {
    log(info) {
      if (closed) return;
      let line: string;
      try {
        line = formatter.format(info);
      } catch (err) {
        log.warn({ err }, 'access log formatting failed');
        return;
      }
      sink.write(line);
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return releaseSink(sink);
    },
  };
}
