import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamInfo } from '../stream-info.js';
import { acquireFileSink, accessLogFormatter, flushAll, releaseSink, reopenAll, sinkLogger } from './access-log.js';
import { compileFormatString } from './formatter.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'mw-access-log-'));
const info = (id: number): StreamInfo => new StreamInfo({ remote: '1.1.1.1:1', local: '2.2.2.2:2', id }, Date.UTC(2024, 0, 1), 0);
const read = (p: string): string => (existsSync(p) ? readFileSync(p, 'utf8') : '');

/** Poll until `cond` holds; fails after `ms` so that a broken flush cannot hang the suite. */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Descriptors this process holds open on `path`. */
const openFds = (path: string): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  }).length;

test('log() only buffers; the batch reaches the file on flush', async () => {
  const path = join(tmp(), 'a.log');
  const logger = sinkLogger(compileFormatString('conn=%CONNECTION_ID%\n'), acquireFileSink(path));
  logger.log(info(1));
  logger.log(info(2));
  assert.equal(read(path), '', 'nothing is written synchronously on the request path');
  await logger.close();
  assert.equal(read(path), 'conn=1\nconn=2\n');
  logger.log(info(3)); // after close: ignored, not thrown
  assert.equal(openFds(path), 0, 'the last release closes the descriptor');
});

test('the flush timer writes pending lines without any explicit flush', async () => {
  const path = join(tmp(), 'timer.log');
  const sink = acquireFileSink(path, { flushIntervalMs: 20 });
  const logger = sinkLogger(compileFormatString('%CONNECTION_ID%\n'), sink);
  logger.log(info(7));
  await until(() => read(path) === '7\n');
  await logger.close();
});

test('a batch larger than the size threshold is written without waiting for the timer', async () => {
  const path = join(tmp(), 'big.log');
  const sink = acquireFileSink(path, { flushIntervalMs: 3_600_000, flushBytes: 1024 });
  const logger = sinkLogger(compileFormatString('%CONNECTION_ID% ' + 'x'.repeat(100) + '\n'), sink);
  for (let i = 0; i < 20; i++) logger.log(info(i));
  // the timer is an hour away, so only the size trigger can have written these
  await until(() => read(path).split('\n').length === 21);
  await logger.close();
  const lines = read(path).trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => Number(l.split(' ')[0])), [...Array(20).keys()], 'lines keep their order across batches');
});

test('lines logged while a batch is being written wait for the interval (or a full batch), not for the write to end', async () => {
  const path = join(tmp(), 'trickle.log');
  const sink = acquireFileSink(path, { flushIntervalMs: 3_600_000, flushBytes: 1024 });
  const logger = sinkLogger(compileFormatString('%CONNECTION_ID% ' + 'x'.repeat(100) + '\n'), sink);
  // the 10th line fills a batch, which starts writing; the 11th arrives while it is in flight
  for (let i = 0; i < 11; i++) logger.log(info(i));
  await until(() => read(path).split('\n').length === 11);
  await new Promise((r) => setTimeout(r, 150));
  // writing on whenever anything was pending would make one write(2) per few requests under load
  assert.equal(read(path).split('\n').length, 11, 'the 11th line waits: less than a batch, and the interval is an hour');
  await logger.close();
  assert.equal(read(path).trimEnd().split('\n').length, 11, 'close writes it');
});

test('loggers on the same path share one descriptor; the file closes with the last one', async () => {
  const path = join(tmp(), 'shared.log');
  const a = sinkLogger(compileFormatString('a%CONNECTION_ID%\n'), acquireFileSink(path));
  const b = sinkLogger(compileFormatString('b%CONNECTION_ID%\n'), acquireFileSink(path));
  assert.equal(openFds(path), 1);
  a.log(info(1));
  b.log(info(2));
  await a.close();
  assert.equal(read(path), 'a1\nb2\n', 'closing one logger flushes the shared buffer');
  b.log(info(3));
  await b.close();
  assert.equal(read(path), 'a1\nb2\nb3\n');
  assert.equal(openFds(path), 0);
});

test('reopenAll makes a rotated file be recreated at the next flush', async () => {
  const dir = tmp();
  const path = join(dir, 'rot.log');
  const sink = acquireFileSink(path);
  const logger = sinkLogger(compileFormatString('%CONNECTION_ID%\n'), sink);
  logger.log(info(1));
  await flushAll();
  renameSync(path, join(dir, 'rot.log.1')); // what logrotate does
  logger.log(info(2));
  await flushAll();
  assert.equal(read(join(dir, 'rot.log.1')), '1\n2\n', 'before reopen, writes follow the old descriptor');
  reopenAll();
  logger.log(info(3));
  await flushAll();
  assert.equal(read(path), '3\n');
  assert.equal(read(join(dir, 'rot.log.1')), '1\n2\n');
  await logger.close();
});

test('an unopenable path is a ConfigError naming the field', () => {
  assert.throws(
    () => acquireFileSink('/nonexistent-dir-meshwork/x.log', { configPath: 'access_log[0].typed_config.path' }),
    (e: any) => e.code === 'MW_CONFIG_INVALID' && e.path === 'access_log[0].typed_config.path' && /nonexistent-dir-meshwork/.test(e.message),
  );
});

test('a formatter that throws drops the line instead of failing the request', async () => {
  const path = join(tmp(), 'throw.log');
  const sink = acquireFileSink(path);
  const logger = sinkLogger({ format: () => { throw new Error('boom'); } }, sink);
  assert.doesNotThrow(() => logger.log(info(1)));
  await releaseSink(sink);
  assert.equal(read(path), '');
});

test('accessLogFormatter picks log_format, the deprecated fields, or the default format', () => {
  const i = info(9);
  assert.equal(accessLogFormatter({ log_format: { text_format: '%CONNECTION_ID%' } }, 'p').format(i), '9');
  assert.equal(accessLogFormatter({ format: 'f%CONNECTION_ID%' }, 'p').format(i), 'f9');
  assert.equal(accessLogFormatter({ json_format: { id: '%CONNECTION_ID%' } }, 'p').format(i), '{"id":"9"}\n');
  assert.equal(accessLogFormatter({ typed_json_format: { id: '%CONNECTION_ID%' } }, 'p').format(i), '{"id":9}\n');
  assert.match(accessLogFormatter({}, 'p').format(i), /^\[2024-01-01T00:00:00\.000Z\] "- - -" 0 - 0 0 \d+ - "-" "-" "-" "-" "-"\n$/);
  assert.match(accessLogFormatter({ format: '' }, 'p').format(i), /^\[2024-01-01T00:00:00\.000Z\] /);
  assert.throws(() => accessLogFormatter({ format: 'a', log_format: { text_format: 'b' } }, 'p'), (e: any) => e.code === 'MW_CONFIG_INVALID' && e.path === 'p');
  assert.throws(() => accessLogFormatter({ log_format: { text_format: '%NOPE%' } }, 'p'), (e: any) => e.path === 'p.log_format.text_format');
});
