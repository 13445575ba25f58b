// TLS contexts: Envoy's DownstreamTlsContext compiled into Node SecureContexts once per filter chain, plus the
// pieces upstream TLS (../upstream/tls-upstream.ts) shares: DataSources, TlsParameters, certificates, the
// CertificateValidationContext and the TlsInfo that access logs read.
//
// Node's TLS stack cannot run Envoy's verification inside the handshake (there is no verify callback), so
// sockets are created with rejectUnauthorized: false and the checks run right after the handshake, in
// verifyPeer / verify; the caller closes the connection when they fail. Envoy semantics kept:
// - no trusted_ca → the peer chain is not verified at all; the hostname is never checked against SNI;
// - a client certificate is requested when a validation context exists, and required when
//   require_client_certificate or a SAN / hash / SPKI check is configured;
// - SAN matchers are "any of"; an exact DNS matcher follows DNS wildcard rules against the certificate.
import crypto from 'node:crypto';
import { certificateRevocationKey, crlRevocations, pemCrls } from './crl.js';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { ConfigError } from '../../common/errors.js';
import { compileStringMatcher, type StringMatcherConfig } from '../router/matchers.js';
import type { TlsInfo } from '../stream-info.js';

// ---------------------------------------------------------------------------------------------------------
// The subset of the decoded v3 messages read here (field names as in the protos).

export interface DataSourceConfig {
  filename?: string;
  inline_bytes?: Buffer;
  inline_string?: string;
  environment_variable?: string;
  watched_directory?: unknown;
}
export interface SubjectAltNameMatcherConfig {
  san_type?: 'SAN_TYPE_UNSPECIFIED' | 'EMAIL' | 'DNS' | 'URI' | 'IP_ADDRESS' | 'OTHER_NAME';
  matcher?: StringMatcherConfig;
  oid?: string;
}
export interface CertificateValidationContextConfig {
  trusted_ca?: DataSourceConfig;
  system_root_certs?: object;
  verify_certificate_spki?: string[];
  verify_certificate_hash?: string[];
  match_typed_subject_alt_names?: SubjectAltNameMatcherConfig[];
  match_subject_alt_names?: StringMatcherConfig[];
  crl?: DataSourceConfig;
  trust_chain_verification?: 'VERIFY_TRUST_CHAIN' | 'ACCEPT_UNTRUSTED';
  watched_directory?: unknown;
  [unsupported: string]: unknown;
}
export interface TlsCertificateConfig {
  certificate_chain?: DataSourceConfig;
  private_key?: DataSourceConfig;
  password?: DataSourceConfig;
  watched_directory?: unknown;
  [unsupported: string]: unknown;
}
export type TlsProtocol = 'TLS_AUTO' | 'TLSv1_0' | 'TLSv1_1' | 'TLSv1_2' | 'TLSv1_3';
export interface TlsParametersConfig {
  tls_minimum_protocol_version?: TlsProtocol;
  tls_maximum_protocol_version?: TlsProtocol;
  cipher_suites?: string[];
  ecdh_curves?: string[];
  signature_algorithms?: string[];
  [unsupported: string]: unknown;
}
export interface SdsSecretConfigRef {
  name?: string;
  sds_config?: unknown;
}
export interface CommonTlsContextConfig {
  tls_params?: TlsParametersConfig;
  tls_certificates?: TlsCertificateConfig[];
  tls_certificate_sds_secret_configs?: SdsSecretConfigRef[];
  validation_context?: CertificateValidationContextConfig;
  validation_context_sds_secret_config?: SdsSecretConfigRef;
  combined_validation_context?: {
    default_validation_context?: CertificateValidationContextConfig;
    validation_context_sds_secret_config?: SdsSecretConfigRef;
    [unsupported: string]: unknown;
  };
  alpn_protocols?: string[];
  [unsupported: string]: unknown;
}
export interface DownstreamTlsContextConfig {
  common_tls_context?: CommonTlsContextConfig;
  require_client_certificate?: boolean;
  require_sni?: boolean;
  session_timeout?: number; // ms
  disable_stateless_session_resumption?: boolean;
  disable_session_resumption?: boolean;
  prefer_client_ciphers?: boolean;
  full_scan_certs_on_sni_mismatch?: boolean;
  ocsp_staple_policy?: 'LENIENT_STAPLING' | 'STRICT_STAPLING' | 'MUST_STAPLE';
  [unsupported: string]: unknown;
}
/** envoy.extensions.transport_sockets.tls.v3.Secret, as static_resources.secrets or SDS deliver it */
export interface SecretConfig {
  name?: string;
  tls_certificate?: TlsCertificateConfig;
  validation_context?: CertificateValidationContextConfig;
  [other: string]: unknown;
}

