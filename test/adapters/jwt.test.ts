import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Kernel } from '@rowguard/kernel';
import { tenantMiddleware, type TenantVariables } from '@rowguard/kernel/hono';
import { jwtTenant } from '@rowguard/kernel/jwt';

const secret = 's'.repeat(32);
const tenant = randomUUID();
const sign = (claims: Record<string, unknown>, { key = secret, expires = '5m' as string | null, issuer = 'auth', audience = 'api' } = {}) => {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setIssuer(issuer).setAudience(audience);
  if (expires) jwt = jwt.setExpirationTime(expires);
  return jwt.sign(new TextEncoder().encode(key));
};

describe('jwtTenant', () => {
  const tenantOf = jwtTenant({ secret, issuer: 'auth', audience: 'api' });

  it('returns the tenant claim of a valid token', async () => {
    expect(await tenantOf(`Bearer ${await sign({ tid: tenant, sub: 'u' })}`)).toBe(tenant);
    expect(await jwtTenant({ secret, tenantClaim: 'org' })(`Bearer ${await sign({ org: tenant })}`)).toBe(tenant);
  });

  it('refuses with 401 whatever is wrong: no token, another key, expired, no exp, another audience or issuer, no tenant claim', async () => {
    const refused = [
      undefined,
      'Basic abc',
      `Bearer ${await sign({ tid: tenant }, { key: 'x'.repeat(32) })}`,
      `Bearer ${await sign({ tid: tenant }, { expires: '-1m' })}`,
      `Bearer ${await sign({ tid: tenant }, { expires: null })}`,
      `Bearer ${await sign({ tid: tenant }, { audience: 'other' })}`,
      `Bearer ${await sign({ tid: tenant }, { issuer: 'other' })}`,
      `Bearer ${await sign({ sub: 'u' })}`,
    ];
    for (const authorization of refused) await expect(tenantOf(authorization)).rejects.toMatchObject({ status: 401, statusCode: 401 });
  });

  it('refuses a short secret or a missing key at set-up', () => {
    expect(() => jwtTenant({ secret: 'short' })).toThrow(/32 bytes/);
    expect(() => jwtTenant({})).toThrow(/one of secret and jwksUrl/);
  });

  it('gives Hono a 401 response, before any statement', async () => {
    const app = new Hono<{ Variables: TenantVariables }>();
    const kernel = { holdTenant: () => expect.unreachable('no transaction for a refused credential') } as unknown as Kernel;
    app.use('/api/*', tenantMiddleware({ kernel, tenantOf: (c) => tenantOf(c.req.header('authorization')) }));
    app.get('/api/x', (c) => c.text('x'));
    const reply = await app.request('/api/x', { headers: { authorization: 'Bearer a.b.c' } });
    expect(reply.status).toBe(401);
    expect(reply.headers.get('www-authenticate')).toBe('Bearer');
  });
});
