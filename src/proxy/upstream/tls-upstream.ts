// Upstream TLS: an UpstreamTlsContext compiled once into tls.connect options (with a prebuilt SecureContext,
// so a new connection does not parse certificates again) and a check that runs on 'secureConnect'.
//
// Envoy semantics (DefaultCertValidator), which differ from Node's defaults:
// - the server's hostname is never checked against SNI (Node's checkServerIdentity is switched off);
// - without trusted_ca (or system_root_certs) the chain is not verified at all;
// - SAN matchers / certificate hashes / SPKI pins are checked when configured;
// - no SNI is sent unless `sni` is set.
import tls from 'node:tls';
import { ConfigError } from '../../common/errors.js';
import {
  COMMON_TLS_UNSUPPORTED,
  compileTlsParams,
  compileValidation,
  createContext,
  describeTls,
  loadCertificates,
  rejectUnsupported,
  unverifiedPeer,
  verifyPeerCertificate,
  type CommonTlsContextConfig,
  type PeerVerification,
  type TlsBuildOptions,
} from '../listener/tls-context.js';
import type { TlsInfo } from '../stream-info.js';

export interface UpstreamTlsContextConfig {
  common_tls_context?: CommonTlsContextConfig;
  sni?: string;
  allow_renegotiation?: boolean;
  max_session_keys?: number;
  enforce_rsa_key_usage?: boolean;
  [unsupported: string]: unknown;
}

export interface UpstreamTls {
  /** spread into tls.connect together with host and port */
  connectOptions: tls.ConnectionOptions;
  /** on 'secureConnect': null when the connection may be used, else why it must be closed */
  verify(socket: tls.TLSSocket): string | null;
  /** TlsInfo for %UPSTREAM_TLS_*% and friends */
  info(socket: tls.TLSSocket): TlsInfo;
}

export function buildUpstreamTls(ctx: UpstreamTlsContextConfig, opts: TlsBuildOptions): UpstreamTls {
  const path = opts.source;
  const cpath = `${path}.common_tls_context`;
  const common = ctx.common_tls_context;
  // allow_renegotiation is ignored: Node never renegotiates as a client; max_session_keys and
  // enforce_rsa_key_usage only tune resumption and key-usage checks Node does its own way.
  rejectUnsupported(common, COMMON_TLS_UNSUPPORTED, cpath, opts);
  const certs = loadCertificates(common, cpath, opts);
  if (certs.length > 1) throw new ConfigError('MW_CONFIG_INVALID', `${cpath}.tls_certificates`, 'Multiple TLS certificates are not supported for client contexts', opts.location);
  const validation = compileValidation(common, cpath, opts);
  const secureContext = createContext(
    {
      ...compileTlsParams(common?.tls_params, 'client', `${cpath}.tls_params`, opts),
      ...(certs[0] ? { cert: certs[0].cert, key: certs[0].key } : {}),
      ...(validation?.ca ? { ca: validation.ca, allowPartialTrustChain: true } : {}),
      ...(validation?.crl ? { crl: validation.crl } : {}),
    },
    cpath,
    opts,
  );
  const connectOptions: tls.ConnectionOptions = {
    secureContext,
    // Verification happens in verify() with Envoy's rules; Node only records socket.authorized for it.
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  };
  // Keys are left out rather than set to undefined, so that a caller's defaults spread before them survive.
  if (ctx.sni) connectOptions.servername = ctx.sni;
  if (common?.alpn_protocols?.length) connectOptions.ALPNProtocols = [...common.alpn_protocols];

  // verify() and info() are both called for one connection; the checks run once.
  const results = new WeakMap<tls.TLSSocket, PeerVerification>();
  const check = (socket: tls.TLSSocket): PeerVerification => {
    let r = results.get(socket);
    if (!r) results.set(socket, (r = validation ? verifyPeerCertificate(socket, validation) : unverifiedPeer(socket)));
    return r;
  };
  return {
    connectOptions,
    verify(socket) {
      if (!validation) return null;
      const peer = check(socket);
      if (!peer.presented) return validation.verifiesChain || validation.needsCertificate ? 'verify cert failed: empty cert chain' : null;
      return peer.error ?? null;
    },
    info: (socket) => describeTls(socket, check(socket), ctx.sni),
  };
}
