// The control plane's certificate authority: it signs the CSRs proxies make for their SPIFFE identities, keeps
// the trust bundle (old and new roots during a root rotation) and a CRL of what was revoked. Istio's Citadel
// (istiod's CA) is the model: a self-signed root generated on first start or a plugged-in root/intermediate, a
// SPIFFE URI SAN as the only name in a leaf, short-lived leaves so that expiry does most of revocation's job.
//
// Everything it must remember lives under <dataDir>/ca/ (0700): root-cert.pem, root-key.pem (0600),
// previous-roots.json (roots being retired, with their keys: they still sign the CRL for their leaves),
// trust-bundle.pem and crl.pem (copies for operators and tools), issued.jsonl (append-only log of what was signed),
// revoked.json. Writes replace files atomically (temp file + rename), so a crash leaves the old or the new state.
import fs from 'node:fs';
import path from 'node:path';
import { createHash, createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { MeshworkError, type ErrorCode } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import { x509 } from './x509.js';

const log = logger('ca');

export interface CaOptions {
  dataDir: string; // the CA keeps its files under <dataDir>/ca/ (created 0700; keys 0600)
  trustDomain?: string; // default 'cluster.local'
  certFile?: string; // user-provided root or intermediate (--ca-cert, --ca-key, --ca-chain);
  keyFile?: string;
  chainFile?: string; // chain = intermediates up to and including the root
  workloadTtlMs?: number; // default 24 h
  maxWorkloadTtlMs?: number; // default 90 days; a request asking for more gets this
  now?: () => number; // for tests
}

export interface IssuedCert {
  serial: string; // hex, lower case
  identity: string; // spiffe://...
  notBefore: Date;
  notAfter: Date;
  chainPem: string[]; // leaf first, then intermediates, not the root
}

export interface IssuedInfo {
  serial: string;
  identity: string;
  notBefore: Date;
  notAfter: Date;
  revoked: boolean;
}

export interface RootInfo {
  fingerprint: string; // SHA-256 of the DER, hex lower case
  subject: string;
  notBefore: Date;
  notAfter: Date;
  signing: boolean; // the root new leaves chain to
  retireAt?: Date; // a previous root leaves the bundle then (its last leaf expires)
}

type CaCode = Extract<ErrorCode, `MW_CA_${string}`>;

export class CaError extends MeshworkError {
  constructor(code: CaCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'CaError';
  }
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ROOT_LIFETIME_MS = 3652 * DAY; // ten years, leap days included
const CLOCK_SKEW_MS = MINUTE; // notBefore and thisUpdate start a minute early so that a peer whose clock lags accepts them
// A CRL must carry nextUpdate (RFC 5280 5.1.2.5) and OpenSSL-based peers refuse one past it, so it is re-signed
// at half its life and re-pushed, like a leaf. A day matches the default leaf TTL.
const CRL_LIFETIME_MS = DAY;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Webcrypto parameters for signing with a CA key: the hash follows the key (RFC 5480 pairs P-384 with SHA-384). */
type SigningAlgorithm = { name: 'ECDSA'; hash: string } | { name: 'RSASSA-PKCS1-v1_5' };

interface Signer {
  cert: x509.X509Certificate;
  certPem: string;
  key: webcrypto.CryptoKey; // non-extractable once loaded
  algorithm: SigningAlgorithm;
  fingerprint: string;
  keyId: string; // the signer's subject key identifier: the authority key identifier of what it signs
  notAfter: number; // a leaf never outlives any certificate of its chain
  intermediatesPem: string[]; // what follows a leaf: the signer when it is an intermediate, then its chain without the root
}

interface PreviousRoot {
  signer: Signer;
  keyPem: string;
  retireAt: number;
}

interface IssuedRecord {
  serial: string;
  identity: string;
  notBefore: number;
  notAfter: number;
  issuer: string; // fingerprint of the signer
}

interface RevokedSerial {
  serial: string;
  identity: string;
  issuer: string;
  notAfter: number; // the entry leaves the CRL once the certificate has expired anyway
  revokedAt: number;
  reason?: string;
}

interface RevokedIdentity {
  identity: string;
  revokedAt: number;
  reason?: string;
}

interface RevokedFile {
  version: 1;
  crlNumber: number;
  identities: RevokedIdentity[];
  serials: RevokedSerial[];
}

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

// SPIFFE IDs: the trust domain is lower-case letters, digits, '.', '-', '_' (SPIFFE-ID spec 2.1); path segments
// are non-empty and hold no '/' nor '.'/'..' alone. Istio's form is /ns/<namespace>/sa/<service account>.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;

export function parseSpiffeId(uri: string): { trustDomain: string; namespace: string; serviceAccount: string } | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m) return undefined;
  const [, trustDomain, namespace, serviceAccount] = m as unknown as [string, string, string, string];
  if (!TRUST_DOMAIN.test(trustDomain)) return undefined;
  for (const s of [namespace, serviceAccount]) if (!SEGMENT.test(s) || s === '.' || s === '..') return undefined;
  return { trustDomain, namespace, serviceAccount };
}