export interface TlsBuildOptions {
  /** field path of the TLS context in the config, prefixed to every error */
  source: string;
  /** file:line of the config, when known */
  location?: string;
  /** resolves the secret names of *_sds_secret_config(s) (static secrets, or ones SDS delivered) */
  secret?: (name: string) => SecretConfig | undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Shared building blocks

/** CommonTlsContext fields neither side implements (certificate providers, custom selection/handshake, key logging). */
export const COMMON_TLS_UNSUPPORTED = [
  'tls_certificate_provider_instance',
  'tls_certificate_certificate_provider',
  'tls_certificate_certificate_provider_instance',
  'custom_tls_certificate_selector',
  'custom_handshaker',
  'key_log',
] as const;

/** Fails config that sets a field we do not implement, instead of silently behaving differently from Envoy. */
export function rejectUnsupported(obj: object | undefined, fields: readonly string[], path: string, opts: TlsBuildOptions): void {
  if (!obj) return;
  for (const f of fields) {
    const v = (obj as Record<string, unknown>)[f];
    if (v === undefined || v === false || (Array.isArray(v) && v.length === 0)) continue;
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.${f}`, `${f} is not supported`, opts.location);
  }
}

/** Reads a DataSource at build time; a missing or unreadable file is a MW_TLS error naming the path. */
export function readDataSource(ds: DataSourceConfig, path: string, opts: TlsBuildOptions): Buffer {
  if (ds.filename !== undefined) {
    try {
      return fs.readFileSync(ds.filename);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new ConfigError('MW_TLS', `${path}.filename`, `Cannot read "${ds.filename}": ${err.code ?? err.message}`, opts.location);
    }
  }
  if (ds.inline_bytes !== undefined) return ds.inline_bytes;
  if (ds.inline_string !== undefined) return Buffer.from(ds.inline_string);
  if (ds.environment_variable !== undefined) {
    const v = process.env[ds.environment_variable];
    if (v === undefined) throw new ConfigError('MW_TLS', `${path}.environment_variable`, `Cannot read "${ds.environment_variable}": the environment variable is not set`, opts.location);
    return Buffer.from(v);
  }
  throw new ConfigError('MW_CONFIG_INVALID', path, 'a DataSource needs one of filename, inline_bytes, inline_string, environment_variable', opts.location);
}

function lookupSecret(ref: SdsSecretConfigRef, path: string, opts: TlsBuildOptions): SecretConfig {
  const s = ref.name ? opts.secret?.(ref.name) : undefined;
  if (!s) throw new ConfigError('MW_CONFIG_REFERENCE', `${path}.name`, `Cannot find secret "${ref.name ?? ''}"`, opts.location);
  return s;
}

const VERSION_ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
const VERSIONS: Record<Exclude<TlsProtocol, 'TLS_AUTO'>, tls.SecureVersion> = {
  TLSv1_0: 'TLSv1',
  TLSv1_1: 'TLSv1.1',
  TLSv1_2: 'TLSv1.2',
  TLSv1_3: 'TLSv1.3',
};
// Envoy's (BoringSSL, non-FIPS) defaults, so that a config negotiates the same suites and groups as Envoy.
const DEFAULT_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
].join(':');
const DEFAULT_CURVES = 'X25519:P-256';
let knownCiphers: Set<string> | undefined;

type ParamOptions = Pick<tls.SecureContextOptions, 'minVersion' | 'maxVersion' | 'ciphers' | 'ecdhCurve' | 'sigalgs'>;

/**
 * TlsParameters → Node context options. Defaults are Envoy's: minimum TLSv1_2 for both sides; maximum
 * TLSv1_3 for servers but TLSv1_2 for clients.
 */
export function compileTlsParams(p: TlsParametersConfig | undefined, side: 'server' | 'client', path: string, opts: TlsBuildOptions): ParamOptions {
  rejectUnsupported(p, ['compliance_policies'], path, opts);
  const version = (v: TlsProtocol | undefined, dflt: tls.SecureVersion) => (v === undefined || v === 'TLS_AUTO' ? dflt : VERSIONS[v]);
  const minVersion = version(p?.tls_minimum_protocol_version, 'TLSv1.2');
  const maxVersion = version(p?.tls_maximum_protocol_version, side === 'server' ? 'TLSv1.3' : 'TLSv1.2');
  if (VERSION_ORDER.indexOf(minVersion) > VERSION_ORDER.indexOf(maxVersion)) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.tls_minimum_protocol_version`, `the minimum TLS version ${minVersion} is above the maximum ${maxVersion}`, opts.location);
  }
  let ciphers = DEFAULT_CIPHERS;
  if (p?.cipher_suites?.length) {
    knownCiphers ??= new Set(tls.getCiphers());
    const list: string[] = [];
    p.cipher_suites.forEach((entry, i) => {
      // BoringSSL's equal-preference groups "[A|B]" have no OpenSSL form; keep their members in order.
      for (const name of entry.replace(/^\[|\]$/g, '').split('|')) {
        // Explicit suite names are checked (Envoy rejects unknown ones); OpenSSL operators pass through.
        const explicit = name.includes('-') && !/^[!+\-@]/.test(name);
        if (explicit && !knownCiphers!.has(name.toLowerCase())) {
          throw new ConfigError('MW_CONFIG_INVALID', `${path}.cipher_suites[${i}]`, `unknown cipher suite "${name}"`, opts.location);
        }
        list.push(name);
      }
    });
    ciphers = list.join(':');
  }
  const out: ParamOptions = { minVersion, maxVersion, ciphers, ecdhCurve: DEFAULT_CURVES };
  if (p?.ecdh_curves?.length) {
    p.ecdh_curves.forEach((c, i) => probe({ ecdhCurve: c }, `${path}.ecdh_curves[${i}]`, `unknown ECDH curve "${c}"`, opts));
    out.ecdhCurve = p.ecdh_curves.join(':');
  }
  if (p?.signature_algorithms?.length) {
    p.signature_algorithms.forEach((s, i) => probe({ sigalgs: s }, `${path}.signature_algorithms[${i}]`, `unknown signature algorithm "${s}"`, opts));
    out.sigalgs = p.signature_algorithms.join(':');
  }
  return out;
}

