// The SDS names of Gateway credentials, as Istio names them: a server's `credentialName: foo` is the secret
// `kubernetes://foo` (certificate and key) and, for MUTUAL, `kubernetes://foo-cacert` (the CA that verifies
// clients: the `foo-cacert` credential, else the `ca.crt` of `foo` itself). An Envoy that got its listeners from
// Istio asks for the same names.

export const CREDENTIAL_PREFIX = 'kubernetes://';
export const CA_SUFFIX = '-cacert';

export function credentialSecretName(credentialName: string): string {
  return `${CREDENTIAL_PREFIX}${credentialName}`;
}

export function caSecretName(credentialName: string): string {
  return `${CREDENTIAL_PREFIX}${credentialName}${CA_SUFFIX}`;
}
