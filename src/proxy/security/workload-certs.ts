// The workload certificate agent: what istio-agent does next to Envoy, inside the proxy. It makes a P-256 key
// in this process (the private key never leaves it), sends a CSR for the workload's SPIFFE identity to the
// control plane's CA (CreateCertificate on the xDS port, authenticated by the join token), and provides the
// answer as the secret `default` (SecretRegistry.provide): the generated listeners and clusters name it as a
// static secret, and the trust bundle `ROOTCA` comes from the control plane over SDS, so that root rotation and
// revocation reach every proxy with one push.
//
// Rotation: at half the certificate's lifetime, give or take a tenth of it at random (a fleet started at once
// must not renew at once), a new key and CSR; the new certificate serves new handshakes, established
// connections keep theirs, and the old certificate stays valid until it expires, so rotation loses nothing.
// A failed renewal is retried with back-off while the current certificate is still valid.
import crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { CA_SERVICE, type CertificateRequest, type CertificateResponse } from '../../api/ca/service.js';
import { createWorkloadKeyAndCsr } from '../../common/csr.js';
import { logger } from '../../common/log.js';
import type { SecretRegistry } from '../xds/secrets.js';

const log = logger('workload-certs');

/** The secret name Istio's agent serves the workload certificate under; generated configs name it. */
export const WORKLOAD_SECRET = 'default';

export interface WorkloadCertOptions {
  /** the control plane's xDS address, host:port (the CA listens there too) */
  controlPlane: string;
  /** spiffe://<trust domain>/ns/<namespace>/sa/<service account> */
  identity: string;
  token: string;
  /** requested lifetime; absent: the CA's default (24 h) */
  ttlSeconds?: number;
  /** first retry delay after a failed request (doubles up to 30 s) */
  retryMs?: number;
}

export interface WorkloadCertStatus {
  identity: string;
  serial?: string;
  notBefore?: string;
  notAfter?: string;
  /** when the next renewal is due */
  renewAt?: string;
  /** certificates received, the first one included */
  issued: number;
  lastError?: string;
}

type CaClient = grpc.Client & {
  CreateCertificate(req: CertificateRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: CertificateResponse) => void): grpc.ClientUnaryCall;
};
const CaClientCtor = grpc.makeGenericClientConstructor(CA_SERVICE, 'IstioCertificateService') as unknown as new (address: string, creds: grpc.ChannelCredentials) => CaClient;

export class WorkloadCertAgent {
  private readonly client: CaClient;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly state: WorkloadCertStatus;
  private current: crypto.X509Certificate | undefined;

  constructor(
    private readonly opts: WorkloadCertOptions,
    private readonly secrets: SecretRegistry,
  ) {
    this.client = new CaClientCtor(opts.controlPlane, grpc.credentials.createInsecure());
    this.state = { identity: opts.identity, issued: 0 };
  }

  /** Resolves once the first certificate is in place (retrying until it is, or until stop()). */
  async start(): Promise<void> {
    let delay = this.opts.retryMs ?? 500;
    for (;;) {
      if (this.stopped) throw new Error('stopped before the first workload certificate arrived');
      try {
        await this.renew();
        return;
      } catch (err) {
        this.state.lastError = (err as Error).message;
        log.warn({ identity: this.opts.identity, err: (err as Error).message, retryInMs: delay }, 'cannot get a workload certificate yet');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  status(): WorkloadCertStatus {
    return { ...this.state };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.client.close();
  }

  private async renew(): Promise<void> {
    const { keyPem, csrPem } = await createWorkloadKeyAndCsr(this.opts.identity);
    const chain = await this.request(csrPem);
    // The chain ends with the trust bundle (the CA's roots); the certificate chain a server presents is the
    // leaf and its intermediates, which is everything before the first self-signed certificate.
    const certs = chain.map((pem) => new crypto.X509Certificate(pem));
    const leaf = certs[0];
    if (!leaf) throw new Error('the CA answered with an empty chain');
    const presented = certs.filter((c, i) => i === 0 || c.issuer !== c.subject).map((c) => c.toString());
    if (!leaf.checkPrivateKey(crypto.createPrivateKey(keyPem))) throw new Error('the CA signed another key');
    if (!leaf.subjectAltName?.split(', ').includes(`URI:${this.opts.identity}`)) throw new Error(`the certificate is not for ${this.opts.identity}: ${leaf.subjectAltName}`);
    this.secrets.provide(
      { name: WORKLOAD_SECRET, tls_certificate: { certificate_chain: { inline_string: presented.join('') }, private_key: { inline_string: keyPem } } },
      leaf.serialNumber.toLowerCase(),
    );
    this.current = leaf;
    this.state.issued++;
    this.state.serial = leaf.serialNumber.toLowerCase();
    this.state.notBefore = new Date(leaf.validFrom).toISOString();
    this.state.notAfter = new Date(leaf.validTo).toISOString();
    this.state.lastError = undefined;
    log.info({ identity: this.opts.identity, serial: this.state.serial, notAfter: this.state.notAfter }, 'workload certificate in place');
    this.schedule(this.renewDelay(leaf));
  }

  /** Half the remaining lifetime, ± a tenth of it. */
  private renewDelay(leaf: crypto.X509Certificate): number {
    const now = Date.now();
    const end = new Date(leaf.validTo).getTime();
    const life = Math.max(0, end - now);
    return Math.max(1000, life / 2 + (Math.random() * 2 - 1) * (life / 10));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.state.renewAt = new Date(Date.now() + ms).toISOString();
    this.timer = setTimeout(() => void this.renewLoop(), ms);
    this.timer.unref();
  }

  private async renewLoop(): Promise<void> {
    try {
      await this.renew();
    } catch (err) {
      this.state.lastError = (err as Error).message;
      // Keep trying while the current certificate is valid (and after: a proxy without one cannot serve mTLS).
      const left = this.current ? new Date(this.current.validTo).getTime() - Date.now() : 0;
      const retry = Math.min(30_000, Math.max(1000, left / 10));
      log.warn({ identity: this.opts.identity, err: (err as Error).message, retryInMs: Math.round(retry) }, 'workload certificate renewal failed');
      this.schedule(retry);
    }
  }

  private request(csr: string): Promise<string[]> {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${this.opts.token}`);
    return new Promise((resolve, reject) => {
      this.client.CreateCertificate({ csr, validity_duration: this.opts.ttlSeconds ?? 0 }, md, { deadline: Date.now() + 10_000 }, (err, res) => {
        if (err) reject(new Error(`CreateCertificate: ${err.details || err.message}`));
        else resolve(res!.cert_chain);
      });
    });
  }
}
