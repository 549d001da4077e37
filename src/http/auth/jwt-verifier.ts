import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { parseTenantId, RowguardError } from '@rowguard/kernel';
import { HttpProblem } from '../problem.js';

export interface JwtOptions {
  /** HS256 shared secret. */
  secret?: string;
  /** PEM public key (RSA, EC P-256 or Ed25519). */
  publicKeyPem?: string;
  /** JWKS document URL. */
  jwksUrl?: string;
  /** Accepted `alg` values; default from the key: HS256, RS256, ES256 or EdDSA. */
  algorithms?: readonly string[];
  issuer?: string;
  audience?: string;
  /**
   * With a public key or JWKS, refuse to start unless both `issuer` and `audience` are set
   * (default true): a key from an identity provider signs tokens for every application it
   * serves, and only `aud` says a token was meant for this one.
   */
  requireIssuerAudience?: boolean;
  /** Claim holding the tenant id. */
  tenantClaim?: string;
  clockToleranceSeconds?: number;
  /** Longest accepted lifetime (exp − iat, and exp − now); tokens without exp are refused. Default 86400 (24 h). */
  maxLifetimeSeconds?: number;
  /** JWKS fetch: give up after this long (default 5000 ms). */
  jwksTimeoutMs?: number;
  /** JWKS: at most one refetch per this period for tokens with an unknown `kid` (default 30000 ms). */
  jwksCooldownMs?: number;
  /** JWKS: refetch the key set when it is older than this (default 600000 ms, 10 min). */
  jwksCacheMaxAgeMs?: number;
}

export interface VerifiedUser {
  userId: string;
  tenantId: string;
}

/**
 * The shared secret as one imported CryptoKey per HMAC algorithm. Handed raw bytes, jose
 * imports the key again on every verification, which was a fifth of the gateway's CPU time.
 */
function hmacKeys(secret: string): JWTVerifyGetKey {
  const bytes = new TextEncoder().encode(secret);
  const imported = new Map<string, Promise<CryptoKey>>();
  return ({ alg }) => {
    const known = imported.get(alg);
    if (known) return known;
    const hash = /^HS(256|384|512)$/.exec(alg)?.[1];
    // An alg outside `algorithms` is refused before the key is asked for; this is a backstop.
    if (!hash) throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
    const key = crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: `SHA-${hash}` }, false, ['verify']);
    imported.set(alg, key);
    return key;
  };
}

const invalid = (detail: string) => new HttpProblem('UNAUTHENTICATED', detail);

/**
 * `typ` values of a token meant as an access token: plain JWT (RFC 7519) and RFC 9068's
 * at+jwt, with or without the `application/` prefix (RFC 7515 §4.1.9), in any case. Other
 * JWTs an identity provider signs with the same key (logout tokens, DPoP proofs, security
 * events) carry their own `typ` and must not be usable as credentials.
 */
