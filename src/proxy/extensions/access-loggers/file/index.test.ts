import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeaderMap } from '../../../http/headers.js';
import { StreamInfo } from '../../../stream-info.js';
import { createAccessLogger, reopenAll, typeUrls } from './index.js';

const TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
const tmpFile = (name: string): string => join(mkdtempSync(join(tmpdir(), 'mw-file-log-')), name);

function request(id: number): StreamInfo {
  const i = new StreamInfo({ remote: '10.0.0.9:5555', local: '10.0.0.1:80', id }, Date.UTC(2024, 4, 6, 7, 8, 9, 10), 0);
  i.protocol = 'HTTP/2';
  i.requestHeaders = HeaderMap.from({ ':method': 'POST', ':path': '/api', ':authority': 'svc', 'x-request-id': `r${id}` });
  i.responseHeaders = HeaderMap.from({ ':status': '204', 'x-envoy-upstream-service-time': '3' });
  i.responseCode = 204;
  i.bytesReceived = 154;
  i.upstreamHost = '10.0.2.1:80';
  i.lastDownstreamTxByteSent = 226;
  return i;
}

test('registers under the FileAccessLog type URL and exports reopenAll', () => {
  assert.deepEqual([...typeUrls], [TYPE]);
  assert.equal(typeof reopenAll, 'function');
});

test('without a format it writes Envoy default-format lines to a real file, flushed on close', async () => {
  const path = tmpFile('access.log');
  const logger = createAccessLogger({ '@type': TYPE, path }, { path: 'access_log[0].typed_config' });
  logger.log(request(1));
  logger.log(request(2));
  await logger.close();
  assert.equal(
    readFileSync(path, 'utf8'),
    '[2024-05-06T07:08:09.010Z] "POST /api HTTP/2" 204 - 154 0 226 3 "-" "-" "r1" "svc" "10.0.2.1:80"\n' +
      '[2024-05-06T07:08:09.010Z] "POST /api HTTP/2" 204 - 154 0 226 3 "-" "-" "r2" "svc" "10.0.2.1:80"\n',
  );
});

test('log_format json_format writes one typed JSON object per line', async () => {
  const path = tmpFile('json.log');
  const logger = createAccessLogger({
    '@type': TYPE,
    path,
    log_format: { json_format: { code: '%RESPONSE_CODE%', id: '%REQ(X-REQUEST-ID)%', ua: '%REQ(USER-AGENT)%' } },
  });
  logger.log(request(1));
  logger.log(request(2));
  await logger.close();
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines, [
    { code: 204, id: 'r1', ua: null },
    { code: 204, id: 'r2', ua: null },
  ]);
});

test('log_format text_format_source with omit_empty_values, and an existing file is appended to', async () => {
  const path = tmpFile('text.log');
  const cfg = { '@type': TYPE, path, log_format: { text_format_source: { inline_string: '%REQ(X-REQUEST-ID)%|%REQ(USER-AGENT)%\n' }, omit_empty_values: true } };
  const first = createAccessLogger(cfg);
  first.log(request(1));
  await first.close();
  const second = createAccessLogger(cfg);
  second.log(request(2));
  await second.close();
  assert.equal(readFileSync(path, 'utf8'), 'r1|\nr2|\n');
});

test('config errors: missing path, bad format, unopenable file', () => {
  assert.throws(() => createAccessLogger({ '@type': TYPE }, { path: 'al' }), (e: any) => e.code === 'MW_CONFIG_INVALID' && e.path === 'al.path');
  assert.throws(
    () => createAccessLogger({ '@type': TYPE, path: tmpFile('x.log'), log_format: { text_format: '%WHAT%' } }, { path: 'al' }),
    (e: any) => e.code === 'MW_CONFIG_INVALID' && e.path === 'al.log_format.text_format' && /%WHAT%/.test(e.message),
  );
  assert.throws(
    () => createAccessLogger({ '@type': TYPE, path: '/nonexistent-meshwork-dir/a.log' }, { path: 'al' }),
    (e: any) => e.code === 'MW_CONFIG_INVALID' && e.path === 'al.path',
  );
});

test('path /dev/stdout writes to the process stdout', async () => {
  const mod = new URL('./index.js', import.meta.url).href;
  const si = new URL('../../../stream-info.js', import.meta.url).href;
  const script = `
    const { createAccessLogger } = await import(${JSON.stringify(mod)});
    const { StreamInfo } = await import(${JSON.stringify(si)});
    const l = createAccessLogger({ '@type': ${JSON.stringify(TYPE)}, path: '/dev/stdout', format: 'id=%CONNECTION_ID%\\n' });
    l.log(new StreamInfo({ remote: '1.1.1.1:1', local: '2.2.2.2:2', id: 41 }));
    l.log(new StreamInfo({ remote: '1.1.1.1:1', local: '2.2.2.2:2', id: 42 }));
    await l.close();
    process.stdout.write('END\\n');`;
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
  assert.equal(out, 'id=41\nid=42\nEND\n');
});