/** Lets OpenSSL judge one value (curve, signature algorithm) so that the error names the exact field. */
function probe(options: tls.SecureContextOptions, path: string, reason: string, opts: TlsBuildOptions): void {
  try {
    tls.createSecureContext(options);
  } catch {
    throw new ConfigError('MW_CONFIG_INVALID', path, reason, opts.location);
  }
}

export function createContext(options: tls.SecureContextOptions, path: string, opts: TlsBuildOptions): tls.SecureContext {
  try {
    return tls.createSecureContext(options);
  } catch (e) {
    throw new ConfigError('MW_TLS', path, `Cannot create the TLS context: ${(e as Error).message}`, opts.location);
  }
}

/** A certificate and its key, loaded and checked against each other. */
export interface LoadedCertificate {
  cert: Buffer;
  /** unencrypted PEM (a password-protected key is decrypted once here) */
  key: string;
  x509: crypto.X509Certificate;
  /** OpenSSL keeps one certificate per key type in a context: 'rsa', 'ec', 'ed25519', ... */
  keyType: string;
  /** lowercased DNS SANs, or the subject CN when the certificate has no SAN: what SNI selects on */
  names: string[];
}

/** tls_certificates plus the ones named by tls_certificate_sds_secret_configs, loaded from their sources. */
export function loadCertificates(common: CommonTlsContextConfig | undefined, path: string, opts: TlsBuildOptions): LoadedCertificate[] {
  const out: LoadedCertificate[] = [];
  (common?.tls_certificates ?? []).forEach((c, i) => out.push(loadCertificate(c, `${path}.tls_certificates[${i}]`, opts)));
  (common?.tls_certificate_sds_secret_configs ?? []).forEach((ref, i) => {
    const p = `${path}.tls_certificate_sds_secret_configs[${i}]`;
    const secret = lookupSecret(ref, p, opts);
    if (!secret.tls_certificate) throw new ConfigError('MW_CONFIG_REFERENCE', `${p}.name`, `secret "${ref.name}" holds no tls_certificate`, opts.location);
    out.push(loadCertificate(secret.tls_certificate, `${p}(secret "${ref.name}").tls_certificate`, opts));
  });
  return out;
}

function loadCertificate(c: TlsCertificateConfig, path: string, opts: TlsBuildOptions): LoadedCertificate {
  rejectUnsupported(c, ['pkcs12', 'private_key_provider', 'ocsp_staple', 'signed_certificate_timestamp'], path, opts);
  if (!c.certificate_chain) throw new ConfigError('MW_CONFIG_INVALID', `${path}.certificate_chain`, 'a TLS certificate needs certificate_chain', opts.location);
  if (!c.private_key) throw new ConfigError('MW_CONFIG_INVALID', `${path}.private_key`, 'a TLS certificate needs private_key', opts.location);
  const cert = readDataSource(c.certificate_chain, `${path}.certificate_chain`, opts);
  const keyBytes = readDataSource(c.private_key, `${path}.private_key`, opts);
  const passphrase = c.password ? readDataSource(c.password, `${path}.password`, opts).toString() : undefined;
  let x509: crypto.X509Certificate;
  try {
    x509 = new crypto.X509Certificate(cert);
  } catch (e) {
    throw new ConfigError('MW_TLS', `${path}.certificate_chain`, `Cannot load the certificate chain: ${(e as Error).message}`, opts.location);
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey({ key: keyBytes, passphrase });
  } catch (e) {
    throw new ConfigError('MW_TLS', `${path}.private_key`, `Cannot load the private key: ${(e as Error).message}`, opts.location);
  }
  if (!x509.checkPrivateKey(key)) throw new ConfigError('MW_TLS', `${path}.private_key`, 'the private key does not match the certificate', opts.location);
  const sans = parseSubjectAltNames(x509.subjectAltName);
  const cn = /^CN=(.*)$/m.exec(x509.subject ?? "")?.[1];
  const names = (x509.subjectAltName !== undefined ? sans.dns : cn ? [cn] : []).map((n) => n.toLowerCase());
  return { cert, key: key.export({ type: 'pkcs8', format: 'pem' }) as string, x509, keyType: key.asymmetricKeyType ?? 'unknown', names };
}