function isAccessTokenType(typ: unknown): boolean {
  if (typ === undefined) return true;
  if (typeof typ !== 'string') return false;
  const type = typ.toLowerCase().replace(/^application\//, '');
  return type === 'jwt' || type === 'at+jwt';
}

/**
 * The lifetime rule: an exp is required, and neither the lifetime the issuer gave the token
 * (exp − iat) nor the time it has left (exp − now) may exceed the maximum, so a leaked token
 * stays usable for a bounded time even when the issuer did not set iat.
 */
function lifetimeProblem({ exp, iat }: JWTPayload, maxLifetimeSeconds: number, clockToleranceSeconds: number): string | null {
  if (typeof exp !== 'number') return 'the token has no exp claim';
  const tooLong = `the token lives longer than ${maxLifetimeSeconds} seconds`;
  if (typeof iat === 'number' && exp - iat > maxLifetimeSeconds) return tooLong;
  if (exp - Date.now() / 1000 > maxLifetimeSeconds + clockToleranceSeconds) return tooLong;
  return null;
}

/** An option that must be an integer of at least `min`, checked at start-up rather than on the first request. */
function atLeast(min: number, value: number, name: string): number {
  if (!Number.isInteger(value) || value < min) throw new RowguardError('CONFIG_INVALID', `JWT option ${name} must be an integer of at least ${min}, got ${value}`);
  return value;
}

/**
 * Verifies bearer JWTs. Only the configured algorithms are accepted, so `alg: none` and
 * algorithm confusion (an HMAC token "signed" with a public key) fail: jose also refuses a
 * public key for HS256. Tokens must expire within `maxLifetimeSeconds` and, when they carry
 * a `typ`, be access tokens. Returns null when no key is configured; throws
 * RowguardError('CONFIG_INVALID') for a public key or JWKS without issuer and audience.
 *
 * @example
 * const verify = createJwtVerifier({ jwksUrl: 'https://idp.example.com/.well-known/jwks.json', issuer: 'https://idp.example.com/', audience: 'rowguard' });
 * const { userId, tenantId } = await verify!(bearerToken);
 */
export function createJwtVerifier(options: JwtOptions): ((token: string) => Promise<VerifiedUser>) | null {
  const {
    secret,
    publicKeyPem,
    jwksUrl,
    issuer,
    audience,
    requireIssuerAudience = true,
    tenantClaim = 'tid',
    clockToleranceSeconds = 30,
  } = options;
  const maxLifetimeSeconds = atLeast(1, options.maxLifetimeSeconds ?? 86_400, 'maxLifetimeSeconds');
  const jwksOptions = {
    timeoutDuration: atLeast(1, options.jwksTimeoutMs ?? 5000, 'jwksTimeoutMs'),
    cooldownDuration: atLeast(0, options.jwksCooldownMs ?? 30_000, 'jwksCooldownMs'),
    cacheMaxAge: atLeast(0, options.jwksCacheMaxAgeMs ?? 600_000, 'jwksCacheMaxAgeMs'),
  };
  if (!secret && (publicKeyPem || jwksUrl) && requireIssuerAudience && !(issuer && audience)) {
    throw new RowguardError(
      'CONFIG_INVALID',
      'a JWT public key or JWKS URL needs ROWGUARD_JWT_ISSUER and ROWGUARD_JWT_AUDIENCE: without them any token the identity provider signs for another application is accepted (set ROWGUARD_JWT_REQUIRE_ISS_AUD=false to accept that)',
    );
  }
  let key: KeyObject | JWTVerifyGetKey;
  let algorithms: string[];
  if (secret) {
    key = hmacKeys(secret);
    algorithms = ['HS256'];
  } else if (publicKeyPem) {
    const publicKey = createPublicKey(publicKeyPem);
    key = publicKey;
    const byKeyType: Record<string, string> = { rsa: 'RS256', ec: 'ES256', ed25519: 'EdDSA' };
    algorithms = [byKeyType[publicKey.asymmetricKeyType ?? ''] ?? 'RS256'];
  } else if (jwksUrl) {
    key = createRemoteJWKSet(new URL(jwksUrl), jwksOptions);
    algorithms = ['RS256', 'ES256', 'EdDSA'];
  } else {
    return null;
  }
  if (options.algorithms?.length) algorithms = [...options.algorithms];
  // Built once: the key is imported above, the verification options here, not per request.
  const verifyOptions = { algorithms, issuer, audience, clockTolerance: clockToleranceSeconds };
  // One HMAC algorithm (the default): its imported key itself, which spares jose a key lookup
  // and a copy of its result on every verification.
  const single = secret && algorithms.length === 1 && /^HS(256|384|512)$/.test(algorithms[0]!) ? (key as JWTVerifyGetKey)({ alg: algorithms[0]! }, undefined as never) : undefined;

  return async (token) => {
    let payload: JWTPayload;
    let typ: unknown;
    try {
      ({ payload, protectedHeader: { typ } } = await jwtVerify(token, single ? await single : (key as JWTVerifyGetKey), verifyOptions));
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw invalid('the token has expired');
      if (error instanceof errors.JWTClaimValidationFailed) throw invalid(`the token's ${error.claim} claim is not accepted`);
      throw invalid('the token is not valid');
    }
    if (!isAccessTokenType(typ)) throw invalid('the token is not an access token (typ)');
    const lifetime = lifetimeProblem(payload, maxLifetimeSeconds, clockToleranceSeconds);
    if (lifetime) throw invalid(lifetime);
    const userId = payload.sub;
    if (typeof userId !== 'string' || userId.length === 0 || userId.length > 200) throw invalid('the token has no usable sub claim');
    let tenantId: string;
    try {
      tenantId = parseTenantId(payload[tenantClaim]);
    } catch {
      throw invalid(`the token's ${tenantClaim} claim is not a tenant id`);
    }
    return { userId, tenantId };
  };
}
