// JwtRequirement trees compiled into verifiers, with Envoy's semantics (verifier.cc, authenticator.cc):
//  - provider_name / provider_and_audiences: the tokens at the provider's locations must all verify with that
//    provider (the audiences of provider_and_audiences replace the provider's); none → "Jwt is missing".
//  - allow_missing / allow_missing_or_failed: tokens at the locations of every provider are verified, each with
//    the provider its `iss` names (first by config order, else a provider without issuer); a missing token
//    passes, and with allow_missing_or_failed a bad one passes too (its payload is just not recorded).
//  - requires_any: the first child that passes wins; otherwise the most telling failure (anything but
//    "missing" and "unknown issuer", then "unknown issuer", then "missing"); an allow_missing(_or_failed) child
//    turns the corresponding failures into a pass instead of being a child of its own.
//  - requires_all: every child must pass; the first failure is the answer.
//  - an empty requirement: always passes.
// Children run one after the other (Envoy starts them together; the outcome is the same and the order of
// header changes is deterministic).
import { ConfigError } from '../../../../common/errors.js';
import type { HeaderMap } from '../../../http/headers.js';
import { Extractor, type JwtLocation } from './extractor.js';
import { Jwks } from './jwks.js';
import { AudienceChecker, parseJwt, Status, verifyTimeConstraint, type Jwt } from './jwt.js';
import { claimHeaderValue, type Provider } from './provider.js';

/** One request's verification: the headers it may change and what verified tokens leave behind. */
export interface VerifyContext {
  readonly headers: HeaderMap;
  /** fields for the envoy.filters.http.jwt_authn dynamic metadata namespace */
  readonly extracted: Record<string, unknown>;
  /** a provider with clear_route_cache changed something the route may depend on */
  clearRouteCache: boolean;
  /** seconds since the epoch */
  readonly nowSec: number;
}

export interface Verifier {
  /** Headers written by the providers this verifier uses: removed from the request before anything else. */
  readonly sanitize: (headers: HeaderMap) => void;
  readonly verify: (ctx: VerifyContext) => Promise<Status>;
}

interface AuthOptions {
  /** the provider every token must belong to; absent: looked up by `iss` */
  readonly provider?: Provider;
  readonly audiences?: AudienceChecker;
  readonly allowFailed: boolean;
  readonly allowMissing: boolean;
  readonly byIssuer: (iss: string) => Provider | undefined;
}

/** A compiled requirement (or a part of one). */
type Check = (ctx: VerifyContext) => Promise<Status>;

const ALWAYS_OK: Check = async () => Status.Ok;

/** Envoy's Authenticator: every extracted token is verified, from the last found to the first. */
async function authenticate(ctx: VerifyContext, tokens: JwtLocation[], o: AuthOptions): Promise<Status> {
  let status: Status = Status.JwtMissed;
  for (let i = tokens.length - 1; i >= 0; i--) {
    status = await verifyToken(ctx, tokens[i]!, o);
    // a bad token fails the request at once unless failures or missing tokens are allowed; then every token
    // is tried and the last one decides (Envoy's rule)
    if (status !== Status.Ok && !o.allowFailed && !o.allowMissing) return status;
  }
  if (o.allowFailed) return Status.Ok;
  if (o.allowMissing && status === Status.JwtMissed) return Status.Ok;
  return status;
}

async function verifyToken(ctx: VerifyContext, loc: JwtLocation, o: AuthOptions): Promise<Status> {
  const cached = o.provider?.jwtCache?.lookup(loc.token, ctx.nowSec, o.provider.clockSkewSec);
  const jwt = cached ?? parseJwt(loc.token);
  if (typeof jwt === 'string') return jwt;
  if (!loc.isIssuerAllowed(jwt.iss)) return Status.JwtUnknownIssuer;
  const provider = o.provider ?? o.byIssuer(jwt.iss);
  if (!provider) return Status.JwtUnknownIssuer;
  const time = verifyTimeConstraint(jwt, ctx.nowSec, provider.clockSkewSec);
  if (time !== Status.Ok) return time;
  if (!(o.audiences ?? provider.audiences).allows(jwt.audiences)) return Status.JwtAudienceNotAllowed;
  if (provider.subjects && !provider.subjects.match(jwt.sub)) return Status.JwtVerificationFail;
  if (provider.maxLifetimeSec !== undefined) {
    // the remaining lifetime must be below the limit; a token without exp never is
    if (jwt.exp === 0 || !(jwt.exp - ctx.nowSec < provider.maxLifetimeSec)) return Status.JwtExpired;
  }
  if (!cached) {
    const st = await verifySignature(provider, jwt);
    if (st !== Status.Ok) return st;
  }
  onGoodJwt(ctx, provider, jwt, loc);
  if (!cached && o.provider) o.provider.jwtCache?.insert(jwt);
  return Status.Ok;
}

