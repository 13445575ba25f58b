// The CA's gRPC face: CreateCertificate on the xDS port (as istiod serves its CA next to xDS). A proxy sends a
// CSR for its own SPIFFE identity with its join token; the token's scope must cover that identity's namespace and
// service account, and the CSR must name exactly that identity (authority.ts checks the CSR). The answer is
// the chain with the trust bundle last, as Istio's agent expects it.
import * as grpc from '@grpc/grpc-js';
import { x509 } from './x509.js';
import { CA_SERVICE, type CertificateRequest, type CertificateResponse } from '../../api/ca/service.js';
import { logger } from '../../common/log.js';
import { parseSpiffeId, type CertificateAuthority } from './authority.js';
import type { JoinTokens } from './tokens.js';

const log = logger('ca');

/** The identity a CSR asks for: its one URI SAN, read to choose which token scope to check. Not trusted yet:
 *  the authority verifies the CSR's signature and SAN again before signing. */
function requestedIdentity(csrPem: string): string | undefined {
  try {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const ext = csr.getExtension('2.5.29.17'); // subjectAltName
    const san = ext ? new x509.SubjectAlternativeNameExtension(ext.rawData) : undefined;
    const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
    return uris.length === 1 ? uris[0] : undefined;
  } catch {
    return undefined;
  }
}

export interface CaCounters {
  issued: number;
  refused: number;
}

export function certificateService(ca: CertificateAuthority, tokens: JoinTokens, counters: CaCounters): [typeof CA_SERVICE, grpc.UntypedServiceImplementation] {
  const CreateCertificate: grpc.handleUnaryCall<CertificateRequest, CertificateResponse> = (call, callback) => {
    const refuse = (code: grpc.status, details: string) => {
      counters.refused++;
      log.warn({ peer: call.getPeer(), details }, 'certificate request refused');
      callback({ code, details });
    };
    const auth = String(call.metadata.get('authorization')[0] ?? '');
    const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    if (!token) return refuse(grpc.status.UNAUTHENTICATED, 'a join token is required: metadata "authorization: Bearer <token>"');
    const identity = requestedIdentity(call.request.csr);
    const id = identity ? parseSpiffeId(identity) : undefined;
    if (!id) return refuse(grpc.status.INVALID_ARGUMENT, 'the CSR must carry one SPIFFE URI SAN (spiffe://<trust domain>/ns/<namespace>/sa/<service account>)');
    if (id.trustDomain !== ca.trustDomain) return refuse(grpc.status.PERMISSION_DENIED, `trust domain "${id.trustDomain}" is not this CA's ("${ca.trustDomain}")`);
    if (!tokens.authorize(token, id.namespace, id.serviceAccount)) return refuse(grpc.status.PERMISSION_DENIED, `the join token does not cover ${identity}`);
    const ttlMs = call.request.validity_duration > 0 ? call.request.validity_duration * 1000 : undefined;
    ca.sign(call.request.csr, identity!, ttlMs).then(
      (cert) => {
        counters.issued++;
        log.info({ identity, serial: cert.serial, notAfter: cert.notAfter.toISOString() }, 'certificate issued');
        // Istio's agent takes the last certificates as the roots: the whole trust bundle goes last.
        callback(null, { cert_chain: [...cert.chainPem, ...splitPem(ca.rootsPem())] });
      },
      (err: Error & { code?: string }) => {
        const code = err.code === 'MW_CA_REVOKED' ? grpc.status.PERMISSION_DENIED : grpc.status.INVALID_ARGUMENT;
        refuse(code, err.message);
      },
    );
  };
  return [CA_SERVICE, { CreateCertificate }];
}

/** The PEM blocks of a bundle. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN [A-Z0-9 ]+-----[\s\S]+?-----END [A-Z0-9 ]+-----\n?/g)?.map((b) => (b.endsWith('\n') ? b : `${b}\n`)) ?? [];
}
