import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createAccessLogger, typeUrls } from './index.js';

const STDOUT = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
const STDERR = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog';

/** Run `body` in a fresh node process with `createAccessLogger` and `info(id)` in scope; resolve its output. */
function runChild(body: string): Promise<{ stdout: string; stderr: string }> {
  const mod = new URL('./index.js', import.meta.url).href;
  const si = new URL('../../../stream-info.js', import.meta.url).href;
  const script = `
    const { createAccessLogger } = await import(${JSON.stringify(mod)});
    const { StreamInfo } = await import(${JSON.stringify(si)});
    const info = (id) => new StreamInfo({ remote: '1.1.1.1:1', local: '2.2.2.2:2', id });
    ${body}`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr }),
    );
  });
}

test('registers the stdout and stderr type URLs', () => {
  assert.deepEqual([...typeUrls], [STDOUT, STDERR]);
});

test('StdoutAccessLog writes formatted lines to stdout, in order, flushed on close', async () => {
  const { stdout, stderr } = await runChild(`
    const l = createAccessLogger({ '@type': '${STDOUT}', log_format: { text_format: 'c=%CONNECTION_ID% %REQ(:PATH)%\\n' } });
    for (let i = 1; i <= 3; i++) l.log(info(i));
    await l.close();
    process.stdout.write('END\\n');`);
  assert.equal(stdout, 'c=1 -\nc=2 -\nc=3 -\nEND\n');
  assert.equal(stderr, '');
});

test('StderrAccessLog writes to stderr only', async () => {
  const { stdout, stderr } = await runChild(`
    const l = createAccessLogger({ '@type': '${STDERR}', log_format: { json_format: { id: '%CONNECTION_ID%' } } });
    l.log(info(5));
    await l.close();`);
  assert.equal(stdout, '');
  assert.equal(stderr, '{"id":5}\n');
});

test('the flush timer writes lines while the process keeps running (before later output)', async () => {
  // If only the exit hook wrote the line, it would come after MARK.
  const { stdout } = await runChild(`
    const l = createAccessLogger({ '@type': '${STDOUT}', log_format: { text_format: 'line %CONNECTION_ID%\\n' } });
    l.log(info(1));
    setTimeout(() => process.stdout.write('MARK\\n'), 1500);`);
  assert.equal(stdout, 'line 1\nMARK\n');
});

test('lines still buffered when the process exits are written by the exit hook', async () => {
  const { stdout } = await runChild(`
    const l = createAccessLogger({ '@type': '${STDOUT}' });
    l.log(info(1));
    process.exit(0);`);
  assert.match(stdout, /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "- - -" 0 - 0 0 \d+ - "-" "-" "-" "-" "-"\n$/);
});

test('a config whose @type is not a stream logger is rejected', () => {
  assert.throws(() => createAccessLogger({ '@type': 'type.googleapis.com/x.Y' }, { path: 'al' }), (e: any) => e.code === 'MW_CONFIG_INVALID' && e.path === 'al.@type');
  assert.throws(
    () => createAccessLogger({ '@type': STDOUT, log_format: { text_format: '%NOPE%' } }, { path: 'al' }),
    (e: any) => e.code === 'MW_CONFIG_INVALID' && e.path === 'al.log_format.text_format',
  );
});
