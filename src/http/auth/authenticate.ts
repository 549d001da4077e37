import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { Kernel } from '@rowguard/kernel';
import type { AppEnv } from '../context-variables.js';
import { HttpProblem } from '../problem.js';
import { apiKeyTenant, hashApiKey, isApiKey } from './api-key.js';
import type { VerifiedUser } from './jwt-verifier.js';
import type { Credential } from './principal.js';

const unauthenticated = (detail: string) => new HttpProblem('UNAUTHENTICATED', detail);

function bearer(c: Context): string {
  const match = /^Bearer +([^\s]+) *$/i.exec(c.req.header('authorization') ?? '');
  if (!match) throw unauthenticated('send Authorization: Bearer <token or API key>');
  return match[1]!;
}

/**
 * The tenant credential of a request: a JWT, or an API key resolved through the one SECURITY
 * DEFINER function made for it. The tenant comes from the credential alone; no header, path,
 * query or body field can name one.
 */
export async function verifyCredential(c: Context, { kernel, verifyJwt }: { kernel: Kernel; verifyJwt: ((token: string) => Promise<VerifiedUser>) | null }): Promise<Credential> {
  const token = bearer(c);
  if (isApiKey(token)) {
    const tenant = apiKeyTenant(token);
    if (tenant === undefined) throw unauthenticated('the API key is malformed');
    const { rows } = await kernel.queryWithoutTenant<{ tenant_id: string; key_id: string; scopes: string[] }>(
      tenant ? 'select tenant_id, key_id, scopes from rowguard.resolve_api_key($1, $2)' : 'select tenant_id, key_id, scopes from rowguard.resolve_api_key($1)',
      tenant ? [tenant, hashApiKey(token)] : [hashApiKey(token)],
    );
    const key = rows[0];
    if (!key) throw unauthenticated('the API key is unknown, revoked or expired');
    return { kind: 'api_key', tenantId: key.tenant_id, keyId: key.key_id, scopes: key.scopes };
  }
  if (!verifyJwt) throw unauthenticated('token authentication is not configured on this server; use an API key');
  return { kind: 'user', ...(await verifyJwt(token)) };
}

/** The admin API's own credential, compared in constant time. Without one configured, all is refused. */
export function authenticateAdmin(adminToken: string | undefined): MiddlewareHandler<AppEnv> {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  const expected = adminToken ? digest(adminToken) : null;
  return async (c, next) => {
    const token = bearer(c);
    if (!expected || !timingSafeEqual(digest(token), expected)) throw unauthenticated('this endpoint needs the admin token');
    await next();
  };
}
