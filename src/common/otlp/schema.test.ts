import assert from 'node:assert/strict';
import test from 'node:test';
import { otlpType } from './schema.js';

// Wire bytes worked out by hand from the protobuf encoding rules, so the schema's field numbers and types are
// checked against something other than itself.
test('KeyValue{key:"a", value:{stringValue:"b"}} encodes as the OTLP wire bytes', () => {
  const KeyValue = otlpType('common.v1.KeyValue');
  const bytes = KeyValue.encode(KeyValue.fromObject({ key: 'a', value: { stringValue: 'b' } })).finish();
  assert.equal(Buffer.from(bytes).toString('hex'), '0a0161' + '1203' + '0a0162');
});

test('a span: ids are bytes 1/2, times fixed64 7/8, kind varint 6, status code at 15.3', () => {
  const Span = otlpType('trace.v1.Span');
  const span = {
    traceId: Buffer.alloc(16, 0xab),
    spanId: Buffer.alloc(8, 0xcd),
    name: 'x',
    kind: 2,
    startTimeUnixNano: 1,
    endTimeUnixNano: 2,
    status: { code: 2 },
  };
  const hex = Buffer.from(Span.encode(Span.fromObject(span)).finish()).toString('hex');
  assert.equal(
    hex,
    '0a10' + 'ab'.repeat(16) + '1208' + 'cd'.repeat(8) + '2a0178' + '3002' + '39' + '0100000000000000' + '41' + '0200000000000000' + '7a021802',
  );
  const back = Span.toObject(Span.decode(Buffer.from(hex, 'hex')), { longs: Number });
  assert.equal(back.name, 'x');
  assert.equal(back.endTimeUnixNano, 2);
  assert.equal(back.status.code, 2);
});

test('the collector requests and services resolve', () => {
  for (const t of ['collector.trace.v1.ExportTraceServiceRequest', 'collector.logs.v1.ExportLogsServiceRequest', 'logs.v1.LogRecord']) assert.ok(otlpType(t));
});