async function verifySignature(provider: Provider, jwt: Jwt): Promise<Status> {
  let keys = provider.keys.get();
  if (keys instanceof Promise) keys = await keys;
  if (!(keys instanceof Jwks)) return keys;
  const st = await keys.verify(jwt);
  if (st !== Status.JwksKidAlgMismatch || !provider.keys.refetchForUnknownKid) return st;
  // The issuer may have rotated its keys since they were fetched: look again (rate-limited) before failing.
  const fresh = await provider.keys.refetchForUnknownKid();
  return fresh && fresh !== keys ? fresh.verify(jwt) : st;
}

/** Envoy's handleGoodJwt: payload and claim headers, token removal, metadata. */
function onGoodJwt(ctx: VerifyContext, p: Provider, jwt: Jwt, loc: JwtLocation): void {
  const h = ctx.headers;
  if (p.forwardPayloadHeader) {
    let v = jwt.payloadB64;
    if (p.padForwardPayloadHeader && v.length % 4 !== 0) v += '='.repeat(4 - (v.length % 4));
    h.add(p.forwardPayloadHeader, v);
  }
  let headerAdded = false;
  for (const c of p.claimToHeaders) {
    const v = claimHeaderValue(jwt.payload, c.claim);
    if (v === undefined) continue;
    h.add(c.header, v);
    headerAdded = true;
  }
  if (!p.forward) loc.remove(h);
  if (p.headerInMetadata) ctx.extracted[p.headerInMetadata] = jwt.header;
  if (p.payloadInMetadata) ctx.extracted[p.payloadInMetadata] = normalizePayload(jwt.payload, p.spaceDelimitedClaims);
  if (p.clearRouteCache && (headerAdded || p.payloadInMetadata)) ctx.clearRouteCache = true;
}

/** normalize_payload_in_metadata: "scope": "a b" → ["a", "b"] for the listed claims. */
function normalizePayload(payload: Readonly<Record<string, unknown>>, claims: readonly string[]): Readonly<Record<string, unknown>> {
  if (claims.length === 0) return payload;
  const out: Record<string, unknown> = { ...payload };
  for (const c of claims) {
    const v = out[c];
    if (typeof v === 'string') out[c] = v.split(' ').filter((s) => s !== '');
  }
  return out;
}

// ---- compiling requirements

export interface RequirementScope {
  readonly providers: ReadonlyMap<string, Provider>;
  /** all providers in config order: allow_missing(_or_failed) extract from all of them */
  readonly all: readonly Provider[];
  readonly byIssuer: (iss: string) => Provider | undefined;
}

function sanitizer(providers: readonly Provider[]): (headers: HeaderMap) => void {
  const names = [...new Set(providers.flatMap((p) => p.locations.sanitize))];
  if (names.length === 0) return () => {};
  return (headers) => {
    for (const n of names) headers.remove(n);
  };
}

const REQUIRES = ['provider_name', 'provider_and_audiences', 'requires_any', 'requires_all', 'allow_missing_or_failed', 'allow_missing'] as const;

/** The providers a requirement can use (their written headers are sanitized before verification starts). */
function usedProviders(req: any, scope: RequirementScope): Provider[] {
  if (!req) return [];
  if (req.provider_name !== undefined) return [scope.providers.get(req.provider_name)!];
  if (req.provider_and_audiences) return [scope.providers.get(req.provider_and_audiences.provider_name)!];
  if (req.allow_missing !== undefined || req.allow_missing_or_failed !== undefined) return [...scope.all];
  const list = req.requires_any?.requirements ?? req.requires_all?.requirements ?? [];
  return list.flatMap((r: any) => usedProviders(r, scope));
}