export class CertificateAuthority {
  readonly trustDomain: string;
  private readonly dir: string;
  private readonly now: () => number;
  private readonly workloadTtlMs: number;
  private readonly maxWorkloadTtlMs: number;
  private readonly external: boolean;
  private signer!: Signer;
  private rootPem!: string; // the root new leaves chain to (the signer itself unless it is a user intermediate)
  private rootKeyPem = ''; // the generated root's key, kept to move it to previous-roots.json on rotation
  private previous: PreviousRoot[] = []; // newest first
  private readonly issuedBySerial = new Map<string, IssuedRecord>(); // insertion order = issue order
  private expiredInLog = 0;
  private readonly revokedSerials = new Map<string, RevokedSerial>();
  private readonly revokedIdentities = new Map<string, RevokedIdentity>();
  private crlNumber = 0;
  private crl: string | undefined;
  private crlRefreshAt = Infinity;
  private crlQueue: Promise<void> = Promise.resolve(); // CRL regenerations run one at a time, each from the state of its start
  private readonly listeners: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(opts: CaOptions, dir: string, trustDomain: string) {
    this.dir = dir;
    this.trustDomain = trustDomain;
    this.now = opts.now ?? Date.now;
    this.maxWorkloadTtlMs = opts.maxWorkloadTtlMs ?? 90 * DAY;
    this.workloadTtlMs = Math.min(opts.workloadTtlMs ?? DAY, this.maxWorkloadTtlMs);
    this.external = Boolean(opts.certFile || opts.keyFile || opts.chainFile);
  }

