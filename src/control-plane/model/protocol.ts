// Port protocols as Istio names them. A ServiceEntry port without `protocol` gets one from its name's prefix
// ("http-web" → HTTP, "grpc" → GRPC), as Istio infers it for Kubernetes service ports; anything else is TCP.

export type Protocol = 'HTTP' | 'HTTP2' | 'HTTPS' | 'GRPC' | 'GRPC-WEB' | 'TCP' | 'TLS' | 'MONGO' | 'UDP';

const KNOWN: readonly Protocol[] = ['HTTP', 'HTTP2', 'HTTPS', 'GRPC', 'GRPC-WEB', 'TCP', 'TLS', 'MONGO', 'UDP'];

function parse(p: string): Protocol | undefined {
  const up = p.toUpperCase();
  return (KNOWN as readonly string[]).includes(up) ? (up as Protocol) : undefined;
}

/** `protocol` when given (case-insensitive), else from the name: "<protocol>" or "<protocol>-<suffix>". */
export function portProtocol(name: string | undefined, protocol: string | undefined): Protocol {
  if (protocol) return parse(protocol) ?? 'TCP';
  const n = (name ?? '').toLowerCase();
  if (n === 'grpc-web' || n.startsWith('grpc-web-')) return 'GRPC-WEB';
  const prefix = n.split('-')[0]!;
  return parse(prefix) ?? 'TCP';
}

/** Served through an HTTP connection manager (routes, retries, faults). */
export function isHttp(p: Protocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-WEB';
}

/** Needs HTTP/2 to the upstream. */
export function isHttp2(p: Protocol): boolean {
  return p === 'HTTP2' || p === 'GRPC';
}