/** A compiled CertificateValidationContext: what the context verifies with, and what runs after the handshake. */
export interface CompiledValidation {
  /** PEM of trusted_ca (undefined with system_root_certs: Node's bundled roots) */
  ca?: Buffer;
  crl?: Buffer;
  /** only_verify_leaf_cert_crl: the revoked certificates, as crl.ts keys them (issuer DER, serial) */
  leafRevoked?: ReadonlySet<string>;
  /** the chain is verified (trusted_ca or system_root_certs is set) */
  verifiesChain: boolean;
  acceptUntrusted: boolean;
  /** SAN / hash / SPKI checks exist: a peer without a certificate fails (unless ACCEPT_UNTRUSTED) */
  needsCertificate: boolean;
  sanMatchers: SanMatcher[];
  hashes: string[]; // lowercase hex SHA-256 of the DER certificate
  spkis: string[]; // base64 SHA-256 of the DER SubjectPublicKeyInfo
}

type SanType = 'dns' | 'uri' | 'email' | 'ip';
interface SanMatcher {
  type: SanType;
  match(value: string): boolean;
}

/** validation_context, or one from SDS, or combined_validation_context (default merged with the SDS one). */
export function compileValidation(common: CommonTlsContextConfig | undefined, path: string, opts: TlsBuildOptions): CompiledValidation | undefined {
  rejectUnsupported(common, ['validation_context_certificate_provider', 'validation_context_certificate_provider_instance'], path, opts);
  let vc = common?.validation_context;
  let vcPath = `${path}.validation_context`;
  if (common?.validation_context_sds_secret_config) {
    vcPath = `${path}.validation_context_sds_secret_config`;
    vc = secretValidation(common.validation_context_sds_secret_config, vcPath, opts);
  } else if (common?.combined_validation_context) {
    const cvc = common.combined_validation_context;
    vcPath = `${path}.combined_validation_context`;
    rejectUnsupported(cvc, ['validation_context_certificate_provider', 'validation_context_certificate_provider_instance'], vcPath, opts);
    const dynamic = cvc.validation_context_sds_secret_config
      ? secretValidation(cvc.validation_context_sds_secret_config, `${vcPath}.validation_context_sds_secret_config`, opts)
      : undefined;
    vc = mergeValidation(cvc.default_validation_context ?? {}, dynamic ?? {});
  }
  if (!vc) return undefined;
  rejectUnsupported(
    vc,
    ['ca_certificate_provider_instance', 'require_signed_certificate_timestamp', 'custom_validator_config', 'max_verify_depth', 'allow_expired_certificate'],
    vcPath,
    opts,
  );

  let ca: Buffer | undefined;
  let crl: Buffer | undefined;
  if (vc.trusted_ca) {
    ca = readDataSource(vc.trusted_ca, `${vcPath}.trusted_ca`, opts);
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError('MW_TLS', `${vcPath}.trusted_ca`, 'Cannot load trusted CA certificates: no PEM certificate found', opts.location);
    }
    // Envoy also takes CRLs that sit in the CA bundle
    const crls = ca.toString('latin1').match(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g);
    if (crls) crl = Buffer.from(crls.join('\n'));
  }
  if (vc.crl) crl = Buffer.concat([...(crl ? [crl, Buffer.from('\n')] : []), readDataSource(vc.crl, `${vcPath}.crl`, opts)]);
  // only_verify_leaf_cert_crl: OpenSSL, given CRLs, wants one from every CA of the chain (Node sets
  // CRL_CHECK_ALL), so the CRLs stay out of the handshake and the peer's leaf is looked up after it.
  let leafRevoked: Set<string> | undefined;
  if (crl && vc.only_verify_leaf_cert_crl) {
    leafRevoked = revokedLeaves(crl, `${vcPath}.crl`, opts);
    crl = undefined;
  }
  const verifiesChain = ca !== undefined || vc.system_root_certs !== undefined;

  const typed = vc.match_typed_subject_alt_names ?? [];
  const sanMatchers: SanMatcher[] = [];
  if (typed.length) {
    typed.forEach((m, i) => sanMatchers.push(compileSanMatcher(m, `${vcPath}.match_typed_subject_alt_names[${i}]`, opts)));
  } else {
    // The deprecated untyped matchers apply to every SAN type (and are ignored when typed ones exist).
    (vc.match_subject_alt_names ?? []).forEach((m, i) => {
      const { match } = compileStringMatcher(m, `${vcPath}.match_subject_alt_names[${i}]`);
      for (const type of ['dns', 'uri', 'email', 'ip'] as const) sanMatchers.push({ type, match: type === 'dns' && m.exact !== undefined ? (v) => dnsNameMatch(m.exact!, v) : match });
    });
  }
  if (sanMatchers.length && !verifiesChain) {
    throw new ConfigError('MW_CONFIG_INVALID', vcPath, 'SAN-based verification of peer certificates without trusted CA is insecure and not allowed', opts.location);
  }
  const hashes = (vc.verify_certificate_hash ?? []).map((h, i) => {
    const hex = h.replace(/:/g, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new ConfigError('MW_CONFIG_INVALID', `${vcPath}.verify_certificate_hash[${i}]`, `Invalid hex-encoded SHA-256 ${h}`, opts.location);
    return hex;
  });
  const spkis = (vc.verify_certificate_spki ?? []).map((s, i) => {
    if (Buffer.from(s, 'base64').length !== 32) throw new ConfigError('MW_CONFIG_INVALID', `${vcPath}.verify_certificate_spki[${i}]`, `Invalid base64-encoded SHA-256 ${s}`, opts.location);
    return Buffer.from(s, 'base64').toString('base64');
  });
  return {
    ca,
    crl,
    ...(leafRevoked ? { leafRevoked } : {}),
    verifiesChain,
    acceptUntrusted: vc.trust_chain_verification === 'ACCEPT_UNTRUSTED',
    needsCertificate: sanMatchers.length > 0 || hashes.length > 0 || spkis.length > 0,
    sanMatchers,
    hashes,
    spkis,
  };
}

