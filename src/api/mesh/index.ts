// The mesh API: Istio-style resources (networking.istio.io) as users write them. Stage 0 of the control
// plane's translation: types, loading (file:line:column for every field) and Istio's validation rules.
export * from './types.js';
export { loadMeshText, isDNS1123Label, isDNS1123Subdomain, type MeshLoadResult } from './load.js';
export { validateMeshResource, analyzeMesh, toConfigError, resourceName, parseDuration, hostsOverlap, type Diagnostic, type Severity, type ValidationResult } from './validate.js';
export { MESSAGES, type FieldSpec, type FieldStatus, type FieldType, type MessageSpec } from './schema.js';