/** A requirement → its verifier; undefined for an empty requirement (nothing to verify). */
export function compileRequirement(req: any, scope: RequirementScope, path: string): Verifier | undefined {
  const verify = compileInner(req, scope, path);
  if (verify === ALWAYS_OK) return undefined;
  // Sanitize once for the whole tree, before any child runs: otherwise a header forged by the client for a
  // provider that a requires_any never reaches (an earlier child passed) would go upstream untouched.
  return Object.freeze({ sanitize: sanitizer([...new Set(usedProviders(req, scope))]), verify });
}

function compileInner(req: any, scope: RequirementScope, path: string): Check {
  const set = REQUIRES.filter((k) => req?.[k] !== undefined);
  if (set.length > 1) throw new ConfigError('MW_CONFIG_INVALID', path, `only one of ${set.join(', ')} may be set`);
  const kind = set[0];
  const provider = (name: string, p: string): Provider => {
    const found = scope.providers.get(name);
    if (!found) throw new ConfigError('MW_CONFIG_REFERENCE', p, `Required provider ['${name}'] is not configured`);
    return found;
  };
  const base = { allowFailed: false, allowMissing: false, byIssuer: scope.byIssuer };
  switch (kind) {
    case undefined:
      return ALWAYS_OK;
    case 'provider_name':
    case 'provider_and_audiences': {
      const name = kind === 'provider_name' ? req.provider_name : req.provider_and_audiences.provider_name;
      const p = provider(name ?? '', `${path}.${kind === 'provider_name' ? 'provider_name' : 'provider_and_audiences.provider_name'}`);
      const auds: string[] = kind === 'provider_and_audiences' ? (req.provider_and_audiences.audiences ?? []) : [];
      const extractor = new Extractor([p.locations]);
      const o: AuthOptions = { ...base, provider: p, audiences: auds.length ? new AudienceChecker(auds) : undefined };
      return (ctx) => authenticate(ctx, extractor.extract(ctx.headers), o);
    }
    case 'allow_missing':
    case 'allow_missing_or_failed': {
      const extractor = new Extractor(scope.all.map((p) => p.locations));
      const o: AuthOptions = { ...base, allowMissing: true, allowFailed: kind === 'allow_missing_or_failed' };
      return (ctx) => authenticate(ctx, extractor.extract(ctx.headers), o);
    }
    case 'requires_any':
      return compileAny(req.requires_any, scope, `${path}.requires_any`);
    case 'requires_all': {
      const list: any[] = req.requires_all.requirements ?? [];
      if (list.length < 2) throw new ConfigError('MW_CONFIG_INVALID', `${path}.requires_all.requirements`, 'at least 2 requirements are required');
      const children = list.map((r, i) => compileInner(r, scope, `${path}.requires_all.requirements[${i}]`));
      return async (ctx) => {
        for (const c of children) {
          const st = await c(ctx);
          if (st !== Status.Ok) return st;
        }
        return Status.Ok;
      };
    }
  }
}

function compileAny(any: any, scope: RequirementScope, path: string): Check {
  const list: any[] = any.requirements ?? [];
  if (list.length < 2) throw new ConfigError('MW_CONFIG_INVALID', `${path}.requirements`, 'at least 2 requirements are required');
  let allowMissing = false;
  let allowFailed = false;
  const children: Check[] = [];
  list.forEach((r, i) => {
    if (r?.allow_missing_or_failed !== undefined) allowFailed = true;
    else if (r?.allow_missing !== undefined) allowMissing = true;
    else children.push(compileInner(r, scope, `${path}.requirements[${i}]`));
  });
  // only bypass requirements: they become the one child (verifying the tokens of every provider)
  if (children.length === 0) children.push(compileInner(allowFailed ? { allow_missing_or_failed: {} } : { allow_missing: {} }, scope, path));
  return async (ctx) => {
    let final: Status = Status.JwtMissed;
    for (const c of children) {
      const st = await c(ctx);
      if (st === Status.Ok) return st;
      // prefer a real error over "unknown issuer", and "unknown issuer" over "missing"
      if ((st !== Status.JwtMissed && st !== Status.JwtUnknownIssuer) || final === Status.JwtMissed) final = st;
    }
    if (allowFailed) return Status.Ok;
    if (allowMissing && final === Status.JwtMissed) return Status.Ok;
    return final;
  };
}
