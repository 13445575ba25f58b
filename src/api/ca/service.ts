// The certificate signing service between a proxy and the control plane's CA, as a @grpc/grpc-js
// ServiceDefinition. It has the wire shape of Istio's `istio.v1.auth.IstioCertificateService/CreateCertificate`
// (an istio-agent or ztunnel pointed at Meshwork's control plane speaks it): a PEM CSR and a requested lifetime
// in, the PEM chain out (leaf first, root last). The messages are two and tiny, so they are declared here with
// protobufjs's reflection API instead of shipping a .proto.
//
// The caller authenticates with gRPC metadata `authorization: Bearer <join token>` (docs/security.md).
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

export interface CertificateRequest {
  /** PEM PKCS#10 */
  csr: string;
  /** requested lifetime in seconds; 0: the CA's default */
  validity_duration: number;
}

export interface CertificateResponse {
  /** PEM certificates: the leaf, intermediates, and the root last */
  cert_chain: string[];
}

const root = new protobuf.Root();
const pkg = root.define('istio.v1.auth');
pkg.add(
  new protobuf.Type('IstioCertificateRequest')
    .add(new protobuf.Field('csr', 1, 'string'))
    .add(new protobuf.Field('validity_duration', 3, 'int64')),
);
pkg.add(new protobuf.Type('IstioCertificateResponse').add(new protobuf.Field('cert_chain', 1, 'string', 'repeated')));
const Request = root.lookupType('istio.v1.auth.IstioCertificateRequest');
const Response = root.lookupType('istio.v1.auth.IstioCertificateResponse');

const encodeRequest = (m: CertificateRequest): Buffer => Buffer.from(Request.encode(Request.fromObject(m)).finish());
const decodeRequest = (b: Buffer): CertificateRequest => {
  const o = Request.toObject(Request.decode(b), { longs: Number, defaults: true }) as CertificateRequest;
  return { csr: o.csr, validity_duration: o.validity_duration };
};
const encodeResponse = (m: CertificateResponse): Buffer => Buffer.from(Response.encode(Response.fromObject(m)).finish());
const decodeResponse = (b: Buffer): CertificateResponse => ({ cert_chain: (Response.toObject(Response.decode(b), { arrays: true }) as CertificateResponse).cert_chain });

export interface CaServiceDefinition extends ServiceDefinition {
  CreateCertificate: MethodDefinition<CertificateRequest, CertificateResponse>;
}

export const CA_SERVICE: CaServiceDefinition = {
  CreateCertificate: {
    path: '/istio.v1.auth.IstioCertificateService/CreateCertificate',
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeRequest,
    requestDeserialize: decodeRequest,
    responseSerialize: encodeResponse,
    responseDeserialize: decodeResponse,
  },
};
