// The one catalog of Meshwork's error codes. Every error the project raises on purpose carries a code from
// here, so that logs, tests and docs (docs/errors.md is checked against this list by a test) agree.
// Grammar (after Deno std): active voice, no trailing period, `Cannot <verb> "<what>": <reason>` where it fits.

export const ErrorCodes = {
  // configuration
  MW_CONFIG_PARSE: 'the configuration text is not valid YAML or JSON',
  MW_CONFIG_INVALID: 'a configuration field has a value Envoy would reject',
  MW_CONFIG_UNKNOWN_FIELD: 'a configuration field does not exist in the Envoy v3 API',
  MW_CONFIG_UNSUPPORTED: 'a configuration field or value exists in Envoy but Meshwork does not implement it',
  MW_CONFIG_UNKNOWN_EXTENSION: 'a typed_config names an extension Meshwork does not register',
  MW_CONFIG_REFERENCE: 'a configuration names a resource (cluster, secret) that does not exist',
  MW_CONFIG_DUPLICATE: 'two resources of the same type have the same name',
  // the mesh API (Istio-style resources: Gateway, VirtualService, DestinationRule, ...)
  MW_MESH_INVALID: "an Istio-style resource breaks one of Istio's validation rules",
  MW_MESH_UNKNOWN_FIELD: 'an Istio-style resource has a field Meshwork does not know (Istio rejects unknown fields too)',
  MW_MESH_UNSUPPORTED: 'an Istio-style resource uses a kind, field or value Meshwork does not implement (yet)',
  MW_MESH_WARNING: 'an Istio-style resource is valid but probably not what was meant (deprecated or ineffective settings)',
  MW_MESH_CONFLICT: 'two resources claim the same thing (two Gateways the same port and host for the same proxies)',
  MW_MESH_UNREACHABLE: 'a route can never match because an earlier route of the same VirtualService takes all its requests',
  // command line
  MW_CLI_USAGE: 'the command line is not understood',
  // runtime: listeners and upstreams
  MW_LISTEN_FAILED: 'a listener could not bind its address',
  MW_UPSTREAM_CONNECT_FAILED: 'a connection to an upstream host failed',
  MW_UPSTREAM_CONNECT_TIMEOUT: 'a connection to an upstream host did not complete within connect_timeout',
  MW_UPSTREAM_PROTOCOL: 'an upstream sent a response that is not valid HTTP',
  MW_UPSTREAM_RESET: 'an upstream closed or reset the stream before the response completed',
  MW_HTTP_PARSE: 'a downstream sent a request that is not valid HTTP',
  MW_DNS_RESOLVE: 'a DNS name of a cluster could not be resolved',
  MW_TLS: 'a TLS certificate, key or handshake failed',
  // the control plane's certificate authority (src/control-plane/ca/)
  MW_CA_LOAD: "the CA's files (generated, or --ca-cert/--ca-key/--ca-chain) are missing, unreadable or inconsistent",
  MW_CA_CSR_INVALID: 'a certificate signing request is not PKCS#10, its signature does not verify, or its key is weak',
  MW_CA_CSR_IDENTITY: 'an identity is not a SPIFFE ID of the trust domain, or a CSR does not carry exactly one URI SAN equal to it',
  MW_CA_REVOKED: 'a certificate was requested for a revoked identity',
  MW_CA_EXTERNAL: 'root rotation was asked of a user-provided CA (rotate it outside Meshwork)',
  MW_CA_UNKNOWN: 'a serial number or root fingerprint names nothing the CA can act on',
  MW_CA_TOKENS: 'a join token file has a line that is not "<token> <namespace>/<serviceAccount>"',
  MW_INTERNAL: 'a bug: a condition the code assumes never happens',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class MeshworkError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'MeshworkError';
  }
}

/** A configuration error: names the field path and, where the config came from a file, file:line:column. */
export class ConfigError extends MeshworkError {
  readonly path: string;
  readonly location?: string;
  constructor(code: ErrorCode, path: string, reason: string, location?: string) {
    super(code, `${location ? location + ': ' : ''}${path ? path + ': ' : ''}${reason}`);
    this.name = 'ConfigError';
    this.path = path;
    this.location = location;
  }
}

/** Several configuration errors found in one pass, so that a user sees them all at once. */
export class ConfigErrors extends MeshworkError {
  readonly errors: ConfigError[];
  constructor(errors: ConfigError[]) {
    super(errors[0]?.code ?? 'MW_CONFIG_INVALID', errors.map((e) => e.message).join('\n'));
    this.name = 'ConfigErrors';
    this.errors = errors;
  }
}

export function errorCode(err: unknown): string | undefined {
  return err && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
