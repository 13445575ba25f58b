#!/usr/bin/env node
// Writes dist/envoy-schema.json, the compact Envoy schema the proxy reads at start instead of parsing the
// .proto files of @grpc/grpc-js-xds (see src/api/envoy/protos.ts). Run after tsc; part of `npm run build`.
// The file is generated from the installed dependency, never committed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const { buildSchemaJson, SCHEMA_JSON_PATH } = await import(new URL('../dist/src/api/envoy/protos.js', import.meta.url).href);
const json = buildSchemaJson();
mkdirSync(dirname(SCHEMA_JSON_PATH), { recursive: true });
writeFileSync(SCHEMA_JSON_PATH, json);
console.log(`wrote ${SCHEMA_JSON_PATH} (${(json.length / 1024).toFixed(0)} KiB)`);