  static async open(opts: CaOptions): Promise<CertificateAuthority> {
    const trustDomain = opts.trustDomain ?? 'cluster.local';
    if (!TRUST_DOMAIN.test(trustDomain)) throw new CaError('MW_CA_LOAD', `Cannot use trust domain "${trustDomain}": a SPIFFE trust domain is lower-case letters, digits, ".", "-" and "_"`);
    for (const [name, v] of [['workloadTtlMs', opts.workloadTtlMs], ['maxWorkloadTtlMs', opts.maxWorkloadTtlMs]] as const) {
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new CaError('MW_CA_LOAD', `Cannot use ${name} ${v}: a TTL is a positive number of milliseconds`);
    }
    const dir = path.join(opts.dataDir, 'ca');
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.chmodSync(dir, 0o700); // also when it existed: it holds private keys
    } catch (err) {
      throw new CaError('MW_CA_LOAD', `Cannot create "${dir}": ${(err as Error).message}`, { cause: err });
    }
    const ca = new CertificateAuthority(opts, dir, trustDomain);
    if (ca.external) await ca.loadExternal(opts);
    else await ca.loadOrGenerateRoot();
    ca.loadIssued();
    ca.loadRevoked();
    ca.prune(false);
    ca.writeFile('trust-bundle.pem', ca.rootsPemNow(), 0o644);
    await ca.queueCrl();
    ca.schedule();
    return ca;
  }

  /** PEM bundle of every root trusted now (during root rotation: the new root first, then the old ones) */
  rootsPem(): string {
    this.prune();
    return this.rootsPemNow();
  }

  /** The roots with what the debug API shows of them. */
  roots(): RootInfo[] {
    this.prune();
    const info = (pem: string, signing: boolean, retireAt?: number): RootInfo => {
      const c = new NodeX509(pem);
      return { fingerprint: fingerprint(c.raw), subject: c.subject, notBefore: new Date(c.validFrom), notAfter: new Date(c.validTo), signing, ...(retireAt !== undefined ? { retireAt: new Date(retireAt) } : {}) };
    };
    return [info(this.rootPem, true), ...this.previous.map((p) => info(p.signer.certPem, false, p.retireAt))];
  }

  async sign(csrPem: string, identity: string, ttlMs?: number): Promise<IssuedCert> {
    this.prune();
    this.checkIdentity(identity, 'sign a certificate for');
    if (this.revokedIdentities.has(identity)) throw new CaError('MW_CA_REVOKED', `Cannot sign a certificate for "${identity}": the identity is revoked`);
    if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs > 0)) throw new CaError('MW_CA_CSR_INVALID', `Cannot sign a certificate for "${identity}": the requested TTL ${ttlMs} is not a positive number of milliseconds`);

    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (err) {
      throw new CaError('MW_CA_CSR_INVALID', `Cannot parse the CSR for "${identity}": ${(err as Error).message}`, { cause: err });
    }
    // Proof of possession: only the holder of the private key can have signed the request (RFC 2986).
    let verified = false;
    try {
      verified = await csr.verify();
    } catch {
      verified = false;
    }
    if (!verified) throw new CaError('MW_CA_CSR_INVALID', `Cannot sign the CSR for "${identity}": its signature does not verify`);
    this.checkCsrKey(csr, identity);
    // The leaf carries only the identity: nothing else of the CSR (subject, DNS SANs, key usages) is copied, so
    // a requester can ask for one thing only, which the caller has authorized.
    const uris = csrUriSans(csr);
    if (uris.length !== 1 || uris[0] !== identity) {
      throw new CaError('MW_CA_CSR_IDENTITY', `Cannot sign the CSR for "${identity}": it must carry exactly one URI SAN equal to the identity, it carries ${uris.length ? uris.map((u) => `"${u}"`).join(', ') : 'none'}`);
    }

    const signer = this.signer; // a rotation during the awaits below must not mix two signers in one leaf
    const now = this.now();
    // whole seconds: what the certificate can encode, so that the dates returned are the certificate's
    const notBefore = floorSecond(now - CLOCK_SKEW_MS);
    const notAfter = floorSecond(Math.min(now + Math.min(ttlMs ?? this.workloadTtlMs, this.maxWorkloadTtlMs), signer.notAfter));
    const serial = randomSerial();
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      // no subject: an empty Name, as Istio issues them; the SAN is then critical (RFC 5280 4.2.1.6)
      issuer: signer.cert.subjectName,
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      publicKey: csr.publicKey,
      signingKey: signer.key,
      signingAlgorithm: signer.algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
        new x509.AuthorityKeyIdentifierExtension(signer.keyId),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: identity }], true),
      ],
    });
    // revokeIdentity may have run during the awaits above: a leaf it could not see must not go out
    if (this.revokedIdentities.has(identity)) throw new CaError('MW_CA_REVOKED', `Cannot sign a certificate for "${identity}": the identity is revoked`);
    const record: IssuedRecord = { serial, identity, notBefore, notAfter, issuer: signer.fingerprint };
    // Recorded before it is handed out: revokeIdentity and root retirement must know every live certificate.
    this.appendFile('issued.jsonl', JSON.stringify(record) + '\n');
    this.issuedBySerial.set(serial, record);
    return { serial, identity, notBefore: new Date(notBefore), notAfter: new Date(notAfter), chainPem: [toPem(leaf.rawData), ...signer.intermediatesPem] };
  }

  async revokeSerial(serial: string, reason?: string): Promise<void> {
    this.prune();
    const s = normalizeHex(serial);
    if (this.revokedSerials.has(s)) return;
    const rec = this.issuedBySerial.get(s);
    if (!rec) throw new CaError('MW_CA_UNKNOWN', `Cannot revoke serial "${serial}": this CA issued no unexpired certificate with that serial`);
    this.revokedSerials.set(s, { serial: s, identity: rec.identity, issuer: rec.issuer, notAfter: rec.notAfter, revokedAt: this.now(), ...(reason ? { reason } : {}) });
    this.saveRevoked();
    await this.queueCrl();
    this.emit();
    this.schedule();
  }

  async revokeIdentity(identity: string, reason?: string): Promise<void> {
    this.prune();
    this.checkIdentity(identity, 'revoke');
    const now = this.now();
    if (!this.revokedIdentities.has(identity)) this.revokedIdentities.set(identity, { identity, revokedAt: now, ...(reason ? { reason } : {}) });
    for (const rec of this.issuedBySerial.values()) {
      if (rec.identity !== identity || this.revokedSerials.has(rec.serial)) continue;
      this.revokedSerials.set(rec.serial, { serial: rec.serial, identity, issuer: rec.issuer, notAfter: rec.notAfter, revokedAt: now, ...(reason ? { reason } : {}) });
    }
    this.saveRevoked();
    await this.queueCrl();
    this.emit();
    this.schedule();
  }

  /** The CRLs (PEM) of every CA key this authority holds, each listing the revoked, unexpired serials it issued:
   *  the current signer's first, then each previous root's. A peer that checks CRLs needs one from every issuer of
   *  the leaves it sees, even an empty one (Envoy's `crl` fails a chain whose issuer has none), so during a root
   *  rotation there are several. undefined when nothing unexpired is revoked. */
  crlPem(): string | undefined {
    this.prune();
    return this.crl;
  }

  async rotateRoot(): Promise<void> {
    if (this.external) {
      throw new CaError('MW_CA_EXTERNAL', 'Cannot rotate the root of a user-provided CA: make the new one outside Meshwork and restart with --ca-cert/--ca-key/--ca-chain (peers need a bundle with both roots until the old leaves expire)');
    }
    this.prune(false);
    const old = this.signer;
    const now = this.now();
    let retireAt = now;
    for (const r of this.issuedBySerial.values()) if (r.issuer === old.fingerprint) retireAt = Math.max(retireAt, r.notAfter);
    const fresh = await generateRoot(this.trustDomain, now);
    // previous-roots.json first: a crash between the two writes leaves the old root both current and previous,
    // which loading resolves, never a root key lost.
    this.previous.unshift({ signer: old, keyPem: this.rootKeyPem, retireAt });
    this.savePrevious();
    this.writeFile('root-key.pem', fresh.keyPem, 0o600);
    this.writeFile('root-cert.pem', fresh.certPem, 0o644);
    this.signer = await makeSigner(fresh.certPem, fresh.keyPem, [], 'root-cert.pem');
    this.rootPem = this.signer.certPem;
    this.rootKeyPem = fresh.keyPem;
    log.info({ old: old.fingerprint, new: this.signer.fingerprint, oldRetiresAt: new Date(retireAt).toISOString() }, 'root rotated');
    this.prune(false); // an old root with no live leaf leaves the bundle at once
    this.writeFile('trust-bundle.pem', this.rootsPemNow(), 0o644);
    await this.queueCrl();
    this.emit();
    this.schedule();
  }

  /** Remove a previous root from the trust bundle before its last leaf expires (those leaves stop verifying). */
  async dropRoot(fingerprintHex: string): Promise<void> {
    const fp = normalizeHex(fingerprintHex);
    if (fp === this.signer.fingerprint || fp === fingerprint(new NodeX509(this.rootPem).raw)) {
      throw new CaError('MW_CA_UNKNOWN', `Cannot drop root ${fp}: it is the current root (rotate first)`);
    }
    const i = this.previous.findIndex((p) => p.signer.fingerprint === fp);
    if (i < 0) throw new CaError('MW_CA_UNKNOWN', `Cannot drop root "${fingerprintHex}": it is not a previous root of this CA`);
    this.previous.splice(i, 1);
    this.savePrevious();
    this.writeFile('trust-bundle.pem', this.rootsPemNow(), 0o644);
    await this.queueCrl();
    this.emit();
    this.schedule();
  }

  issued(): readonly IssuedInfo[] {
    this.prune();
    const out: IssuedInfo[] = [];
    for (const r of this.issuedBySerial.values()) {
      out.push({ serial: r.serial, identity: r.identity, notBefore: new Date(r.notBefore), notAfter: new Date(r.notAfter), revoked: this.revokedSerials.has(r.serial) });
    }
    return out.reverse();
  }

  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  /** Time-based upkeep: drop expired CRL entries and retired roots, re-sign the CRL at half its life. A timer runs
   *  it; tests with an injected clock call it directly. */
  async refresh(): Promise<void> {
    this.prune();
    await this.crlQueue;
    this.schedule();
  }

  /** Stops the upkeep timer (it is unref'ed, so a process exits without this). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  // ---- loading ----

  private async loadOrGenerateRoot(): Promise<void> {
    const certFile = path.join(this.dir, 'root-cert.pem');
    const keyFile = path.join(this.dir, 'root-key.pem');
    const hasCert = fs.existsSync(certFile);
    const hasKey = fs.existsSync(keyFile);
    if (hasCert !== hasKey) {
      // never generate over half a CA: the missing half may be a restore away
      throw new CaError('MW_CA_LOAD', `Cannot load the CA in "${this.dir}": ${hasCert ? 'root-key.pem' : 'root-cert.pem'} is missing (restore it, or remove both to generate a new root)`);
    }
    let certPem: string;
    let keyPem: string;
    if (hasCert) {
      certPem = readText(certFile);
      keyPem = readText(keyFile);
    } else {
      ({ certPem, keyPem } = await generateRoot(this.trustDomain, this.now()));
      this.writeFile('root-key.pem', keyPem, 0o600);
      this.writeFile('root-cert.pem', certPem, 0o644);
      log.info({ dir: this.dir, trustDomain: this.trustDomain }, 'generated a self-signed root CA');
    }
    this.signer = await makeSigner(certPem, keyPem, [], certFile);
    this.rootPem = this.signer.certPem;
    this.rootKeyPem = keyPem;
    const prevFile = path.join(this.dir, 'previous-roots.json');
    if (fs.existsSync(prevFile)) {
      let entries: { certPem: string; keyPem: string; retireAt: number }[];
      try {
        entries = JSON.parse(readText(prevFile));
      } catch (err) {
        throw new CaError('MW_CA_LOAD', `Cannot parse "${prevFile}": ${(err as Error).message}`, { cause: err });
      }
      for (const e of entries) {
        const signer = await makeSigner(e.certPem, e.keyPem, [], prevFile);
        if (signer.fingerprint === this.signer.fingerprint) continue; // a rotation interrupted between its writes
        this.previous.push({ signer, keyPem: e.keyPem, retireAt: e.retireAt });
      }
    }
  }

  private async loadExternal(opts: CaOptions): Promise<void> {
    if (!opts.certFile || !opts.keyFile) {
      throw new CaError('MW_CA_LOAD', `Cannot load a user-provided CA: --ca-cert and --ca-key go together${opts.chainFile ? ' (--ca-chain alone is not enough)' : ''}`);
    }
    const certs = readCerts(opts.certFile);
    if (!certs.length) throw new CaError('MW_CA_LOAD', `Cannot load the CA certificate "${opts.certFile}": it holds no PEM certificate`);
    const chain = [...certs.slice(1), ...(opts.chainFile ? readCerts(opts.chainFile) : [])];
    const signing = certs[0]!;
    if (!signing.ca) throw new CaError('MW_CA_LOAD', `Cannot use "${opts.certFile}" as a CA: it lacks basicConstraints CA:TRUE`);
    // Istio's cert-chain.pem starts with the CA certificate itself; accept both forms.
    const rest = chain.filter((c) => fingerprint(c.raw) !== fingerprint(signing.raw));
    const path_ = [signing, ...rest];
    let rootIndex = -1;
    for (let i = 0; i < path_.length; i++) {
      const c = path_[i]!;
      if (c.checkIssued(c) && c.verify(c.publicKey)) {
        rootIndex = i;
        break;
      }
      const next = path_[i + 1];
      if (!next) {
        throw new CaError('MW_CA_LOAD', `Cannot load the CA "${opts.certFile}": its chain does not reach a self-signed root ("${subjectOf(c)}" has no issuer); pass the intermediates and the root with --ca-chain`);
      }
      if (!(c.checkIssued(next) && c.verify(next.publicKey))) {
        throw new CaError('MW_CA_LOAD', `Cannot load the CA chain "${opts.chainFile ?? opts.certFile}": "${subjectOf(next)}" did not issue "${subjectOf(c)}" (order: the CA's issuer first, the root last)`);
      }
    }
    if (rootIndex < path_.length - 1) throw new CaError('MW_CA_LOAD', `Cannot load the CA chain "${opts.chainFile}": it has certificates after the self-signed root`);
    const now = this.now();
    for (const c of path_) {
      if (Date.parse(c.validTo) <= now) throw new CaError('MW_CA_LOAD', `Cannot load the CA "${opts.certFile}": "${subjectOf(c)}" expired on ${new Date(c.validTo).toISOString()}`);
    }
    this.signer = await makeSigner(signing.toString(), readText(opts.keyFile), path_.slice(1), opts.certFile, opts.keyFile);
    this.signer.intermediatesPem = path_.slice(0, rootIndex).map((c) => c.toString());
    this.rootPem = path_[rootIndex]!.toString();
  }

  private loadIssued(): void {
    const file = path.join(this.dir, 'issued.jsonl');
    if (!fs.existsSync(file)) return;
    const lines = readText(file).split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      try {
        const r = JSON.parse(line) as IssuedRecord;
        this.issuedBySerial.set(r.serial, r);
      } catch (err) {
        // a crash may tear the last append; anything else is damage worth stopping for
        if (i === lines.length - 1 || (i === lines.length - 2 && lines[lines.length - 1] === '')) return;
        throw new CaError('MW_CA_LOAD', `Cannot parse "${file}:${i + 1}": ${(err as Error).message}`, { cause: err });
      }
    });
  }

  private loadRevoked(): void {
    const file = path.join(this.dir, 'revoked.json');
    if (!fs.existsSync(file)) return;
    let data: RevokedFile;
    try {
      data = JSON.parse(readText(file)) as RevokedFile;
    } catch (err) {
      throw new CaError('MW_CA_LOAD', `Cannot parse "${file}": ${(err as Error).message}`, { cause: err });
    }
    this.crlNumber = data.crlNumber ?? 0;
    for (const i of data.identities ?? []) this.revokedIdentities.set(i.identity, i);
    for (const s of data.serials ?? []) this.revokedSerials.set(s.serial, s);
  }

  // ---- state upkeep ----

  private rootsPemNow(): string {
    return [this.rootPem, ...this.previous.map((p) => p.signer.certPem)].join('');
  }

  /** Drops what time has made obsolete. Synchronous, so the getters can call it; the CRL is re-signed in the
   *  background when its content or age requires, and listeners hear of it when it is ready. */
  private prune(notify = true): void {
    const now = this.now();
    let rootsChanged = false;
    let crlChanged = false;
    const keep = this.previous.filter((p) => p.retireAt > now);
    if (keep.length !== this.previous.length) {
      for (const p of this.previous) if (!keep.includes(p)) log.info({ root: p.signer.fingerprint }, 'previous root retired: its last leaf expired');
      this.previous = keep;
      this.savePrevious();
      this.writeFile('trust-bundle.pem', this.rootsPemNow(), 0o644);
      rootsChanged = crlChanged = true;
    }
    for (const [s, r] of this.issuedBySerial) {
      if (r.notAfter > now) continue;
      this.issuedBySerial.delete(s);
      this.expiredInLog++;
    }
    // issued.jsonl only grows between compactions; rewrite it once it is mostly dead lines
    if (this.expiredInLog > 1000 && this.expiredInLog > this.issuedBySerial.size) {
      this.writeFile('issued.jsonl', [...this.issuedBySerial.values()].map((r) => JSON.stringify(r) + '\n').join(''), 0o600);
      this.expiredInLog = 0;
    }
    let revokedExpired = false;
    for (const [s, e] of this.revokedSerials) {
      if (e.notAfter > now) continue;
      this.revokedSerials.delete(s);
      revokedExpired = true;
    }
    if (revokedExpired) {
      this.saveRevoked();
      crlChanged = true;
    }
    if (now >= this.crlRefreshAt) crlChanged = true;
    if (crlChanged) {
      this.crlRefreshAt = Infinity; // one regeneration at a time; it sets the next refresh
      void this.queueCrl().then(() => {
        if (notify) this.emit();
        this.schedule();
      });
    } else if (rootsChanged && notify) queueMicrotask(() => this.emit());
  }

  private queueCrl(): Promise<void> {
    this.crlQueue = this.crlQueue.then(() => this.regenerateCrl()).catch((err) => log.error({ err }, 'cannot sign the CRL'));
    return this.crlQueue;
  }

  private async regenerateCrl(): Promise<void> {
    const signers = [this.signer, ...this.previous.map((p) => p.signer)];
    const held = new Set(signers.map((s) => s.fingerprint));
    // entries of an issuer no longer trusted (a dropped root) need no CRL: nothing chains to it any more
    const entries = [...this.revokedSerials.values()].filter((e) => held.has(e.issuer));
    if (!entries.length) {
      this.crl = undefined;
      this.crlRefreshAt = Infinity;
      fs.rmSync(path.join(this.dir, 'crl.pem'), { force: true });
      return;
    }
    const now = this.now();
    this.crlNumber++;
    const pems: string[] = [];
    for (const s of signers) {
      const crl = await x509.X509CrlGenerator.create({
        issuer: s.cert.subjectName,
        thisUpdate: new Date(now - CLOCK_SKEW_MS),
        nextUpdate: new Date(now + CRL_LIFETIME_MS),
        signingKey: s.key,
        signingAlgorithm: s.algorithm,
        extensions: [new x509.AuthorityKeyIdentifierExtension(s.keyId), crlNumberExtension(this.crlNumber)],
        entries: entries
          .filter((e) => e.issuer === s.fingerprint)
          // invalidityDate on every entry: the library writes an entry without extensions as an empty
          // crlEntryExtensions SEQUENCE, which RFC 5280 forbids (SIZE 1..MAX); OpenSSL lets it pass, a strict
          // DER parser need not. Whole seconds: RFC 5280 forbids fractions in GeneralizedTime.
          .map((e) => ({ serialNumber: e.serial, revocationDate: new Date(floorSecond(e.revokedAt)), invalidity: new Date(floorSecond(e.revokedAt)), ...(crlReason(e.reason) !== undefined ? { reason: crlReason(e.reason) } : {}) })),
      });
      // "X509 CRL" is the label RFC 7468 and OpenSSL use; the library's own PEM says "CRL", which OpenSSL refuses
      pems.push(ensureNewline(x509.PemConverter.encode(crl.rawData, 'X509 CRL')));
    }
    this.crl = pems.join('');
    this.crlRefreshAt = now + CRL_LIFETIME_MS / 2;
    this.saveRevoked(); // the CRL number must only grow, restarts included
    this.writeFile('crl.pem', this.crl, 0o644);
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    let next = this.crlRefreshAt;
    for (const p of this.previous) next = Math.min(next, p.retireAt);
    for (const e of this.revokedSerials.values()) next = Math.min(next, e.notAfter);
    if (next === Infinity) return;
    const delay = Math.min(Math.max(next - this.now(), 1000), MAX_TIMER_MS);
    this.timer = setTimeout(() => void this.refresh(), delay);
    this.timer.unref();
  }

  private emit(): void {
    for (const fn of this.listeners) {
      try {
        fn();
      } catch (err) {
        log.error({ err }, 'a CA change listener failed');
      }
    }
  }

  private checkIdentity(identity: string, what: string): void {
    const id = parseSpiffeId(identity);
    if (!id) throw new CaError('MW_CA_CSR_IDENTITY', `Cannot ${what} "${identity}": not a SPIFFE ID of the form spiffe://<trust domain>/ns/<namespace>/sa/<service account>`);
    if (id.trustDomain !== this.trustDomain) throw new CaError('MW_CA_CSR_IDENTITY', `Cannot ${what} "${identity}": its trust domain is not "${this.trustDomain}"`);
  }

  private checkCsrKey(csr: x509.Pkcs10CertificateRequest, identity: string): void {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
    } catch (err) {
      throw new CaError('MW_CA_CSR_INVALID', `Cannot read the public key of the CSR for "${identity}": ${(err as Error).message}`, { cause: err });
    }
    const d = key.asymmetricKeyDetails ?? {};
    const ok = (key.asymmetricKeyType === 'ec' && (d.namedCurve === 'prime256v1' || d.namedCurve === 'secp384r1')) || (key.asymmetricKeyType === 'rsa' && (d.modulusLength ?? 0) >= 2048);
    if (!ok) {
      const what = key.asymmetricKeyType === 'ec' ? `EC ${d.namedCurve}` : key.asymmetricKeyType === 'rsa' ? `RSA ${d.modulusLength}` : key.asymmetricKeyType;
      throw new CaError('MW_CA_CSR_INVALID', `Cannot sign the CSR for "${identity}": a ${what} key is not accepted (ECDSA P-256 or P-384, or RSA of 2048 bits or more)`);
    }
  }

  private saveRevoked(): void {
    const data: RevokedFile = { version: 1, crlNumber: this.crlNumber, identities: [...this.revokedIdentities.values()], serials: [...this.revokedSerials.values()] };
    this.writeFile('revoked.json', JSON.stringify(data, null, 2) + '\n', 0o600);
  }

  private savePrevious(): void {
    const file = path.join(this.dir, 'previous-roots.json');
    if (!this.previous.length) {
      fs.rmSync(file, { force: true });
      return;
    }
    const data = this.previous.map((p) => ({ fingerprint: p.signer.fingerprint, retireAt: p.retireAt, certPem: p.signer.certPem, keyPem: p.keyPem }));
    this.writeFile('previous-roots.json', JSON.stringify(data, null, 2) + '\n', 0o600);
  }

  private writeFile(name: string, text: string, mode: number): void {
    const file = path.join(this.dir, name);
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, text, { mode });
    fs.chmodSync(tmp, mode); // writeFileSync's mode is filtered by the umask and ignored for an existing file
    fs.renameSync(tmp, file);
  }

  private appendFile(name: string, text: string): void {
    fs.appendFileSync(path.join(this.dir, name), text, { mode: 0o600 });
  }
}

