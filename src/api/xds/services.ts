// The xDS gRPC services as @grpc/grpc-js ServiceDefinitions (Server.addService, makeGenericClientConstructor).
// Written out rather than loaded with @grpc/proto-loader: the method names are stable API, and the
// (de)serializers are ours (messages.ts), so defining a service costs nothing until a message flows.
// services.test.ts checks every path and streaming flag against the .proto service declarations.
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import {
  decodeDeltaDiscoveryRequest, decodeDeltaDiscoveryResponse, decodeDiscoveryRequest, decodeDiscoveryResponse,
  encodeDeltaDiscoveryRequest, encodeDeltaDiscoveryResponse, encodeDiscoveryRequest, encodeDiscoveryResponse,
  type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
} from './messages.js';
import { TYPE_URL, type XdsTypeUrl } from './type-urls.js';

type SotwMethod = MethodDefinition<DiscoveryRequest, DiscoveryResponse>;
type DeltaMethod = MethodDefinition<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

function sotw(service: string, method: string, streaming: boolean): SotwMethod {
  return {
    path: `/${service}/${method}`, requestStream: streaming, responseStream: streaming,
    requestSerialize: encodeDiscoveryRequest, requestDeserialize: decodeDiscoveryRequest,
    responseSerialize: encodeDiscoveryResponse, responseDeserialize: decodeDiscoveryResponse,
  };
}

function delta(service: string, method: string): DeltaMethod {
  return {
    path: `/${service}/${method}`, requestStream: true, responseStream: true,
    requestSerialize: encodeDeltaDiscoveryRequest, requestDeserialize: decodeDeltaDiscoveryRequest,
    responseSerialize: encodeDeltaDiscoveryResponse, responseDeserialize: decodeDeltaDiscoveryResponse,
  };
}

const ADS = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

export interface AdsServiceDefinition extends ServiceDefinition {
  StreamAggregatedResources: SotwMethod;
  DeltaAggregatedResources: DeltaMethod;
}

/** envoy.service.discovery.v3.AggregatedDiscoveryService: StreamAggregatedResources (SotW) and
 *  DeltaAggregatedResources (incremental), both bidirectional streams. */
export const ADS_SERVICE: AdsServiceDefinition = {
  StreamAggregatedResources: sotw(ADS, 'StreamAggregatedResources', true),
  DeltaAggregatedResources: delta(ADS, 'DeltaAggregatedResources'),
};

export const ADS_METHOD_PATHS = {
  sotw: ADS_SERVICE.StreamAggregatedResources.path,
  delta: ADS_SERVICE.DeltaAggregatedResources.path,
} as const;

/** A per-type discovery service: Stream<Kind> (SotW), Delta<Kind> and the unary Fetch<Kind>. */
export interface SingleTypeServiceDefinition extends ServiceDefinition {
  [method: string]: SotwMethod | DeltaMethod;
}

function singleType(service: string, kind: string): SingleTypeServiceDefinition {
  return {
    [`Stream${kind}`]: sotw(service, `Stream${kind}`, true),
    [`Delta${kind}`]: delta(service, `Delta${kind}`),
    [`Fetch${kind}`]: sotw(service, `Fetch${kind}`, false),
  };
}

/** LDS/RDS/CDS/EDS/SDS by the type URL they serve. */
export const SINGLE_TYPE_SERVICES: Readonly<Record<XdsTypeUrl, SingleTypeServiceDefinition>> = {
  [TYPE_URL.LISTENER]: singleType('envoy.service.listener.v3.ListenerDiscoveryService', 'Listeners'),
  [TYPE_URL.ROUTE]: singleType('envoy.service.route.v3.RouteDiscoveryService', 'Routes'),
  [TYPE_URL.CLUSTER]: singleType('envoy.service.cluster.v3.ClusterDiscoveryService', 'Clusters'),
  [TYPE_URL.ENDPOINT]: singleType('envoy.service.endpoint.v3.EndpointDiscoveryService', 'Endpoints'),
  [TYPE_URL.SECRET]: singleType('envoy.service.secret.v3.SecretDiscoveryService', 'Secrets'),
};
