// xDS on the wire, shared by the control plane and the proxy: type URLs, proto3 JSON ⇄ Any, the discovery
// messages and the gRPC service definitions. Importing this costs nothing; the wire schema is read on the
// first encode or decode (see protos.ts).
export {
  TYPE_URL, TYPE_URL_PREFIX, PUSH_ORDER, TYPE_SHORT_NAME, WILDCARD_TYPES, isXdsTypeUrl, messageName, typeUrlOf, resourceName,
  type XdsTypeUrl,
} from './type-urls.js';
export { packAny, unpackAny, jsonToBinary, binaryToJson, type Any, type CodecOptions } from './json.js';
export {
  encodeDiscoveryRequest, decodeDiscoveryRequest, encodeDiscoveryResponse, decodeDiscoveryResponse,
  encodeDeltaDiscoveryRequest, decodeDeltaDiscoveryRequest, encodeDeltaDiscoveryResponse, decodeDeltaDiscoveryResponse,
  encodeDiscoveryResponsePart, encodeDeltaDiscoveryResponsePart, EncodedResponse,
  type NodeJson, type Status, type DiscoveryRequest, type DiscoveryResponse, type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse, type XdsResource,
} from './messages.js';
export { ADS_SERVICE, ADS_METHOD_PATHS, SINGLE_TYPE_SERVICES, type AdsServiceDefinition, type SingleTypeServiceDefinition } from './services.js';
export { XDS_PROTO_FILES, XDS_PROTOS_JSON_PATH, buildXdsProtosJson, xdsSchemaSource } from './protos.js';
