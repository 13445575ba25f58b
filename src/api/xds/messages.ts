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
const pick = (o: object, keys: readonly string[]) => Object.fromEntries(keys.map((k) => [k, (o as Record<string, unknown>)[k]]).filter(([, v]) => v !== undefined));
const status = (s: Status | undefined) => (s ? { code: s.code, message: s.message } : undefined);

export function encodeDiscoveryRequest(m: DiscoveryRequest): Buffer {
  return jsonToBinary(PKG + 'DiscoveryRequest', { ...pick(m, ['version_info', 'node', 'resource_names', 'type_url', 'response_nonce']), error_detail: status(m.error_detail) }, '', WIRE);
}

export function decodeDiscoveryRequest(bytes: Uint8Array): DiscoveryRequest {
  const j = binaryToJson(PKG + 'DiscoveryRequest', bytes, WIRE);
  return withOptional(
    { version_info: str(j.version_info), resource_names: list(j.resource_names), type_url: str(j.type_url), response_nonce: str(j.response_nonce) },
    { node: j.node as NodeJson | undefined, error_detail: decodeStatus(j.error_detail) },
  );
}

export function encodeDiscoveryResponse(m: DiscoveryResponse): Buffer {
  return jsonToBinary(PKG + 'DiscoveryResponse', pick(m, ['version_info', 'resources', 'type_url', 'nonce', 'control_plane']), '', WIRE);
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

export function encodeDeltaDiscoveryResponse(m: DeltaDiscoveryResponse): Buffer {
  const resources = m.resources.map((r) => pick(r, ['name', 'version', 'resource', 'aliases']));
  return jsonToBinary(PKG + 'DeltaDiscoveryResponse', { ...pick(m, ['system_version_info', 'type_url', 'removed_resources', 'nonce', 'control_plane']), resources }, '', WIRE);
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
