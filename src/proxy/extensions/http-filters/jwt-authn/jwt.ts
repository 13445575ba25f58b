// A JWT as Envoy's jwt_authn sees it: parsing with the checks and the exact status messages of Envoy's JWT
// library (source/common/jwt, formerly jwt_verify_lib), the time checks with clock skew, and the audience check.
// Users and tools match on these strings (the 401 body, %RESPONSE_CODE_DETAILS%), so they are Envoy's, word
// for word. Signature verification is jose's job (jwks.ts); everything here is synchronous and cheap.

export const Status = {
  Ok: 'OK',
  JwtMissed: 'Jwt is missing',
  JwtNotYetValid: 'Jwt not yet valid',
  JwtExpired: 'Jwt is expired',
  JwtBadFormat: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  JwtHeaderParseErrorBadBase64: 'Jwt header is an invalid Base64url encoded',
  JwtHeaderParseErrorBadJson: 'Jwt header is an invalid JSON',
  JwtHeaderBadAlg: 'Jwt header [alg] field is required and must be a string',
  JwtHeaderNotImplementedAlg: 'Jwt header [alg] is not supported',
  JwtHeaderBadKid: 'Jwt header [kid] field is not a string',
  JwtPayloadParseErrorBadBase64: 'Jwt payload is an invalid Base64url encoded',
  JwtEd25519SignatureWrongLength: 'Jwt ED25519 signature is wrong length',
  JwtPayloadParseErrorBadJson: 'Jwt payload is an invalid JSON',
  JwtPayloadParseErrorIssNotString: 'Jwt payload [iss] field is not a string',
  JwtPayloadParseErrorSubNotString: 'Jwt payload [sub] field is not a string',
  JwtPayloadParseErrorIatNotInteger: 'Jwt payload [iat] field is not an integer',
  JwtPayloadParseErrorIatOutOfRange: 'Jwt payload [iat] field is not a positive 64 bit integer',
  JwtPayloadParseErrorNbfNotInteger: 'Jwt payload [nbf] field is not an integer',
  JwtPayloadParseErrorNbfOutOfRange: 'Jwt payload [nbf] field is not a positive 64 bit integer',
  JwtPayloadParseErrorExpNotInteger: 'Jwt payload [exp] field is not an integer',
  JwtPayloadParseErrorExpOutOfRange: 'Jwt payload [exp] field is not a positive 64 bit integer',
  JwtPayloadParseErrorJtiNotString: 'Jwt payload [jti] field is not a string',
  JwtPayloadParseErrorAudNotString: 'Jwt payload [aud] field is not a string or string list',
  JwtSignatureParseErrorBadBase64: 'Jwt signature is an invalid Base64url encoded',
  JwtUnknownIssuer: 'Jwt issuer is not configured',
  JwtAudienceNotAllowed: 'Audiences in Jwt are not allowed',
  JwtVerificationFail: 'Jwt verification fails',
  JwksParseError: 'Jwks is an invalid JSON',
  JwksNoKeys: 'Jwks does not have [keys] field',
  JwksBadKeys: '[keys] in Jwks is not an array',
  JwksNoValidKeys: "Jwks doesn't have any valid public key",
  JwksKidAlgMismatch: "Jwks doesn't have key to match kid or alg from Jwt",
  JwksFetchFail: 'Jwks remote fetch is failed',
} as const;

export type Status = (typeof Status)[keyof typeof Status];

/** The algorithms Envoy implements; anything else (including "none") is JwtHeaderNotImplementedAlg. */
export const ALGORITHMS: ReadonlySet<string> = new Set([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'EdDSA',
]);

export interface Jwt {
  /** the compact token as received */
  readonly token: string;
  readonly alg: string;
  /** '' when absent, as in Envoy */
  readonly kid: string;
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Readonly<Record<string, unknown>>;
  /** the payload segment as sent (base64url, unpadded): what forward_payload_header carries */
  readonly payloadB64: string;
  /** '' when absent */
  readonly iss: string;
  readonly sub: string;
  readonly audiences: readonly string[];
  /** seconds since the epoch; 0 when absent (Envoy's convention) */
  readonly exp: number;
  readonly nbf: number;
  readonly iat: number;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function decodeSegment(s: string): Buffer | undefined {
  // Buffer's decoder skips characters outside the alphabet; Envoy's rejects them, so check first.
  // A segment of length 1 mod 4 can never be valid base64.
  if (!B64URL.test(s) || s.length % 4 === 1) return undefined;
  return Buffer.from(s, 'base64url');
}

function decodeJsonObject(s: string): Record<string, unknown> | 'base64' | 'json' {
  const raw = decodeSegment(s);
  if (!raw) return 'base64';
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch {
    return 'json';
  }
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : 'json';
}

type IntClaim = { value: number } | 'type' | 'range';
function intClaim(v: unknown): IntClaim {
  if (v === undefined) return { value: 0 };
  if (typeof v !== 'number' || !Number.isInteger(v)) return 'type';
  if (v < 0) return 'range';
  return { value: v };
}

/** Parse a compact JWS the way Envoy does; a Status names the first thing wrong with it. */
export function parseJwt(token: string): Jwt | Status {
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0 || token.indexOf('.', second + 1) >= 0) return Status.JwtBadFormat;
  const h = token.slice(0, first);
  const p = token.slice(first + 1, second);
  const s = token.slice(second + 1);