function secretValidation(ref: SdsSecretConfigRef, path: string, opts: TlsBuildOptions): CertificateValidationContextConfig {
  const secret = lookupSecret(ref, path, opts);
  if (!secret.validation_context) throw new ConfigError('MW_CONFIG_REFERENCE', `${path}.name`, `secret "${ref.name}" holds no validation_context`, opts.location);
  return secret.validation_context;
}

/** protobuf MergeFrom, as Envoy combines default_validation_context with the SDS one: repeated fields append. */
function mergeValidation(base: CertificateValidationContextConfig, over: CertificateValidationContextConfig): CertificateValidationContextConfig {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const prev = out[k];
    out[k] = Array.isArray(v) && Array.isArray(prev) ? [...prev, ...v] : v;
  }
  return out as CertificateValidationContextConfig;
}

const SAN_TYPES: Partial<Record<NonNullable<SubjectAltNameMatcherConfig['san_type']>, SanType>> = { DNS: 'dns', URI: 'uri', EMAIL: 'email', IP_ADDRESS: 'ip' };

function compileSanMatcher(m: SubjectAltNameMatcherConfig, path: string, opts: TlsBuildOptions): SanMatcher {
  if (m.san_type === 'OTHER_NAME') throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.san_type`, 'OTHER_NAME SAN matching is not supported', opts.location);
  const type = m.san_type ? SAN_TYPES[m.san_type] : undefined;
  if (!type) throw new ConfigError('MW_CONFIG_INVALID', `${path}.san_type`, 'san_type must be one of DNS, URI, EMAIL, IP_ADDRESS', opts.location);
  if (!m.matcher) throw new ConfigError('MW_CONFIG_INVALID', `${path}.matcher`, 'a SAN matcher needs matcher', opts.location);
  // An exact DNS matcher follows DNS rules: "api.example.com" is accepted from a "*.example.com" certificate.
  const exact = m.matcher.exact;
  if (type === 'dns' && exact !== undefined) return { type, match: (v) => dnsNameMatch(exact, v) };
  return { type, match: compileStringMatcher(m.matcher, `${path}.matcher`).match };
}

/**
 * Envoy's Utility::dnsNameMatch: `name` against a certificate DNS SAN `pattern`, case-insensitively; a
 * wildcard may only sit in the left-most label (not an A-label) and stands for part of exactly one label.
 */
export function dnsNameMatch(name: string, pattern: string): boolean {
  const n = name.toLowerCase();
  const p = pattern.toLowerCase();
  if (n === p) return true;
  const pd = p.indexOf('.');
  const nd = n.indexOf('.');
  if (pd < 0 || nd < 0) return false;
  const [pl, pr, nl, nr] = [p.slice(0, pd), p.slice(pd + 1), n.slice(0, nd), n.slice(nd + 1)];
  if (!pl.includes('*') || pr.includes('*') || pl.startsWith('xn--') || nr !== pr) return false;
  if (pl === '*') return true;
  const parts = pl.split('*');
  return parts.length === 2 && pl.length <= nl.length + 1 && nl.startsWith(parts[0]) && nl.endsWith(parts[1]);
}

/** Node's "DNS:a, URI:b, IP Address:c, email:d" (entries with separators come JSON-quoted) by type. */
export function parseSubjectAltNames(s: string | undefined): Record<SanType, string[]> {
  const out: Record<SanType, string[]> = { dns: [], uri: [], email: [], ip: [] };
  if (!s) return out;
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon < 0) break;
    const type = s.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (s[j] === '"') {
      let k = j + 1;
      while (k < s.length && s[k] !== '"') k += s[k] === '\\' ? 2 : 1;
      value = JSON.parse(s.slice(j, k + 1)) as string;
      j = k + 1;
    } else {
      const k = s.indexOf(', ', j);
      j = k < 0 ? s.length : k;
      value = s.slice(colon + 1, j);
    }
    if (type === 'DNS') out.dns.push(value);
    else if (type === 'URI') out.uri.push(value);
    else if (type === 'email') out.email.push(value);
    // Node prints IPv6 uncompressed; Envoy matches the canonical (inet_ntop) form
    else if (type === 'IP Address') out.ip.push(net.isIPv6(value) ? new net.SocketAddress({ address: value, family: 'ipv6' }).address : value);
    i = j + 2;
  }
  return out;
}

export interface PeerVerification {
  presented: boolean;
  /** the checks ran and passed (Envoy's peerCertificateValidated) */
  validated: boolean;
  /** why the connection must be closed; undefined when it may proceed */
  error?: string;
  x509?: crypto.X509Certificate;
}

const peerCerts = new WeakMap<tls.TLSSocket, crypto.X509Certificate | undefined>();

/**
 * The peer's leaf certificate. Node 20's getPeerX509Certificate() answers only once on a client socket (later
 * calls, and getPeerCertificate(), come back empty), so the first answer is kept for the socket's lifetime.
 */
export function peerCertificate(socket: tls.TLSSocket): crypto.X509Certificate | undefined {
  if (!peerCerts.has(socket)) peerCerts.set(socket, socket.getPeerX509Certificate());
  return peerCerts.get(socket);
}

/** Envoy's DefaultCertValidator::doVerifyCertChain, after the fact, on a socket that finished its handshake. */
export function verifyPeerCertificate(socket: tls.TLSSocket, v: CompiledValidation): PeerVerification {
  const x509 = peerCertificate(socket);
  if (!x509) return { presented: false, validated: false };
  // a validation context with nothing to check (Envoy: SSL_VERIFY_NONE) accepts whatever was presented
  if (!v.verifiesChain && !v.needsCertificate) return { presented: true, validated: false, x509 };
  const chainError = v.verifiesChain ? chainVerifyError(socket) : undefined;
  const chainFailed = chainError ? `verify cert failed: ${chainError}` : undefined;
  if (chainFailed && !v.acceptUntrusted) return { presented: true, validated: false, error: chainFailed, x509 };
  if (v.leafRevoked?.has(certificateRevocationKey(x509)) && !v.acceptUntrusted) return { presented: true, validated: false, error: 'verify cert failed: certificate revoked', x509 };

  let checked = false; // some SAN / hash / SPKI check ran and passed
  let failed: string | undefined;
  if (v.sanMatchers.length) {
    const sans = parseSubjectAltNames(x509.subjectAltName);
    if (v.sanMatchers.some((m) => sans[m.type].some((s) => m.match(s)))) checked = true;
    else failed = `verify cert failed: SAN matcher, certificate SANs are [${x509.subjectAltName ?? ''}]`;
  }
  if (!failed && (v.hashes.length || v.spkis.length)) {
    const hash = crypto.createHash('sha256').update(x509.raw).digest('hex');
    const spki = v.spkis.length ? crypto.createHash('sha256').update(x509.publicKey.export({ type: 'spki', format: 'der' })).digest('base64') : '';
    if (v.hashes.includes(hash) || v.spkis.includes(spki)) checked = true;
    else failed = 'verify cert failed: cert hash and spki';
  }
  // With a trusted CA the other checks only must not fail; without one, one of them must have passed.
  const success = v.verifiesChain ? !failed : checked;
  if (!success && !v.acceptUntrusted) return { presented: true, validated: false, error: failed ?? 'verify cert failed: no validation configured', x509 };
  return { presented: true, validated: success && !chainFailed && (v.verifiesChain || checked), x509 };
}

/**
 * OpenSSL's verdict on the peer chain (verified against the context's CA during the handshake), or undefined
 * when it verified. Node fills socket.authorized on client sockets and on sockets a tls.Server made, but not
 * on a TLSSocket built directly on an accepted connection (its tls.Server 'secure' handler does that), so
 * ask the handle the way that handler does. Fails closed if the handle cannot answer.
 */
function chainVerifyError(socket: tls.TLSSocket): string | undefined {
  if (socket.authorized) return undefined;
  if (socket.authorizationError) return String(socket.authorizationError);
  const handle = (socket as unknown as { _handle?: { verifyError?(): (Error & { code?: string }) | null } })._handle;
  if (typeof handle?.verifyError !== 'function') return 'the verification result is unavailable';
  const err = handle.verifyError();
  return err ? (err.code ?? err.message) : undefined;
}

/** The certificates the CRLs in `pem` revoke, as certificateRevocationKey() names them (crl.ts). The CRLs come
 *  with the configuration (a bootstrap, or the control plane's ROOTCA secret), which is trusted as trusted_ca is. */
function revokedLeaves(pem: Buffer, path: string, opts: TlsBuildOptions): Set<string> {
  const ders = pemCrls(pem.toString('latin1'));
  if (ders.length === 0) throw new ConfigError('MW_TLS', path, 'Cannot load CRL: no PEM CRL found', opts.location);
  const out = new Set<string>();
  for (const der of ders) {
    try {
      for (const key of crlRevocations(der)) out.add(key);
    } catch (err) {
      throw new ConfigError('MW_TLS', path, `Cannot load CRL: ${(err as Error).message}`, opts.location);
    }
  }
  return out;
}

/** the peer as presented, when there is no validation context */
export function unverifiedPeer(socket: tls.TLSSocket): PeerVerification {
  const x509 = peerCertificate(socket);
  return { presented: x509 !== undefined, validated: false, x509 };
}

function rfc2253(subject: string | undefined): string {
  // An empty subject (SPIFFE workload certificates have one) comes back undefined, not ''.
  if (!subject) return '';
  // Node prints one RDN per line in certificate order (values already escaped); RFC 2253 reverses them.
  return subject.split('\n').reverse().join(',');
}

/** TlsInfo of a finished handshake, in Envoy's formats (lowercase hex fingerprint and serial, RFC 2253 subjects). */
/** The peer's verified chain, leaf first, as PEM: Node links it by issuerCertificate up to the trusted CA (a
 *  self-signed one links to itself), so the root is included where Envoy gives only what the peer sent. */
function peerChainPem(socket: tls.TLSSocket): string {
  let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate;
  let out = '';
  const seen = new Set<string>();
  while (c?.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out += new crypto.X509Certificate(c.raw).toString();
    c = c.issuerCertificate;
  }
  return out;
}

export function describeTls(socket: tls.TLSSocket, peer: PeerVerification, sni: string | undefined): TlsInfo {
  const info: TlsInfo = {
    sni,
    version: socket.getProtocol() ?? undefined,
    cipher: socket.getCipher()?.name,
    peerCertificatePresented: peer.presented,
    peerCertificateValidated: peer.validated,
  };
  const x = peer.x509;
  if (x) {
    const sans = parseSubjectAltNames(x.subjectAltName);
    info.peerSubject = rfc2253(x.subject);
    info.peerUriSan = sans.uri;
    info.peerDnsSan = sans.dns;
    info.peerFingerprint256 = x.fingerprint256.replace(/:/g, '').toLowerCase();
    info.peerSerial = x.serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
    // PEM only on demand: most connections never ask, and the certificate object is kept for the socket anyway
    info.peerCertificatePem = () => x.toString();
    info.peerChainPem = () => peerChainPem(socket);
  }
  const local = socket.getX509Certificate();
  if (local) {
    info.localSubject = rfc2253(local.subject);
    info.localUriSan = parseSubjectAltNames(local.subjectAltName).uri;
  }
  return info;
}

// ---------------------------------------------------------------------------------------------------------
// Downstream

export type PeerCheck = { ok: true; info: TlsInfo } | { ok: false; reason: string; info: TlsInfo };

export interface DownstreamTls {
  /** the context for connections without SNI (and for all of them when there is one certificate) */
  secureContext: tls.SecureContext;
  /** Envoy's certificate selection by SNI among tls_certificates: DNS SANs (else the CN), exact then wildcard */
  secureContextFor(serverName?: string): tls.SecureContext;
  /**
   * Options for `new tls.TLSSocket(socket, options)` on an accepted connection. Pass what the tls_inspector
   * saw: the SNI picks the certificate up front (better than an SNICallback, with which Node installs only
   * one certificate of the chosen context), and ALPN is offered only when the client shares a protocol —
   * Node would otherwise abort with no_application_protocol where Envoy continues without ALPN.
   */
  socketOptions(serverName?: string, offeredAlpn?: readonly string[]): tls.TLSSocketOptions;
  /** socketOptions() for a connection nothing was inspected on: the SNI picks the certificate in an SNICallback */
  serverOptions: tls.TLSSocketOptions;
  alpn: string[];
  /** a client certificate is asked for */
  requestCert: boolean;
  /** runs after 'secure': Envoy's client verification; close the connection when ok is false */
  verifyPeer(socket: tls.TLSSocket): PeerCheck;
}

/** Compiles a DownstreamTlsContext (the typed_config of a filter chain's envoy.transport_sockets.tls). */
export function buildDownstreamTls(ctx: DownstreamTlsContextConfig, opts: TlsBuildOptions): DownstreamTls {
  const path = opts.source;
  rejectUnsupported(ctx, ['session_ticket_keys', 'session_ticket_keys_sds_secret_config', 'tls_session_ticket_keys', 'enable_tls_session_ticket_keys'], path, opts);
  if (ctx.ocsp_staple_policy !== undefined && ctx.ocsp_staple_policy !== 'LENIENT_STAPLING') {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.ocsp_staple_policy`, `${ctx.ocsp_staple_policy} is not supported (Meshwork does not staple OCSP responses)`, opts.location);
  }
  const cpath = `${path}.common_tls_context`;
  const common = ctx.common_tls_context;
  rejectUnsupported(common, COMMON_TLS_UNSUPPORTED, cpath, opts);
  const certs = loadCertificates(common, cpath, opts);
  if (certs.length === 0) throw new ConfigError('MW_CONFIG_INVALID', `${cpath}.tls_certificates`, 'a server TLS context needs at least one certificate', opts.location);
  const validation = compileValidation(common, cpath, opts);
  const params = compileTlsParams(common?.tls_params, 'server', `${cpath}.tls_params`, opts);

  // Envoy's SSL_VERIFY_PEER: a validation context that checks something (or ACCEPT_UNTRUSTED) asks for a
  // certificate; SSL_VERIFY_FAIL_IF_NO_PEER_CERT: require_client_certificate or a SAN / hash / SPKI check.
  const requestCert =
    ctx.require_client_certificate === true || (validation !== undefined && (validation.verifiesChain || validation.needsCertificate || validation.acceptUntrusted));
  const requireCert = ctx.require_client_certificate === true || (validation !== undefined && validation.needsCertificate && !validation.acceptUntrusted);

  let secureOptions = 0;
  if (ctx.disable_stateless_session_resumption || ctx.disable_session_resumption) secureOptions |= crypto.constants.SSL_OP_NO_TICKET;
  const base: tls.SecureContextOptions = {
    ...params,
    honorCipherOrder: ctx.prefer_client_ciphers !== true,
    ...(secureOptions ? { secureOptions } : {}),
    ...(validation?.ca ? { ca: validation.ca, allowPartialTrustChain: true } : {}), // Envoy sets X509_V_FLAG_PARTIAL_CHAIN
    ...(validation?.crl ? { crl: validation.crl } : {}),
  };
  const sessionSeconds = ctx.session_timeout !== undefined ? Math.floor(ctx.session_timeout / 1000) : undefined;

  // One SecureContext per distinct set of certificates, at most one per key type (OpenSSL keeps one per
  // type and would silently replace the first), built now so that a connection only looks one up.
  const contexts = new Map<string, tls.SecureContext>();
  const contextOf = (indices: number[]): tls.SecureContext => {
    const key = indices.join(',');
    let sc = contexts.get(key);
    if (!sc) {
      sc = createContext({ ...base, cert: indices.map((i) => certs[i].cert), key: indices.map((i) => certs[i].key) }, cpath, opts);
      // tls.Server applies sessionTimeout itself; a bare TLSSocket only sees the context, so set it there.
      if (sessionSeconds !== undefined) (sc.context as { setSessionTimeout(s: number): void }).setSessionTimeout(sessionSeconds);
      contexts.set(key, sc);
    }
    return sc;
  };
  const firstPerKeyType = (indices: number[]): number[] => {
    const seen = new Set<string>();
    return indices.filter((i) => !seen.has(certs[i].keyType) && seen.add(certs[i].keyType));
  };
  // server name pattern ("www.example.com", or ".example.com" for "*.example.com") → its certificates
  const byName = new Map<string, number[]>();
  certs.forEach((c, i) => {
    for (const n of c.names) {
      const pattern = n.startsWith('*.') ? n.slice(1) : n;
      byName.set(pattern, firstPerKeyType([...(byName.get(pattern) ?? []), i]));
    }
  });
  const all = contextOf(firstPerKeyType(certs.map((_, i) => i)));
  const named = new Map([...byName].map(([pattern, indices]) => [pattern, contextOf(indices)]));
  // Envoy: an SNI that matches no certificate gets the first one, unless full_scan_certs_on_sni_mismatch.
  const mismatch = ctx.full_scan_certs_on_sni_mismatch ? all : contextOf([0]);

  const secureContextFor = (serverName?: string): tls.SecureContext => {
    if (!serverName || certs.length === 1) return all;
    const sni = serverName.toLowerCase();
    const exact = named.get(sni);
    if (exact) return exact;
    // certificate wildcards cover exactly one label: only the immediate parent domain is tried
    const dot = sni.indexOf('.', 1);
    const wild = dot > 0 && dot < sni.length - 1 ? named.get(sni.slice(dot)) : undefined;
    return wild ?? mismatch;
  };
  const alpn = [...(common?.alpn_protocols ?? [])];
  const sniCallback = contexts.size > 1 ? (name: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => cb(null, secureContextFor(name)) : undefined;

  const socketOptions = (serverName?: string, offeredAlpn?: readonly string[]): tls.TLSSocketOptions => {
    const o: tls.TLSSocketOptions = { isServer: true, secureContext: secureContextFor(serverName), requestCert, rejectUnauthorized: false };
    if (alpn.length && (offeredAlpn === undefined || offeredAlpn.some((p) => alpn.includes(p)))) o.ALPNProtocols = alpn;
    if (serverName === undefined && sniCallback) o.SNICallback = sniCallback;
    return o;
  };

  return {
    secureContext: all,
    secureContextFor,
    alpn,
    requestCert,
    socketOptions,
    serverOptions: socketOptions(),
    verifyPeer(socket) {
      const sni = socket.servername || undefined;
      const peer = validation ? verifyPeerCertificate(socket, validation) : unverifiedPeer(socket);
      const info = describeTls(socket, peer, sni);
      if (ctx.require_sni && !sni) return { ok: false, reason: 'TLS_error: the client sent no SNI and require_sni is set', info };
      if (!peer.presented && requireCert) return { ok: false, reason: 'TLS_error: PEER_DID_NOT_RETURN_A_CERTIFICATE', info };
      if (peer.error) return { ok: false, reason: peer.error, info };
      return { ok: true, info };
    },
  };
}
