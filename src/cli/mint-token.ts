import { SignJWT } from 'jose';
import { parseTenantId } from '../db/tenant-id.js';
import { RowguardError } from '../errors.js';

export interface MintOptions {
  secret: string;
  tenantId: string;
  userId: string;
  tenantClaim: string;
  /** Lifetime, e.g. "1h", "30m", "7d". */
  ttl: string;
  issuer?: string;
  audience?: string;
}

/** An HS256 development token, signed with the configured (or generated) secret. */
export async function mintToken({ secret, tenantId, userId, tenantClaim, ttl, issuer, audience }: MintOptions): Promise<string> {
  if (!/^\d+[smhd]$/.test(ttl)) throw new RowguardError('CONFIG_INVALID', '--ttl must look like 30m, 1h or 7d');
  if (!userId) throw new RowguardError('CONFIG_INVALID', 'token needs --user (the sub claim)');
  let jwt = new SignJWT({ [tenantClaim]: parseTenantId(tenantId) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(ttl);
  if (issuer) jwt = jwt.setIssuer(issuer);
  if (audience) jwt = jwt.setAudience(audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
