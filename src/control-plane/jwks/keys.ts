// Key sets the control plane puts into a jwt_authn provider's local_jwks: an inline `jwks` of a RequestAuthentication
// or a set fetched from its `jwksUri` (resolver.ts). Whatever is inlined must load in every proxy: a proxy
// rejects a local_jwks without a usable key (the whole listener update would be NACKed, and with it every other
// change to that proxy's listeners), so a set is checked here with the proxy's rules first (the same checks as
// src/proxy/extensions/http-filters/jwt-authn/jwks.ts, which the control plane may not import) and, when nothing
// in it is usable, replaced by UNAVAILABLE_JWKS.
import { createPublicKey, type JsonWebKey } from 'node:crypto';

/**
 * What a provider gets when its keys are unknown (not fetched yet, the fetch failed, or the set has no usable
 * key): a well-formed set whose only key is an RSA public key whose private half was thrown away when it was
 * made. Every token of that provider then fails ("Jwt verification fails" or "Jwks doesn't have key to match
 * kid or alg from Jwt": 401), while requests without a token still pass, which is what Istio does with its
 * FakeJwks. Istio's fake set publishes its private key; this one has none, so no token can ever verify with it.
 */
export const UNAVAILABLE_JWKS = JSON.stringify({
  keys: [
    {
      kty: 'RSA',
      n: 'vy4_nckjC3b7idtiq9pmzdGytE1Qk_UqRik0xIBht1mYeAC_gFByZLsnuk4_Q2LKlHYIPXFzn7LKByTg9rQtHwKqcdw7c9Q-ZaGErfPm34xaYZ9N5YIOkPs-JWYuocl1qex-sugd2GaT3paC6h_zi-zJnPcrFqI3N_G1zAK_DTO9Mw4W3aRTsTHVK1A5yFYCvjme_Lt935PVEmXPjyRcx5aKzARDHqA6MnFphth10BaTZ1y2C8pa2bHMk4fOrIWsd3YDI9tk-8QKrAMJ57QOfP7y0uwNstoBOPTv6YBtBV4HcebbW5-htW1TOPMeVrCyxf2iUeHW_Zgqdk1plIynlQ',
      e: 'AQAB',
    },
  ],
});

const EC_CURVE_OF_ALG: Readonly<Record<string, string>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };
/** Private members: never pushed to proxies (they only verify), whatever a JWKS endpoint serves by mistake. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'];

const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Why a proxy would skip this key, or undefined when it is usable. */
function keyProblem(j: Record<string, unknown>): string | undefined {
  if (typeof j.kty !== 'string') return '[kty] is missing or not a string';
  if (j.kid !== undefined && typeof j.kid !== 'string') return '[kid] is not a string';
  if (j.alg !== undefined && typeof j.alg !== 'string') return '[alg] is not a string';
  const alg = (j.alg as string | undefined) ?? '';
  let pub: JsonWebKey;
  switch (j.kty) {
    case 'RSA':
      if (alg && !alg.startsWith('RS') && !alg.startsWith('PS')) return `[alg] ${alg} is not an RSA algorithm`;
      if (!str(j.n) || !str(j.e)) return '[n] and [e] are required for an RSA key';
      pub = { kty: 'RSA', n: j.n, e: j.e };
      break;
    case 'EC': {
      if (alg && !alg.startsWith('ES')) return `[alg] ${alg} is not an EC algorithm`;
      if (j.crv !== undefined && typeof j.crv !== 'string') return '[crv] is not a string';
      const crv = (j.crv as string | undefined) ?? EC_CURVE_OF_ALG[alg] ?? '';
      if (!Object.values(EC_CURVE_OF_ALG).includes(crv)) return `[crv] ${crv || '(none)'} is not supported`;
      if (alg && EC_CURVE_OF_ALG[alg] !== crv) return `[crv] ${crv} does not fit [alg] ${alg}`;
      if (!str(j.x) || !str(j.y)) return '[x] and [y] are required for an EC key';
      pub = { kty: 'EC', crv, x: j.x, y: j.y };
      break;
    }
    case 'OKP':
      if (alg && alg !== 'EdDSA') return `[alg] ${alg} is not EdDSA`;
      if (j.crv !== 'Ed25519') return '[crv] must be Ed25519 for an OKP key';
      if (!str(j.x)) return '[x] is required for an OKP key';
      pub = { kty: 'OKP', crv: 'Ed25519', x: j.x };
      break;
    case 'oct':
      if (alg && !alg.startsWith('HS')) return `[alg] ${alg} is not an HMAC algorithm`;
      return str(j.k) && /^[A-Za-z0-9_-]+$/.test(j.k) ? undefined : '[k] must be a base64url string';
    default:
      return `[kty] ${j.kty} is not supported`;
  }
  try {
    createPublicKey({ key: pub, format: 'jwk' });
    return undefined;
  } catch (e) {
    return `the key material does not load (${(e as Error).message})`;
  }
}

export type CheckedJwks = { ok: true; text: string; keys: number } | { ok: false; reason: string };

/**
 * A JWKS document (a set, or one bare key, as Istio accepts) → the text to inline: `{"keys":[...]}` with the
 * usable keys only, private members removed, compact. `ok: false` when nothing in it is usable.
 */
export function checkJwks(text: string): CheckedJwks {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not valid JSON' };
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return { ok: false, reason: 'not a JSON object' };
  const list = 'keys' in doc ? (doc as { keys: unknown }).keys : [doc];
  if (!Array.isArray(list)) return { ok: false, reason: '"keys" is not a list' };
  const keys: Record<string, unknown>[] = [];
  let first: string | undefined;
  list.forEach((k, i) => {
    if (k === null || typeof k !== 'object' || Array.isArray(k)) {
      first ??= `keys[${i}] is not an object`;
      return;
    }
    const problem = keyProblem(k as Record<string, unknown>);
    if (problem) {
      first ??= `keys[${i}]: ${problem}`;
      return;
    }
    const pub = { ...(k as Record<string, unknown>) };
    if (pub.kty !== 'oct') for (const m of PRIVATE_MEMBERS) delete pub[m];
    keys.push(pub);
  });
  if (keys.length === 0) return { ok: false, reason: first ?? 'the key list is empty' };
  return { ok: true, text: JSON.stringify({ keys }), keys: keys.length };
}

// The translation checks the same few sets for every proxy it builds: remember the answers (bounded: sets
// come from the config and from the fetcher, which both hold few).
const checked = new Map<string, CheckedJwks>();
const CHECKED_MAX = 256;

/** checkJwks, remembered. */
export function checkJwksCached(text: string): CheckedJwks {
  let c = checked.get(text);
  if (!c) {
    if (checked.size >= CHECKED_MAX) checked.delete(checked.keys().next().value!);
    checked.set(text, (c = checkJwks(text)));
  }
  return c;
}

/** A set's identity for change detection: its keys in a fixed order, so a server reordering them is no change. */
export function jwksFingerprint(checkedText: string): string {
  const { keys } = JSON.parse(checkedText) as { keys: Record<string, unknown>[] };
  const canon = (k: Record<string, unknown>) => JSON.stringify(Object.keys(k).sort().map((m) => [m, k[m]]));
  return keys.map(canon).sort().join('\n');
}