// ---- helpers ----

/** A self-signed root: ECDSA P-256 with SHA-256 (fast to sign and verify, 64-byte signatures and small
 *  certificates, which keeps every mTLS handshake and SDS push short; what Istio and SPIRE default to). */
async function generateRoot(trustDomain: string, now: number): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ O: [trustDomain] }, { CN: ['Meshwork Root CA'] }],
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + ROOT_LIFETIME_MS),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: toPem(cert.rawData), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n' };
}

/** Loads a CA certificate and its key (PKCS#8, PKCS#1 or SEC1 PEM) and checks they belong together and may sign. */
async function makeSigner(certPem: string, keyPem: string, chain: NodeX509[], certSource: string, keySource = certSource): Promise<Signer> {
  let cert: x509.X509Certificate;
  let nodeCert: NodeX509;
  try {
    cert = new x509.X509Certificate(certPem);
    nodeCert = new NodeX509(certPem);
  } catch (err) {
    throw new CaError('MW_CA_LOAD', `Cannot parse the CA certificate "${certSource}": ${(err as Error).message}`, { cause: err });
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(keyPem);
  } catch (err) {
    throw new CaError('MW_CA_LOAD', `Cannot read the CA key "${keySource}": ${(err as Error).message}`, { cause: err });
  }
  if (!nodeCert.checkPrivateKey(keyObject)) throw new CaError('MW_CA_LOAD', `Cannot use the CA key "${keySource}": it does not belong to the certificate "${certSource}"`);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new CaError('MW_CA_LOAD', `Cannot use "${certSource}" as a CA: it lacks basicConstraints CA:TRUE`);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku && !(ku.usages & x509.KeyUsageFlags.keyCertSign)) throw new CaError('MW_CA_LOAD', `Cannot use "${certSource}" as a CA: its keyUsage lacks keyCertSign`);

  let importAlg: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  let algorithm: SigningAlgorithm;
  const d = keyObject.asymmetricKeyDetails ?? {};
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = ({ prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' } as Record<string, string>)[d.namedCurve ?? ''];
    if (!curve) throw new CaError('MW_CA_LOAD', `Cannot use the CA key "${keySource}": curve ${d.namedCurve} is not supported (P-256, P-384, P-521)`);
    importAlg = { name: 'ECDSA', namedCurve: curve };
    algorithm = { name: 'ECDSA', hash: curve === 'P-256' ? 'SHA-256' : curve === 'P-384' ? 'SHA-384' : 'SHA-512' };
  } else if (keyObject.asymmetricKeyType === 'rsa') {
    if ((d.modulusLength ?? 0) < 2048) throw new CaError('MW_CA_LOAD', `Cannot use the CA key "${keySource}": RSA keys need 2048 bits or more`);
    importAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    algorithm = { name: 'RSASSA-PKCS1-v1_5' };
  } else {
    throw new CaError('MW_CA_LOAD', `Cannot use the CA key "${keySource}": ${keyObject.asymmetricKeyType} keys are not supported (ECDSA or RSA)`);
  }
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  const key = await webcrypto.subtle.importKey('pkcs8', der, importAlg, false, ['sign']);
  // The leaves' authority key identifier must equal the CA's SKI byte for byte, or OpenSSL will not chain them.
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? Buffer.from(await cert.publicKey.getKeyIdentifier()).toString('hex');
  let notAfter = Date.parse(nodeCert.validTo);
  for (const c of chain) notAfter = Math.min(notAfter, Date.parse(c.validTo));
  return { cert, certPem: nodeCert.toString(), key, algorithm, fingerprint: fingerprint(nodeCert.raw), keyId: ski, notAfter, intermediatesPem: [] };
}

