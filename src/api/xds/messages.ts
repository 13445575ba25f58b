// The four discovery messages in the shapes both planes handle: resources stay packed Anys (encoded once,
// sent to many proxies; unpacked only by the one that applies them), the node is proto3 JSON. Decoding fills
// proto3 defaults ('' / [] / {}) so that callers compare fields without undefined checks.
import { binaryToJson, jsonToBinary, type Any } from './json.js';

/** envoy.config.core.v3.Node in proto3-JSON form, snake_case; metadata as plain JSON */
export interface NodeJson {
  id?: string;
  cluster?: string;
  metadata?: Record<string, unknown>;
  locality?: { region?: string; zone?: string; sub_zone?: string };
  user_agent_name?: string;
  user_agent_version?: string;
  client_features?: string[];
  [k: string]: unknown;
}

/** google.rpc.Status (details left out: xDS NACKs carry only code and message) */
export interface Status {
  code: number;
  message: string;
}

export interface DiscoveryRequest {
  version_info: string;
  node?: NodeJson;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: Status;
}

export interface DiscoveryResponse {
  version_info: string;
  resources: Any[];
  type_url: string;
  nonce: string;
  control_plane?: { identifier: string };
}

export interface DeltaDiscoveryRequest {
  node?: NodeJson;
  type_url: string;
  resource_names_subscribe: string[];
  resource_names_unsubscribe: string[];
  initial_resource_versions: Record<string, string>;
  response_nonce: string;
  error_detail?: Status;
}

export interface XdsResource {
  name: string;
  version: string;
  resource?: Any;
  aliases?: string[];
}

export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: XdsResource[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
  control_plane?: { identifier: string };
}

const PKG = 'envoy.service.discovery.v3.';
const WIRE = { wireAny: true };

