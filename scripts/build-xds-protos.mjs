#!/usr/bin/env node
// Writes dist/xds-protos.json, the wire schema the xDS codec reads on first use instead of parsing the .proto
// files of @grpc/grpc-js-xds (see src/api/xds/protos.ts). Run after tsc; part of `npm run build`.
// The file is generated from the installed dependency, never committed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const { buildXdsProtosJson, XDS_PROTOS_JSON_PATH } = await import(new URL('../dist/src/api/xds/protos.js', import.meta.url).href);
const json = buildXdsProtosJson();
mkdirSync(dirname(XDS_PROTOS_JSON_PATH), { recursive: true });
writeFileSync(XDS_PROTOS_JSON_PATH, json);
console.log(`wrote ${XDS_PROTOS_JSON_PATH} (${(json.length / 1024).toFixed(0)} KiB)`);
