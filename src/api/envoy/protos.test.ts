import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildSchemaJson, loadSchema, schemaFiles, SCHEMA_JSON_PATH } from './protos.js';

// A small proto (it still pulls in core/base and friends) keeps the live parses of the trust tests short.
const ROUTER = 'envoy/extensions/filters/http/router/v3/router.proto';
// an extension proto Meshwork does not load by default
const GRPC_WEB = 'envoy/extensions/filters/http/grpc_web/v3/grpc_web.proto';

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mw-schema-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the schema JSON the build writes reads back exactly as parsing the protos gives it', async () => {
  await withTemp(async (dir) => {
    const file = path.join(dir, 'envoy-schema.json');
    await writeFile(file, buildSchemaJson());
    const fromJson = loadSchema(schemaFiles(), file);
    const parsed = loadSchema(schemaFiles(), path.join(dir, 'missing.json'));
    assert.equal(fromJson.source, 'json');
    assert.equal(parsed.source, 'protos');
    assert.ok(parsed.messages.size > 500, `only ${parsed.messages.size} types`);
    assert.deepStrictEqual(fromJson.messages, parsed.messages);
    // Fields of one enum type share one schema object, as they do when parsed.
    const enumOf = (type: string, field: string) => fromJson.messages.get(type)!.fields.find((f) => f.name === field)!.enum;
    const lbEndpoint = enumOf('envoy.config.endpoint.v3.LbEndpoint', 'health_status');
    assert.ok(lbEndpoint && lbEndpoint === enumOf('envoy.config.core.v3.HealthStatusSet', 'statuses'));
    assert.equal(lbEndpoint.names.get(1), 'HEALTHY');
  });
});

test('dist/envoy-schema.json, when the build wrote it, is current and used', () => {
  if (!fs.existsSync(SCHEMA_JSON_PATH)) {
    // Built with tsc alone: the runtime falls back to the protos.
    assert.equal(loadSchema(schemaFiles()).source, 'protos');
    return;
  }
  const built = loadSchema(schemaFiles());
  assert.equal(built.source, 'json', `${SCHEMA_JSON_PATH} is stale (other protos or format): run npm run build`);
  assert.deepStrictEqual(built.messages, loadSchema(schemaFiles(), '/nonexistent/envoy-schema.json').messages);
});

test('a schema JSON of another format or protos version, cut short, or without a wanted file, is not trusted', async () => {
  const text = buildSchemaJson();
  const good = JSON.parse(text) as { format: number; protos: string; files: string[] };
  await withTemp(async (dir) => {
    const write = async (name: string, value: unknown) => {
      const file = path.join(dir, name);
      await writeFile(file, JSON.stringify(value));
      return file;
    };
    assert.equal(loadSchema([ROUTER], await write('good.json', good)).source, 'json');
    assert.equal(loadSchema([ROUTER], await write('format.json', { ...good, format: good.format + 1 })).source, 'protos');
    assert.equal(loadSchema([ROUTER], await write('protos.json', { ...good, protos: '@grpc/grpc-js-xds@0.0.0' })).source, 'protos');
    const cut = path.join(dir, 'cut.json');
    await writeFile(cut, text.slice(0, text.length >> 1));
    assert.equal(loadSchema([ROUTER], cut).source, 'protos');
    const fallback = loadSchema([ROUTER, GRPC_WEB], await write('lacking.json', good));
    assert.equal(fallback.source, 'protos');
    assert.ok(fallback.messages.has('envoy.extensions.filters.http.grpc_web.v3.GrpcWeb'));
  });
});

test('registering a proto file the JSON lacks before first use parses the protos, with the same result', async () => {
  // A fresh instance of the module, so its schema is not loaded yet.
  const fresh = (await import(`./protos.js?fresh=${Date.now()}`)) as typeof import('./protos.js');
  fresh.registerProtoFiles([GRPC_WEB]);
  const all = fresh.loadedMessages();
  assert.ok(all.has('envoy.extensions.filters.http.grpc_web.v3.GrpcWeb'));
  const base = loadSchema(schemaFiles()).messages;
  for (const [name, m] of base) assert.deepStrictEqual(all.get(name), m, name);
});
