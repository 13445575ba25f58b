// A JSON Web Key Set, parsed and checked once when it is loaded (inline, from a file, or fetched), and the
// signature check against it. Key selection is Envoy's: a key whose `kid` differs from the token's (when both
// have one) or whose `alg` differs (when the key has one) is skipped; every other key of the right type is
// tried in order. No candidate at all is JwksKidAlgMismatch ("unknown key": the remote source may refetch),
// candidates that all fail are JwtVerificationFail. The cryptography is jose's (WebCrypto underneath);
// imported keys are kept per algorithm so that a request never imports a key twice.
import { createPublicKey } from 'node:crypto';
import type { JWK } from 'jose';
import { Status, type Jwt } from './jwt.js';

// jose is loaded on the first signature check, not with the proxy: importing it costs ~150 ms and ~10 MB of
// RSS, which a proxy without JWT providers should not pay.
let jose: Promise<typeof import('jose')> | undefined;
const loadJose = () => (jose ??= import('jose'));

type Kty = 'RSA' | 'EC' | 'OKP' | 'oct';

const EC_CURVE_OF_ALG: Readonly<Record<string, string>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

/** One usable key of a set: its public members only, and its imports (per algorithm) once made. */
class JwkEntry {
  private readonly imported = new Map<string, Promise<CryptoKey | Uint8Array>>();

  constructor(
    readonly kty: Kty,
    readonly kid: string,
    readonly alg: string,
    readonly crv: string,
    private readonly jwk: JWK,
  ) {}

  /** Whether this key can verify `alg` at all (its type and curve). */
  fits(alg: string): boolean {
    switch (this.kty) {
      case 'RSA':
        return alg.startsWith('RS') || alg.startsWith('PS');
      case 'EC':
        return EC_CURVE_OF_ALG[alg] === this.crv;
      case 'OKP':
        return alg === 'EdDSA';
      case 'oct':
        return alg.startsWith('HS');
    }
  }

  private key(alg: string): Promise<CryptoKey | Uint8Array> {
    let k = this.imported.get(alg);
    if (!k) {
      k = loadJose().then((j) => j.importJWK(this.jwk, alg) as Promise<CryptoKey | Uint8Array>);
      // a key whose material WebCrypto refuses just never verifies; keep the rejection from going unhandled
      k.catch(() => {});
      this.imported.set(alg, k);
    }
    return k;
  }

  async verify(jwt: Jwt): Promise<boolean> {
    try {
      const key = await this.key(jwt.alg);
      await (await loadJose()).compactVerify(jwt.token, key, { algorithms: [jwt.alg] });
      return true;
    } catch {
      return false;
    }
  }
}

export class Jwks {
  private constructor(readonly keys: readonly JwkEntry[]) {}

  /**
   * Parse a JWKS document. Invalid keys are skipped (a rotation that publishes one odd key must not break the
   * others); a document without any valid key is a Status, with `detail` saying what was wrong with the first.
   */
  static parse(text: string): Jwks | { status: Status; detail: string } {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return { status: Status.JwksParseError, detail: 'not valid JSON' };
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return { status: Status.JwksParseError, detail: 'not a JSON object' };
    const keys = (doc as { keys?: unknown }).keys;
    if (keys === undefined) return { status: Status.JwksNoKeys, detail: 'no "keys" field' };
    if (!Array.isArray(keys)) return { status: Status.JwksBadKeys, detail: '"keys" is not an array' };
    const out: JwkEntry[] = [];
    let firstProblem: string | undefined;
    keys.forEach((k, i) => {
      const r = parseKey(k);
      if (typeof r === 'string') firstProblem ??= `keys[${i}]: ${r}`;
      else out.push(r);
    });
    if (out.length === 0) return { status: Status.JwksNoValidKeys, detail: firstProblem ?? 'the key list is empty' };
    return new Jwks(out);
  }

  /** Whether some key is a candidate for this token (its kid and alg); false means "unknown key". */
  hasCandidate(jwt: Jwt): boolean {
    for (const k of this.keys) if (isCandidate(k, jwt)) return true;
    return false;
  }

