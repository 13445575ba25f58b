// Stage 1 of the control plane's translation: Istio-style resources → an immutable, indexed model of the mesh.
export { buildSnapshot, type MeshSnapshot } from './snapshot.js';
export { ServiceIndex, serviceKey, type Service, type ServicePort, type Resolution, type Location } from './services.js';
export { EndpointIndex, endpointPort, type Endpoint, type EndpointSet, type WorkloadInstance, type RegisteredInstance, type HealthStatus } from './instances.js';
export { DestinationRuleIndex, trafficPolicyFor, subsetOf, type DestinationRule, type EffectivePolicy } from './destination-rules.js';
export { VirtualServiceIndex, gatewayKey, MESH_GATEWAY, type VirtualService } from './virtual-services.js';
export { GatewayIndex, serverHosts, type Gateway, type ServerHost } from './gateways.js';
export { SidecarIndex, egressAdmits, parseEgressHost, type Sidecar, type EgressHost } from './sidecars.js';
export { proxyFromNode, instanceOfProxy, type Proxy, type ProxyType, type InboundPort } from './proxy.js';
export { scopeOf, type ProxyScope } from './scope.js';
export { DOMAIN_SUFFIX, ROOT_NAMESPACE, resolveHost, covers, intersects, isExportedTo, meshNameParts } from './hosts.js';
export { portProtocol, isHttp, isHttp2, type Protocol } from './protocol.js';
export { parseDuration, protoDuration, toProtoDuration } from './duration.js';
export { selects, type Labels } from './labels.js';
export { PeerAuthenticationIndex, effectiveMtls, type PeerAuthentication, type IgnoredPeerAuthentication, type EffectiveMtls, type MtlsMode } from './peer-authentication.js';
export { AuthorizationPolicyIndex, authorizationPoliciesFor, type AuthorizationPolicy, type AuthorizationPolicies } from './authorization.js';
export { RequestAuthenticationIndex, requestAuthenticationsFor, jwtRulesFor, type RequestAuthentication, type AppliedJwtRule } from './request-authentication.js';
