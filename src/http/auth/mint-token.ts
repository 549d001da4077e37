import { SignJWT } from 'jose';
import { parseTenantId, RowguardError } from '@rowguard/kernel';

export interface MintOptions {
  secret: string;
  tenantId: string;
  userId: string;
  tenantClaim: string;
  /** Lifetime, e.g. "1h", "30m", "7d". */
  ttl: string;
  issuer?: string;
  audience?: string;
  /** The service's maximum token lifetime (ROWGUARD_JWT_MAX_LIFETIME); a longer ttl is refused. Default 86400. */
  maxLifetimeSeconds?: number;
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** An HS256 development token, signed with the configured (or generated) secret. */
export async function mintToken({ secret, tenantId, userId, tenantClaim, ttl, issuer, audience, maxLifetimeSeconds = 86_400 }: MintOptions): Promise<string> {
  const parts = /^(\d+)([smhd])$/.exec(ttl);
  const lifetime = parts ? Number(parts[1]) * UNIT_SECONDS[parts[2] as keyof typeof UNIT_SECONDS] : 0;
  // A zero lifetime would print a token that is already expired.
  if (!parts || !(lifetime > 0)) throw new RowguardError('CONFIG_INVALID', `--ttl must be a positive lifetime like 30m, 1h or 12h, not "${ttl}"`);
  // The service refuses longer tokens; printing one would only move the error to its first use.
  if (lifetime > maxLifetimeSeconds) throw new RowguardError('CONFIG_INVALID', `--ttl ${ttl} is longer than the longest token lifetime the service accepts (${maxLifetimeSeconds} s, ROWGUARD_JWT_MAX_LIFETIME)`);
  if (!userId) throw new RowguardError('CONFIG_INVALID', 'token needs --user (the sub claim)');
  // iat and exp from one clock reading: two readings can straddle a second and make a
  // maximum-lifetime token one second too long.
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT({ [tenantClaim]: parseTenantId(tenantId) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime);
  if (issuer) jwt = jwt.setIssuer(issuer);
  if (audience) jwt = jwt.setAudience(audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