  /** Verify the token's signature with the candidate keys, in order. */
  async verify(jwt: Jwt): Promise<Status> {
    let matched = false;
    for (const k of this.keys) {
      if (!isCandidate(k, jwt)) continue;
      matched = true;
      if (k.fits(jwt.alg) && (await k.verify(jwt))) return Status.Ok;
    }
    return matched ? Status.JwtVerificationFail : Status.JwksKidAlgMismatch;
  }
}

function isCandidate(k: JwkEntry, jwt: Jwt): boolean {
  if (jwt.kid !== '' && k.kid !== '' && k.kid !== jwt.kid) return false;
  return k.alg === '' || k.alg === jwt.alg;
}

const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** One JWK → an entry, or why it is not usable. Private members are dropped: only verification happens here. */
function parseKey(k: unknown): JwkEntry | string {
  if (k === null || typeof k !== 'object' || Array.isArray(k)) return 'a key must be an object';
  const j = k as Record<string, unknown>;
  if (j.kty === undefined) return '[kty] is missing';
  if (typeof j.kty !== 'string') return '[kty] is not a string';
  if (j.kid !== undefined && typeof j.kid !== 'string') return '[kid] is not a string';
  if (j.alg !== undefined && typeof j.alg !== 'string') return '[alg] is not a string';
  const kid = (j.kid as string | undefined) ?? '';
  const alg = (j.alg as string | undefined) ?? '';
  let pub: JWK;
  let crv = '';
  switch (j.kty) {
    case 'RSA':
      if (alg && !alg.startsWith('RS') && !alg.startsWith('PS')) return `[alg] ${alg} does not start with RS or PS for an RSA key`;
      if (!str(j.n) || !str(j.e)) return '[n] and [e] are required strings for an RSA key';
      pub = { kty: 'RSA', n: j.n, e: j.e };
      break;
    case 'EC': {
      if (alg && !alg.startsWith('ES')) return `[alg] ${alg} does not start with ES for an EC key`;
      if (j.crv !== undefined && typeof j.crv !== 'string') return '[crv] is not a string for an EC key';
      crv = (j.crv as string | undefined) ?? EC_CURVE_OF_ALG[alg] ?? '';
      if (!Object.values(EC_CURVE_OF_ALG).includes(crv)) return `[crv] ${crv || '(none)'} is not supported for an EC key`;
      if (alg && EC_CURVE_OF_ALG[alg] !== crv) return `[crv] ${crv} is not compatible with [alg] ${alg}`;
      if (!str(j.x) || !str(j.y)) return '[x] and [y] are required strings for an EC key';
      pub = { kty: 'EC', crv, x: j.x, y: j.y };
      break;
    }
    case 'OKP':
      if (alg && alg !== 'EdDSA') return `[alg] ${alg} is not EdDSA for an OKP key`;
      if (j.crv !== 'Ed25519') return `[crv] ${String(j.crv ?? '(none)')} is not supported for an OKP key (Ed25519)`;
      if (!str(j.x)) return '[x] is a required string for an OKP key';
      crv = 'Ed25519';
      pub = { kty: 'OKP', crv, x: j.x };
      break;
    case 'oct':
      if (alg && !alg.startsWith('HS')) return `[alg] ${alg} does not start with HS for an HMAC key`;
      if (!str(j.k) || !/^[A-Za-z0-9_-]+$/.test(j.k)) return '[k] is a required base64url string for an HMAC key';
      pub = { kty: 'oct', k: j.k };
      break;
    default:
      return `[kty] ${j.kty} is not supported`;
  }
  if (j.kty !== 'oct') {
    // Check the key material now, synchronously, so that a broken key is reported when the set is loaded
    // rather than failing every request later (WebCrypto's import is asynchronous).
    try {
      createPublicKey({ key: pub as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch (e) {
      return `the key material is invalid (${(e as Error).message})`;
    }
  }
  return new JwkEntry(j.kty, kid, alg, crv, pub);
}