/** URI SANs the CSR asks for (PKCS#9 extensionRequest). A SAN extension that cannot be read asks for nothing. */
function csrUriSans(csr: x509.Pkcs10CertificateRequest): string[] {
  const exts = csr.getExtensions('2.5.29.17');
  if (exts.length !== 1) return exts.length ? ['(several SAN extensions)'] : [];
  try {
    return new x509.SubjectAlternativeNameExtension(exts[0]!.rawData).names.items.filter((n) => n.type === 'url').map((n) => n.value);
  } catch {
    return ['(unreadable SAN)'];
  }
}

/** 16 random bytes, top bit clear (a positive INTEGER without a 0x00 pad) and the next one set (no leading zero
 *  byte to strip, so the hex form is always 32 characters): 126 random bits, where CA/B Forum asks for 64. */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
}

function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

function normalizeHex(s: string): string {
  return s.replace(/[:\s]/g, '').toLowerCase();
}

function fingerprint(der: Buffer | ArrayBuffer): string {
  return createHash('sha256').update(Buffer.from(der as ArrayBuffer)).digest('hex');
}

function toPem(der: ArrayBuffer): string {
  return new NodeX509(Buffer.from(der)).toString();
}

function ensureNewline(s: string): string {
  return s.endsWith('\n') ? s : s + '\n';
}

