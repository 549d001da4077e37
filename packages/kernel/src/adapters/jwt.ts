/**
 * The caller's tenant from a verified Bearer JWT (jose), for any of the middlewares' `tenantOf`.
 *
 * @module @rowguard/kernel/jwt
 */
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';

/** How `jwtTenant` verifies a token, and which claim names the tenant. */
export interface JwtTenantOptions {
  /** HS256 shared secret (at least 32 bytes). One of `secret` and `jwksUrl`. */
  secret?: string;
  /** The issuer's JSON Web Key Set, fetched and cached by jose. */
  jwksUrl?: string;
  /** Required `iss`: a token from another issuer is refused. */
  issuer?: string;
  /** Required `aud`: a token minted for another service is refused. */
  audience?: string;
  /** The claim naming the tenant; default `tid`. */
  tenantClaim?: string;
}

/**
 * A refused credential: 401 in Hono (`getResponse`), Express (`status`) and Fastify (`statusCode`).
 * `jwtTenant` throws it; throw it from a `tenantOf` of your own too.
 *
 * @example
 * ```ts
 * import { UnauthorizedError } from '@rowguard/kernel/jwt';
 * app.use('/api/*', tenantMiddleware({ kernel, tenantOf: async (c) => {
 *   const session = await sessions.get(getCookie(c, 'sid'));
 *   if (!session) throw new UnauthorizedError('no session');
 *   return session.tenantId;
 * } }));
 * ```
 */
export class UnauthorizedError extends Error {
  /** The HTTP status Express's error handling reads. */
  readonly status = 401;
  /** The HTTP status Fastify's error handling reads. */
  readonly statusCode = 401;
  constructor(message: string) {
    super(message);
    this.name = 'UnauthorizedError';
  }
  /** The 401 response, with a Bearer challenge, that Hono sends for it. */
  getResponse(): Response {
    return new Response(this.message, { status: 401, headers: { 'www-authenticate': 'Bearer' } });
  }
}

/**
 * The caller's tenant from a verified `Authorization: Bearer` JWT (jose), for the
 * middlewares' `tenantOf`. The token must carry `exp`; the key is imported once.
 *
 * @param options - the key (secret or JWKS URL), the required issuer and audience, and the tenant claim
 * @example
 * const tenantOfToken = jwtTenant({ jwksUrl: 'https://auth.example.com/.well-known/jwks.json', issuer: 'https://auth.example.com/', audience: 'api' });
 * app.use('/api/*', tenantMiddleware({ kernel, tenantOf: (c) => tenantOfToken(c.req.header('authorization')) }));
 */
export function jwtTenant({ secret, jwksUrl, issuer, audience, tenantClaim = 'tid' }: JwtTenantOptions): (authorization: string | undefined) => Promise<string> {
  if ((secret === undefined) === (jwksUrl === undefined)) throw new TypeError('jwtTenant needs one of secret and jwksUrl');
  if (secret !== undefined && Buffer.byteLength(secret) < 32) throw new TypeError('jwtTenant: an HS256 secret needs at least 32 bytes');
  const key: Uint8Array | JWTVerifyGetKey = secret !== undefined ? new TextEncoder().encode(secret) : createRemoteJWKSet(new URL(jwksUrl!));
  const options = { issuer, audience, requiredClaims: ['exp', tenantClaim], algorithms: secret !== undefined ? ['HS256'] : ['RS256', 'PS256', 'ES256', 'EdDSA'] };
  return async (authorization) => {
    const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new UnauthorizedError('a Bearer token is required');
    let payload: JWTPayload;
    try {
      // Two calls for jose's two overloads (a key, a key set).
      ({ payload } = typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options));
    } catch {
      throw new UnauthorizedError('the token is not valid');
    }
    const tenant = payload[tenantClaim];
    if (typeof tenant !== 'string') throw new UnauthorizedError(`the token's ${tenantClaim} claim is not a tenant id`);
    return tenant;
  };
}
