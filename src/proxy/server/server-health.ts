// The part of the server's state that filters may read, handed down through the listener, network-filter and
// HTTP-filter factory contexts (Envoy's server factory context). Kept to one question so filters cannot reach
// into the server object.
export interface ServerHealth {
  /** True after POST /healthcheck/fail, and whenever the server is not LIVE (starting, draining): Envoy's
   *  healthCheckFailed(), which the health_check HTTP filter answers with 503. */
  healthCheckFailed(): boolean;
}