// Only the fields of our TS shapes go on the wire: a caller's extra property (e.g. a debug note) is left out
// instead of failing the send.
function pick(o: object, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = (o as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}
const status = (s: Status | undefined) => (s ? { code: s.code, message: s.message } : undefined);

export function encodeDiscoveryRequest(m: DiscoveryRequest): Buffer {
  return jsonToBinary(PKG + 'DiscoveryRequest', { ...pick(m, ['version_info', 'node', 'resource_names', 'type_url', 'response_nonce']), error_detail: status(m.error_detail) }, '', WIRE);
}

/** A long resource_names list may come back frozen and shared with other decoded requests that carried the
 *  same list (see repeatedNames). */
export function decodeDiscoveryRequest(bytes: Uint8Array): DiscoveryRequest {
  const region = namesRegion(bytes);
  let known: readonly string[] | undefined;
  let rest = bytes;
  if (region) {
    known = repeatedNames.find(bytes.subarray(region[0], region[1]));
    if (known) rest = Buffer.concat([bytes.subarray(0, region[0]), bytes.subarray(region[1])]);
  }
  const j = binaryToJson(PKG + 'DiscoveryRequest', rest, WIRE);
  let names = list<string>(j.resource_names);
  if (known) names = known as string[];
  else if (region) names = repeatedNames.add(bytes.subarray(region[0], region[1]), names) as string[];
  return withOptional(
    { version_info: str(j.version_info), resource_names: names, type_url: str(j.type_url), response_nonce: str(j.response_nonce) },
    { node: j.node as NodeJson | undefined, error_detail: decodeStatus(j.error_detail) },
  );
}

// A SotW client repeats its whole subscription in every request, ACKs included: 1,000 EDS names from each of
// 1,000 sidecars on every push. Decoding them into strings each time was the largest part of what a push cost
// the control plane, and of its garbage. Lists seen recently are kept with their bytes; a request that carries
// the same bytes gets the same frozen array, found by the byte length and one memcmp.
const NAMES_REGION_MIN = 16; // names; shorter lists decode as cheaply as they compare
const NAMES_KEPT = 64; // distinct lists: a fleet has few distinct subscriptions per type

class NamesCache {
  private readonly byLength = new Map<number, { bytes: Buffer; names: readonly string[] }[]>();
  private readonly order: { bytes: Buffer; names: readonly string[] }[] = [];

  find(bytes: Uint8Array): readonly string[] | undefined {
    for (const e of this.byLength.get(bytes.length) ?? []) if (e.bytes.equals(bytes)) return e.names;
    return undefined;
  }

  add(bytes: Uint8Array, names: string[]): readonly string[] {
    const e = { bytes: Buffer.from(bytes), names: Object.freeze(names) };
    let same = this.byLength.get(bytes.length);
    if (!same) this.byLength.set(bytes.length, (same = []));
    same.push(e);
    this.order.push(e);
    if (this.order.length > NAMES_KEPT) {
      const old = this.order.shift()!;
      const list = this.byLength.get(old.bytes.length)!;
      list.splice(list.indexOf(old), 1);
      if (list.length === 0) this.byLength.delete(old.bytes.length);
    }
    return e.names;
  }
}

const repeatedNames = new NamesCache();

/** Where a DiscoveryRequest's resource_names (field 3) are, when they are one run of at least
 *  NAMES_REGION_MIN names; undefined otherwise (the message then decodes as usual, malformed or not). */
function namesRegion(b: Uint8Array): [number, number] | undefined {
  let pos = 0;
  let start = -1;
  let end = -1;
  let count = 0;
  const varint = (): number => {
    let v = 0;
    for (let mul = 1; ; mul *= 128) {
      if (pos >= b.length || mul > 2 ** 49) throw new RangeError('bad varint');
      const x = b[pos++]!;
      v += (x & 0x7f) * mul;
      if (x < 0x80) return v;
    }
  };
  try {
    while (pos < b.length) {
      const at = pos;
      const tag = varint();
      const wireType = tag % 8;
      if (wireType === 0) varint();
      else if (wireType === 1) pos += 8;
      else if (wireType === 5) pos += 4;
      else if (wireType === 2) {
        const len = varint(); // not `pos += varint()`, which adds to the pos read before the call
        pos += len;
      }
      else return undefined;
      if (pos > b.length) return undefined;
      if (tag !== 0x1a) continue; // field 3, length-delimited
      if (count > 0 && end !== at) return undefined; // names not in one run
      if (count++ === 0) start = at;
      end = pos;
    }
  } catch {
    return undefined;
  }
  return count >= NAMES_REGION_MIN ? [start, end] : undefined;
}

/**
 * A discovery response encoded before it is written, as parts: encodings of the same message type with
 * different fields, whose concatenation is the whole message (protobuf parsers take fields in any order and
 * append repeated ones in order). A server that sends the same resources on many streams encodes them once
 * (encodeDiscoveryResponsePart, encodeDeltaDiscoveryResponsePart) and adds each stream's nonce as one more
 * part; the services' responseSerialize (encodeDiscoveryResponse, encodeDeltaDiscoveryResponse) only joins them.
 */
export class EncodedResponse {
  constructor(readonly parts: readonly Uint8Array[]) {}

  bytes(): Buffer {
    const [only] = this.parts;
    return this.parts.length === 1 && only instanceof Buffer ? only : Buffer.concat(this.parts);
  }
}

const SOTW_FIELDS = ['version_info', 'resources', 'type_url', 'nonce', 'control_plane'] as const;
const DELTA_FIELDS = ['system_version_info', 'type_url', 'removed_resources', 'nonce', 'control_plane'] as const;
const RESOURCE_FIELDS = ['name', 'version', 'resource', 'aliases'] as const;

export function encodeDiscoveryResponse(m: DiscoveryResponse | EncodedResponse): Buffer {
  if (m instanceof EncodedResponse) return m.bytes();
  return jsonToBinary(PKG + 'DiscoveryResponse', pick(m, SOTW_FIELDS), '', WIRE);
}

/** Some fields of a DiscoveryResponse, encoded: a part of an EncodedResponse. */
export function encodeDiscoveryResponsePart(m: Partial<DiscoveryResponse>): Buffer {
  return jsonToBinary(PKG + 'DiscoveryResponse', pick(m, SOTW_FIELDS), '', WIRE);
}

export function decodeDiscoveryResponse(bytes: Uint8Array): DiscoveryResponse {
  const j = binaryToJson(PKG + 'DiscoveryResponse', bytes, WIRE);
  return withOptional(
    { version_info: str(j.version_info), resources: list<Any>(j.resources), type_url: str(j.type_url), nonce: str(j.nonce) },
    { control_plane: controlPlane(j.control_plane) },
  );
}

export function encodeDeltaDiscoveryRequest(m: DeltaDiscoveryRequest): Buffer {
  const keys = ['node', 'type_url', 'resource_names_subscribe', 'resource_names_unsubscribe', 'initial_resource_versions', 'response_nonce'];
  return jsonToBinary(PKG + 'DeltaDiscoveryRequest', { ...pick(m, keys), error_detail: status(m.error_detail) }, '', WIRE);
}

export function decodeDeltaDiscoveryRequest(bytes: Uint8Array): DeltaDiscoveryRequest {
  const j = binaryToJson(PKG + 'DeltaDiscoveryRequest', bytes, WIRE);
  return withOptional(
    {
      type_url: str(j.type_url), resource_names_subscribe: list(j.resource_names_subscribe), resource_names_unsubscribe: list(j.resource_names_unsubscribe),
      initial_resource_versions: (j.initial_resource_versions as Record<string, string> | undefined) ?? {}, response_nonce: str(j.response_nonce),
    },
    { node: j.node as NodeJson | undefined, error_detail: decodeStatus(j.error_detail) },
  );
}

export function encodeDeltaDiscoveryResponse(m: DeltaDiscoveryResponse | EncodedResponse): Buffer {
  if (m instanceof EncodedResponse) return m.bytes();
  return encodeDeltaDiscoveryResponsePart(m);
}

/** Some fields of a DeltaDiscoveryResponse, encoded: a part of an EncodedResponse. One resource encoded this
 *  way (`{ resources: [r] }`) is that resource as an element of the repeated field, ready to be sent on many
 *  streams. */
export function encodeDeltaDiscoveryResponsePart(m: Partial<DeltaDiscoveryResponse>): Buffer {
  const json: Record<string, unknown> = pick(m, DELTA_FIELDS);
  if (m.resources) json.resources = m.resources.map((r) => pick(r, RESOURCE_FIELDS));
  return jsonToBinary(PKG + 'DeltaDiscoveryResponse', json, '', WIRE);
}

export function decodeDeltaDiscoveryResponse(bytes: Uint8Array): DeltaDiscoveryResponse {
  const j = binaryToJson(PKG + 'DeltaDiscoveryResponse', bytes, WIRE);
  const resources = list<Record<string, unknown>>(j.resources).map((r) =>
    withOptional({ name: str(r.name), version: str(r.version) }, { resource: r.resource as Any | undefined, aliases: r.aliases as string[] | undefined }),
  );
  return withOptional(
    { system_version_info: str(j.system_version_info), resources, type_url: str(j.type_url), removed_resources: list<string>(j.removed_resources), nonce: str(j.nonce) },
    { control_plane: controlPlane(j.control_plane) },
  );
}

// Optional fields are left out when absent (not set to undefined), so decoded messages deepEqual literals.
function withOptional<T extends object, O extends object>(required: T, optional: O): T & Partial<O> {
  const out: Record<string, unknown> = { ...(required as Record<string, unknown>) };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) out[k] = v;
  return out as T & Partial<O>;
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const list = <T>(v: unknown) => (Array.isArray(v) ? (v as T[]) : []);
const decodeStatus = (v: unknown): Status | undefined => {
  const s = v as { code?: number; message?: string } | undefined;
  return s ? { code: s.code ?? 0, message: s.message ?? '' } : undefined;
};
const controlPlane = (v: unknown) => (v ? { identifier: str((v as { identifier?: unknown }).identifier) } : undefined);