function subjectOf(c: NodeX509): string {
  return (c.subject ?? '').replace(/\n/g, ', ');
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CaError('MW_CA_LOAD', `Cannot read "${file}": ${(err as Error).message}`, { cause: err });
  }
}

function readCerts(file: string): NodeX509[] {
  const blocks = readText(file).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b, i) => {
    try {
      return new NodeX509(b);
    } catch (err) {
      throw new CaError('MW_CA_LOAD', `Cannot parse certificate ${i + 1} of "${file}": ${(err as Error).message}`, { cause: err });
    }
  });
}

/** cRLNumber (RFC 5280 5.2.3): a monotonically increasing INTEGER, DER-encoded by hand (it is three bytes). */
function crlNumberExtension(n: number): x509.Extension {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (!bytes.length || bytes[0]! & 0x80) bytes.unshift(0);
  return new x509.Extension('2.5.29.20', false, Uint8Array.from([0x02, bytes.length, ...bytes]));
}

/** A free-text reason that names an RFC 5280 reason code ("keyCompromise", ...) also goes into the CRL entry. */
function crlReason(reason: string | undefined): x509.X509CrlReason | undefined {
  if (!reason) return undefined;
  const v = (x509.X509CrlReason as unknown as Record<string, number>)[reason];
  return typeof v === 'number' && v !== 0 ? (v as x509.X509CrlReason) : undefined;
}