  const header = decodeJsonObject(h);
  if (header === 'base64') return Status.JwtHeaderParseErrorBadBase64;
  if (header === 'json') return Status.JwtHeaderParseErrorBadJson;
  const alg = header.alg;
  if (typeof alg !== 'string') return Status.JwtHeaderBadAlg;
  if (!ALGORITHMS.has(alg)) return Status.JwtHeaderNotImplementedAlg;
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') return Status.JwtHeaderBadKid;

  const payload = decodeJsonObject(p);
  if (payload === 'base64') return Status.JwtPayloadParseErrorBadBase64;
  if (payload === 'json') return Status.JwtPayloadParseErrorBadJson;
  const iss = payload.iss;
  if (iss !== undefined && typeof iss !== 'string') return Status.JwtPayloadParseErrorIssNotString;
  const sub = payload.sub;
  if (sub !== undefined && typeof sub !== 'string') return Status.JwtPayloadParseErrorSubNotString;
  const iat = intClaim(payload.iat);
  if (iat === 'type') return Status.JwtPayloadParseErrorIatNotInteger;
  if (iat === 'range') return Status.JwtPayloadParseErrorIatOutOfRange;
  const nbf = intClaim(payload.nbf);
  if (nbf === 'type') return Status.JwtPayloadParseErrorNbfNotInteger;
  if (nbf === 'range') return Status.JwtPayloadParseErrorNbfOutOfRange;
  const exp = intClaim(payload.exp);
  if (exp === 'type') return Status.JwtPayloadParseErrorExpNotInteger;
  if (exp === 'range') return Status.JwtPayloadParseErrorExpOutOfRange;
  if (payload.jti !== undefined && typeof payload.jti !== 'string') return Status.JwtPayloadParseErrorJtiNotString;
  let audiences: string[];
  const aud = payload.aud;
  if (aud === undefined) audiences = [];
  else if (typeof aud === 'string') audiences = [aud];
  else if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) audiences = aud as string[];
  else return Status.JwtPayloadParseErrorAudNotString;

  const sig = decodeSegment(s);
  if (!sig) return Status.JwtSignatureParseErrorBadBase64;
  if (alg === 'EdDSA' && sig.length !== 64) return Status.JwtEd25519SignatureWrongLength;

  return {
    token,
    alg,
    kid: (kid as string | undefined) ?? '',
    header,
    payload,
    payloadB64: p,
    iss: (iss as string | undefined) ?? '',
    sub: (sub as string | undefined) ?? '',
    audiences,
    exp: exp.value,
    nbf: nbf.value,
    iat: iat.value,
  };
}

/** nbf and exp against `nowSec`, each widened by the clock skew (Envoy: default 60 s). */
export function verifyTimeConstraint(jwt: Jwt, nowSec: number, skewSec: number): Status {
  if (nowSec + skewSec < jwt.nbf) return Status.JwtNotYetValid;
  if (jwt.exp !== 0 && nowSec > jwt.exp + skewSec) return Status.JwtExpired;
  return Status.Ok;
}

/**
 * Envoy's CheckAudience: audiences compare without an http:// or https:// scheme and without a trailing
 * slash, so "https://api.example.com/" in a token matches "api.example.com" in the config.
 */
export class AudienceChecker {
  private readonly allowed: ReadonlySet<string>;

  constructor(audiences: readonly string[]) {
    this.allowed = new Set(audiences.map(sanitizeAudience));
  }

  /** No configured audiences: every token passes. Otherwise one of the token's audiences must be listed. */
  allows(audiences: readonly string[]): boolean {
    if (this.allowed.size === 0) return true;
    for (const a of audiences) if (this.allowed.has(sanitizeAudience(a))) return true;
    return false;
  }
}

function sanitizeAudience(a: string): string {
  let s = a;
  if (s.startsWith('http://')) s = s.slice(7);
  else if (s.startsWith('https://')) s = s.slice(8);
  if (s.endsWith('/')) s = s.slice(0, -1);
  return s;
}
